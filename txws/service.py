# -*- test-case-name: tests.test_service -*-
"""
Services for C{twisted.application}: a WebSocket server with a graceful
stop (for .tac files, MultiService trees and the twistd plugin) and a
client that reconnects.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from twisted.application.internet import ClientService, StreamServerEndpointService, backoffPolicy
from twisted.application.service import MultiService, Service
from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.endpoints import SSL4ServerEndpoint, serverFromString
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.static import File

from ._driver import runHandler
from .client import ClientOptions, WebSocketClientFactory, WebSocketClientProtocol, endpointFor
from .exceptions import ConnectionClosed
from .frames import CloseCode
from .groups import Groups
from .listening import reusePortEndpoint
from .options import checkOptionNames
from .resource import WebSocketResource
from .server import Handler, ServerOptions, WebSocketServerFactory, closeAll
from .uri import parseURI

__all__ = ["WebSocketService", "reconnectingClient"]

log = Logger()


class WebSocketService(MultiService):
    """
    Serve C{handler} on one or more endpoints (strports descriptions or
    C{IStreamServerEndpoint}s).

    With C{static}, files from that directory are served over HTTP on the
    same ports and the WebSocket answers at C{path}. With C{metricsPath},
    the factory's metrics (on unless C{metrics} says otherwise) are served
    at that path in the Prometheus text format (L{txws.prometheus}), and
    the WebSocket at every other path (or at C{path}, with C{static}). With
    C{redis} (C{redis://host:port/db}), the factory's L{groups
    <txws.groups.Groups>} reach the members connected to every process that
    shares that Redis (L{txws.redis}). With C{reusePort}, C{tcp:} and
    C{ssl:} descriptions bind with C{SO_REUSEPORT}, for processes run side
    by side that share the ports. Stopping the service
    stops listening, closes every connection with 1001 (going away) and
    fires once their closing handshakes are done (each bounded by
    C{closeTimeout}). Keyword options are those of L{txws.ServerOptions}.

    @ivar factory: the L{WebSocketServerFactory}; its C{connections} are the
        open connections.
    """

    def __init__(
        self,
        endpoints: str | IStreamServerEndpoint | Sequence[Any],
        handler: Handler,
        *,
        static: str | None = None,
        path: str = "/ws",
        metricsPath: str | None = None,
        redis: str | None = None,
        reusePort: bool = False,
        reactor: Any = None,
        **options: Any,
    ) -> None:
        super().__init__()
        checkOptionNames("WebSocketService", options, ServerOptions)
        if reactor is None:
            from twisted.internet import reactor
        if metricsPath is not None:
            _segments(metricsPath, "metricsPath")
            options.setdefault("metrics", True)
            if not options["metrics"]:
                raise ValueError("metricsPath needs metrics on")
        self.factory = WebSocketServerFactory(handler, reactor=reactor, **options)
        if redis is not None:
            from .redis import RedisBackplane

            self.factory.groups = Groups(RedisBackplane(redis, reactor=reactor))
        listening: Any = self.factory
        if static is not None or metricsPath is not None:
            websocket = WebSocketResource(factory=self.factory)
            root: Resource = _Everywhere(websocket) if static is None else File(static)
            if static is not None:
                _putAt(root, _segments(path, "path"), websocket)
            if metricsPath is not None:
                from .prometheus import MetricsResource

                metrics = MetricsResource(self.factory.metrics)
                _putAt(root, _segments(metricsPath, "metricsPath"), metrics)
            listening = Site(root)
        if isinstance(endpoints, (str, bytes)) or not isinstance(endpoints, Sequence):
            endpoints = [endpoints]
        for endpoint in endpoints:
            description = endpoint if isinstance(endpoint, str) else repr(endpoint)
            secure = isinstance(endpoint, SSL4ServerEndpoint) or description.startswith("ssl:")
            if isinstance(endpoint, str):
                endpoint = (
                    reusePortEndpoint(reactor, endpoint)
                    if reusePort
                    else serverFromString(reactor, endpoint)
                )
            elif reusePort:
                raise TypeError("reusePort needs strports descriptions, not endpoints")
            where = _Where(secure, path if static is not None else "/", static, metricsPath)
            _ListeningService(endpoint, listening, description, where).setServiceParent(self)

    def whenListening(self) -> defer.Deferred[list[IListeningPort]]:
        """
        Once the service started: a new Deferred, fired with its listening
        ports (in the order of the endpoints) once each listens; with port
        0, this is how to learn the port numbers.
        """
        return defer.gatherResults(
            [child.whenListening() for child in self if isinstance(child, _ListeningService)],
            consumeErrors=True,
        )

    def stopService(self) -> defer.Deferred:
        d = defer.maybeDeferred(super().stopService)
        d.addCallback(lambda _: self._closeConnections())
        return d

    def _closeConnections(self) -> defer.Deferred:
        connections = self.factory.connections
        if connections:
            log.info("Closing {count} WebSocket connections", count=len(connections))
        d = closeAll(connections)
        return d.addCallback(lambda _: self.factory.groups.stop())


class _ListeningService(StreamServerEndpointService):
    """
    Listens like C{StreamServerEndpointService}, but a server that cannot
    listen does not go on serving nothing: starting raises C{SystemExit}
    with one line naming the endpoint (twistd prints it and exits with
    status 1); a listen that fails later is logged and stops the reactor.
    """

    def __init__(
        self,
        endpoint: IStreamServerEndpoint,
        factory: Any,
        description: str,
        where: _Where | None = None,
    ) -> None:
        super().__init__(endpoint, factory)
        self.description = description
        self.where = where

    def privilegedStartService(self) -> None:
        Service.privilegedStartService(self)
        failed: list[Failure] = []
        self._waitingForPort = d = self.endpoint.listen(self.factory)
        d.addErrback(failed.append)
        if failed:
            self._waitingForPort = defer.succeed(None)
            raise SystemExit(self._why(failed[0]))
        d.addCallbacks(self._listening, self._failedLater)

    def whenListening(self) -> defer.Deferred[IListeningPort]:
        """A new Deferred, fired with the port once listening (after start)."""
        d: defer.Deferred[IListeningPort] = defer.Deferred()

        def fire(port: IListeningPort) -> IListeningPort:
            d.callback(port)
            return port

        def fail(failure: Failure) -> Failure:
            d.errback(failure)
            return failure

        # StreamServerEndpointService keeps the listen's Deferred here
        # (privilegedStartService above sets it).
        waiting = self._waitingForPort
        if waiting is None:
            raise RuntimeError("the service has not started")
        waiting.addCallbacks(fire, fail)
        return d

    def _listening(self, port: IListeningPort) -> IListeningPort:
        if self.where is not None:
            log.info("{where}", where=self.where.describe(port.getHost()))
        return port

    def _why(self, failure: Failure) -> str:
        return f"txws: cannot listen on {self.description}: {failure.getErrorMessage()}"

    def _failedLater(self, failure: Failure) -> None:
        if failure.check(defer.CancelledError):
            return None
        log.error("{why}", why=self._why(failure))
        from twisted.internet import reactor

        if reactor.running:
            reactor.stop()
        return None


class _Where:
    """Where a listening port serves, as the startup line says it."""

    def __init__(
        self, secure: bool, path: str, static: str | None, metricsPath: str | None = None
    ) -> None:
        self.secure = secure
        self.path = path
        self.static = static
        self.metricsPath = metricsPath

    def describe(self, address: Any) -> str:
        if not isinstance(address, (IPv4Address, IPv6Address)):
            return f"txws serving WebSocket on {address}"
        host = address.host
        if host in ("0.0.0.0", "::"):
            authority, note = f"localhost:{address.port}", " (all interfaces)"
        else:
            host = f"[{host}]" if ":" in host else host
            authority, note = f"{host}:{address.port}", ""
        s = "s" if self.secure else ""
        text = f"txws serving ws{s}://{authority}{self.path}{note}"
        if self.static is not None:
            text += f"; files from {self.static} at http{s}://{authority}/"
        if self.metricsPath is not None:
            text += f"; metrics at http{s}://{authority}{self.metricsPath}"
        return text


def _segments(path: str, name: str) -> list[bytes]:
    """The segments of C{path}, which must start with / and name a path below it."""
    segments = [s.encode() for s in path.split("/") if s]
    if not path.startswith("/") or not segments:
        raise ValueError(f"{name} must start with / and name a path below it, not {path!r}")
    return segments


def _putAt(root: Resource, segments: list[bytes], resource: Resource) -> None:
    """Put C{resource} at C{segments} below C{root}, adding the resources between."""
    parent = root
    for segment in segments[:-1]:
        child = parent.children.get(segment)
        if child is None:
            child = Resource()
            parent.putChild(segment, child)
        parent = child
    parent.putChild(segments[-1], resource)


class _Everywhere(Resource):
    """A root that is C{websocket} at every path but its children's."""

    def __init__(self, websocket: Resource) -> None:
        super().__init__()
        self.websocket = websocket

    def getChild(self, path: bytes, request: Any) -> Resource:
        return self.websocket


def _firstDelayRandomised(
    initialDelay: float = 1.0, maxDelay: float = 60.0, factor: float = 1.5
) -> Callable[[int], float]:
    """
    Twisted's exponential C{backoffPolicy} (its exponent is capped, so it
    never overflows), with a random first delay: RFC 6455, 7.2.3 asks
    clients to spread their reconnections (0 to 5 seconds, say).
    """
    first = random.uniform(0, 5.0)
    later = backoffPolicy(initialDelay, maxDelay, factor)

    def policy(attempt: int) -> float:
        if attempt <= 1:
            return first
        return later(attempt - 1)

    return policy


class _ReconnectingFactory(WebSocketClientFactory):
    """One factory for every connection a C{ClientService} makes."""

    def __init__(self, uri: Any, handler: Callable, **options: Any) -> None:
        super().__init__(uri, **options)
        self.handler = handler

    def handshakeDone(self, protocol: WebSocketClientProtocol) -> None:
        d = runHandler(self.handler, protocol)
        d.addErrback(_logHandlerFailure, protocol)

    def handshakeFailed(self, failure: Failure) -> None:
        log.info(
            "Could not open WebSocket connection to {uri}: {error}",
            uri=str(self.uri),
            error=failure.getErrorMessage(),
        )


def _logHandlerFailure(failure: Failure, protocol: WebSocketClientProtocol) -> None:
    if failure.check(ConnectionClosed):
        return
    log.failure("Error in WebSocket client handler", failure)
    if protocol.open:
        protocol.close(CloseCode.INTERNAL_ERROR, "internal error")


def reconnectingClient(
    uri: str,
    handler: Callable[[WebSocketClientProtocol], Any],
    *,
    reactor: Any = None,
    tlsOptions: Any = None,
    backoffPolicy: Callable[[int], float] | None = None,
    proxy: str | bool | None = True,
    proxyTLSOptions: Any = None,
    **options: Any,
) -> ClientService:
    """
    A C{ClientService} that keeps a connection to C{uri} open.

    Each connection runs C{handler(websocket)} after its handshake; when the
    connection is lost, or cannot be made, the service tries again after a
    delay from C{backoffPolicy} (by default exponential, with a random first
    delay of 0 to 5 s, as RFC 6455 7.2.3 asks). Start it with
    C{startService()} or add it to an application; C{whenConnected()} fires
    with the open connection. C{proxy} and C{proxyTLSOptions} are
    L{connect <txws.client.connect>}'s (by default, the environment's
    proxy). Keyword options are those of L{txws.ClientOptions}.
    """
    checkOptionNames("reconnectingClient", options, ClientOptions)
    if reactor is None:
        from twisted.internet import reactor
    parsed = parseURI(uri)
    options.setdefault("reactor", reactor)
    factory = _ReconnectingFactory(parsed, handler, **options)
    endpoint = endpointFor(
        reactor, parsed, tlsOptions, factory.options.openTimeout, proxy, proxyTLSOptions
    )
    return ClientService(
        endpoint,
        factory,
        retryPolicy=backoffPolicy or _firstDelayRandomised(),
        clock=reactor,
        prepareConnection=_whenOpen,
    )


def _whenOpen(protocol: Any) -> defer.Deferred:
    # ClientService's whenConnected() then means "open", not "TCP connected".
    return protocol.whenOpen()
