# -*- test-case-name: tests.test_client -*-
"""
WebSocket clients: the client side of the opening handshake, the factory,
and L{connect}, which follows redirects and verifies TLS by default.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import hyperlink
from twisted.internet import defer
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import ClientFactory
from twisted.logger import Logger
from twisted.python.failure import Failure

from ._version import __version__
from .exceptions import (
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    OpenTimeout,
    RedirectError,
    TLSError,
)
from .extensions import ClientExtensionFactory, negotiateClient, offerClient
from .extensions.permessage_deflate import ClientPerMessageDeflateFactory
from .handshake import buildRequest, checkResponse, generateKey
from .http import (
    Response,
    checkFieldValue,
    checkHeaders,
    checkIncomplete,
    findHeadEnd,
    parseResponse,
)
from .options import OptionsKeywords, checkOptionNames
from .protocol import CONNECTING, Options, WebSocketProtocol
from .proxy import parseProxyURL, proxyEndpoint, proxyFor

if TYPE_CHECKING:
    from typing_extensions import Unpack
from .uri import WebSocketURI, fromURL, parseURI

__all__ = [
    "ClientOptions",
    "WebSocketClientProtocol",
    "WebSocketClientFactory",
    "connect",
    "endpointFor",
    "MAX_REDIRECTS",
]

log = Logger()

MAX_REDIRECTS = 10
"""Most redirects L{connect} follows."""

DEFAULT_USER_AGENT = f"Python/{sys.version_info.major}.{sys.version_info.minor} txws/{__version__}"

_REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
# Largest error-response body kept for InvalidStatus.response.
_MAX_BODY = 2**16


class ClientOptionsKeywords(OptionsKeywords, total=False):
    """The keyword options of L{ClientOptions}, for type checkers and IDEs."""

    origin: str | None
    additionalHeaders: dict[str, str] | Iterable[tuple[str, str]]
    userAgentHeader: str | None


class ClientOptions(Options):
    """
    L{txws.options.Options} plus the client's own settings.

    @ivar origin: the Origin header to send; default none.
    @ivar additionalHeaders: more request headers, a dict or (name, value)
        pairs.
    @ivar userAgentHeader: the User-Agent header; C{None} leaves it out.
    """

    extensions: list[ClientExtensionFactory]  # type: ignore[assignment]

    __slots__ = ("origin", "additionalHeaders", "userAgentHeader")

    def __init__(
        self,
        *,
        origin: str | None = None,
        additionalHeaders: dict[str, str] | Iterable[tuple[str, str]] = (),
        userAgentHeader: str | None = DEFAULT_USER_AGENT,
        **options: Unpack[OptionsKeywords],
    ) -> None:
        super().__init__(**options)
        # Nothing given here may put a CR or LF on the wire: checked now,
        # before any connection is made.
        if origin is not None:
            checkFieldValue(origin, "origin")
        if userAgentHeader is not None:
            checkFieldValue(userAgentHeader, "userAgentHeader")
        self.origin = origin
        self.additionalHeaders = (
            list(additionalHeaders.items())
            if isinstance(additionalHeaders, dict)
            else list(additionalHeaders)
        )
        checkHeaders(self.additionalHeaders, "additionalHeaders")
        self.userAgentHeader = userAgentHeader

    def defaultDeflate(self) -> ClientPerMessageDeflateFactory:
        return ClientPerMessageDeflateFactory()


class _Redirect(InvalidStatus):
    """The server redirected us; L{connect} follows C{location}."""

    def __init__(self, response: Response, location: str) -> None:
        super().__init__(response)
        self.location = location


class WebSocketClientProtocol(WebSocketProtocol):
    """The client side of a connection."""

    isClient = True
    defaultOptions = ClientOptions()
    options: ClientOptions

    __slots__ = (
        "factory",
        "_key",
        "_responseBuffer",
        "_pendingResponse",
        "_bodyLength",
        "_opening",
    )

    def __init__(self) -> None:
        super().__init__()
        self.factory: WebSocketClientFactory | None = None
        self._key = ""
        self._responseBuffer: bytearray | None = None
        self._pendingResponse: Response | None = None
        self._bodyLength = 0
        # Who waits for the handshake (whenOpen) until it ends; then, if it
        # failed, why.
        self._opening: list[defer.Deferred[WebSocketClientProtocol]] | Failure | None = []

    def whenOpen(self) -> defer.Deferred[WebSocketClientProtocol]:
        """
        A new Deferred: fires with this protocol once the opening handshake
        succeeded, or fails with the reason it did not.
        """
        opening = self._opening
        if isinstance(opening, list):
            d: defer.Deferred[WebSocketClientProtocol] = defer.Deferred()
            opening.append(d)
            return d
        if opening is None:
            return defer.succeed(self)
        return defer.fail(opening)

    def _openingDone(self, failure: Failure | None) -> None:
        waiters = self._opening
        if not isinstance(waiters, list):
            return
        self._opening = failure
        for d in waiters:
            if failure is None:
                d.callback(self)
            else:
                d.errback(failure)
        if failure is not None:
            # Kept for later callers of whenOpen, without the frames of its
            # traceback, which would hold this protocol in a cycle.
            failure.cleanFailure()

    def connectionMade(self) -> None:
        super().connectionMade()
        options = self.options
        self._key = generateKey()
        self._responseBuffer = bytearray()
        assert self.factory is not None, "built by a WebSocketClientFactory"
        try:
            self.request = buildRequest(
                self.factory.uri,
                self._key,
                origin=options.origin,
                subprotocols=options.subprotocols,
                extensions=offerClient(options.extensions),
                additionalHeaders=options.additionalHeaders,
                userAgentHeader=options.userAgentHeader,
            )
            self.transport.write(self.request.serialize())
        except Exception:
            # Whatever went wrong is what connect() fails with, at once.
            self._handshakeFailed(Failure())

    def handshakeDataReceived(self, data: bytes) -> None:
        """Read the server's answer; after it, frames go to the parser."""
        buf = self._responseBuffer
        if buf is None:
            return
        searched = len(buf)
        buf += data
        if self._pendingResponse is not None:
            self._readBody()
            return
        end = findHeadEnd(buf, searched - 3)
        try:
            if end < 0:
                checkIncomplete(buf, request=False)
                return
            response = parseResponse(bytes(buf[:end]))
        except InvalidHandshake as e:
            self._handshakeFailed(Failure(e))
            return
        del buf[:end]
        if response.status == 101:
            self._checkResponse(response)
            return
        length = response.headers.getAll("Content-Length")
        try:
            self._bodyLength = min(int(length[0]), _MAX_BODY) if len(length) == 1 else 0
        except ValueError:
            self._bodyLength = 0
        self._pendingResponse = response
        self._readBody()

    def _readBody(self) -> None:
        buf = self._responseBuffer
        response = self._pendingResponse
        assert buf is not None and response is not None
        if len(buf) < self._bodyLength:
            return
        response.body = bytes(buf[: self._bodyLength])
        self._pendingResponse = None
        location = response.headers.getAll("Location")
        if response.status in _REDIRECT_STATUSES and len(location) == 1:
            error: InvalidStatus = _Redirect(response, location[0])
        else:
            error = InvalidStatus(response)
        self._handshakeFailed(Failure(error))

    def _checkResponse(self, response: Response) -> None:
        self.response = response
        try:
            self.subprotocol = checkResponse(response, self._key, self.options.subprotocols)
            self.extensions = negotiateClient(
                response.headers.getAll("Sec-WebSocket-Extensions"), self.options.extensions
            )
        except InvalidHandshake as e:
            self._handshakeFailed(Failure(e))
            return
        leftover = bytes(self._responseBuffer or b"")
        self._responseBuffer = None
        self.switchToFrames(leftover)

    def handshakeDone(self) -> None:
        if self.factory is not None:
            self.factory.handshakeDone(self)
        self._openingDone(None)

    def _handshakeFailed(self, failure: Failure) -> None:
        self._responseBuffer = None
        self._notifyFailure(failure)
        self.transport.abortConnection()

    def _notifyFailure(self, failure: Failure) -> None:
        metrics = self.options.metrics
        if metrics is not None and not failure.check(_Redirect):
            error = failure.value
            if isinstance(error, InvalidStatus):
                metrics.handshakeFailed(error.response.status)
            else:
                metrics.handshakeFailed("timeout" if failure.check(OpenTimeout) else "invalid")
        if self.factory is not None:
            self.factory.handshakeFailed(failure)
        self._openingDone(failure)

    def handshakeTimedOut(self) -> None:
        self._notifyFailure(
            Failure(OpenTimeout(f"opening handshake not done in {self.options.openTimeout} s"))
        )

    def connectionLost(self, reason: Failure | None = None) -> None:
        if self.state is CONNECTING:
            tls = _tlsError(self.factory.uri if self.factory is not None else None, reason)
            if tls is not None:
                reason = Failure(tls)
            elif reason is None or reason.check(ConnectionDone, ConnectionLost):
                message = "connection closed during the opening handshake"
                uri = self.factory.uri if self.factory is not None else None
                if uri is not None and not uri.secure and self._responseBuffer == b"":
                    # What a TLS server does with a request in the clear.
                    message += " with no answer (if the server expects TLS, use wss://)"
                reason = Failure(InvalidMessage(message))
            self._notifyFailure(reason)
        super().connectionLost(reason)


