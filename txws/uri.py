# -*- test-case-name: tests.test_uri -*-
"""
WebSocket URIs: RFC 6455, section 3 (``ws://`` and ``wss://``).

Pure codec, built on C{hyperlink} (which Twisted depends on). User info
(``ws://user:password@host/``) is kept so that the client can send it as
HTTP Basic authentication; a fragment is refused, as section 3 requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

import hyperlink

from .exceptions import InvalidURI

__all__ = ["WebSocketURI", "parseURI"]


@dataclass(frozen=True)
class WebSocketURI:
    """
    A parsed WebSocket URI.

    C{host} is ASCII (IDNA-encoded, IPv6 literals without brackets);
    C{resourceName} is the encoded path and query sent in the request line;
    C{user} and C{password} are None unless the URI has user info.
    """

    secure: bool
    host: str
    port: int
    resourceName: str = "/"
    user: str | None = None
    password: str | None = None

    @property
    def scheme(self) -> str:
        return "wss" if self.secure else "ws"

    @property
    def hostHeader(self) -> str:
        """The value of the Host header: the default port is left out."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == (443 if self.secure else 80):
            return host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.hostHeader}{self.resourceName}"


def parseURI(uri: str) -> WebSocketURI:
    """Parse and check a ``ws://`` or ``wss://`` URI, raising L{InvalidURI}."""
    try:
        url = hyperlink.URL.from_text(uri)
    except (hyperlink.URLParseError, ValueError) as e:
        raise InvalidURI(uri, str(e)) from None
    return fromURL(url, uri)


def fromURL(url: hyperlink.URL, original: str | None = None) -> WebSocketURI:
    """Check a C{hyperlink.URL} and turn it into a L{WebSocketURI}."""
    text = original if original is not None else url.to_text()
    if url.scheme not in ("ws", "wss"):
        raise InvalidURI(text, "scheme must be ws or wss")
    if not url.host:
        raise InvalidURI(text, "no host")
    if url.fragment:
        raise InvalidURI(text, "fragments are not allowed")
    secure = url.scheme == "wss"
    port = url.port if url.port is not None else (443 if secure else 80)
    if not 0 < port < 65536:
        raise InvalidURI(text, f"port {port} out of range")
    host = url.host
    # Encode path and query on a copy with a plain host, because hyperlink's
    # IDNA encoding of the host refuses IPv6 literals.
    try:
        encoded = url.replace(host="h", userinfo="").to_uri()
        if ":" not in host:
            host = url.replace(path=(), query=(), userinfo="").to_uri().host
    except (UnicodeError, ValueError) as e:
        raise InvalidURI(text, str(e)) from None
    path = "/" + "/".join(encoded.path)
    query = encoded.to_text().partition("?")[2]
    resourceName = path + ("?" + query if query else "")
    user = password = None
    if url.userinfo:
        name, sep, secret = url.userinfo.partition(":")
        if not sep:
            raise InvalidURI(text, "user info without a password")
        user, password = unquote(name), unquote(secret)
    return WebSocketURI(secure, host.lower(), port, resourceName, user, password)
