# -*- test-case-name: tests.test_workers -*-
"""
Listening on a strports description another way than binding it: on a
socket another process bound and passed down (L{bindPort} in the parent,
L{AdoptedEndpoint} in a worker, C{--workers}), or with C{SO_REUSEPORT}
(L{reusePortEndpoint}, for processes run side by side by a process
manager). Each wraps the reactor an endpoint is parsed with, so that TLS
and every option of the description work as they do for a plain listen.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.internet.protocol import Factory
from zope.interface import implementer

__all__ = ["Bound", "bindPort", "AdoptedEndpoint", "reusePortEndpoint"]


class Bound:
    """A listening socket the parent made for its workers."""

    def __init__(self, description: str, sock: socket.socket) -> None:
        self.description = description
        self.socket = sock

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])


class _Binder:
    """
    A reactor stand-in for a server endpoint's C{listen}: it binds and
    listens on a plain socket instead of starting a port.
    """

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor
        self.bound: socket.socket | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)

    def listenTCP(self, port: int, factory: Any, backlog: int = 50, interface: str = "") -> Any:
        family = socket.AF_INET6 if ":" in interface else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((interface, port))
            sock.listen(backlog)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.bound = sock
        return sock

    def listenSSL(
        self, port: int, factory: Any, contextFactory: Any, backlog: int = 50, interface: str = ""
    ) -> Any:
        # The workers do TLS; here it is only a socket.
        return self.listenTCP(port, factory, backlog, interface)


def bindPort(reactor: Any, description: str) -> defer.Deferred[Bound]:
    """
    Bind the listening socket of a C{tcp:} or C{ssl:} strports
    C{description}, for workers to adopt.
    """
    if not description.startswith(("tcp:", "ssl:")):
        return defer.fail(ValueError(f"--workers serves tcp: and ssl: ports, not {description!r}"))
    binder = _Binder(reactor)
    try:
        endpoint = serverFromString(binder, description)
    except (ValueError, KeyError, TypeError) as e:
        return defer.fail(e)
    d = endpoint.listen(Factory())
    return d.addCallback(lambda sock: Bound(description, sock))


class _Adopter:
    """A reactor stand-in for a worker: C{listen} adopts an inherited socket."""

    def __init__(self, reactor: Any, fd: int, family: int) -> None:
        self._reactor = reactor
        self.fd = fd
        self.family = family

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)

    def listenTCP(self, port: int, factory: Any, backlog: int = 50, interface: str = "") -> Any:
        listening = self._reactor.adoptStreamPort(self.fd, self.family, factory)
        os.close(self.fd)
        return listening

    def listenSSL(
        self, port: int, factory: Any, contextFactory: Any, backlog: int = 50, interface: str = ""
    ) -> Any:
        from twisted.protocols.tls import TLSMemoryBIOFactory

        return self.listenTCP(port, TLSMemoryBIOFactory(contextFactory, False, factory))


@implementer(IStreamServerEndpoint)
class AdoptedEndpoint:
    """
    The server endpoint of strports C{description}, listening on the
    inherited socket C{fd} instead of binding: TLS and its options as the
    description says.
    """

    def __init__(self, reactor: Any, description: str, fd: int, family: int) -> None:
        self.description = description
        self._endpoint = serverFromString(_Adopter(reactor, fd, family), description)

    def listen(self, protocolFactory: Any) -> defer.Deferred[IListeningPort]:
        return self._endpoint.listen(protocolFactory)

    def __repr__(self) -> str:
        # What the service's startup line names (and how it sees ssl:).
        return self.description


class _ReusingPort:
    """A reactor stand-in whose listens bind with C{SO_REUSEPORT}."""

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)

    def listenTCP(self, port: int, factory: Any, backlog: int = 50, interface: str = "") -> Any:
        return self._reactor.listenTCP(_binding(interface, port), factory, backlog)

    def listenSSL(
        self, port: int, factory: Any, contextFactory: Any, backlog: int = 50, interface: str = ""
    ) -> Any:
        return self._reactor.listenSSL(_binding(interface, port), factory, contextFactory, backlog)


def _binding(interface: str, port: int) -> Any:
    from twisted.internet.tcp import makeBinding

    return makeBinding(interface, port, reuseAddress=True, reusePort=True)


def reusePortEndpoint(reactor: Any, description: str) -> IStreamServerEndpoint:
    """
    The endpoint of a C{tcp:} or C{ssl:} strports C{description}, bound
    with C{SO_REUSEPORT}: processes that all listen so share the port, and
    the kernel spreads connections over them. C{ValueError} where that is
    not available (another kind of port, a platform or a Twisted without it).
    """
    if not description.startswith(("tcp:", "ssl:")):
        raise ValueError(f"reusePort works with tcp: and ssl: ports, not {description!r}")
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("reusePort: this platform has no SO_REUSEPORT")
    try:
        from twisted.internet.tcp import makeBinding  # noqa: F401
    except ImportError:
        raise ValueError("reusePort needs Twisted 26.10 or later (tcp.makeBinding)") from None
    endpoint: IStreamServerEndpoint = serverFromString(_ReusingPort(reactor), description)
    return endpoint
