# -*- test-case-name: tests.test_wrapping -*-
"""
L{WrappingFactory}: any stream protocol (a C{LineReceiver}, an AMP server,
...) served over WebSocket, so that a browser can talk to an existing
Twisted service. What the protocol writes is sent as binary messages; what
the peer sends (binary or text, as UTF-8) is delivered to its
C{dataReceived}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IProtocol, IPushProducer, ITransport
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure
from zope.interface import implementer

from .frames import CloseCode, isNormalCloseCode
from .options import checkOptionNames
from .server import ServerOptions, WebSocketServerFactory, WebSocketServerProtocol

__all__ = ["WrappingFactory"]


@implementer(ITransport, IPushProducer)
class _MessageTransport:
    """The transport the wrapped protocol sees: writes become messages."""

    disconnecting = False

    def __init__(self, websocket: _WrappingProtocol) -> None:
        self.websocket = websocket

    def write(self, data: bytes) -> None:
        if data and self.websocket.open:
            self.websocket.send(bytes(data)).addErrback(lambda f: None)

    def writeSequence(self, data: Any) -> None:
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        self.disconnecting = True
        if self.websocket.open:
            self.websocket.close()

    def abortConnection(self) -> None:
        self.disconnecting = True
        self.websocket.transport.abortConnection()

    def getPeer(self) -> Any:
        return self.websocket.transport.getPeer()

    def getHost(self) -> Any:
        return self.websocket.transport.getHost()

    # The wrapped protocol may throttle what it reads, as from any transport;
    # the connection resumes reading only once it has no reason of its own left.
    def pauseProducing(self) -> None:
        self.websocket.pauseReading()

    def resumeProducing(self) -> None:
        self.websocket.resumeReading()

    def stopProducing(self) -> None:
        self.loseConnection()

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.websocket.wrappedProducer = producer

    def unregisterProducer(self) -> None:
        self.websocket.wrappedProducer = None


class _WrappingProtocol(WebSocketServerProtocol):
    __slots__ = ("wrapped", "wrappedProducer")

    def __init__(self) -> None:
        super().__init__()
        self.wrapped: IProtocol | None = None
        self.wrappedProducer: Any = None

    def connectionOpen(self) -> None:
        factory = self.factory
        assert isinstance(factory, WrappingFactory)
        self.wrapped = factory.wrappedFactory.buildProtocol(self.transport.getPeer())
        if self.wrapped is None:
            self.close(CloseCode.TRY_AGAIN_LATER, "connection refused")
            return
        self.wrapped.makeConnection(_MessageTransport(self))

    def messageReceived(self, message: str | bytes) -> None:
        if isinstance(message, str):
            message = message.encode("utf-8")
        if self.wrapped is not None:
            self.wrapped.dataReceived(message)

    # Backpressure from the WebSocket's transport reaches the wrapped producer.
    def pauseProducing(self) -> None:
        super().pauseProducing()
        if self.wrappedProducer is not None:
            self.wrappedProducer.pauseProducing()

    def resumeProducing(self) -> None:
        super().resumeProducing()
        if self.wrappedProducer is not None:
            self.wrappedProducer.resumeProducing()

    def connectionClosed(self) -> None:
        super().connectionClosed()
        if self.wrapped is not None:
            clean = isNormalCloseCode(self.closeCode)
            self.wrapped.connectionLost(Failure(ConnectionDone() if clean else ConnectionLost()))


class WrappingFactory(WebSocketServerFactory):
    """
    Serve C{wrappedFactory}'s protocol over WebSocket. Keyword options are
    those of L{txws.ServerOptions}.
    """

    protocol = _WrappingProtocol

    def __init__(self, wrappedFactory: Factory, **options: Any) -> None:
        checkOptionNames(type(self).__name__, options, ServerOptions)
        super().__init__(None, **options)
        self.wrappedFactory = wrappedFactory

    def startFactory(self) -> None:
        self.wrappedFactory.doStart()

    def stopFactory(self) -> None:
        self.wrappedFactory.doStop()
