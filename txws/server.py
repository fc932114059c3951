# -*- test-case-name: tests.test_server -*-
"""
WebSocket servers: the server side of the opening handshake, the factory
that fits any Twisted stream endpoint, and L{serve}.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ._driver import HandlerDriver, startHandler
from ._log import about
from ._version import __version__
from .exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, TLSError
from .extensions import ServerExtensionFactory, negotiateServer
from .extensions.permessage_deflate import ServerPerMessageDeflateFactory
from .frames import CloseCode
from .groups import Groups
from .handshake import (
    buildResponse,
    buildResponseHead,
    checkOrigin,
    checkRequest,
    parseTokens,
    rejectResponse,
    selectSubprotocol,
)
from .http import (
    MAX_HEAD,
    Request,
    Response,
    checkFieldValue,
    checkIncomplete,
    errorResponse,
    findHeadEnd,
    parseRequest,
)
from .listening import reusePortEndpoint
from .options import OptionsKeywords, checkOptionNames
from .protocol import CONNECTING, OPEN, Options, WebSocketProtocol

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "ServerOptions",
    "WebSocketServerProtocol",
    "WebSocketServerFactory",
    "WebSocketServer",
    "serve",
    "closeAll",
]

log = Logger()

DEFAULT_SERVER_HEADER = (
    f"Python/{sys.version_info.major}.{sys.version_info.minor} txws/{__version__}"
)


class ServerOptions(Options):
    r"""
    L{txws.options.Options} plus the server's own settings.

    @ivar origins: acceptable values of the Origin header: strings, or
        compiled regular expressions that must match the whole Origin
        (C{re.compile(r"https://[a-z]+\.example\.com")}); C{None} in the list
        accepts requests without one. Default C{None}: any origin. Set it for
        browser-facing servers, against cross-site WebSocket hijacking.
    @ivar selectSubprotocol: C{(protocol, offered) -> str | None}, replacing
        the default choice (the first of C{subprotocols} the client offered).
    @ivar processRequest: C{(protocol, request) -> Response | None}, or a
        Deferred of one: return a response to answer the request with it
        instead of upgrading (health checks, authentication).
    @ivar processResponse: C{(protocol, request, response) -> Response |
        None}: inspect or replace the 101 response before it is sent.
    @ivar serverHeader: the Server header; C{None} leaves it out.
    @ivar maxConnections: beyond this many open connections, new ones are
        answered 503. Default C{None}: no limit.
    """

    extensions: list[ServerExtensionFactory]  # type: ignore[assignment]

    __slots__ = (
        "origins",
        "selectSubprotocol",
        "processRequest",
        "processResponse",
        "serverHeader",
        "maxConnections",
    )

    def __init__(
        self,
        *,
        origins: Sequence[str | re.Pattern[str] | None] | None = None,
        selectSubprotocol: Callable[..., str | None] | None = None,
        processRequest: Callable[..., Any] | None = None,
        processResponse: Callable[..., Any] | None = None,
        serverHeader: str | None = DEFAULT_SERVER_HEADER,
        maxConnections: int | None = None,
        **options: Unpack[OptionsKeywords],
    ) -> None:
        super().__init__(**options)
        if maxConnections is not None and (
            not isinstance(maxConnections, int) or maxConnections <= 0
        ):
            raise ValueError("maxConnections must be a positive integer or None")
        if serverHeader is not None:
            checkFieldValue(serverHeader, "serverHeader")
        if origins is not None:
            if isinstance(origins, (str, bytes)):
                raise TypeError("origins must be a sequence (of str, re.Pattern or None)")
            for origin in origins:
                if origin is not None and not isinstance(origin, (str, re.Pattern)):
                    raise TypeError(
                        f"origins entries must be str, re.Pattern or None, not {origin!r}"
                    )
        self.origins = list(origins) if origins is not None else None
        self.selectSubprotocol = selectSubprotocol
        self.processRequest = processRequest
        self.processResponse = processResponse
        self.serverHeader = serverHeader
        self.maxConnections = maxConnections

    def defaultDeflate(self) -> ServerPerMessageDeflateFactory:
        return ServerPerMessageDeflateFactory()


class ServerOptionsKeywords(OptionsKeywords, total=False):
    """The keyword options of L{ServerOptions}, for type checkers and IDEs."""

    origins: Sequence[str | re.Pattern[str] | None] | None
    selectSubprotocol: Callable[..., str | None] | None
    processRequest: Callable[..., Any] | None
    processResponse: Callable[..., Any] | None
    serverHeader: str | None
    maxConnections: int | None


class WebSocketServerProtocol(WebSocketProtocol):
    """
    The server side of a connection: reads the upgrade request, answers it,
    then runs the factory's handler (or L{connectionOpen}, if overridden).
    """

    isClient = False
    defaultOptions = ServerOptions()
    options: ServerOptions

    __slots__ = ("factory", "_handler", "_requestBuffer", "_requestParsed", "_requestHead")

    def __init__(self) -> None:
        super().__init__()
        self.factory: WebSocketServerFactory | None = None
        self._handler: defer.Deferred[Any] | HandlerDriver | None = None
        # b"" until a request comes in pieces (most come whole: no buffer);
        # None once the handshake is over.
        self._requestBuffer: bytearray | bytes | None = b""
        self._requestParsed = False
        self._requestHead: bytes | None = None

    def handshakeDataReceived(self, data: bytes) -> None:
        """Read the upgrade request; after it, frames go to the parser."""
        buf = self._requestBuffer
        if buf is None:
            return
        if not buf and not self._requestParsed and findHeadEnd(data) == len(data):
            # The usual case: the whole request, alone, in one read: no copies.
            head = data
        else:
            if not isinstance(buf, bytearray):
                buf = self._requestBuffer = bytearray(buf)
            searched = len(buf)
            buf += data
            if self._requestParsed:
                # Frames sent before our answer, while processRequest runs.
                if len(buf) > MAX_HEAD:
                    self._reject(InvalidMessage("too much data before the upgrade"))
                return
            end = findHeadEnd(buf, searched - 3)
            if end < 0:
                try:
                    checkIncomplete(buf)
                except InvalidHandshake as e:
                    self._reject(e)
                return
            head = bytes(buf[:end])
            del buf[:end]
        try:
            request = parseRequest(head)
        except InvalidHandshake as e:
            self._reject(e)
            return
        self._requestHead = head
        self.requestReceived(request)

    def requestReceived(self, request: Request) -> None:
        """A whole request head arrived (or came from L{txws.resource})."""
        self._requestParsed = True
        self.request = request
        processRequest = self.options.processRequest
        if processRequest is None:
            try:
                self._requestAccepted(None)
            except BaseException:
                self._handshakeError(Failure())
            return
        # Before the upgrade checks, so that it can answer plain HTTP
        # requests such as health checks.
        d = defer.maybeDeferred(processRequest, self, request)
        d.addCallback(self._requestAccepted)
        d.addErrback(self._handshakeError)

    def _requestAccepted(self, response: Response | None) -> None:
        if self.state is not CONNECTING or self._requestBuffer is None:
            return
        if response is not None:
            self._refuse(response, f"processRequest answered {response.status}")
            return
        request = self.request
        assert request is not None
        try:
            key = checkRequest(request)
            checkOrigin(request.headers, self.options.origins)
        except InvalidHandshake as e:
            self._reject(e)
            return
        options = self.options
        factory = self.factory
        if (
            options.maxConnections is not None
            and factory is not None
            and len(factory.connections) >= options.maxConnections
        ):
            self._refuse(
                errorResponse(503, "Too many connections; try again later."), "too many connections"
            )
            return
        try:
            headers = request.headers
            offered = parseTokens(
                headers.fieldValues("sec-websocket-protocol"), "Sec-WebSocket-Protocol"
            )
            if options.selectSubprotocol is not None:
                subprotocol = options.selectSubprotocol(self, offered)
            else:
                subprotocol = selectSubprotocol(offered, options.subprotocols)
            if subprotocol is not None and subprotocol not in offered:
                # The application's mistake, not the client's: a 500.
                raise ValueError(
                    f"selectSubprotocol chose {subprotocol!r},"
                    f" which the client did not offer ({offered})"
                )
            extensionHeader, extensions = negotiateServer(
                headers.fieldValues("sec-websocket-extensions"), options.extensions
            )
        except InvalidHandshake as e:
            self._reject(e)
            return
        if options.processResponse is not None or self._requestHead is None:
            response = buildResponse(key, subprotocol, extensionHeader, options.serverHeader)
            if options.processResponse is not None:
                replaced = options.processResponse(self, request, response)
                if replaced is not None:
                    response = replaced
                if response.status != 101:
                    self._refuse(response, f"processResponse answered {response.status}")
                    return
            self.response = response
            head = response.serialize()
        else:
            # Nobody looks at the response: build its bytes directly.
            head = buildResponseHead(key, subprotocol, extensionHeader, options.serverHeader)
        self.subprotocol = subprotocol
        self.extensions = extensions
        self.transport.write(head)
        if self._requestHead is not None:
            self.keepHandshake(self._requestHead, head)
            self._requestHead = None
        leftover = bytes(self._requestBuffer or b"")
        self._requestBuffer = None
        if factory is not None:
            factory.connections.add(self)
        self.switchToFrames(leftover)

    def _handshakeError(self, failure: Failure) -> None:
        log.failure(
            "Error in the opening handshake {connection} with {peer}", failure, **about(self)
        )
        if self.state is CONNECTING and self.transport is not None:
            self._refuse(
                errorResponse(500, "Failed to open a WebSocket connection."), "internal error"
            )

    def _reject(self, error: InvalidHandshake) -> None:
        self._refuse(rejectResponse(error, self.options.serverHeader), str(error))

    def _refuse(self, response: Response, why: str) -> None:
        log.info(
            "Refused WebSocket handshake {connection} from {peer}: {status} {why}",
            status=response.status,
            why=why,
            **about(self),
        )
        self._requestBuffer = None
        if self.options.metrics is not None:
            self.options.metrics.handshakeFailed(response.status)
        if "Content-Length" not in response.headers:
            response.headers.add("Content-Length", str(len(response.body)))
        if "Connection" not in response.headers:
            response.headers.add("Connection", "close")
        try:
            head = response.serialize()
        except (TypeError, ValueError):
            # A response from processRequest that cannot be sent as it is.
            log.failure("Cannot send the response refusing {connection} {peer}", **about(self))
            head = errorResponse(500, "Failed to open a WebSocket connection.").serialize()
        self.transport.write(head)
        self.closeTransport()

    def connectionOpen(self) -> None:
        """Run the factory's handler, if it has one."""
        handler = self.factory.handler if self.factory is not None else None
        if handler is None:
            return
        started = startHandler(handler, self, finished=self._handlerFinished)
        if isinstance(started, defer.Deferred):
            done = self._handlerFinished
            started.addCallbacks(done, done, callbackArgs=(False,), errbackArgs=(True,))
        self._handler = started

    @property
    def handlerResult(self) -> defer.Deferred[Any] | None:
        """
        Once the handler started, a Deferred that fires (with C{None}) when
        it ends; cancelling it cancels the handler.
        """
        handler = self._handler
        return handler.deferred if isinstance(handler, HandlerDriver) else handler

    def _handlerFinished(self, result: object, failed: bool) -> None:
        if not failed:
            if self.state is OPEN:
                self.close()
            return
        failure = result if isinstance(result, Failure) else Failure(result)
        if failure.check(ConnectionClosed) and self.state is not OPEN:
            # The handler read past the close: expected, and not logged. Its
            # traceback goes, as the frames in it would hold us in a cycle.
            failure.tb = None
            if failure.value is not None:
                failure.value.__traceback__ = None
            return
        log.failure("Error in WebSocket handler {connection} for {peer}", failure, **about(self))
        if self.state is OPEN:
            self.close(1011, "internal error")

    def connectionClosed(self) -> None:
        if self.factory is not None:
            self.factory.connections.discard(self)

    def connectionLost(self, reason: Failure | None = None) -> None:
        if self.state is CONNECTING and reason is not None:
            from OpenSSL.SSL import Error

            if isinstance(reason.value, Error):
                reasons = TLSError.reasonsOf(reason.value)
                text = str(reason.value)
                why = "; ".join(reasons) or (text if text not in ("", "[]") else "no reason")
                if "http request" in reasons:
                    why += " (a ws:// client on this TLS port)"
                log.info(
                    "TLS of connection {connection} with {peer} failed: {why}",
                    why=why,
                    **about(self),
                )
        super().connectionLost(reason)

    def handshakeTimedOut(self) -> None:
        self._requestBuffer = None
        if self.options.metrics is not None:
            self.options.metrics.handshakeFailed("timeout")


