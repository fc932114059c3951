"""
L{txws.metrics}, L{txws.observe} and L{txws.prometheus}: what the
connections count, deterministically, and the metrics page over a socket
and from twistd.
"""

from __future__ import annotations

import urllib.request

import pytest
import pytest_twisted
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.testing import MemoryReactorClock

import txws
from txws.frames import OP_BINARY, OP_CONT, OP_TEXT, Frame
from txws.metrics import Metrics
from txws.prometheus import MetricsCollector, MetricsResource
from txws.server import WebSocketServerFactory
from txws.writer import FrameWriter

from .helpers import (
    PEER,
    Connection,
    clientConnection,
    openClient,
    openServer,
    request,
    sentRequest,
    serverConnection,
    successResultOf,
)
from .realnet import freePort, within
from .test_tap import startTwistd, stop, waitListening


def samples(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    """Every sample the collector exports: {(name, labels): value}."""
    registry = CollectorRegistry()
    registry.register(MetricsCollector(metrics))
    return parse(generate_latest(registry).decode())


def parse(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    }


class TestCounting:
    def test_offCostsNothing(self):
        """Without metrics, the parser gets the plain callback and a plain writer."""
        conn = openServer()
        assert conn.protocol.options.metrics is None
        assert conn.protocol.parser.callback == conn.protocol._frameReceived
        assert type(conn.protocol._writer) is FrameWriter

    def test_messagesAndBytes(self):
        conn = openServer(metrics=True)
        metrics = conn.protocol.factory.metrics
        conn.receiveFrame(OP_TEXT, b"hello")
        conn.receiveFrame(OP_BINARY, b"ab", fin=False)
        conn.receiveFrame(OP_CONT, b"cde")
        conn.protocol.send("x" * 10)
        conn.protocol.send(iter([b"12", b"345"]))
        assert metrics.messagesReceived == 2
        assert metrics.bytesReceived == 10
        assert metrics.messagesSent == 2
        assert metrics.bytesSent == 15
        assert (metrics.connectionsOpen, metrics.connectionsTotal) == (1, 1)

    @pytest.mark.parametrize("logFrames", [False, True])
    def test_oneFrameMessagesCountedOnTheFastPath(self, logFrames):
        """
        With metrics, whole one-frame messages still go the parser's fast
        path (C, when built), counted there as on the frame path: bytes of
        payload, one message each. Frame logging sees every frame instead.
        """
        conn = openServer(metrics=True, logFrames=logFrames)
        protocol = conn.protocol
        metrics = protocol.factory.metrics
        assert (protocol.parser.whole is None) is logFrames
        texts = ["hello", "h\u00e9llo \u2603", "x" * 200]
        # One read of several messages, then one message alone in a read.
        conn.receive(
            b"".join(conn.peerFrame(OP_TEXT, text.encode()) for text in texts)
            + conn.peerFrame(OP_BINARY, b"\xff\x00")
        )
        conn.receive(conn.peerFrame(OP_TEXT, "\u00e9".encode()))
        assert metrics.messagesReceived == 5
        assert metrics.bytesReceived == sum(len(t.encode()) for t in texts) + 2 + 2
        received = [successResultOf(protocol.recv()) for _ in range(5)]
        assert received == [*texts, b"\xff\x00", "\u00e9"]

    def test_broadcastCounted(self):
        factory = WebSocketServerFactory(None, reactor=MemoryReactorClock(), metrics=True)
        conns = [Connection(factory.buildProtocol(PEER), factory.options.reactor) for _ in "ab"]
        for conn in conns:
            conn.receive(request())
        assert txws.broadcast([c.protocol for c in conns], "all") == 2
        assert factory.metrics.messagesSent == 2
        assert factory.metrics.bytesSent == 6

    def test_closeCodes(self):
        metrics = Metrics()
        # The peer closes normally.
        conn = openServer(metrics=metrics)
        conn.receiveClose(1000)
        conn.lose()
        # We fail it (1009) and the peer drops TCP without answering.
        conn = openServer(metrics=metrics, maxSize=4)
        conn.receiveFrame(OP_BINARY, b"too big")
        conn.lose()
        # TCP goes without any close frame.
        openServer(metrics=metrics).lose()
        assert metrics.closeCodes == {1000: 1, 1009: 1, 1006: 1}
        assert (metrics.connectionsOpen, metrics.connectionsTotal) == (0, 3)

    def test_serverHandshakeFailures(self):
        metrics = Metrics()
        serverConnection(metrics=metrics).receive(request(drop=("Sec-WebSocket-Key",)))
        serverConnection(metrics=metrics, origins=["https://a.example"]).receive(
            request(headers={"Origin": "https://b.example"})
        )
        conn = serverConnection(metrics=metrics, openTimeout=5)
        conn.clock.advance(5)
        assert metrics.handshakeFailures == {"400": 1, "403": 1, "timeout": 1}
        assert metrics.connectionsTotal == 0

    def test_clientHandshakeFailures(self):
        conn = clientConnection(metrics=True)
        sentRequest(conn)
        conn.receive(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        bad = clientConnection(metrics=conn.factory.metrics)
        sentRequest(bad)
        bad.receive(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
        assert conn.factory.metrics.handshakeFailures == {"403": 1, "invalid": 1}

    def test_clientCounts(self):
        conn = openClient(metrics=True)
        conn.receiveFrame(OP_TEXT, b"hi")
        conn.protocol.send(b"back")
        metrics = conn.factory.metrics
        assert (metrics.messagesReceived, metrics.messagesSent, metrics.bytesSent) == (1, 1, 4)

    def test_withFrameLogging(self):
        """Frame logging and metrics together: both see every frame."""
        conn = openServer(metrics=True, logFrames=True)
        conn.receiveFrame(OP_TEXT, b"hi")
        conn.protocol.send("back")
        metrics = conn.protocol.factory.metrics
        assert (metrics.messagesReceived, metrics.messagesSent) == (1, 1)
        assert conn.framesSent() == [Frame(OP_TEXT, b"back")]

    def test_closedConnectionFreed(self):
        """Counting keeps no connection alive once it is gone."""
        import gc
        import weakref

        conn = openServer(metrics=True)
        ref = weakref.ref(conn.protocol)
        conn.receiveClose(1000)
        conn.lose()
        del conn
        gc.disable()
        try:
            assert ref() is None
        finally:
            gc.enable()

    @pytest.mark.parametrize("value", ["yes", 1, object()])
    def test_badOption(self, value):
        with pytest.raises(TypeError, match="metrics"):
            WebSocketServerFactory(None, metrics=value)

    def test_offByFalse(self):
        assert WebSocketServerFactory(None, metrics=False).metrics is None


class TestPrometheus:
    def test_namesAndValues(self):
        metrics = Metrics()
        metrics.connectionOpened()
        metrics.connectionOpened()
        metrics.connectionClosed(1001)
        metrics.handshakeFailed(503)
        metrics.messagesReceived, metrics.bytesReceived = 3, 30
        metrics.messagesSent, metrics.bytesSent = 4, 40
        assert samples(metrics) == {
            ("txws_connections_open", ()): 1,
            ("txws_connections_total", ()): 2,
            ("txws_handshake_failures_total", (("status", "503"),)): 1,
            ("txws_messages_received_total", ()): 3,
            ("txws_messages_sent_total", ()): 4,
            ("txws_bytes_received_total", ()): 30,
            ("txws_bytes_sent_total", ()): 40,
            ("txws_close_codes_total", (("code", "1001"),)): 1,
        }

    def test_resourceTakesOneSource(self):
        with pytest.raises(TypeError):
            MetricsResource()
        with pytest.raises(TypeError):
            MetricsResource(Metrics(), registry=CollectorRegistry())
        with pytest.raises(TypeError):
            MetricsCollector("metrics")  # type: ignore[arg-type]


def fetch(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode()


@pytest.mark.sockets
@pytest_twisted.ensureDeferred
async def test_metricsPageAfterKnownTraffic():
    """A service with metricsPath: the WebSocket at any other path, the page after traffic."""
    from twisted.internet.threads import deferToThread

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
    service = txws.WebSocketService(
        endpoint,
        echo,
        metricsPath="/metrics",
        compression=None,
        origins=[None, "https://ok.example"],
    )
    service.startService()
    try:
        [port] = await within(service.whenListening())
        base = f"127.0.0.1:{port.getHost().port}"
        for path in ("/", "/chat"):
            ws = await within(txws.connect(f"ws://{base}{path}", compression=None))
            for message in ("one", b"two!"):
                await within(ws.send(message))
                assert await within(ws.recv()) == message
            await within(ws.close())
        with pytest.raises(txws.InvalidStatus):
            await within(txws.connect(f"ws://{base}/", origin="https://x.example"))
        contentType, text = await within(deferToThread(fetch, f"http://{base}/metrics"))
        assert contentType.startswith("text/plain")
        found = parse(text)
        assert found[("txws_connections_total", ())] == 2
        assert found[("txws_connections_open", ())] == 0
        assert found[("txws_messages_received_total", ())] == 4
        assert found[("txws_messages_sent_total", ())] == 4
        assert found[("txws_bytes_received_total", ())] == 14
        assert found[("txws_close_codes_total", (("code", "1000"),))] == 2
        assert found[("txws_handshake_failures_total", (("status", "403"),))] == 1
    finally:
        await within(service.stopService())


@pytest.mark.sockets
def test_twistdMetrics():
    """twistd websocket --metrics /metrics serves the page and the WebSocket on one port."""
    from websockets.sync.client import connect

    port = freePort()
    process = startTwistd(
        "--handler",
        "examples.echo.echo",
        "--metrics",
        "/metrics",
        "--port",
        f"tcp:{port}:interface=127.0.0.1",
    )
    try:
        waitListening(port, process)
        with connect(f"ws://127.0.0.1:{port}/", open_timeout=10) as ws:
            ws.send("counted")
            assert ws.recv(timeout=10) == "counted"
        _, text = fetch(f"http://127.0.0.1:{port}/metrics")
        found = parse(text)
        assert found[("txws_messages_received_total", ())] == 1
        assert found[("txws_connections_total", ())] == 1
    finally:
        out = stop(process)
    assert f"; metrics at http://127.0.0.1:{port}/metrics\n" in out


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(metricsPath="metrics"), "metricsPath must start with /"),
        (dict(metricsPath="/"), "metricsPath must start with /"),
        (dict(metricsPath="/metrics", metrics=False), "metricsPath needs metrics on"),
    ],
)
def test_serviceMetricsPathChecked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        txws.WebSocketService("tcp:0", None, **kwargs)


@pytest.mark.parametrize(
    ("received", "sent", "counted"),
    [
        (1000, 1000, 1000),
        (1006, 1009, 1009),
        (1006, None, 1006),
        (4001, 1000, 4001),
        (None, 1011, 1011),
    ],
)
def test_closeCodeCounted(received, sent, counted):
    """The peer's code, else ours, else 1006."""
    metrics = Metrics()
    metrics.connectionOpened()
    metrics.connectionClosed(received, sent)
    assert metrics.closeCodes == {counted: 1}
    assert metrics.connectionsOpen == 0
