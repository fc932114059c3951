# -*- test-case-name: tests.test_handshake -*-
"""
The opening handshake: RFC 6455, section 4 (and 9 for extension headers).

Pure codec: builds and checks the upgrade request and response for both sides.
The server side raises subclasses of L{InvalidHandshake} whose C{status} is the
HTTP status to answer with; L{rejectResponse} turns one into that response.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Sequence

from .exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidOrigin,
    InvalidStatus,
    InvalidUpgrade,
    InvalidVersion,
    NegotiationError,
)
from .grammar import TOKEN
from .grammar import token as _TOKEN
from .http import Headers, Request, Response, errorResponse
from .uri import WebSocketURI

__all__ = [
    "GUID",
    "generateKey",
    "acceptKey",
    "buildRequest",
    "checkRequest",
    "checkOrigin",
    "selectSubprotocol",
    "buildResponse",
    "buildResponseHead",
    "checkResponse",
    "rejectResponse",
    "parseTokens",
    "parseExtensions",
    "serializeExtensions",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

ExtensionOffer = tuple[str, list[tuple[str, "str | None"]]]


def generateKey() -> str:
    """A fresh random Sec-WebSocket-Key (4.1: 16 random bytes, base64)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def acceptKey(key: str) -> str:
    """The Sec-WebSocket-Accept value answering C{key} (4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return binascii.b2a_base64(digest, newline=False).decode("ascii")


def parseTokens(values: Iterable[str], name: str) -> list[str]:
    """
    Split comma-separated token lists (RFC 9110, 5.6.1) from one or more
    header fields; empty elements are skipped, a non-token raises.
    """
    tokens = []
    for value in values:
        for item in value.split(","):
            item = item.strip(" \t")
            if not item:
                continue
            if not _TOKEN.fullmatch(item):
                raise InvalidHeader(name, value)
            tokens.append(item)
    return tokens


_EXT_PARAM = re.compile(rf"""\s*({TOKEN})\s*(?:=\s*(?:({TOKEN})|"((?:[^"\\]|\\.)*)"))?\s*""")


def parseExtensions(values: Iterable[str]) -> list[ExtensionOffer]:
    """
    Parse Sec-WebSocket-Extensions fields (9.1) into C{[(name, [(param,
    value or None), ...]), ...]}, in order. A quoted value must itself be a
    token once unquoted.
    """
    result: list[ExtensionOffer] = []
    for value in values:
        for element in _splitOutsideQuotes(value, ","):
            if not element.strip(" \t"):
                continue
            parts = _splitOutsideQuotes(element, ";")
            name = parts[0].strip(" \t")
            if not _TOKEN.fullmatch(name):
                raise InvalidHeader("Sec-WebSocket-Extensions", value)
            params: list[tuple[str, str | None]] = []
            for part in parts[1:]:
                m = _EXT_PARAM.fullmatch(part)
                if m is None:
                    raise InvalidHeader("Sec-WebSocket-Extensions", value)
                pname, token, quoted = m.groups()
                if quoted is not None:
                    token = re.sub(r"\\(.)", r"\1", quoted)
                    if not _TOKEN.fullmatch(token):
                        raise InvalidHeader("Sec-WebSocket-Extensions", value)
                params.append((pname, token))
            result.append((name, params))
    return result


def _splitOutsideQuotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def serializeExtensions(extensions: Sequence[ExtensionOffer]) -> str:
    """The Sec-WebSocket-Extensions value for C{extensions}."""
    return ", ".join(
        "; ".join([name] + [p if v is None else f"{p}={v}" for p, v in params])
        for name, params in extensions
    )


def _hasToken(values: Sequence[str], token: str, name: str) -> bool:
    """Whether the token lists in C{values} hold C{token} (lower case)."""
    if len(values) == 1 and values[0].lower() == token:
        return True  # the usual case, which needs no parsing
    return any(t.lower() == token for t in parseTokens(values, name))


def _checkUpgrade(headers: Headers) -> None:
    connection = headers.fieldValues("connection")
    if not _hasToken(connection, "upgrade", "Connection"):
        raise InvalidUpgrade("Connection", ", ".join(parseTokens(connection, "Connection")) or None)
    upgrade = headers.fieldValues("upgrade")
    # RFC 9110's protocol tokens may carry a version: websocket/13 is not ours.
    if not _hasToken(upgrade, "websocket", "Upgrade"):
        raise InvalidUpgrade("Upgrade", ", ".join(upgrade) or None)


_KEY = re.compile(r"[A-Za-z0-9+/]{22}==")


def checkRequest(request: Request) -> str:
    """
    Check an upgrade request (4.2.1) and return its Sec-WebSocket-Key.

    Raises L{InvalidHandshake} subclasses carrying the HTTP status to answer:
    405 for a method other than GET, 426 without a WebSocket upgrade or with
    another version, 400 for a bad or missing key.
    """
    if request.method != "GET":
        error = InvalidHandshake(f"method {request.method} not allowed: use GET")
        error.status = 405
        raise error
    headers = request.headers
    _checkUpgrade(headers)
    keys = headers.fieldValues("sec-websocket-key")
    if not keys:
        raise InvalidHeader("Sec-WebSocket-Key")
    if len(keys) > 1:
        raise InvalidHeader("Sec-WebSocket-Key", "", "more than one")
    key = keys[0]
    # 16 bytes in base64 (4.2.1, item 5): 22 characters and "==".
    if not _KEY.fullmatch(key):
        raise InvalidHeader("Sec-WebSocket-Key", key)
    versions = headers.fieldValues("sec-websocket-version")
    if not versions:
        raise InvalidVersion("Sec-WebSocket-Version")
    if versions != ["13"]:
        raise InvalidVersion(
            "Sec-WebSocket-Version", ", ".join(versions), "only version 13 is supported"
        )
    return key


