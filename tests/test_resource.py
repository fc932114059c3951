"""
L{txws.resource}: WebSocket on a C{twisted.web} Site, deterministically (a
real L{Site} and L{HTTPChannel} on a StringTransport), and the Twisted
internals that L{takeOverChannel} relies on. The same over real sockets,
with other clients, is in C{tests/test_sockets.py}.
"""

from __future__ import annotations

import socket

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.static import Data

import txws
from txws.frames import OP_TEXT, parseFrames, serializeFrame
from txws.http import Response

from .helpers import PEER, request
from .realnet import within

MASK = b"\x01\x02\x03\x04"


def siteConnection(resource: Resource) -> tuple[HTTPChannel, StringTransport]:
    root = Resource()
    root.putChild(b"ws", resource)
    site = Site(root)
    channel = site.buildProtocol(PEER)
    transport = StringTransport(peerAddress=PEER)
    channel.makeConnection(transport)
    return channel, transport


def echoResource(**options) -> txws.WebSocketResource:
    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    return txws.WebSocketResource(echo, reactor=MemoryReactorClock(), **options)


def splitResponse(data: bytes) -> tuple[bytes, bytes]:
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def bareChannel() -> tuple[HTTPChannel, StringTransport]:
    """An L{HTTPChannel} as C{request.channel} is: the one takeOverChannel gets."""
    channel = HTTPChannel()
    transport = StringTransport(peerAddress=PEER)
    channel.makeConnection(transport)
    return channel, transport