def _tlsError(uri: WebSocketURI | None, reason: Failure | None) -> TLSError | None:
    """The L{TLSError} that C{reason} means, if it is a failure of TLS."""
    if reason is None:
        return None
    from OpenSSL.SSL import Error
    from service_identity import VerificationError

    host = f"{uri.host}:{uri.port}" if uri is not None else "the server"
    e = reason.value
    if isinstance(e, VerificationError):
        names = []
        for mismatch in e.errors:
            wanted = mismatch.mismatched_id
            name = getattr(wanted, "hostname", None) or getattr(wanted, "ip", wanted)
            names.append(name.decode("ascii", "replace") if isinstance(name, bytes) else str(name))
        return TLSError(host, "its certificate is not valid for " + ", ".join(names), e)
    if isinstance(e, Error):
        texts = TLSError.reasonsOf(e)
        why = "; ".join(texts) or str(e) or "TLS handshake failed"
        if "certificate verify failed" in texts:
            why = (
                "its certificate could not be verified against the trust roots"
                " (certificate verify failed: self-signed, expired, or from an"
                " unknown authority; tlsOptions= sets the trust roots)"
            )
        elif "wrong version number" in texts:
            why += " (the server answered without TLS: if it serves ws://, use ws://)"
        return TLSError(host, why, e)
    return None


