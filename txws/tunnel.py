# -*- test-case-name: tests.test_tunnel -*-
"""
The client side of the two ways through a proxy: HTTP CONNECT (RFC 9110,
9.3.6) and SOCKS5 (RFC 1928, with RFC 1929's username and password).

Pure: no I/O and no Twisted. A L{Tunnel} says what to send first
(L{Tunnel.start}), then takes what the proxy answers (L{Tunnel.receive})
until the tunnel is open or it raises L{ProxyError}; L{txws.proxy} runs
one on a connection. What a proxy can make us hold is bounded: an HTTP
answer by the HTTP head limits, a SOCKS5 one by its 262-byte maximum.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import struct
from typing import Protocol

from .exceptions import InvalidHandshake, ProxyError
from .http import checkIncomplete, findHeadEnd, parseResponse

__all__ = ["Tunnel", "HTTPConnect", "SOCKS5", "SOCKS5_REPLIES", "authority"]

# A host as it may appear in a request target or a SOCKS5 request: a DNS
# name (IDNA-encoded already) or an IP literal, nothing that could break
# the line it goes in.
_HOST = re.compile(r"[A-Za-z0-9._~%:-]+")

SOCKS5_REPLIES = {
    1: "general SOCKS server failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}
"""The reply codes of RFC 1928, 6, other than 0 (succeeded)."""


class Tunnel(Protocol):
    """One client's side of a proxy's handshake."""

    def start(self) -> bytes:
        """What to send once connected to the proxy."""

    def receive(self, data: bytes) -> tuple[bytes, bool, bytes]:
        """
        Take bytes from the proxy: (what to send now, whether the tunnel is
        open, the bytes past the handshake, which belong to the tunnel).
        Raises L{ProxyError} when the proxy refuses or breaks its protocol.
        """


def authority(host: str, port: int) -> str:
    """C{host:port}, with an IPv6 literal in brackets; C{ValueError} for a bad one."""
    if not isinstance(host, str) or not _HOST.fullmatch(host):
        raise ValueError(f"host must be a DNS name or an IP address, not {host!r}")
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"port must be from 1 to 65535, not {port!r}")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class HTTPConnect:
    """
    C{CONNECT host:port}, with C{Proxy-Authorization: Basic} when given
    credentials; a 2xx answer opens the tunnel.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        user: str | None = None,
        password: str | None = None,
        proxy: str = "proxy",
    ) -> None:
        self.target = authority(host, port)
        self.user = user
        self.password = password
        self.proxy = proxy
        self._buffer = bytearray()

    def start(self) -> bytes:
        lines = [f"CONNECT {self.target} HTTP/1.1", f"Host: {self.target}"]
        if self.user is not None:
            secret = f"{self.user}:{self.password or ''}".encode()
            lines.append("Proxy-Authorization: Basic " + base64.b64encode(secret).decode("ascii"))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")

    def receive(self, data: bytes) -> tuple[bytes, bool, bytes]:
        buf = self._buffer
        searched = len(buf)
        buf += data
        end = findHeadEnd(buf, searched - 3)
        try:
            if end < 0:
                checkIncomplete(buf, request=False)
                return b"", False, b""
            head = bytes(buf[:end])
            if head.startswith(b"HTTP/1.0 "):
                # Many proxies answer CONNECT as HTTP/1.0; the rest is the same.
                head = b"HTTP/1.1" + head[8:]
            response = parseResponse(head)
        except InvalidHandshake as e:
            raise ProxyError(self.proxy, f"invalid answer to CONNECT: {e}") from None
        if not 200 <= response.status < 300:
            why = f"refused CONNECT {self.target}: {response.status} {response.reason}"
            if response.status == 407:
                why += " (wrong credentials)" if self.user is not None else " (no credentials)"
            raise ProxyError(self.proxy, why, httpStatus=response.status)
        leftover = bytes(buf[end:])
        buf.clear()
        return b"", True, leftover


class SOCKS5:
    """
    A SOCKS5 CONNECT to C{host}: an IP literal is sent as an address, a
    name as a name for the proxy to resolve (C{socks5h}; for C{socks5},
    resolve it first and pass the address). With C{user}, offers
    username/password authentication (RFC 1929) besides none.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        user: str | None = None,
        password: str | None = None,
        proxy: str = "proxy",
    ) -> None:
        self.target = authority(host, port)
        self.host = host
        self.port = port
        self.proxy = proxy
        self._credentials: bytes | None = None
        if user is not None:
            name, secret = user.encode(), (password or "").encode()
            if not 0 < len(name) < 256 or len(secret) > 255:
                raise ValueError("SOCKS5 user and password must be 1-255 and 0-255 bytes")
            self._credentials = bytes([1, len(name)]) + name + bytes([len(secret)]) + secret
        self._buffer = bytearray()
        self._step = "method"

    def start(self) -> bytes:
        # Version 5; methods: no authentication, and username/password if we have them.
        return b"\x05\x02\x00\x02" if self._credentials is not None else b"\x05\x01\x00"

    def receive(self, data: bytes) -> tuple[bytes, bool, bytes]:
        buf = self._buffer
        buf += data
        out = b""
        while True:
            if self._step == "method":
                if len(buf) < 2:
                    return out, False, b""
                version, method = buf[0], buf[1]
                del buf[:2]
                self._checkVersion(version, 5)
                if method == 0:
                    self._step = "reply"
                    out += self._request()
                elif method == 2 and self._credentials is not None:
                    self._step = "auth"
                    out += self._credentials
                elif method == 0xFF:
                    raise ProxyError(
                        self.proxy,
                        "refused every authentication method offered"
                        + (
                            " (it may want a user and password)"
                            if self._credentials is None
                            else ""
                        ),
                    )
                else:
                    raise ProxyError(self.proxy, f"chose a method that was not offered ({method})")
            elif self._step == "auth":
                if len(buf) < 2:
                    return out, False, b""
                version, status = buf[0], buf[1]
                del buf[:2]
                self._checkVersion(version, 1)
                if status != 0:
                    raise ProxyError(self.proxy, "refused the user and password")
                self._step = "reply"
                out += self._request()
            else:
                if len(buf) < 5:
                    return out, False, b""
                version, reply, _, kind = buf[0], buf[1], buf[2], buf[3]
                self._checkVersion(version, 5)
                if reply != 0:
                    why = SOCKS5_REPLIES.get(reply, f"reply {reply}")
                    raise ProxyError(
                        self.proxy, f"refused CONNECT {self.target}: {why}", socksReply=reply
                    )
                sizes = {1: 4, 4: 16}
                if kind == 3:
                    size = 1 + buf[4]
                elif kind in sizes:
                    size = sizes[kind]
                else:
                    raise ProxyError(self.proxy, f"invalid address type {kind} in its reply")
                end = 4 + size + 2
                if len(buf) < end:
                    return out, False, b""
                leftover = bytes(buf[end:])
                buf.clear()
                return out, True, leftover

    def _request(self) -> bytes:
        try:
            address = ipaddress.ip_address(self.host)
        except ValueError:
            name = self.host.encode("ascii")
            if len(name) > 255:
                raise ProxyError(self.proxy, "host name longer than SOCKS5 allows") from None
            destination = b"\x03" + bytes([len(name)]) + name
        else:
            destination = (b"\x01" if address.version == 4 else b"\x04") + address.packed
        return b"\x05\x01\x00" + destination + struct.pack("!H", self.port)

    def _checkVersion(self, version: int, expected: int) -> None:
        if version != expected:
            raise ProxyError(self.proxy, f"not a SOCKS5 proxy (version {version} in its answer)")