class TestTwistedInternals:
    """
    What L{takeOverChannel} assumes of Twisted's L{HTTPChannel}. If one of
    these fails after a Twisted upgrade, takeOverChannel must change.
    """

    def test_channelIsItsTransportsProducer(self) -> None:
        channel, transport = bareChannel()
        assert transport.producer is channel

    def test_handlersAreInstanceAssignable(self) -> None:
        channel, _ = bareChannel()
        seen = []
        for name in ("dataReceived", "rawDataReceived", "connectionLost"):
            assert callable(getattr(channel, name))
            setattr(channel, name, seen.append)
            getattr(channel, name)(name)
        assert seen == ["dataReceived", "rawDataReceived", "connectionLost"]

    def test_timeoutIsTimeoutMixin(self) -> None:
        channel, _ = bareChannel()
        channel.setTimeout(None)
        assert channel.timeOut is None

    def test_dataBufferHoldsBytesAfterTheRequest(self) -> None:
        """
        While a request is handled (not finished), what came after it is in
        C{_dataBuffer}, a list of bytes: the frames a client sent with its
        upgrade request.
        """
        channel, _ = bareChannel()
        channel.dataReceived(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\nAFTER")
        assert isinstance(channel._dataBuffer, list)
        assert b"".join(channel._dataBuffer) == b"AFTER"


class TestResource:
    def test_upgradeAndEcho(self) -> None:
        """
        A Site request to the resource upgrades to 101, the channel hands the transport
        over, and frames are echoed.
        """
        channel, transport = siteConnection(echoResource(compression=None))
        channel.dataReceived(request("/ws"))
        head, rest = splitResponse(transport.value())
        assert head.startswith(b"HTTP/1.1 101 ")
        assert rest == b""
        assert transport.producer is not channel
        transport.clear()
        channel.dataReceived(serializeFrame(OP_TEXT, b"hi", mask=MASK))
        (frame,) = parseFrames(transport.value())
        assert (frame.opcode, frame.payload) == (OP_TEXT, b"hi")

    def test_framesSentWithTheRequest(self) -> None:
        """Bytes after the request, in the same read, reach the connection."""
        channel, transport = siteConnection(echoResource(compression=None))
        channel.dataReceived(request("/ws") + serializeFrame(OP_TEXT, b"early", mask=MASK))
        head, rest = splitResponse(transport.value())
        assert head.startswith(b"HTTP/1.1 101 ")
        (frame,) = parseFrames(rest)
        assert frame.payload == b"early"

    def test_notAnUpgradeGets426(self) -> None:
        channel, transport = siteConnection(echoResource())
        channel.dataReceived(b"GET /ws HTTP/1.1\r\nHost: example.com\r\n\r\n")
        head, body = splitResponse(transport.value())
        assert head.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
        assert b"upgrade: websocket" in head.lower()
        assert b"WebSocket endpoint" in body

    def test_processRequestRefuses(self) -> None:
        def refuse(protocol, req):
            return txws.Response(403, body=b"no\n")

        channel, transport = siteConnection(echoResource(processRequest=refuse))
        channel.dataReceived(request("/ws"))
        head, body = splitResponse(transport.value())
        assert head.startswith(b"HTTP/1.1 403 ")
        assert body == b"no\n"

    def test_factoryConnections(self) -> None:
        """
        Connections through the resource are in its factory's connections while open, and
        leave it when gone.
        """
        resource = echoResource(compression=None)
        channel, transport = siteConnection(resource)
        channel.dataReceived(request("/ws"))
        (connection,) = resource.factory.connections
        assert connection.open
        channel.connectionLost(None)
        assert connection.closed
        assert not resource.factory.connections

    def test_factoryOrHandlerNotBoth(self) -> None:
        factory = txws.WebSocketServerFactory(lambda ws: None)
        try:
            txws.WebSocketResource(lambda ws: None, factory=factory)
        except TypeError as e:
            assert "factory" in str(e)
        else:
            raise AssertionError("TypeError not raised")


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def listenSite(resource) -> tuple:
    root = Resource()
    root.putChild(b"", Data(b"home page\n", "text/plain"))
    root.putChild(b"ws", resource)
    port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(Site(root))
    return port, port.getHost().port


def rawExchange(port: int, data: bytes, until: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while until not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)


@pytest.mark.sockets
class TestResourceOverSockets:
    @pytest_twisted.ensureDeferred
    async def test_http_and_websocket_share_a_site(self):
        from twisted.internet.threads import deferToThread

        port, number = await listenSite(txws.WebSocketResource(echo))
        try:
            page = await within(
                deferToThread(
                    rawExchange, number, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"home page"
                )
            )
            assert b"200 OK" in page
            plain = await within(
                deferToThread(
                    rawExchange, number, b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", b"client.\n"
                )
            )
            assert plain.startswith(b"HTTP/1.1 426 ")
            assert plain.rstrip(b"\r\n").split(b"\r\n\r\n", 1)[1].count(b"\n") == 0
            ws = await within(txws.connect(f"ws://127.0.0.1:{number}/ws"))
            await ws.send("through a Site")
            assert await within(ws.recv()) == "through a Site"
            await within(ws.close())
        finally:
            await port.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_bytes_sent_with_the_request_are_not_lost(self):
        from twisted.internet.threads import deferToThread

        port, number = await listenSite(txws.WebSocketResource(echo, compression=None))
        try:
            frame = serializeFrame(OP_TEXT, b"eager", mask=True)
            # The request and the first frame in one segment.
            answer = await within(
                deferToThread(rawExchange, number, UPGRADE + b"\r\n" + frame, b"eager")
            )
            assert b"101 Switching Protocols" in answer
            assert answer.endswith(serializeFrame(OP_TEXT, b"eager"))
        finally:
            await port.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_process_request_refuses(self):
        from twisted.internet.threads import deferToThread

        def auth(protocol, request):
            if request.headers.get("Authorization") != "Bearer ok":
                return Response(
                    401, headers=[("WWW-Authenticate", "Bearer")], body=b"who are you?\n"
                )

        port, number = await listenSite(txws.WebSocketResource(echo, processRequest=auth))
        try:
            answer = await within(
                deferToThread(rawExchange, number, UPGRADE + b"\r\n", b"who are you?")
            )
            assert answer.startswith(b"HTTP/1.1 401 ")
            ws = await within(
                txws.connect(
                    f"ws://127.0.0.1:{number}/ws", additionalHeaders={"Authorization": "Bearer ok"}
                )
            )
            await within(ws.close())
        finally:
            await port.stopListening()
