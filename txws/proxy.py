# -*- test-case-name: tests.test_proxy -*-
"""
Client connections through a proxy: HTTP CONNECT (C{http://} and, with TLS
to the proxy, C{https://}) and SOCKS5 (C{socks5://}, names resolved here;
C{socks5h://}, by the proxy), each as an C{IStreamClientEndpoint} that
wraps the endpoint reaching the proxy, so they fit C{connect(endpoint=)},
C{reconnectingClient} and any Twisted client.

L{proxyFor} picks the proxy of a URI: the one given, or, by default, the
environment's, as curl and websockets do: C{https_proxy} for C{wss://},
C{http_proxy} for C{ws://}, C{all_proxy} for either, and C{no_proxy}
(the standard library's reading of them, C{urllib.request}).
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from twisted.internet import defer
from twisted.internet.address import HostnameAddress
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IProtocol, IProtocolFactory, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from .exceptions import ProxyError
from .tunnel import SOCKS5, HTTPConnect, Tunnel
from .uri import WebSocketURI

__all__ = [
    "ProxyURL",
    "parseProxyURL",
    "proxyFor",
    "proxyEndpoint",
    "HTTPConnectEndpoint",
    "SOCKS5Endpoint",
]

log = Logger()

_DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}


@dataclass(frozen=True)
class ProxyURL:
    """
    A proxy: C{scheme} (C{http}, C{https}, C{socks5}, C{socks5h}), C{host},
    C{port}, and the credentials in its URL, if any. C{str()} leaves the
    credentials out, for messages and logs.
    """

    scheme: str
    host: str
    port: int
    user: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parseProxyURL(url: str, what: str = "proxy") -> ProxyURL:
    """
    Parse a proxy URL (C{scheme://[user:password@]host[:port]}; no scheme
    means C{http}); C{ValueError}, naming C{what}, if it is not one.
    """
    if not isinstance(url, str):
        raise TypeError(f"{what} must be a URL string, True or None, not {type(url).__name__}")
    text = url if "://" in url else "http://" + url
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"{what} {url!r} is not a proxy URL: {e}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(
            f"{what} {url!r}: unsupported scheme {scheme!r} (http, https, socks5, socks5h)"
        )
    host = parts.hostname
    if not host or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{what} {url!r} must be scheme://host[:port], with no path")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError as e:
        raise ValueError(f"{what} {url!r}: bad host: {e}") from None
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return ProxyURL(scheme, host, port or _DEFAULT_PORTS[scheme], user, password)


def proxyFor(uri: WebSocketURI, proxy: str | bool | None = True) -> ProxyURL | None:
    """
    The proxy to reach C{uri} through: C{proxy} itself if it is a URL,
    none if it is C{None} (or C{False}), and with C{True} the
    environment's (C{https_proxy} or C{all_proxy} for C{wss://},
    C{http_proxy} or C{all_proxy} for C{ws://}) unless C{no_proxy} names
    the host.
    """
    if proxy is None or proxy is False:
        return None
    if proxy is not True:
        return parseProxyURL(proxy)
    proxies = urllib.request.getproxies_environment()
    key = "https" if uri.secure else "http"
    chosen, variable = proxies.get(key), f"{key}_proxy"
    if not chosen:
        chosen, variable = proxies.get("all"), "all_proxy"
    if not chosen:
        return None
    host = f"[{uri.host}]" if ":" in uri.host else uri.host
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if bypass(f"{host}:{uri.port}", proxies):
        return None
    return parseProxyURL(chosen, variable)


def proxyEndpoint(
    reactor: Any,
    proxy: ProxyURL,
    host: str,
    port: int,
    *,
    timeout: float | None = 30,
    proxyTLSOptions: Any = None,
) -> IStreamClientEndpoint:
    """
    An endpoint to C{host:port} through C{proxy}: TCP to the proxy (TLS
    too for C{https}, verified against C{proxyTLSOptions} or the system's
    trust roots), then its handshake, all within C{timeout} seconds. TLS
    to C{host} itself, for C{wss://}, goes on top of it.
    """
    toProxy: IStreamClientEndpoint = HostnameEndpoint(
        reactor, proxy.host, proxy.port, timeout=timeout if timeout is not None else 30
    )
    if proxy.scheme == "https":
        if proxyTLSOptions is None:
            from twisted.internet.ssl import optionsForClientTLS

            proxyTLSOptions = optionsForClientTLS(proxy.host)
        toProxy = wrapClientTLS(proxyTLSOptions, toProxy)
    user, password, name = proxy.user, proxy.password, str(proxy)
    if proxy.scheme in ("http", "https"):
        return HTTPConnectEndpoint(
            reactor, toProxy, host, port, user=user, password=password, timeout=timeout, proxy=name
        )
    return SOCKS5Endpoint(
        reactor,
        toProxy,
        host,
        port,
        resolveLocally=proxy.scheme == "socks5",
        user=user,
        password=password,
        timeout=timeout,
        proxy=name,
    )


class _TunnelEndpoint:
    def __init__(
        self,
        reactor: Any,
        proxyEndpoint: IStreamClientEndpoint,
        host: str,
        port: int,
        *,
        user: str | None = None,
        password: str | None = None,
        timeout: float | None = 30,
        proxy: str = "proxy",
    ) -> None:
        self.reactor = reactor
        self.proxyEndpoint = proxyEndpoint
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.timeout = timeout
        self.proxy = proxy
        self.tunnel(host)  # checks host, port and credentials now

    def tunnel(self, host: str) -> Tunnel:
        raise NotImplementedError

    def connect(self, protocolFactory: IProtocolFactory) -> defer.Deferred[IProtocol]:
        opened: defer.Deferred[IProtocol] = defer.Deferred(lambda d: cancel())
        connecting: list[defer.Deferred[Any]] = []
        tunnels: list[_TunnelProtocol] = []

        def cancel() -> None:
            for d in connecting:
                d.cancel()
            for tunnel in tunnels:
                if tunnel.transport is not None:
                    tunnel.transport.abortConnection()

        def connectTo(host: str) -> defer.Deferred[Any]:
            tunnel = _TunnelProtocol(
                self.tunnel(host),
                protocolFactory,
                opened,
                HostnameAddress(self.host.encode("ascii"), self.port),
                self.reactor,
                self.timeout,
                self.proxy,
            )
            tunnels.append(tunnel)
            d = self.proxyEndpoint.connect(Factory.forProtocol(lambda: tunnel))
            connecting[:] = [d]
            return d

        def unreachable(failure: Failure) -> None:
            if opened.called:
                return
            if failure.check(defer.CancelledError, ProxyError):
                opened.errback(failure)
            else:
                opened.errback(
                    ProxyError(self.proxy, f"cannot connect: {failure.getErrorMessage()}")
                )

        d = self.target()
        connecting[:] = [d]
        d.addCallback(connectTo)
        d.addErrback(unreachable)
        return opened

    def target(self) -> defer.Deferred[str]:
        """The host to ask the proxy for."""
        return defer.succeed(self.host)


@implementer(IStreamClientEndpoint)
class HTTPConnectEndpoint(_TunnelEndpoint):
    """
    C{host:port} through an HTTP proxy reached by C{proxyEndpoint} (wrap it
    with C{wrapClientTLS} for an C{https://} proxy), with C{CONNECT} and,
    given C{user}, C{Proxy-Authorization: Basic}. A refusal fails
    C{connect()} with L{ProxyError}; C{timeout} bounds the proxy's answer.
    C{proxy} names the proxy in errors.
    """

    def tunnel(self, host: str) -> Tunnel:
        return HTTPConnect(
            host, self.port, user=self.user, password=self.password, proxy=self.proxy
        )


@implementer(IStreamClientEndpoint)
class SOCKS5Endpoint(_TunnelEndpoint):
    """
    C{host:port} through a SOCKS5 proxy reached by C{proxyEndpoint}, with
    no authentication or, given C{user}, username and password. With
    C{resolveLocally} (C{socks5://}) a host name is resolved here and its
    address sent; otherwise (C{socks5h://}) the proxy resolves it.
    """

    def __init__(self, *args: Any, resolveLocally: bool = False, **kwargs: Any) -> None:
        self.resolveLocally = resolveLocally
        super().__init__(*args, **kwargs)

    def tunnel(self, host: str) -> Tunnel:
        return SOCKS5(host, self.port, user=self.user, password=self.password, proxy=self.proxy)

    def target(self) -> defer.Deferred[str]:
        if not self.resolveLocally or _isAddress(self.host):
            return defer.succeed(self.host)
        return _resolve(self.reactor, self.host, self.port, self.proxy)


class _TunnelProtocol(Protocol):
    """
    Speaks a L{Tunnel}'s handshake with the proxy, then is the wrapped
    protocol's pipe: it builds it, gives it the transport, and passes it
    what is read and the end of the connection.
    """

    transport: Any

    def __init__(
        self,
        tunnel: Tunnel,
        factory: IProtocolFactory,
        opened: defer.Deferred[IProtocol],
        address: Any,
        reactor: Any,
        timeout: float | None,
        proxy: str,
    ) -> None:
        self.tunnel = tunnel
        self.wrappedFactory = factory
        self.opened = opened
        self.address = address
        self.reactor = reactor
        self.timeout = timeout
        self.proxy = proxy
        self.wrapped: Any = None
        self.timer: Any = None

    def connectionMade(self) -> None:
        if self.opened.called:  # cancelled meanwhile
            self.transport.abortConnection()
            return
        if self.timeout is not None:
            self.timer = self.reactor.callLater(self.timeout, self._timedOut)
        self.transport.write(self.tunnel.start())

    def dataReceived(self, data: bytes) -> None:
        wrapped = self.wrapped
        if wrapped is not None:
            wrapped.dataReceived(data)
            return
        if self.opened.called:
            return
        try:
            reply, done, leftover = self.tunnel.receive(data)
        except ProxyError as e:
            self._fail(e)
            return
        if reply:
            self.transport.write(reply)
        if not done:
            return
        self._stopTimer()
        wrapped = self.wrappedFactory.buildProtocol(self.address)
        if wrapped is None:
            self._fail(ProxyError(self.proxy, "the protocol factory refused the connection"))
            return
        self.wrapped = wrapped
        wrapped.makeConnection(self.transport)
        self.opened.callback(wrapped)
        if leftover:
            wrapped.dataReceived(leftover)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._stopTimer()
        if self.wrapped is not None:
            wrapped, self.wrapped = self.wrapped, None
            wrapped.connectionLost(reason)
        elif not self.opened.called:
            self.opened.errback(
                ProxyError(self.proxy, "closed the connection before the tunnel was open")
            )

    def _fail(self, error: ProxyError) -> None:
        self._stopTimer()
        log.info("{error}", error=str(error))
        if not self.opened.called:
            self.opened.errback(error)
        self.transport.abortConnection()

    def _timedOut(self) -> None:
        self.timer = None
        self._fail(ProxyError(self.proxy, f"no tunnel within {self.timeout} s"))

    def _stopTimer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def _isAddress(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _resolve(reactor: Any, host: str, port: int, proxy: str) -> defer.Deferred[str]:
    """The first address C{host} resolves to, with the reactor's resolver."""
    from twisted.internet.interfaces import IResolutionReceiver

    found: list[str] = []
    d: defer.Deferred[str] = defer.Deferred()

    @implementer(IResolutionReceiver)
    class Receiver:
        def resolutionBegan(self, resolution: Any) -> None:
            pass

        def addressResolved(self, address: Any) -> None:
            found.append(address.host)

        def resolutionComplete(self) -> None:
            if found:
                d.callback(found[0])
            else:
                d.errback(ProxyError(proxy, f"cannot resolve {host!r} to send it the address"))

    reactor.nameResolver.resolveHostName(Receiver(), host, port)
    return d