Handler = Callable[[WebSocketServerProtocol], Any]


class WebSocketServerFactory(Factory):
    """
    Builds server connections that run C{handler(websocket)}; use it with
    any Twisted stream server endpoint.

    When the handler's result (it may be a coroutine, a Deferred or
    nothing) is done, the connection is closed with 1000; if it fails, the
    error is logged and the connection closed with 1011. C{handler} may be
    None for subclasses of the protocol that override L{connectionOpen
    <WebSocketServerProtocol.connectionOpen>} or C{messageReceived}.
    Keyword options are those of L{ServerOptions}.

    @ivar connections: the open connections.
    @ivar metrics: what the connections did (a L{txws.metrics.Metrics}),
        with the C{metrics} option; else C{None}.
    @ivar groups: the groups its connections join (L{txws.groups}).
    """

    # (Twisted's Factory is generic from 25.5 on; txws supports older ones.)
    protocol: type[WebSocketServerProtocol] = WebSocketServerProtocol  # type: ignore[assignment]

    def __init__(
        self, handler: Handler | None = None, **options: Unpack[ServerOptionsKeywords]
    ) -> None:
        checkOptionNames(type(self).__name__, options, ServerOptions)
        self.handler = handler
        self.options = ServerOptions(**options)
        self.connections: set[WebSocketServerProtocol] = set()
        self.metrics = self.options.metrics
        self._groups: Groups | None = None

    @property
    def groups(self) -> Groups:
        """
        The groups (rooms) of this factory's connections, a L{Groups}: local
        to the process unless it was given one with a backplane.
        """
        if self._groups is None:
            self._groups = Groups()
        return self._groups

    @groups.setter
    def groups(self, groups: Groups) -> None:
        if not isinstance(groups, Groups):
            raise TypeError("groups must be a txws.groups.Groups")
        self._groups = groups

    def buildProtocol(self, addr: Any) -> WebSocketServerProtocol:  # type: ignore[override]
        p = self.protocol()
        p.factory = self
        p.options = self.options
        return p


