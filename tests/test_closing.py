"""
L{txws.closing}: the closing handshake's decisions without a transport, as
websockets tests C{close_exc}.
"""

from __future__ import annotations

import pytest

from txws.closing import ClosingHandshake
from txws.exceptions import ConnectionClosedError, ConnectionClosedOK
from txws.frames import Close


def closeFrom(code: int, reason: str = "") -> tuple[Close, bytes]:
    close = Close(code, reason)
    return close, close.serialize()


@pytest.mark.parametrize("isClient, closesTCP", [(False, True), (True, False)])
def test_whoClosesTCP(isClient: bool, closesTCP: bool) -> None:
    """The server closes TCP once the frames are exchanged; the client waits (7.1.1)."""
    assert ClosingHandshake(isClient).closesTCP is closesTCP


def test_weCloseFirst() -> None:
    closing = ClosingHandshake(False)
    payload = closing.start(1000, "bye")
    assert Close.parse(payload) == Close(1000, "bye")
    assert closing.sent == Close(1000, "bye")
    # The peer's answer is not echoed: we sent ours.
    assert closing.receive(*closeFrom(1000), isOpen=False) is None
    assert closing.ok
    error = closing.error()
    assert isinstance(error, ConnectionClosedOK)
    assert (error.code, error.reason) == (1000, "")


def test_echoKeepsTheCode() -> None:
    """The peer closes first: we echo its code (5.5.1), without its reason."""
    closing = ClosingHandshake(True)
    echo = closing.receive(*closeFrom(1001, "going"), isOpen=True)
    assert echo is not None and Close.parse(echo) == Close(1001, "")
    assert closing.received == Close(1001, "going")
    assert (closing.code, closing.reason) == (1001, "going")


def test_emptyCloseIsAnsweredEmpty() -> None:
    closing = ClosingHandshake(False)
    assert closing.receive(Close.parse(b""), b"", isOpen=True) == b""
    assert closing.code == 1005
    assert closing.ok


def test_nothingEchoedWhenNotOpen() -> None:
    closing = ClosingHandshake(False)
    assert closing.receive(*closeFrom(1000), isOpen=False) is None
    assert closing.sent is None


def test_failCutsTheReasonToFit() -> None:
    closing = ClosingHandshake(False)
    payload = closing.fail(1002, "é" * 100, isOpen=True)
    assert payload is not None and len(payload) <= 125
    close = Close.parse(payload)
    assert close.code == 1002 and set(close.reason) == {"é"}


def test_failSendsOnlyOnce() -> None:
    closing = ClosingHandshake(False)
    assert closing.fail(1002, "first", isOpen=True) is not None
    assert closing.fail(1011, "second", isOpen=True) is None
    assert closing.sent == Close(1002, "first")


def test_failWhenNotOpenSendsNothing() -> None:
    assert ClosingHandshake(False).fail(1002, "x", isOpen=False) is None


def test_noCloseFrameIsAbnormal() -> None:
    closing = ClosingHandshake(False)
    assert (closing.code, closing.reason, closing.ok) == (1006, "", False)
    error = closing.error()
    assert isinstance(error, ConnectionClosedError)
    assert error.code == 1006 and error.sentCode is None


def test_abnormalWhenWeFailed() -> None:
    """A normal close from the peer after we failed with 1002 is not ok."""
    closing = ClosingHandshake(False)
    closing.fail(1002, "bad frame", isOpen=True)
    closing.receive(*closeFrom(1000), isOpen=False)
    assert not closing.ok
    error = closing.error()
    assert isinstance(error, ConnectionClosedError)
    assert (error.code, error.sentCode, error.sentReason) == (1000, 1002, "bad frame")


def test_peerErrorCodeIsNotOk() -> None:
    closing = ClosingHandshake(True)
    closing.receive(*closeFrom(1011, "oops"), isOpen=True)
    assert not closing.ok
    assert isinstance(closing.error(), ConnectionClosedError)


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (1000, "1000 (OK)"),
        (1011, "1011 (internal error)"),
        (3001, "3001 (registered)"),
        (4999, "4999 (private use)"),
        (2000, "2000 (unknown)"),
        (None, "no close code"),
    ],
)
def test_closeCodesAreNamed(code, text):
    from txws.closing import describeCloseCode

    assert describeCloseCode(code) == text
