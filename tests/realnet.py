"""Helpers for tests on real loopback sockets: bounded waits, certificates."""

from __future__ import annotations

import datetime
import ipaddress
import socket
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
