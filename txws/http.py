# -*- test-case-name: tests.test_http -*-
"""
The small, strict part of HTTP/1.1 (RFC 9110, RFC 9112) that the WebSocket
opening handshake needs: request and response heads, size-limited, and their
serialization.

Pure codec: no I/O and no Twisted. A bad head raises L{InvalidMessage}
carrying the status to answer with: 400 (malformed), 414 (request line too
long), 431 (headers too large or too many), 505 (not HTTP/1.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from .exceptions import InvalidMessage
from .grammar import FIELD_VALUE, REQUEST_TARGET, TOKEN
from .grammar import fieldValue as _VALUE_STR
from .grammar import fieldValueBytes as _VALUE
from .grammar import requestTarget as _REQUEST_TARGET_STR
from .grammar import requestTargetBytes as _REQUEST_TARGET
from .grammar import token as _TOKEN_STR
from .grammar import tokenBytes as _TOKEN

__all__ = [
    "Headers",
    "Request",
    "Response",
    "MAX_LINE",
    "MAX_HEADERS",
    "MAX_HEAD",
    "findHeadEnd",
    "checkIncomplete",
    "errorResponse",
    "parseRequest",
    "parseResponse",
    "STATUS_PHRASES",
    "checkToken",
    "checkFieldValue",
    "checkHeaders",
]

MAX_LINE = 8192
"""Longest request line or header line accepted, in bytes."""
MAX_HEADERS = 128
"""Most header lines accepted."""
MAX_HEAD = 65536
"""Largest whole head (request line and headers) accepted, in bytes."""

STATUS_PHRASES = {
    101: "Switching Protocols",
    200: "OK",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    414: "URI Too Long",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


def checkToken(value: object, what: str) -> str:
    """
    Return C{value} if it is an RFC 9110 token (a header name, a method, a
    subprotocol); otherwise raise C{TypeError} or C{ValueError} naming
    C{what}.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not _TOKEN_STR.fullmatch(value):
        raise ValueError(f"{what} must be an HTTP token (RFC 9110, 5.6.2), not {value!r}")
    return value


def checkFieldValue(value: object, what: str) -> str:
    """
    Return C{value} if it can be sent as a header value: Latin-1 text with
    no CR, LF, NUL or other control character but tab; otherwise raise
    C{TypeError} or C{ValueError} naming C{what}.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not _VALUE_STR.fullmatch(value):
        raise ValueError(
            f"{what} cannot be sent in an HTTP header (control characters,"
            f" or not Latin-1): {value!r}"
        )
    return value


def checkHeaders(items: Iterable[tuple[str, str]], what: str = "headers") -> None:
    """Check every C{(name, value)} pair with L{checkToken} and L{checkFieldValue}."""
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise TypeError(f"{what} must hold (name, value) pairs, not {item!r}") from None
        checkToken(name, f"{what}: header name")
        checkFieldValue(value, f"{what}: value of {name}")


class Headers:
    """
    HTTP header fields: ordered, repeatable, looked up without regard to case.

    Names and values are C{str}.
    """

    __slots__ = ("_items", "_index")

    def __init__(self, items: Iterable[tuple[str, str]] | dict[str, str] = ()) -> None:
        if isinstance(items, dict):
            items = items.items()
        self._items: list[tuple[str, str]] = [(str(k), str(v)) for k, v in items]
        self._index: dict[str, list[str]] | None = None

    @classmethod
    def fromList(cls, items: list[tuple[str, str]]) -> Headers:
        """
        Headers that take over C{items}, a list of C{(str, str)} pairs,
        without copying it: the list must not be used elsewhere afterwards.
        """
        headers = cls.__new__(cls)
        headers._items = items
        headers._index = None
        return headers

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.getAll(name))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of C{name}; raises C{ValueError} if it appears twice."""
        values = self.getAll(name)
        if not values:
            return default
        if len(values) > 1:
            raise ValueError(f"more than one {name} header")
        return values[0]

    def getAll(self, name: str) -> list[str]:
        """Every value of C{name}, in order."""
        return list(self.fieldValues(name))

    def fieldValues(self, name: str) -> Sequence[str]:
        """
        Every value of C{name}, in order, without a copy: for reading only
        (L{getAll} returns a list of one's own).
        """
        index = self._index
        if index is None:
            # Built on the first lookup: a handshake looks up many names.
            index = self._index = {}
            for k, v in self._items:
                index.setdefault(k.lower(), []).append(v)
        values = index.get(name)  # the usual name is lower case already
        return values if values is not None else index.get(name.lower(), ())

    def add(self, name: str, value: str) -> None:
        """Append a field."""
        self._items.append((name, value))
        self._index = None

    def set(self, name: str, value: str) -> None:
        """Replace every field called C{name} with one."""
        self.remove(name)
        self._items.append((name, value))

    def remove(self, name: str) -> None:
        """Drop every field called C{name}."""
        lower = name.lower()
        self._items = [(k, v) for k, v in self._items if k.lower() != lower]
        self._index = None

    def serialize(self) -> bytes:
        """The fields as sent; raises C{ValueError} for any that could not be."""
        checkHeaders(self._items)
        return b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in self._items)


