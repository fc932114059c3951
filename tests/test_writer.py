"""L{txws.writer}: frames onto a StringTransport, and the write side of backpressure."""

from __future__ import annotations

import pytest
from twisted.internet.testing import StringTransport

from txws.closing import ClosingHandshake
from txws.exceptions import ConnectionClosedError
from txws.frames import OP_BINARY, OP_CONT, OP_PING, OP_TEXT, Frame, parseFrames
from txws.writer import FrameWriter, PreparedMessage, setWriteLimit

from .helpers import assertNoResult, failureResultOf, successResultOf


def writer(isClient: bool = False) -> tuple[FrameWriter, StringTransport]:
    transport = StringTransport()
    return FrameWriter(transport, isClient, ()), transport


@pytest.mark.parametrize("n", [0, 125, 126, 4095, 4096, 65536])
def test_serverFramesAreUnmaskedWhateverTheirLength(n: int) -> None:
    """Short frames come from the header table, long ones beside their header."""
    w, transport = writer()
    w.writeFrame(OP_BINARY, b"x" * n)
    assert parseFrames(transport.value()) == [Frame(OP_BINARY, b"x" * n)]


def test_clientFramesAreMaskedAFreshMaskEach() -> None:
    w, transport = writer(isClient=True)
    w.writeFrame(OP_TEXT, b"same")
    first = transport.value()
    transport.clear()
    w.writeFrame(OP_TEXT, b"same")
    assert parseFrames(first, requireMask=True) == [Frame(OP_TEXT, b"same")]
    assert parseFrames(transport.value(), requireMask=True) == [Frame(OP_TEXT, b"same")]
    assert first[2:6] != transport.value()[2:6]


def test_fragmentsAFrameEachTheLastWithFin() -> None:
    w, transport = writer()
    w.writeFragments(["a", "b", "c"])
    assert parseFrames(transport.value()) == [
        Frame(OP_TEXT, b"a", fin=False),
        Frame(OP_CONT, b"b", fin=False),
        Frame(OP_CONT, b"c"),
    ]


def test_noPiecesNoFrame() -> None:
    w, transport = writer()
    w.writeFragments([])
    assert transport.value() == b""


def test_mixedPiecesAreRefused() -> None:
    w, _ = writer()
    with pytest.raises(TypeError):
        w.writeFragments(["text", b"bytes"])


def test_mappingIsRefusedNotSentAsItsKeys() -> None:
    w, transport = writer()
    with pytest.raises(TypeError, match="mapping"):
        w.send({"a": 1})
    assert transport.value() == b""


def test_writableWaitsForResume() -> None:
    w, _ = writer()
    successResultOf(w.writable())
    assert w.pause() and not w.pause()
    d = w.writable()
    assertNoResult(d)
    assert w.resume() and not w.resume()
    successResultOf(d)


def test_stopFailsWaitersAndLaterSends() -> None:
    """Once the connection is gone, every wait and every send fails with its error."""
    w, _ = writer()
    w.pause()
    d = w.writable()
    closing = ClosingHandshake(isClient=False)
    w.stop(closing)
    failureResultOf(d, ConnectionClosedError)
    failureResultOf(w.send("late"), ConnectionClosedError)


def test_preparedMessageIsOneFrameBuiltOnce() -> None:
    prepared = PreparedMessage("hello")
    assert prepared.frame() is prepared.frame()
    assert parseFrames(prepared.frame()) == [Frame(OP_TEXT, b"hello")]
    assert PreparedMessage(bytearray(b"\x00")).opcode == OP_BINARY


def test_sendPreparedIsRefusedWhilePausedOrClosing() -> None:
    w, transport = writer()
    prepared = PreparedMessage(b"all")
    assert w.sendPrepared(prepared)
    w.pause()
    assert not w.sendPrepared(prepared)
    w.resume()
    w.closing = ClosingHandshake(isClient=False)
    assert not w.sendPrepared(prepared)
    assert parseFrames(transport.value()) == [Frame(OP_BINARY, b"all")]


def test_clientMasksPreparedMessagesItself() -> None:
    """A prepared frame is a server's: a client builds its own, masked."""
    w, transport = writer(isClient=True)
    assert w.sendPrepared(PreparedMessage(b"all"))
    assert parseFrames(transport.value(), requireMask=True) == [Frame(OP_BINARY, b"all")]


def test_writeLimitSetOnTheTransportBeneath() -> None:
    """Under TLS, the transport that buffers is the one beneath."""

    class Wrapper:
        def __init__(self, transport: object) -> None:
            self.transport = transport

    beneath = StringTransport()
    beneath.bufferSize = 1  # type: ignore[attr-defined]
    setWriteLimit(Wrapper(beneath), 12345)
    assert beneath.bufferSize == 12345  # type: ignore[attr-defined]
    setWriteLimit(None, 1)  # nothing to set: no error


def test_pingFrameIsAControlFrame() -> None:
    w, transport = writer()
    w.writeFrame(OP_PING, b"p")
    assert parseFrames(transport.value()) == [Frame(OP_PING, b"p")]


def test_prepareTransportTurnsNagleOff():
    """Small messages go out at once (TCP_NODELAY), and the write limit is set."""
    from txws.writer import prepareTransport

    class TCP:
        noDelay = False
        bufferSize = 0

        def setTcpNoDelay(self, enabled):
            self.noDelay = enabled

    transport = TCP()
    prepareTransport(transport, 1234)
    assert transport.noDelay is True and transport.bufferSize == 1234

    class Unix:
        def setTcpNoDelay(self, enabled):
            raise OSError("not a TCP socket")

    prepareTransport(Unix(), None)  # no error
