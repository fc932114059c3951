"""
Helpers for deterministic protocol tests: a connection on a StringTransport
with a MemoryReactorClock, frames in and out, and precise Deferred checks.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from txws.client import WebSocketClientFactory
from txws.frames import Close, Frame, parseFrames, serializeFrame
from txws.handshake import acceptKey
from txws.http import findHeadEnd, parseRequest, parseResponse
from txws.server import WebSocketServerFactory

KEY = "dGhlIHNhbXBsZSBub25jZQ=="

PEER = IPv4Address("TCP", "127.0.0.1", 54321)


def request(
    path: str = "/",
    *,
    key: str = KEY,
    method: str = "GET",
    version: str = "HTTP/1.1",
    headers: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
) -> bytes:
    """An upgrade request; C{headers} overrides fields, C{drop} removes some."""
    fields = {
        "Host": "example.com",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13",
    }
    fields.update(headers or {})
    lines = [f"{method} {path} {version}"]
    lines += [f"{k}: {v}" for k, v in fields.items() if k not in drop]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# -- Deferred checks (as SynchronousTestCase has them) ----------------------


def successResultOf(d: Deferred) -> Any:
    results: list = []
    d.addBoth(results.append)
    assert results, "Deferred has not fired"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


def failureResultOf(d: Deferred, *types: type) -> Failure:
    results: list = []
    d.addBoth(results.append)
    assert results, "Deferred has not fired"
    assert isinstance(results[0], Failure), f"Deferred succeeded with {results[0]!r}"
    if types:
        assert results[0].check(*types), f"unexpected failure {results[0]!r}"
    return results[0]


def assertNoResult(d: Deferred) -> None:
    results: list = []

    def keep(result: Any) -> Any:
        results.append(result)
        return result

    d.addBoth(keep)
    assert not results, f"Deferred fired with {results[0]!r}"


class Connection:
    """A protocol connected to a StringTransport, with a fake clock."""

    def __init__(self, protocol: Any, clock: MemoryReactorClock) -> None:
        self.protocol = protocol
        self.clock = clock
        self.transport = StringTransport(peerAddress=PEER)
        protocol.makeConnection(self.transport)

    @property
    def isClient(self) -> bool:
        return self.protocol.isClient

    def receive(self, data: bytes) -> None:
        self.protocol.dataReceived(data)

    def peerFrame(self, opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0) -> bytes:
        """
        A frame as the peer would send it (masked from a client): the one
        way tests build a frame to receive.
        """
        return serializeFrame(opcode, payload, fin, rsv, mask=not self.isClient)

    def receiveFrame(
        self, opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0
    ) -> None:
        """Deliver L{peerFrame}C{(...)}."""
        self.receive(self.peerFrame(opcode, payload, fin, rsv))

    def receiveClose(self, code: int = 1000, reason: str = "") -> None:
        self.receiveFrame(8, Close(code, reason).serialize())

    def sent(self) -> bytes:
        data = self.transport.value()
        self.transport.clear()
        return data

    def framesSent(self) -> list[Frame]:
        return parseFrames(self.sent(), requireMask=self.isClient, allowedRsv=0x70)

    def assertFramesSent(self, *frames: Frame) -> None:
        assert self.framesSent() == list(frames)

    def assertClosing(self, code: int, reason: str | None = None) -> None:
        """The last frame sent is a close with C{code}, and input is closed."""
        frames = self.framesSent()
        assert frames, "nothing sent"
        assert frames[-1].opcode == 8, f"last frame is {frames[-1]!r}"
        close = Close.parse(frames[-1].payload)
        assert close.code == code, f"closed with {close}"
        if reason is not None:
            assert close.reason == reason

    def lose(self, reason: Exception | None = None) -> None:
        """The TCP connection goes away."""
        self.transport.disconnected = True
        self.protocol.connectionLost(Failure(reason or ConnectionDone()))


def serverConnection(handler: Any = None, **options: Any) -> Connection:
    """A server protocol before the handshake."""
    clock = options.pop("reactor", None) or MemoryReactorClock()
    factory = WebSocketServerFactory(handler, reactor=clock, **options)
    return Connection(factory.buildProtocol(PEER), clock)


def openServer(handler: Any = None, **options: Any) -> Connection:
    """A server protocol after a successful handshake."""
    conn = serverConnection(handler, **options)
    conn.receive(request())
    head = conn.sent()
    response = parseResponse(head[: findHeadEnd(head)])
    assert response.status == 101, head
    return conn


def clientConnection(uri: str = "ws://example.com/", **options: Any) -> Connection:
    """A client protocol that has sent its request."""
    clock = options.pop("reactor", None) or MemoryReactorClock()
    factory = WebSocketClientFactory(uri, reactor=clock, **options)
    conn = Connection(factory.buildProtocol(PEER), clock)
    conn.factory = factory  # type: ignore[attr-defined]
    return conn


def sentRequest(conn: Connection):
    data = conn.sent()
    return parseRequest(data[: findHeadEnd(data)])


def acceptResponse(req, extra: str = "") -> bytes:
    key = req.headers.get("Sec-WebSocket-Key")
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Accept: {acceptKey(key)}\r\n"
        f"{extra}\r\n"
    ).encode()


def openClient(uri: str = "ws://example.com/", **options: Any) -> Connection:
    """A client protocol after a successful handshake."""
    conn = clientConnection(uri, **options)
    conn.receive(acceptResponse(sentRequest(conn)))
    assert conn.protocol.open
    return conn