@dataclass
class Request:
    """An HTTP request head: C{path} is the request target (path and query)."""

    path: str
    headers: Headers = field(default_factory=Headers)
    method: str = "GET"

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            self.headers = Headers(self.headers)

    def serialize(self) -> bytes:
        """The head as sent; raises C{ValueError} for a field that could not be."""
        checkToken(self.method, "method")
        if not isinstance(self.path, str) or not _REQUEST_TARGET_STR.fullmatch(self.path):
            raise ValueError(f"invalid request target {self.path!r}")
        return (
            f"{self.method} {self.path} HTTP/1.1\r\n".encode("latin-1")
            + self.headers.serialize()
            + b"\r\n"
        )


@dataclass
class Response:
    """
    An HTTP response: status, reason phrase, headers and (small) body.

    C{headers} and C{body} are keyword-only: C{Response(401,
    headers=[("WWW-Authenticate", "Bearer")], body=b"...")}. A value that
    cannot be sent raises C{TypeError} or C{ValueError} at once, or, for
    headers changed later, from L{serialize}.
    """

    status: int
    reason: str = ""
    headers: Headers = field(default_factory=Headers, kw_only=True)
    body: bytes = field(default=b"", kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.status, int) or not 100 <= self.status <= 999:
            raise ValueError(f"status must be an integer from 100 to 999, not {self.status!r}")
        if not isinstance(self.reason, str):
            raise TypeError(
                f"reason must be a str, not {type(self.reason).__name__}"
                " (pass headers= and body= by keyword)"
            )
        checkFieldValue(self.reason, "reason")
        if not isinstance(self.headers, Headers):
            self.headers = Headers(self.headers)
        checkHeaders(self.headers)
        if not isinstance(self.body, (bytes, bytearray)):
            raise TypeError(f"body must be bytes, not {type(self.body).__name__}")
        if not self.reason:
            self.reason = STATUS_PHRASES.get(self.status, "")

    def serialize(self) -> bytes:
        """The response as sent; raises C{ValueError} for a field that could not be."""
        checkFieldValue(self.reason, "reason")
        return (
            f"HTTP/1.1 {self.status} {self.reason}\r\n".encode("latin-1")
            + self.headers.serialize()
            + b"\r\n"
            + self.body
        )