class WebSocketClientFactory(ClientFactory):
    """
    Builds the client connection to C{uri}; use it with any Twisted stream
    client endpoint. L{handshake} fires with the protocol once it is open,
    or fails with the reason the handshake failed. Keyword options are those
    of L{ClientOptions}.

    @ivar metrics: what the connection did (a L{txws.metrics.Metrics}),
        with the C{metrics} option; else C{None}.
    """

    # (Twisted's Factory is generic from 25.5 on; txws supports older ones.)
    protocol: type[WebSocketClientProtocol] = WebSocketClientProtocol  # type: ignore[assignment]
    noisy = False

    def __init__(self, uri: str | WebSocketURI, **options: Unpack[ClientOptionsKeywords]) -> None:
        checkOptionNames(type(self).__name__, options, ClientOptions)
        self.uri = parseURI(uri) if isinstance(uri, str) else uri
        self.options = ClientOptions(**options)
        self.metrics = self.options.metrics
        self.handshake: defer.Deferred[WebSocketClientProtocol] = defer.Deferred(self._cancel)
        self._protocol: WebSocketClientProtocol | None = None

    def buildProtocol(self, addr: Any) -> WebSocketClientProtocol:  # type: ignore[override]
        p = self.protocol()
        p.factory = self
        p.options = self.options
        self._protocol = p
        return p

    def handshakeDone(self, protocol: WebSocketClientProtocol) -> None:
        """Hook: C{protocol} is open. The default fires L{handshake}."""
        if not self.handshake.called:
            self.handshake.callback(protocol)

    def handshakeFailed(self, failure: Failure) -> None:
        """Hook: the handshake failed. The default fails L{handshake}."""
        if not self.handshake.called:
            self.handshake.errback(failure)

    def _cancel(self, d: defer.Deferred) -> None:
        p = self._protocol
        if p is not None and p.transport is not None and p.state is CONNECTING:
            p.transport.abortConnection()


