"""Helpers for tests on real loopback sockets: bounded waits, certificates."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor

TIMEOUT = 20.0


async def within(d: Any, seconds: float = TIMEOUT) -> Any:
    """Await C{d}, failing with a TimeoutError after C{seconds}."""
    if not isinstance(d, defer.Deferred):
        d = defer.ensureDeferred(d)
    d.addTimeout(seconds, reactor)
    return await d


def freePort() -> int:
    """A loopback TCP port nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def serveOn(handler: Any, **options: Any):
    """Serve C{handler} on 127.0.0.1 with a free port: (port, url)."""
    import txws

    port = await txws.serve(handler, "tcp:0:interface=127.0.0.1", **options)
    return port, f"ws://127.0.0.1:{port.getHost().port}"


def selfSignedCertificate(hostname: str = "localhost") -> tuple[bytes, bytes]:
    """A fresh self-signed certificate for C{hostname} and 127.0.0.1: (cert, key) PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certPEM = cert.public_bytes(serialization.Encoding.PEM)
    keyPEM = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certPEM, keyPEM


class RedisServer:
    """
    A real redis-server of our own on a free loopback port, with no
    persistence; L{stop} and L{start} again keep the port.
    """

    def __init__(self) -> None:
        import shutil

        self.executable = shutil.which("redis-server")
        self.port = freePort()
        self.process: Any = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import subprocess
        import time

        assert self.executable is not None
        self.process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        # Until it says it is ready (a hang is caught by the deadline).
        import select

        deadline = time.monotonic() + 60
        seen = b""
        stream = self.process.stdout
        while b"Ready to accept connections" not in seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"redis-server not ready within 60 s: {seen[-500:]!r}")
            readable, _, _ = select.select([stream], [], [], left)
            if readable:
                chunk = os.read(stream.fileno(), 4096)
                if not chunk:
                    raise RuntimeError(f"redis-server exited: {seen[-500:]!r}")
                seen += chunk

    def waitForSubscribers(self, channel: str, count: int, seconds: float = 30) -> None:
        """Ask Redis (PUBSUB NUMSUB) until C{channel} has C{count} subscribers."""
        import time

        deadline = time.monotonic() + seconds
        command = f"*3\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n${len(channel)}\r\n{channel}\r\n"
        with socket.create_connection(("127.0.0.1", self.port), timeout=seconds) as s:
            while time.monotonic() < deadline:
                s.sendall(command.encode())
                reply = b""
                while reply.count(b"\r\n") < 4:
                    reply += s.recv(4096)
                if int(reply.split(b"\r\n")[3][1:]) >= count:
                    return
        raise AssertionError(f"{channel} did not get {count} subscribers within {seconds} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        if self.process is not None:
            self.process.stdout.close()
        self.process = None


def tlsServerDescription(directory: Path) -> tuple[str, bytes, bytes]:
    """
    A strports description for TLS on 127.0.0.1, port 0, with a fresh
    self-signed certificate for localhost written in C{directory}: the
    description, and the certificate and key PEM.
    """
    certPEM, keyPEM = selfSignedCertificate("localhost")
    (directory / "cert.pem").write_bytes(certPEM)
    (directory / "key.pem").write_bytes(keyPEM)
    description = (
        f"ssl:0:interface=127.0.0.1:privateKey={directory / 'key.pem'}"
        f":certKey={directory / 'cert.pem'}"
    )
    return description, certPEM, keyPEM
