"""
Application integration: WebSocketResource, WebSocketService,
reconnectingClient, broadcast, WrappingFactory and the command-line client.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import pytest_twisted
from twisted.internet import reactor, task
from twisted.internet.endpoints import TCP4ServerEndpoint, serverFromString
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.static import Data

import txws
from txws.exceptions import ConnectionClosedOK
from txws.frames import OP_BINARY, OP_TEXT, Frame, serializeFrame
from txws.http import Response

from .helpers import openClient, openServer
from .realnet import freePort, serveOn, within

pytestmark = pytest.mark.sockets


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def listenSite(resource) -> tuple:
    root = Resource()
    root.putChild(b"", Data(b"home page\n", "text/plain"))
    root.putChild(b"ws", resource)
    port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(Site(root))
    return port, port.getHost().port


def rawExchange(port: int, data: bytes, until: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while until not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)


class TestResource:
    @pytest_twisted.ensureDeferred
    async def test_http_and_websocket_share_a_site(self):
        from twisted.internet.threads import deferToThread

        port, number = await listenSite(txws.WebSocketResource(echo))
        try:
            page = await within(
                deferToThread(
                    rawExchange, number, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"home page"
                )
            )
            assert b"200 OK" in page
            plain = await within(
                deferToThread(
                    rawExchange, number, b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", b"client.\n"
                )
            )
            assert plain.startswith(b"HTTP/1.1 426 ")
            assert plain.rstrip(b"\r\n").split(b"\r\n\r\n", 1)[1].count(b"\n") == 0
            ws = await within(txws.connect(f"ws://127.0.0.1:{number}/ws"))
            await ws.send("through a Site")
            assert await within(ws.recv()) == "through a Site"
            await within(ws.close())
        finally:
            await port.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_bytes_sent_with_the_request_are_not_lost(self):
        from twisted.internet.threads import deferToThread

        port, number = await listenSite(txws.WebSocketResource(echo, compression=None))
        try:
            frame = serializeFrame(OP_TEXT, b"eager", mask=True)
            # The request and the first frame in one segment.
            answer = await within(
                deferToThread(rawExchange, number, UPGRADE + b"\r\n" + frame, b"eager")
            )
            assert b"101 Switching Protocols" in answer
            assert answer.endswith(serializeFrame(OP_TEXT, b"eager"))
        finally:
            await port.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_process_request_refuses(self):
        from twisted.internet.threads import deferToThread

        def auth(protocol, request):
            if request.headers.get("Authorization") != "Bearer ok":
                return Response(
                    401, headers=[("WWW-Authenticate", "Bearer")], body=b"who are you?\n"
                )

        port, number = await listenSite(txws.WebSocketResource(echo, processRequest=auth))
        try:
            answer = await within(
                deferToThread(rawExchange, number, UPGRADE + b"\r\n", b"who are you?")
            )
            assert answer.startswith(b"HTTP/1.1 401 ")
            ws = await within(
                txws.connect(
                    f"ws://127.0.0.1:{number}/ws", additionalHeaders={"Authorization": "Bearer ok"}
                )
            )
            await within(ws.close())
        finally:
            await port.stopListening()


class TestService:
    @pytest_twisted.ensureDeferred
    async def test_graceful_stop_closes_with_1001(self):
        endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        service = txws.WebSocketService(endpoint, echo)
        service.startService()
        [child] = list(service)
        port = await within(child._waitingForPort)
        ws = await within(txws.connect(f"ws://127.0.0.1:{port.getHost().port}/"))
        assert len(service.factory.connections) == 1
        stopped = service.stopService()
        with pytest.raises(ConnectionClosedOK) as e:
            await within(ws.recv())
        assert e.value.code == 1001
        await within(stopped)
        assert service.factory.connections == set()

    @pytest_twisted.ensureDeferred
    async def test_reconnecting_client(self):
        async def kick(ws):
            # The server drops every connection after one message.
            await ws.recv()
            await ws.close(1012, "restart")

        port, url = await serveOn(kick)
        seen = []

        async def client(ws):
            seen.append(ws)
            await ws.send(f"hello {len(seen)}")

        service = txws.reconnectingClient(url, client, backoffPolicy=lambda attempt: 0.01)
        service.startService()
        try:
            first = await within(service.whenConnected())
            assert first.open
            await within(first.whenClosed())
            # Let ClientService see the loss (it hears of it just after us).
            await task.deferLater(reactor, 0, lambda: None)
            second = await within(service.whenConnected(failAfterFailures=5))
            assert second is not first
            assert len(seen) >= 2
        finally:
            # Not from inside ClientService's own callbacks: it is not reentrant.
            await task.deferLater(reactor, 0, lambda: None)
            await within(service.stopService())
            await port.stopListening()

    def test_first_reconnect_delay_is_random(self):
        from txws.service import _firstDelayRandomised

        delays = {_firstDelayRandomised()(1) for _ in range(20)}
        assert len(delays) > 1 and all(0 <= d <= 5 for d in delays)
        policy = _firstDelayRandomised(maxDelay=30)
        assert 30 <= policy(50) <= 31  # the cap, and up to a second of jitter

    def test_reconnect_delay_never_overflows(self):
        # 1800 attempts is 29 hours of a server down at the 60 s cap.
        from txws.service import _firstDelayRandomised

        policy = _firstDelayRandomised()
        for attempt in (2, 1800, 10**6):
            assert 0 < policy(attempt) <= 61


class TestBroadcast:
    def test_encodes_once_and_skips_slow_and_closed(self):
        fast = [openServer(compression=None) for _ in range(3)]
        slow = openServer(compression=None)
        slow.protocol.pauseProducing()  # its transport buffer is full
        closed = openServer(compression=None)
        closed.lose()
        client = openClient(compression=None)
        everyone = [c.protocol for c in fast + [slow, closed, client]]
        assert txws.broadcast(everyone, "news") == 4
        for conn in fast:
            conn.assertFramesSent(Frame(OP_TEXT, b"news"))
        assert slow.sent() == b""
        client.assertFramesSent(Frame(OP_TEXT, b"news"))  # masked by its own encoder

    def test_compressed_connections_encode_for_themselves(self):
        import zlib

        from txws.extensions.permessage_deflate import ServerPerMessageDeflateFactory
        from txws.frames import RSV1

        from .helpers import request, serverConnection

        conn = serverConnection(
            compression=None,
            extensions=[
                ServerPerMessageDeflateFactory(serverMaxWindowBits=None, clientMaxWindowBits=None)
            ],
        )
        conn.receive(request(headers={"Sec-WebSocket-Extensions": "permessage-deflate"}))
        conn.sent()
        plain = openServer(compression=None)
        assert txws.broadcast([conn.protocol, plain.protocol], b"\x00" * 1000) == 2
        [frame] = conn.framesSent()
        assert frame.rsv == RSV1 and frame.opcode == OP_BINARY
        assert (
            zlib.decompressobj(-15).decompress(frame.payload + b"\x00\x00\xff\xff")
            == b"\x00" * 1000
        )
        plain.assertFramesSent(Frame(OP_BINARY, b"\x00" * 1000))


class Echo(LineReceiver):
    delimiter = b"\n"

    def lineReceived(self, line):
        self.sendLine(b"echo: " + line)


class TestWrappingFactory:
    @pytest_twisted.ensureDeferred
    async def test_line_receiver_over_websocket(self):
        factory = txws.WrappingFactory(Factory.forProtocol(Echo))
        port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(factory)
        try:
            ws = await within(txws.connect(f"ws://127.0.0.1:{port.getHost().port}/"))
            await ws.send(b"one\ntw")
            await ws.send("o\n")  # text works too, as UTF-8
            received = b""
            while received.count(b"\n") < 2:
                received += await within(ws.recv())
            assert received == b"echo: one\necho: two\n"
            await within(ws.close())
        finally:
            await port.stopListening()


class TestCommandLine:
    @pytest_twisted.ensureDeferred
    async def test_interactive_client(self):
        async def greeter(ws):
            await ws.send(b"\x00\x01\x02")
            async for message in ws:
                if message == "bye":
                    await ws.close(4000, "see you")
                    return
                await ws.send(f"got {message}")

        port, url = await serveOn(greeter)
        try:
            from twisted.internet.threads import deferToThread

            def run():
                return subprocess.run(
                    [sys.executable, "-m", "txws", url],
                    input="hello\nbye\n",
                    capture_output=True,
                    text=True,
                    timeout=30,
                )

            result = await within(deferToThread(run), 40)
            out = result.stdout
            assert f"Connected to {url}." in out
            assert "< (binary, 3 bytes) 00 01 02" in out
            assert "< got hello" in out
            assert "Connection closed: 4000 see you." in out
        finally:
            await port.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_end_of_input_closes_cleanly(self):
        port, url = await serveOn(echo)
        try:
            from twisted.internet.threads import deferToThread

            def run():
                return subprocess.run(
                    [sys.executable, "-m", "txws", url],
                    input="",
                    capture_output=True,
                    text=True,
                    timeout=30,
                )

            result = await within(deferToThread(run), 40)
            assert result.returncode == 0, result.stderr
            assert "Connection closed: 1000." in result.stdout
        finally:
            await port.stopListening()

    def test_connection_refused(self):
        free = freePort()
        result = subprocess.run(
            [sys.executable, "-m", "txws", f"ws://127.0.0.1:{free}/"],
            input="",
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode != 0
        assert "Failed to connect" in result.stdout
        assert "Traceback" not in result.stderr
