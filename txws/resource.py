# -*- test-case-name: tests.test_resource -*-
"""
L{WebSocketResource}: WebSocket in a C{twisted.web} resource tree, so that
HTTP and WebSocket share one C{Site} and one port.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger
from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from .handshake import parseTokens
from .http import Headers
from .http import Request as HandshakeRequest
from .options import checkOptionNames
from .server import Handler, ServerOptions, WebSocketServerFactory, WebSocketServerProtocol

__all__ = ["WebSocketResource", "takeOverChannel"]

log = Logger()


def _isUpgrade(request: Request) -> bool:
    headers = request.requestHeaders
    try:
        upgrade = parseTokens(
            [v.decode("latin-1") for v in headers.getRawHeaders(b"upgrade", [])], "Upgrade"
        )
        connection = parseTokens(
            [v.decode("latin-1") for v in headers.getRawHeaders(b"connection", [])], "Connection"
        )
    except Exception:
        return False
    return "websocket" in (t.lower() for t in upgrade) and "upgrade" in (
        t.lower() for t in connection
    )


class WebSocketResource(Resource):
    """
    A leaf resource that upgrades requests to WebSocket and runs
    C{handler(websocket)} on each, as L{WebSocketServerFactory} does.

    A request that is not a WebSocket upgrade gets 426 and a one-line body.
    An upgrade request goes through the full server handshake, so
    C{processRequest}, C{origins}, subprotocols and compression apply.
    Keyword options are those of L{txws.ServerOptions}; alternatively pass
    C{factory}, whose C{connections} then holds the open connections.
    """

    isLeaf = True

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        factory: WebSocketServerFactory | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        checkOptionNames("WebSocketResource", options, ServerOptions)
        if factory is None:
            factory = WebSocketServerFactory(handler, **options)
        elif handler is not None or options:
            raise TypeError("pass either a factory or a handler and options")
        self.factory = factory

    def render(self, request: Request) -> bytes | int:
        if not _isUpgrade(request):
            request.setResponseCode(426, b"Upgrade Required")
            request.setHeader(b"upgrade", b"websocket")
            request.setHeader(b"sec-websocket-version", b"13")
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"This is a WebSocket endpoint: connect with a WebSocket client.\n"
        channel = request.channel
        transport: Any = channel.transport
        protocol = self.factory.buildProtocol(transport.getPeer())
        pending = takeOverChannel(channel, protocol)
        protocol.makeConnection(transport)
        transport.resumeProducing()  # in case the channel paused reading
        headers = Headers(
            [
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, values in request.requestHeaders.getAllRawHeaders()
                for value in values
            ]
        )
        handshake = HandshakeRequest(
            request.uri.decode("latin-1"), headers, request.method.decode("latin-1")
        )
        protocol.requestReceived(handshake)
        if pending:
            protocol.dataReceived(pending)
        return NOT_DONE_YET


def takeOverChannel(channel: HTTPChannel, protocol: WebSocketServerProtocol) -> bytes:
    """
    Take the connection of C{channel} over for C{protocol}: from now on its
    bytes, and its end, go to C{protocol}. Returns the bytes the channel
    had received and not yet parsed (sent after the request, with it).

    Twisted has no public API for this. It relies on what
    C{tests/test_resource.py} checks of Twisted's C{HTTPChannel}:
      - the channel registered itself as its transport's producer;
      - its C{dataReceived}, C{rawDataReceived} and C{connectionLost} are
        looked up on the instance, so that assigning them redirects them;
      - C{setTimeout(None)} turns its idle timeout off (TimeoutMixin);
      - C{_dataBuffer} (private) is the list of bytes received after the
        request while the request is being handled.
    """
    transport: Any = channel.transport
    transport.unregisterProducer()
    # Through lambdas: the protocol changes what it does with bytes once open.
    channel.dataReceived = lambda data: protocol.dataReceived(data)  # type: ignore[method-assign]
    channel.rawDataReceived = lambda data: protocol.dataReceived(data)  # type: ignore[method-assign]
    channel.connectionLost = lambda reason: protocol.connectionLost(reason)  # type: ignore[method-assign]
    channel.setTimeout(None)
    pending = b"".join(getattr(channel, "_dataBuffer", []))
    channel._dataBuffer = []
    return pending
