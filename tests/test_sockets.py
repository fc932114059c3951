"""txws client and server over real loopback sockets: TCP, TLS, Unix."""

from __future__ import annotations

import socket

import OpenSSL.SSL
import pytest
import pytest_twisted
import service_identity
from twisted.internet import defer, reactor
from twisted.internet.endpoints import UNIXClientEndpoint, serverFromString
from twisted.internet.error import ConnectError
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher

import txws
from txws.client import _redirectTarget
from txws.exceptions import ConnectionClosedError, OpenTimeout, RedirectError
from txws.uri import parseURI

from .realnet import freePort, serveOn, tlsServerDescription, within

pytestmark = pytest.mark.sockets


async def echo(ws):
    async for message in ws:
        await ws.send(message)


@pytest_twisted.ensureDeferred
async def test_server_close_closes_every_connection_with_1001():
    """serve()'s server object: its connections, then close() seen as 1001 by every client."""
    server = await txws.serve(echo, "tcp:0:interface=127.0.0.1")
    url = f"ws://127.0.0.1:{server.getHost().port}/"
    clients = [await within(txws.connect(url)) for _ in range(3)]
    await within(clients[0].send("ping"))
    assert await within(clients[0].recv()) == "ping"
    assert len(server.connections) == 3
    await within(server.close())
    await within(defer.gatherResults([client.whenClosed() for client in clients]))
    for client in clients:
        assert client.closeCode == 1001
        assert client.closeReason == "server shutting down"
    assert server.connections == set()
    with pytest.raises(ConnectError):
        await within(txws.connect(url))


@pytest_twisted.ensureDeferred
async def test_echo_round_trips():
    """
    Over real TCP: text, binary, 1 MiB and empty messages, fragments, a ping and a close with
    its code echoed.
    """
    port, url = await serveOn(echo)
    try:
        ws = await within(txws.connect(url + "/path"))
        assert ws.remoteAddress.port == port.getHost().port
        for message in ["hello", "ünïcode ☃ 𝄞", b"\x00\x01\xff", b"x" * 2**20, "", b""]:
            await within(ws.send(message))
            assert await within(ws.recv()) == message
        await within(ws.send(iter([b"frag", b"mented"])))
        assert await within(ws.recv()) == b"fragmented"
        rtt = await within(ws.ping())
        assert 0 <= rtt < TIMEOUT_SECONDS
        await within(ws.close(4000, "bye"))
        assert ws.closed
        # The server echoes the code (RFC 6455, 5.5.1).
        assert ws.closeCode == 4000
    finally:
        await port.stopListening()


TIMEOUT_SECONDS = 20


@pytest_twisted.ensureDeferred
async def test_server_closes_with_code_seen_by_client():
    async def handler(ws):
        await ws.recv()
        await ws.close(4321, "server says bye")

    port, url = await serveOn(handler)
    try:
        ws = await within(txws.connect(url))
        await ws.send("go")
        with pytest.raises(ConnectionClosedError) as e:
            await within(ws.recv())
        assert (e.value.code, e.value.reason) == (4321, "server says bye")
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_handler_error_gives_1011():
    async def handler(ws):
        raise RuntimeError("handler bug")

    port, url = await serveOn(handler)
    try:
        ws = await within(txws.connect(url))
        with pytest.raises(ConnectionClosedError) as e:
            await within(ws.recv())
        assert e.value.code == 1011
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_tls_with_self_signed_certificate(tmp_path):
    from twisted.internet.ssl import Certificate, optionsForClientTLS

    description, certPEM, _ = tlsServerDescription(tmp_path)
    port = await txws.serve(echo, description)
    number = port.getHost().port
    try:
        trusted = optionsForClientTLS("localhost", trustRoot=Certificate.loadPEM(certPEM))
        ws = await within(txws.connect(f"wss://localhost:{number}/", tlsOptions=trusted))
        await ws.send("secret")
        assert await within(ws.recv()) == "secret"
        await within(ws.close())

        # Verification is on by default: the self-signed certificate is
        # refused with a txws error that says which host and why.
        with pytest.raises(txws.TLSError) as e:
            await within(txws.connect(f"wss://localhost:{number}/"))
        assert e.value.host == f"localhost:{number}"
        assert f"TLS with localhost:{number} failed" in str(e.value)
        assert "certificate could not be verified" in str(e.value)
        assert isinstance(e.value.__cause__, OpenSSL.SSL.Error)

        # A trusted certificate for another name is refused too.
        elsewhere = optionsForClientTLS("other.example", trustRoot=Certificate.loadPEM(certPEM))
        with pytest.raises(txws.TLSError) as e:
            await within(txws.connect(f"wss://localhost:{number}/", tlsOptions=elsewhere))
        assert "certificate is not valid for other.example" in str(e.value)
        assert isinstance(e.value.reason, service_identity.VerificationError)

        # Nothing is listening: Twisted's own ConnectError, as documented.
        with pytest.raises(ConnectError):
            await within(txws.connect(f"wss://localhost:{freePort()}/"))
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_tls_and_plain_ports_mixed_up_say_so(tmp_path):
    """
    ws:// to a TLS port, and wss:// to a plain one, fail at once with a
    hint; the TLS server logs one line for each TLS failure.
    """
    serverLines: list[str] = []
    logged: defer.Deferred[None] = defer.Deferred()

    def observe(event: dict) -> None:
        if event.get("log_namespace") == "txws.server" and "why" in event:
            serverLines.append(formatEvent(event))
            if not logged.called:
                logged.callback(None)

    globalLogPublisher.addObserver(observe)
    tlsPort = await txws.serve(echo, tlsServerDescription(tmp_path)[0])
    plainPort = await txws.serve(echo, "tcp:0:interface=127.0.0.1")
    try:
        # (openTimeout=None: only the server's answer can end these.)
        with pytest.raises(txws.InvalidHandshake, match=r"expects TLS, use wss://"):
            await within(
                txws.connect(f"ws://localhost:{tlsPort.getHost().port}/", openTimeout=None)
            )
        await within(logged)
        [line] = serverLines
        assert "TLS of connection" in line and "http request (a ws:// client" in line
        with pytest.raises(txws.TLSError, match=r"answered without TLS.*use ws://"):
            await within(
                txws.connect(f"wss://localhost:{plainPort.getHost().port}/", openTimeout=None)
            )
    finally:
        globalLogPublisher.removeObserver(observe)
        await tlsPort.stopListening()
        await plainPort.stopListening()


