"""
Small, real proxies for the tests, on Twisted, over loopback: an HTTP
CONNECT proxy and a SOCKS5 proxy (RFC 1928, RFC 1929). Each records what
clients asked it for, can demand credentials, and pipes the bytes both
ways once the tunnel is open.
"""

from __future__ import annotations

import base64
import ipaddress
import struct
from typing import Any

from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.protocol import Factory, Protocol


class Pipe(Protocol):
    """The proxy's connection to the target: what it reads goes to the client."""

    def __init__(self, client: Protocol) -> None:
        self.client = client

    def dataReceived(self, data: bytes) -> None:
        self.client.transport.write(data)

    def connectionLost(self, reason: Any = None) -> None:
        self.client.transport.loseConnection()


class ProxyProtocol(Protocol):
    def connectionMade(self) -> None:
        self.buffer = b""
        self.upstream: Any = None

    def dataReceived(self, data: bytes) -> None:
        if self.upstream is not None:
            self.upstream.transport.write(data)
            return
        self.buffer += data
        self.step()

    def step(self) -> None:
        raise NotImplementedError

    def open(self, host: str, port: int, then: Any) -> None:
        """Connect to the target; C{then(ok)} answers the client."""
        endpoint = TCP4ClientEndpoint(reactor, host, port, timeout=10)
        d = endpoint.connect(Factory.forProtocol(lambda: Pipe(self)))

        def connected(pipe: Pipe) -> None:
            rest, self.buffer = self.buffer, b""
            self.upstream = pipe
            then(True)
            if rest:
                pipe.transport.write(rest)

        d.addCallbacks(connected, lambda f: then(False))

    def connectionLost(self, reason: Any = None) -> None:
        if self.upstream is not None:
            self.upstream.transport.loseConnection()


class ConnectProxyProtocol(ProxyProtocol):
    def step(self) -> None:
        if b"\r\n\r\n" not in self.buffer:
            return
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        self.factory.seen.append((method, target, headers))
        required = self.factory.credentials
        if required is not None:
            expected = "Basic " + base64.b64encode(":".join(required).encode()).decode()
            if headers.get("Proxy-Authorization") != expected:
                self.transport.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
                )
                self.transport.loseConnection()
                return
        if self.factory.refuse is not None:
            self.transport.write(self.factory.refuse)
            self.transport.loseConnection()
            return
        host, _, port = target.rpartition(":")

        def answer(ok: bool) -> None:
            if ok:
                self.transport.write(b"HTTP/1.0 200 Connection established\r\n\r\n")
            else:
                self.transport.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                self.transport.loseConnection()

        self.open(host.strip("[]"), int(port), answer)


class SOCKS5ProxyProtocol(ProxyProtocol):
    def connectionMade(self) -> None:
        super().connectionMade()
        self.stage = "greeting"

    def step(self) -> None:
        buf = self.buffer
        if self.stage == "greeting":
            if len(buf) < 2 or len(buf) < 2 + buf[1]:
                return
            methods = buf[2 : 2 + buf[1]]
            self.buffer = buf[2 + buf[1] :]
            self.factory.seen.append(("methods", bytes(methods)))
            if self.factory.credentials is not None:
                if 2 not in methods:
                    self.transport.write(b"\x05\xff")
                    self.transport.loseConnection()
                    return
                self.transport.write(b"\x05\x02")
                self.stage = "auth"
            else:
                self.transport.write(b"\x05\x00")
                self.stage = "request"
        elif self.stage == "auth":
            if len(buf) < 2 or len(buf) < 3 + buf[1] or len(buf) < 3 + buf[1] + buf[2 + buf[1]]:
                return
            n = buf[1]
            user = buf[2 : 2 + n].decode()
            m = buf[2 + n]
            password = buf[3 + n : 3 + n + m].decode()
            self.buffer = buf[3 + n + m :]
            self.factory.seen.append(("auth", user, password))
            if (user, password) != self.factory.credentials:
                self.transport.write(b"\x01\x01")
                self.transport.loseConnection()
                return
            self.transport.write(b"\x01\x00")
            self.stage = "request"
        elif self.stage == "request":
            if len(buf) < 5:
                return
            kind = buf[3]
            if kind == 1:
                size, host = 4, str(ipaddress.ip_address(buf[4:8])) if len(buf) >= 8 else None
            elif kind == 4:
                size, host = 16, str(ipaddress.ip_address(buf[4:20])) if len(buf) >= 20 else None
            else:
                size = 1 + buf[4]
                host = buf[5 : 5 + buf[4]].decode() if len(buf) >= 4 + size else None
            if host is None or len(buf) < 4 + size + 2:
                return
            (port,) = struct.unpack("!H", buf[4 + size : 6 + size])
            self.buffer = buf[6 + size :]
            self.stage = "open"
            self.factory.seen.append(("connect", kind, host, port))
            if self.factory.refuse is not None:
                self.transport.write(bytes([5, self.factory.refuse, 0, 1, 0, 0, 0, 0, 0, 0]))
                self.transport.loseConnection()
                return

            def answer(ok: bool) -> None:
                reply = 0 if ok else 5
                self.transport.write(bytes([5, reply, 0, 1, 127, 0, 0, 1, 0, 0]))
                if not ok:
                    self.transport.loseConnection()

            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
            self.open("127.0.0.1" if loopback else host, port, answer)


class ProxyFactory(Factory):
    def __init__(self, protocol: type, credentials: tuple[str, str] | None, refuse: Any) -> None:
        self.protocol = protocol
        self.credentials = credentials
        self.refuse = refuse
        self.seen: list[Any] = []


async def startProxy(
    kind: str, credentials: tuple[str, str] | None = None, refuse: Any = None, tls: Any = None
):
    """A proxy on 127.0.0.1 ("connect" or "socks5"): (factory, port)."""
    protocol = ConnectProxyProtocol if kind == "connect" else SOCKS5ProxyProtocol
    factory = ProxyFactory(protocol, credentials, refuse)
    if tls is not None:
        from twisted.internet.endpoints import SSL4ServerEndpoint

        endpoint: Any = SSL4ServerEndpoint(reactor, 0, tls, interface="127.0.0.1")
    else:
        endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
    port = await endpoint.listen(factory)
    return factory, port