def endpointFor(
    reactor: Any,
    uri: WebSocketURI,
    tlsOptions: Any,
    timeout: float | None,
    proxy: str | bool | None = None,
    proxyTLSOptions: Any = None,
) -> IStreamClientEndpoint:
    """
    How to reach C{uri}: TCP to its host, or a tunnel through the proxy
    L{proxyFor <txws.proxy.proxyFor>} picks from C{proxy} (C{True}: the
    environment's); then TLS for C{wss://}.
    """
    chosen = proxyFor(uri, proxy)
    endpoint: IStreamClientEndpoint
    if chosen is not None:
        endpoint = proxyEndpoint(
            reactor, chosen, uri.host, uri.port, timeout=timeout, proxyTLSOptions=proxyTLSOptions
        )
    else:
        endpoint = HostnameEndpoint(
            reactor, uri.host, uri.port, timeout=timeout if timeout is not None else 30
        )
    if uri.secure:
        if tlsOptions is None:
            from twisted.internet.ssl import optionsForClientTLS

            tlsOptions = optionsForClientTLS(uri.host)
        endpoint = wrapClientTLS(tlsOptions, endpoint)
    return endpoint


def connect(
    uri: str,
    reactor: Any = None,
    /,
    *,
    endpoint: IStreamClientEndpoint | None = None,
    tlsOptions: Any = None,
    redirectEndpoint: Callable[[WebSocketURI], IStreamClientEndpoint] | None = None,
    proxy: str | bool | None = True,
    proxyTLSOptions: Any = None,
    **options: Unpack[ClientOptionsKeywords],
) -> defer.Deferred[WebSocketClientProtocol]:
    """
    Open a WebSocket connection to C{uri}; fires with the open
    L{WebSocketClientProtocol}.

    C{wss://} verifies the server's certificate against the system's trust
    roots for the URI's host; pass C{tlsOptions} (for instance
    C{optionsForClientTLS(host, trustRoot=...)}) to change that. C{endpoint}
    replaces the TCP connection (a Unix socket, a proxy); the URI still gives
    the Host header and the path. Redirects (301, 302, 303, 307, 308) are
    followed, at most L{MAX_REDIRECTS}; wss:// to ws:// is refused with
    L{RedirectError}. The whole of it, redirects included, must finish within
    C{openTimeout} or it fails with L{OpenTimeout}. Other keyword options are
    those of L{ClientOptions}; C{reactor}, given either way, also makes the
    connection.

    A redirect never leaves the caller's C{endpoint} silently: one to the
    same scheme, host and port goes through C{endpoint} again; one to
    another authority is refused with L{RedirectError} unless
    C{redirectEndpoint(uri)} says how to reach it (through the same proxy,
    say). C{tlsOptions}, and so any client certificate, applies to the
    original authority only: a redirect elsewhere verifies the new host
    against the system's trust roots and presents no client certificate.

    C{proxy} is the proxy to go through (C{http://}, C{https://},
    C{socks5://} or C{socks5h://}, credentials in the URL if it needs
    them); by default (C{True}) the environment's (C{https_proxy} for
    C{wss://}, C{http_proxy} for C{ws://}, C{all_proxy}, C{no_proxy});
    C{None} goes direct. Redirects go through it too; a proxy that refuses
    fails with L{ProxyError <txws.exceptions.ProxyError>}.
    C{proxyTLSOptions} verifies an C{https://} proxy (default: the system's
    trust roots for its host). C{endpoint} replaces all of this: giving it
    with C{proxy} or C{proxyTLSOptions} is refused with C{ValueError}.
    """
    checkOptionNames("connect", options, ClientOptions)
    if reactor is None:
        reactor = options.get("reactor")
    if reactor is None:
        from twisted.internet import reactor
    options["reactor"] = reactor
    parsed = parseURI(uri)
    timeout = ClientOptions(**options).openTimeout  # checks the options too
    if proxy is not True and proxy is not None:
        parseProxyURL(proxy)  # type: ignore[arg-type]  # (refused now, not later)
        if endpoint is not None:
            raise ValueError(
                f"proxy {proxy!r} with endpoint=: the endpoint replaces the"
                " connection, so the proxy would be ignored (give one of them)"
            )
    if proxyTLSOptions is not None and endpoint is not None:
        raise ValueError("proxyTLSOptions with endpoint=: the endpoint replaces the proxy")
    via = (proxy, proxyTLSOptions)
    d = defer.ensureDeferred(
        _connect(parsed, reactor, endpoint, tlsOptions, redirectEndpoint, via, dict(options))
    )
    if timeout is not None:

        def onTimeout(result: Any, timeout: float) -> Any:
            # Whatever the cancelled step failed with, the cause is the timeout.
            if isinstance(result, Failure):
                return Failure(OpenTimeout(f"could not connect to {uri} in {timeout} s"))
            return result

        d.addTimeout(timeout, reactor, onTimeoutCancel=onTimeout)
    return d


