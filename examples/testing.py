"""
Testing a handler, two ways: deterministically, on Twisted's
StringTransport and MemoryReactorClock (no sockets, no real time), and end
to end over loopback with pytest-twisted.

    pytest examples/testing.py

tests/test_examples.py runs these tests as part of txws's own suite.
"""

import pytest
import pytest_twisted
from twisted.internet.testing import MemoryReactorClock, StringTransport

import txws
from examples.echo import echo
from txws.frames import OP_CLOSE, OP_TEXT, Close, Frame, parseFrames, serializeFrame

UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
)


def openConnection(handler, **options):
    """A server connection to C{handler} on a StringTransport, after its handshake."""
    clock = MemoryReactorClock()
    factory = txws.WebSocketServerFactory(handler, reactor=clock, compression=None, **options)
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(UPGRADE)
    head, _, rest = transport.value().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    transport.clear()
    return protocol, transport, clock, rest


def test_echoOnAStringTransport():
    protocol, transport, clock, _ = openConnection(echo)
    # What a client sends is masked (RFC 6455, 5.3).
    protocol.dataReceived(serializeFrame(OP_TEXT, b"hello", mask=True))
    assert parseFrames(transport.value()) == [Frame(OP_TEXT, b"hello")]


def test_closingEndsTheHandler():
    protocol, transport, clock, _ = openConnection(echo)
    protocol.dataReceived(serializeFrame(OP_CLOSE, Close(1000).serialize(), mask=True))
    assert parseFrames(transport.value()) == [Frame(OP_CLOSE, Close(1000).serialize())]
    protocol.connectionLost(None)
    assert protocol.closeCode == 1000


def test_keepalivePingsAnIdlePeer():
    """The clock moves only when the test says so."""
    protocol, transport, clock, _ = openConnection(echo, pingInterval=5)
    clock.advance(5)
    (ping,) = parseFrames(transport.value())
    assert ping.opcode == 9  # ping


@pytest_twisted.ensureDeferred
async def test_echoOverLoopback():
    port = await txws.serve(echo, "tcp:0:interface=127.0.0.1")
    try:
        websocket = await txws.connect(f"ws://127.0.0.1:{port.getHost().port}/")
        await websocket.send("over TCP")
        assert await websocket.recv() == "over TCP"
        await websocket.close()
    finally:
        await port.stopListening()


@pytest.mark.parametrize("message", ["text", b"\x00binary"])
def test_echoKeepsTheType(message):
    protocol, transport, clock, _ = openConnection(echo)
    opcode = OP_TEXT if isinstance(message, str) else 2
    payload = message.encode() if isinstance(message, str) else message
    protocol.dataReceived(serializeFrame(opcode, payload, mask=True))
    assert parseFrames(transport.value()) == [Frame(opcode, payload)]