def closeAll(
    connections: Iterable[WebSocketProtocol],
    code: int = CloseCode.GOING_AWAY,
    reason: str = "server shutting down",
) -> defer.Deferred[None]:
    """
    Close every open connection of C{connections} with C{code} and
    C{reason}; fires once all of them are gone (each within its
    C{closeTimeout}: one that does not answer is aborted).
    """
    waits = []
    for connection in list(connections):
        waits.append(connection.whenClosed())
        if connection.open:
            connection.close(code, reason)
    return defer.DeferredList(waits, consumeErrors=True).addCallback(lambda _: None)


@implementer(IListeningPort)
class WebSocketServer:
    """
    What L{serve} fires with: the listening port (it provides
    C{IListeningPort}: C{getHost()}, C{stopListening()}), with the
    connections it serves and a graceful L{close}.

    @ivar port: the C{IListeningPort} the endpoint gave.
    @ivar factory: the L{WebSocketServerFactory} behind it.
    """

    def __init__(self, port: IListeningPort, factory: WebSocketServerFactory) -> None:
        self.port = port
        self.factory = factory
        self._waiters: list[defer.Deferred[None]] = []
        self._closed = False

    @property
    def connections(self) -> set[WebSocketServerProtocol]:
        """The open connections."""
        return self.factory.connections

    def getHost(self) -> Any:
        return self.port.getHost()

    def startListening(self) -> None:
        self.port.startListening()

    def stopListening(self) -> Any:
        """Stop accepting connections; the open ones go on (see L{close})."""
        return self.port.stopListening()

    def close(self, closeConnections: bool = True) -> defer.Deferred[None]:
        """
        Stop listening and, with C{closeConnections}, close every open
        connection with 1001 (going away). Fires once the port is closed and
        every connection is gone, each within its C{closeTimeout}. Calling it
        again gives a Deferred of the same end.
        """
        if self._closed:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._waiters.append(d)
        if len(self._waiters) == 1:
            defer.ensureDeferred(self._close(closeConnections)).addBoth(self._done)
        return d

    def _done(self, result: None | Failure) -> None:
        self._closed = result is None
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            if result is None:
                d.callback(None)
            else:
                d.errback(result)

    async def _close(self, closeConnections: bool) -> None:
        await defer.maybeDeferred(self.port.stopListening)
        if closeConnections:
            await closeAll(self.connections)