async def _connect(
    uri: WebSocketURI,
    reactor: Any,
    endpoint: IStreamClientEndpoint | None,
    tlsOptions: Any,
    redirectEndpoint: Callable[[WebSocketURI], IStreamClientEndpoint] | None,
    via: tuple[str | bool | None, Any],
    options: dict[str, Any],
) -> WebSocketClientProtocol:
    original = uri
    for _ in range(MAX_REDIRECTS + 1):
        factory = WebSocketClientFactory(uri, **options)
        sameAuthority = (uri.secure, uri.host, uri.port) == (
            original.secure,
            original.host,
            original.port,
        )
        if sameAuthority and endpoint is not None:
            target = endpoint
        elif not sameAuthority and redirectEndpoint is not None:
            target = redirectEndpoint(uri)
        elif not sameAuthority and endpoint is not None:
            # The endpoint may be a proxy, a tunnel or a Unix socket: going
            # around it would let a server send us anywhere.
            raise RedirectError(
                f"refusing redirect from {original} to {uri}: it would leave the"
                " endpoint given to connect() (pass redirectEndpoint= to follow it)"
            )
        else:
            target = endpointFor(
                reactor,
                uri,
                tlsOptions if sameAuthority else None,
                options.get("openTimeout", 10.0),
                *via,
            )
        connecting = target.connect(factory)
        try:
            await connecting
        except BaseException:
            factory.handshake.cancel()
            factory.handshake.addErrback(lambda f: None)
            raise
        try:
            return await factory.handshake
        except _Redirect as redirect:
            uri = _redirectTarget(uri, redirect.location)
            log.info("Redirected to {uri}", uri=str(uri))
    raise RedirectError(f"more than {MAX_REDIRECTS} redirects")


def _redirectTarget(current: WebSocketURI, location: str) -> WebSocketURI:
    try:
        target = hyperlink.URL.from_text(str(current)).click(location)
    except (hyperlink.URLParseError, ValueError) as e:
        raise RedirectError(f"invalid redirect location {location!r}: {e}") from None
    try:
        new = fromURL(target)
    except InvalidURI as e:
        raise RedirectError(f"cannot follow redirect to {location!r}: {e.why}") from None
    if current.secure and not new.secure:
        raise RedirectError(f"refusing redirect from {current} to {new}: not secure")
    return new