def errorResponse(status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A plain-text response with a one-line body, closing the connection."""
    body = (message.rstrip("\n") + "\n").encode("utf-8")
    h = Headers(headers)
    h.add("Content-Type", "text/plain; charset=utf-8")
    h.add("Content-Length", str(len(body)))
    h.add("Connection", "close")
    return Response(status, headers=h, body=body)


def findHeadEnd(buf: bytes | bytearray, start: int = 0) -> int:
    """
    The index just past the blank line ending a head in C{buf}, or -1.

    C{start} lets a caller that searched before skip what it already
    searched (it should pass its previous length minus 3).
    """
    i = buf.find(b"\r\n\r\n", max(start, 0))
    return -1 if i < 0 else i + 4


def checkIncomplete(buf: bytes | bytearray, request: bool = True) -> None:
    """
    Raise L{InvalidMessage} if C{buf}, which holds no complete head yet, is
    already longer than any acceptable head could be, or does not start as
    one does (a TLS handshake sent to a plain port is answered at once).
    """
    if request:
        if buf and not _TOKEN.match(buf, 0, 1):
            if buf[:1] == b"\x16":
                raise InvalidMessage(
                    "a TLS handshake, not an HTTP request (this port is not wss://)"
                )
            raise InvalidMessage("not an HTTP request")
    elif buf[:5] != b"HTTP/"[: len(buf)]:
        raise InvalidMessage("not an HTTP response")
    if len(buf) > MAX_LINE and buf.find(b"\r\n", 0, MAX_LINE + 2) < 0:
        if request:
            raise InvalidMessage("request line too long", 414)
        raise InvalidMessage("status line too long")
    if len(buf) > MAX_HEAD:
        raise InvalidMessage("head too large", 431)


def _parseHeaders(lines: list[bytes]) -> Headers:
    if len(lines) > MAX_HEADERS:
        raise InvalidMessage("too many headers", 431)
    headers = Headers()
    for line in lines:
        if len(line) > MAX_LINE:
            raise InvalidMessage("header line too long", 431)
        if line[:1] in (b" ", b"\t"):
            raise InvalidMessage("obsolete line folding in headers")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            raise InvalidMessage(f"invalid header line {line[:80]!r}")
        value = value.strip(b" \t")
        if not _VALUE.fullmatch(value):
            raise InvalidMessage(f"invalid value in header {name.decode()}")
        headers.add(name.decode("ascii"), value.decode("latin-1"))
    return headers


# The fast path for heads that are valid and no longer than a line may be:
# one match checks the whole head, one findall picks the fields out of it,
# both on the head decoded as Latin-1 (so that the fields come out as str).
# Anything it does not match goes through the line-by-line parser, which
# says what is wrong.
_FIELDS_TEXT = rf"((?:{TOKEN}:{FIELD_VALUE}\r\n)*)\r\n"
_FAST_REQUEST = re.compile(rf"({TOKEN}) ({REQUEST_TARGET}) HTTP/1\.1\r\n{_FIELDS_TEXT}")
_FAST_RESPONSE = re.compile(rf"HTTP/1\.1 ([0-9]{{3}}) ({FIELD_VALUE})\r\n{_FIELDS_TEXT}")
_FIELD = re.compile(rf"({TOKEN}):[ \t]*([^\r]*)\r\n")
# Twice as slow: only for heads with whitespace at the end of a value.
_FIELD_TRIMMED = re.compile(rf"({TOKEN}):[ \t]*(.*?)[ \t]*\r\n")


def _fastHead(pattern: re.Pattern[str], head: bytes) -> tuple[str, str, Headers] | None:
    if len(head) > MAX_LINE:
        return None
    match = pattern.fullmatch(head.decode("latin-1"))
    if match is None:
        return None
    fields = match[3]
    trimmed = " \r" in fields or "\t\r" in fields
    items = (_FIELD_TRIMMED if trimmed else _FIELD).findall(fields)
    if len(items) > MAX_HEADERS:
        return None
    return match[1], match[2], Headers.fromList(items)


def _splitHead(head: bytes) -> tuple[bytes, list[bytes]]:
    if not head.endswith(b"\r\n\r\n"):
        raise InvalidMessage("incomplete head")
    lines = head[:-4].split(b"\r\n")
    return lines[0], lines[1:]


def parseRequest(head: bytes) -> Request:
    """Parse a whole request head (ending with the blank line)."""
    fast = _fastHead(_FAST_REQUEST, head)
    if fast is not None:
        return Request(fast[1], fast[2], fast[0])
    return _parseRequestLines(head)


def _parseRequestLines(head: bytes) -> Request:
    if len(head) > MAX_HEAD:
        raise InvalidMessage("request head too large", 431)
    first, lines = _splitHead(head)
    if len(first) > MAX_LINE:
        raise InvalidMessage("request line too long", 414)
    parts = first.split(b" ")
    if len(parts) != 3:
        raise InvalidMessage(f"invalid request line {first[:80]!r}")
    method, target, version = parts
    if not _TOKEN.fullmatch(method):
        raise InvalidMessage(f"invalid method {method[:20]!r}")
    if not _REQUEST_TARGET.fullmatch(target):
        raise InvalidMessage("invalid request target")
    if version != b"HTTP/1.1":
        if re.fullmatch(rb"HTTP/\d\.\d", version):
            raise InvalidMessage(f"unsupported HTTP version {version.decode()}: need HTTP/1.1", 505)
        raise InvalidMessage(f"invalid HTTP version {version[:20]!r}")
    headers = _parseHeaders(lines)
    return Request(target.decode("ascii"), headers, method.decode("ascii"))


def parseResponse(head: bytes) -> Response:
    """Parse a whole response head (ending with the blank line); no body."""
    fast = _fastHead(_FAST_RESPONSE, head)
    if fast is not None:
        return Response(int(fast[0]), fast[1], headers=fast[2])
    return _parseResponseLines(head)


def _parseResponseLines(head: bytes) -> Response:
    if len(head) > MAX_HEAD:
        raise InvalidMessage("response head too large")
    first, lines = _splitHead(head)
    version, sep, rest = first.partition(b" ")
    if version != b"HTTP/1.1":
        raise InvalidMessage(f"unsupported HTTP version {version[:20]!r}")
    code, _, reason = rest.partition(b" ")
    if not (len(code) == 3 and code.isdigit()):
        raise InvalidMessage(f"invalid status code {code[:20]!r}")
    if not _VALUE.fullmatch(reason):
        raise InvalidMessage("invalid reason phrase")
    headers = _parseHeaders(lines)
    return Response(int(code), reason.decode("latin-1"), headers=headers)