def serve(
    handler: Handler,
    endpoint: str | IStreamServerEndpoint = "tcp:8765",
    *,
    reusePort: bool = False,
    **options: Unpack[ServerOptionsKeywords],
) -> defer.Deferred[WebSocketServer]:
    """
    Serve C{handler} on C{endpoint} (a strports description such as
    C{"tcp:8765"} or C{"ssl:8443:privateKey=key.pem"}, or an
    C{IStreamServerEndpoint}); fires with the L{WebSocketServer}, which is
    also the C{IListeningPort}. Keyword options are those of
    L{ServerOptions}; C{reactor} also parses the description.

    C{reusePort=True} binds a C{tcp:} or C{ssl:} description with
    C{SO_REUSEPORT}, so that processes started side by side (by systemd,
    supervisor...) share the port (L{txws.listening.reusePortEndpoint}).
    """
    checkOptionNames("serve", options, ServerOptions)
    reactor: Any = options.get("reactor")
    if reactor is None:
        from twisted.internet import reactor
    if reusePort:
        if not isinstance(endpoint, str):
            raise TypeError("reusePort needs a strports description, not an endpoint")
        listening = reusePortEndpoint(reactor, endpoint)
    else:
        listening = serverFromString(reactor, endpoint) if isinstance(endpoint, str) else endpoint
    options["reactor"] = reactor
    factory = WebSocketServerFactory(handler, **options)
    d: defer.Deferred[WebSocketServer] = listening.listen(factory).addCallback(
        WebSocketServer, factory
    )
    return d