def checkOrigin(
    headers: Headers, origins: Sequence[str | re.Pattern[str] | None] | None
) -> str | None:
    """
    Return the request's Origin if C{origins} allows it: equal to one of its
    strings, or matched whole by one of its patterns (None in C{origins}
    allows requests without one; C{origins=None} allows everything).
    """
    try:
        origin = headers.get("Origin")
    except ValueError:
        raise InvalidOrigin("(several)") from None
    if origins is not None and origin not in origins:
        if origin is None or not any(
            isinstance(allowed, re.Pattern) and allowed.fullmatch(origin) for allowed in origins
        ):
            raise InvalidOrigin(origin)
    return origin


SubprotocolSelector = Callable[[Sequence[str], Sequence[str]], "str | None"]


def selectSubprotocol(offered: Sequence[str], supported: Sequence[str]) -> str | None:
    """The first of C{supported} (the server's order of preference) offered."""
    for name in supported:
        if name in offered:
            return name
    return None


def _acceptFields(
    key: str, subprotocol: str | None, extensions: str | None, serverHeader: str | None
) -> list[tuple[str, str]]:
    fields = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", acceptKey(key)),
    ]
    if extensions:
        fields.append(("Sec-WebSocket-Extensions", extensions))
    if subprotocol is not None:
        fields.append(("Sec-WebSocket-Protocol", subprotocol))
    if serverHeader:
        fields.append(("Server", serverHeader))
    return fields


def buildResponse(
    key: str,
    subprotocol: str | None = None,
    extensions: str | None = None,
    serverHeader: str | None = None,
) -> Response:
    """The 101 response accepting a request with Sec-WebSocket-Key C{key}."""
    return Response(
        101, headers=Headers.fromList(_acceptFields(key, subprotocol, extensions, serverHeader))
    )


def buildResponseHead(
    key: str,
    subprotocol: str | None = None,
    extensions: str | None = None,
    serverHeader: str | None = None,
) -> bytes:
    """
    C{buildResponse(...).serialize()}, without the L{Response}: the server's
    usual path, when no C{processResponse} wants one to look at.
    """
    fields = _acceptFields(key, subprotocol, extensions, serverHeader)
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        + "".join([f"{name}: {value}\r\n" for name, value in fields])
        + "\r\n"
    ).encode("latin-1")


def rejectResponse(error: InvalidHandshake, serverHeader: str | None = None) -> Response:
    """The HTTP error response for a failed handshake, with a one-line body."""
    extra = []
    if isinstance(error, (InvalidUpgrade, InvalidVersion)):
        extra.append(("Upgrade", "websocket"))
        extra.append(("Sec-WebSocket-Version", "13"))
    if error.status == 405:
        extra.append(("Allow", "GET"))
    if serverHeader:
        extra.append(("Server", serverHeader))
    return errorResponse(error.status, f"Failed to open a WebSocket connection: {error}.", extra)


def buildRequest(
    uri: WebSocketURI,
    key: str,
    *,
    origin: str | None = None,
    subprotocols: Sequence[str] | None = None,
    extensions: str | None = None,
    additionalHeaders: Iterable[tuple[str, str]] | dict[str, str] = (),
    userAgentHeader: str | None = None,
) -> Request:
    """The upgrade request for C{uri} (4.1)."""
    headers = Headers(
        [
            ("Host", uri.hostHeader),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13"),
        ]
    )
    if uri.user is not None:
        credentials = f"{uri.user}:{uri.password}".encode()
        headers.add("Authorization", "Basic " + base64.b64encode(credentials).decode("ascii"))
    if origin is not None:
        headers.add("Origin", origin)
    if subprotocols:
        headers.add("Sec-WebSocket-Protocol", ", ".join(subprotocols))
    if extensions:
        headers.add("Sec-WebSocket-Extensions", extensions)
    if userAgentHeader:
        headers.add("User-Agent", userAgentHeader)
    for name, value in (
        additionalHeaders.items() if isinstance(additionalHeaders, dict) else additionalHeaders
    ):
        headers.add(name, value)
    return Request(uri.resourceName, headers)


def checkResponse(
    response: Response, key: str, subprotocols: Sequence[str] | None = None
) -> str | None:
    """
    Check the server's answer to our request (4.1, client requirements) and
    return the subprotocol it chose.
    """
    if response.status != 101:
        raise InvalidStatus(response)
    headers = response.headers
    _checkUpgrade(headers)
    try:
        accept = headers.get("Sec-WebSocket-Accept")
    except ValueError:
        raise InvalidHeader("Sec-WebSocket-Accept", "", "more than one") from None
    if accept is None:
        raise InvalidHeader("Sec-WebSocket-Accept")
    if accept != acceptKey(key):
        raise InvalidHeader("Sec-WebSocket-Accept", accept)
    chosen = parseTokens(headers.getAll("Sec-WebSocket-Protocol"), "Sec-WebSocket-Protocol")
    if not chosen:
        return None
    if len(chosen) > 1:
        raise NegotiationError(f"server chose several subprotocols: {chosen}")
    if not subprotocols or chosen[0] not in subprotocols:
        raise NegotiationError(f"server chose unoffered subprotocol {chosen[0]!r}")
    return chosen[0]
