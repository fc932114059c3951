# -*- test-case-name: tests.test_exports -*-
"""
Exceptions raised by txws.

The tree, so that callers can catch exactly what they mean::

    WebSocketError
    ├── InvalidURI
    ├── InvalidHandshake
    │   ├── InvalidMessage          malformed or oversized HTTP head
    │   ├── InvalidStatus           server answered something other than 101
    │   ├── InvalidHeader
    │   │   ├── InvalidUpgrade      missing or wrong Upgrade / Connection
    │   │   ├── InvalidOrigin
    │   │   └── InvalidVersion      Sec-WebSocket-Version is not 13
    │   ├── NegotiationError        subprotocol or extension not agreed
    │   ├── RedirectError           too many redirects, or wss:// to ws://
    │   ├── TLSError                certificate not trusted or not for the host
    │   └── OpenTimeout             the opening handshake took too long
    ├── ProtocolError               the peer broke RFC 6455 (close code 1002)
    │   ├── InvalidUTF8             invalid UTF-8 in a text message (1007)
    │   └── PayloadTooBig           a message over maxSize (1009)
    ├── InvalidState                an operation the current state forbids
    └── ConnectionClosed
        ├── ConnectionClosedOK      after a 1000, 1001 or code-less close
        └── ConnectionClosedError   any other close, or none (1006)

Two kinds of error come from Twisted as they are, because Twisted code
(C{ClientService}, retry loops) already knows them: L{txws.connect} fails
with C{twisted.internet.error.ConnectError} or one of its subclasses
(C{ConnectionRefusedError}, C{DNSLookupError}, C{TimeoutError},
C{NoRouteError}, ...) when no connection could be made at all, and with
C{twisted.internet.defer.CancelledError} when the caller cancels it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .http import Response

__all__ = [
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
    "TLSError",
    "ProxyError",
    "OpenTimeout",
    "ProtocolError",
    "InvalidUTF8",
    "PayloadTooBig",
    "InvalidState",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
]


class WebSocketError(Exception):
    """Base class of every exception txws raises."""


class InvalidURI(WebSocketError):
    """The URI is not a usable ``ws://`` or ``wss://`` URI."""

    def __init__(self, uri: str, why: str) -> None:
        super().__init__(f"{uri!r} is not a valid WebSocket URI: {why}")
        self.uri = uri
        self.why = why


class InvalidHandshake(WebSocketError):
    """
    The opening handshake failed.

    On the server, C{status} is the HTTP status code the client is answered
    with.
    """

    status = 400


class InvalidMessage(InvalidHandshake):
    """The HTTP request or response head is malformed or too large."""

    def __init__(self, why: str, status: int = 400) -> None:
        super().__init__(why)
        self.status = status


class InvalidStatus(InvalidHandshake):
    """The server answered the upgrade with a status other than 101."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"server rejected WebSocket connection: HTTP {response.status}")
        self.response = response


class InvalidHeader(InvalidHandshake):
    """A handshake header is missing or has a value we cannot accept."""

    def __init__(self, name: str, value: str | None = None, why: str = "") -> None:
        if value is None:
            message = f"missing {name} header"
        elif why:
            message = f"invalid {name} header: {why}"
        else:
            message = f"invalid {name} header: {value!r}"
        super().__init__(message)
        self.name = name
        self.value = value


class InvalidUpgrade(InvalidHeader):
    """The request or response is not a WebSocket upgrade."""

    status = 426


class InvalidOrigin(InvalidHeader):
    """The client's Origin is not one the server accepts."""

    status = 403

    def __init__(self, origin: str | None) -> None:
        super().__init__("Origin", origin, f"{origin!r} is not allowed")
        self.origin = origin


class InvalidVersion(InvalidHeader):
    """The client asked for a WebSocket version other than 13."""

    status = 426


class NegotiationError(InvalidHandshake):
    """A subprotocol or an extension could not be agreed on."""


class RedirectError(InvalidHandshake):
    """A redirect was refused: too many, or from wss:// to ws://."""


class TLSError(InvalidHandshake):
    """
    The TLS handshake with the server failed: its certificate is not trusted
    or not valid for the host, or no protocol version or cipher was agreed.

    @ivar host: the host that was connected to, with its port.
    @ivar reason: the error TLS failed with (pyOpenSSL's C{SSL.Error} or
        service_identity's C{VerificationError}); also C{__cause__}.
    """

    def __init__(self, host: str, why: str, reason: BaseException) -> None:
        super().__init__(f"TLS with {host} failed: {why}")
        self.host = host
        self.reason = reason
        self.__cause__ = reason

    @staticmethod
    def reasonsOf(error: BaseException) -> list[str]:
        """
        The reasons, in order, that a pyOpenSSL C{SSL.Error} carries
        (OpenSSL's error queue of C{(library, function, reason)}); none for
        any other error.
        """
        queue = error.args[0] if error.args and isinstance(error.args[0], list) else []
        return [str(entry[-1]) for entry in queue if isinstance(entry, tuple) and entry]


class ProxyError(InvalidHandshake):
    """
    The proxy did not open the tunnel: it refused (an HTTP status other than
    2xx to CONNECT, such as 407 or 403; a SOCKS5 reply other than success;
    credentials it did not accept), could not be reached, or answered
    something that is not its protocol.

    @ivar proxy: the proxy's URL, without credentials.
    @ivar httpStatus: the HTTP status an HTTP proxy answered, or C{None}.
    @ivar socksReply: the SOCKS5 reply code (RFC 1928, 6) a SOCKS proxy
        sent, or C{None}.
    """

    def __init__(
        self, proxy: str, why: str, *, httpStatus: int | None = None, socksReply: int | None = None
    ) -> None:
        super().__init__(f"proxy {proxy}: {why}")
        self.proxy = proxy
        self.why = why
        self.httpStatus = httpStatus
        self.socksReply = socksReply


class OpenTimeout(InvalidHandshake, TimeoutError):
    """The opening handshake did not finish within C{openTimeout} seconds."""

    status = 408


class ProtocolError(WebSocketError):
    """
    The peer broke RFC 6455; the connection is failed with C{closeCode}.
    """

    closeCode = 1002


class InvalidUTF8(ProtocolError):
    """A text message or a close reason is not valid UTF-8."""

    closeCode = 1007


class PayloadTooBig(ProtocolError):
    """A message is larger than C{maxSize}."""

    closeCode = 1009


class InvalidState(WebSocketError):
    """The operation is not allowed in the connection's current state."""


class ConnectionClosed(WebSocketError):
    """
    The connection is closed.

    C{code} and C{reason} are what the peer sent in its close frame (1006 and
    "" when none arrived). C{sentCode} and C{sentReason} are what we sent (None
    if we sent no close frame).
    """

    def __init__(
        self,
        code: int = 1006,
        reason: str = "",
        sentCode: int | None = None,
        sentReason: str | None = None,
    ) -> None:
        self.code = code
        self.reason = reason
        self.sentCode = sentCode
        self.sentReason = sentReason
        text = f"received {code}"
        if reason:
            text += f" ({reason})"
        if sentCode is not None:
            text += f"; sent {sentCode}"
            if sentReason:
                text += f" ({sentReason})"
        super().__init__(text)


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed normally: 1000, 1001, or a close frame without a code."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed with an error code, or without a close frame."""
