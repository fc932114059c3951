"""
L{WebSocketResource}: WebSocket in a C{twisted.web} resource tree, so that
HTTP and WebSocket share one L{Site} and one port.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from .handshake import parseTokens
from .http import Headers
from .http import Request as HandshakeRequest
from .server import Handler, WebSocketServerFactory

__all__ = ["WebSocketResource"]

log = Logger()


def _isUpgrade(request: Request) -> bool:
    headers = request.requestHeaders
    try:
        upgrade = parseTokens([v.decode("latin-1") for v in
                               headers.getRawHeaders(b"upgrade", [])], "Upgrade")
        connection = parseTokens([v.decode("latin-1") for v in
                                  headers.getRawHeaders(b"connection", [])], "Connection")
    except Exception:
        return False
    return ("websocket" in (t.lower() for t in upgrade)
            and "upgrade" in (t.lower() for t in connection))


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

    def __init__(self, handler: Handler | None = None, *,
                 factory: WebSocketServerFactory | None = None, **options: Any) -> None:
        super().__init__()
        if factory is None:
            factory = WebSocketServerFactory(handler, **options)
        elif handler is not None or options:
            raise TypeError("pass either a factory or a handler and options")
        self.factory = factory

    def render(self, request: Request) -> bytes | int:
        if not _isUpgrade(request):
            request.setResponseCode(426)
            request.setHeader(b"upgrade", b"websocket")
            request.setHeader(b"sec-websocket-version", b"13")
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"This is a WebSocket endpoint: connect with a WebSocket client.\n"
        channel = request.channel
        transport = channel.transport
        protocol = self.factory.buildProtocol(transport.getPeer())
        # Take the connection over from the HTTP channel: from now on its
        # bytes (including any that came with this request) are ours.
        transport.unregisterProducer()  # the channel registered itself
        # (Through lambdas: the protocol swaps its dataReceived once open.)
        channel.dataReceived = lambda data: protocol.dataReceived(data)
        channel.rawDataReceived = lambda data: protocol.dataReceived(data)
        channel.connectionLost = lambda reason: protocol.connectionLost(reason)
        channel.setTimeout(None)
        pending = b"".join(getattr(channel, "_dataBuffer", []))
        channel._dataBuffer = []
        protocol.makeConnection(transport)
        transport.resumeProducing()  # in case the channel paused reading
        headers = Headers([(name.decode("latin-1"), value.decode("latin-1"))
                           for name, values in request.requestHeaders.getAllRawHeaders()
                           for value in values])
        handshake = HandshakeRequest(request.uri.decode("latin-1"), headers,
                                     request.method.decode("latin-1"))
        protocol._requestReceived(handshake)
        if pending:
            protocol.dataReceived(pending)
        return NOT_DONE_YET