@pytest_twisted.ensureDeferred
async def test_unix_socket_endpoint(tmp_path):
    path = str(tmp_path / "ws.sock")
    port = await txws.serve(echo, f"unix:{path}")
    try:
        ws = await within(
            txws.connect("ws://localhost/unix", endpoint=UNIXClientEndpoint(reactor, path))
        )
        await ws.send("over unix")
        assert await within(ws.recv()) == "over unix"
        await within(ws.close())
    finally:
        await port.stopListening()


class Redirector(Protocol):
    """An HTTP server answering every request with a redirect."""

    def dataReceived(self, data):
        if b"\r\n\r\n" in data:
            self.transport.write(
                b"HTTP/1.1 302 Found\r\nLocation: "
                + self.factory.location.encode()
                + b"\r\nContent-Length: 0\r\n\r\n"
            )
            self.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_redirects_followed():
    port, url = await serveOn(echo)
    factory = Factory.forProtocol(Redirector)
    factory.location = url + "/target"
    redirector = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(factory)
    try:
        ws = await within(txws.connect(f"ws://127.0.0.1:{redirector.getHost().port}/start"))
        assert ws.request.path == "/target"
        await within(ws.close())
    finally:
        await port.stopListening()
        await redirector.stopListening()


@pytest_twisted.ensureDeferred
async def test_redirect_loop_refused():
    factory = Factory.forProtocol(Redirector)
    redirector = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(factory)
    factory.location = f"ws://127.0.0.1:{redirector.getHost().port}/again"
    try:
        with pytest.raises(RedirectError):
            await within(txws.connect(factory.location))
    finally:
        await redirector.stopListening()


def test_redirect_targets():
    """
    Where a redirect may go: relative or absolute, never from wss:// down to ws://, never to a
    non-WebSocket scheme.
    """
    current = parseURI("wss://example.com/a/b")
    assert str(_redirectTarget(current, "/c")) == "wss://example.com/c"
    assert str(_redirectTarget(current, "wss://other/x")) == "wss://other/x"
    assert str(_redirectTarget(parseURI("ws://h/"), "wss://h/")) == "wss://h/"
    with pytest.raises(RedirectError):
        _redirectTarget(current, "ws://example.com/")
    with pytest.raises(RedirectError):
        _redirectTarget(current, "https://example.com/")


def test_connect_open_timeout_deterministic():
    clock = MemoryReactorClock()
    d = txws.connect("ws://127.0.0.1:9/", reactor=clock, openTimeout=3)
    assert clock.tcpClients  # a connection attempt is under way
    clock.advance(3)
    failures = []
    d.addErrback(failures.append)
    assert failures and failures[0].check(OpenTimeout)


@pytest_twisted.ensureDeferred
async def test_peer_that_stops_reading_stops_send():
    """
    A client that stops reading: send() Deferreds stop firing and the server
    stops reading from it; once the client reads again, send() goes on.
    """
    from twisted.internet.threads import deferToThread

    paused = defer.Deferred()
    resumed = defer.Deferred()

    async def handler(ws):
        for count in range(1, 10001):
            d = ws.send(b"x" * 16384)
            if not d.called:
                reading = ws.transport in reactor.getReaders()
                paused.callback((count, reading))
                await d
                resumed.callback(count)
                return
            await d
        paused.errback(AssertionError("send never waited"))

    port, url = await serveOn(handler, pingInterval=None, closeTimeout=0.5)
    sock = socket.create_connection(("127.0.0.1", port.getHost().port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(TIMEOUT_SECONDS)

    def readAll():
        total = 0
        try:
            while chunk := sock.recv(1 << 20):
                total += len(chunk)
        except ConnectionResetError:
            pass  # we never answer the close frame, so the server aborts
        return total

    try:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        count, reading = await within(paused)
        # Several sends fired (the kernel's buffers took them), then one waited.
        assert 1 < count < 10000
        assert not reading
        assert not resumed.called
        received = await within(deferToThread(readAll))
        assert await within(resumed) == count
        assert received > 0
    finally:
        sock.close()
        await port.stopListening()
