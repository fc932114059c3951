# -*- test-case-name: tests.test_exports -*-
"""
txws: WebSocket (RFC 6455) servers and clients for Twisted.

A handler is called with each connection::

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    txws.serve(echo, "tcp:8765")

and a client is a Deferred away::

    websocket = await txws.connect("ws://localhost:8765/")
"""

from ._version import __version__
from .broadcast import broadcast
from .client import ClientOptions, WebSocketClientFactory, WebSocketClientProtocol, connect
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidHeader,
    InvalidMessage,
    InvalidOrigin,
    InvalidState,
    InvalidStatus,
    InvalidUpgrade,
    InvalidURI,
    InvalidUTF8,
    InvalidVersion,
    NegotiationError,
    OpenTimeout,
    PayloadTooBig,
    ProtocolError,
    ProxyError,
    RedirectError,
    TLSError,
    WebSocketError,
)
from .frames import CloseCode, Opcode
from .http import Headers, Request, Response
from .interfaces import IWebSocket
from .protocol import Options, State, WebSocketProtocol
from .resource import WebSocketResource
from .server import (
    ServerOptions,
    WebSocketServer,
    WebSocketServerFactory,
    WebSocketServerProtocol,
    serve,
)
from .service import WebSocketService, reconnectingClient
from .streaming import MessageStream
from .wrapping import WrappingFactory

__all__ = [
    "__version__",
    "serve",
    "connect",
    "broadcast",
    "WebSocketResource",
    "WebSocketService",
    "reconnectingClient",
    "WrappingFactory",
    "State",
    "Options",
    "ServerOptions",
    "ClientOptions",
    "IWebSocket",
    "WebSocketProtocol",
    "WebSocketServerProtocol",
    "WebSocketServerFactory",
    "WebSocketServer",
    "MessageStream",
    "WebSocketClientProtocol",
    "WebSocketClientFactory",
    "Headers",
    "Request",
    "Response",
    "CloseCode",
    "Opcode",
    "WebSocketError",
    "InvalidURI",
    "InvalidHandshake",
    "InvalidMessage",
    "InvalidStatus",
    "InvalidHeader",
    "InvalidUpgrade",
    "InvalidOrigin",
    "InvalidVersion",
    "NegotiationError",
    "RedirectError",
    "ProxyError",
    "OpenTimeout",
    "TLSError",
    "ProtocolError",
    "InvalidUTF8",
    "PayloadTooBig",
    "InvalidState",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
]
