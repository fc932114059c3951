"""
L{txws.resource}: WebSocket on a C{twisted.web} Site, deterministically (a
real L{Site} and L{HTTPChannel} on a StringTransport), and the Twisted
internals that L{takeOverChannel} relies on. The same over real sockets,
with other clients, is in C{tests/test_sockets.py}.
"""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from twisted.web.server import Site

import txws
from txws.frames import OP_TEXT, parseFrames, serializeFrame

from .helpers import PEER, request

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
        assert head.startswith(b"HTTP/1.1 426 ")
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
