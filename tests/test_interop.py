"""
Interop with the websockets package over loopback sockets: its client
against a txws server, and a txws client against its server.
"""

from __future__ import annotations

import os
import queue
import threading

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

import txws
from txws.exceptions import ConnectionClosedError, ConnectionClosedOK

from .realnet import serveOn, within

websockets = pytest.importorskip("websockets")
from websockets.exceptions import ConnectionClosed as WSClosed  # noqa: E402
from websockets.sync.client import connect as wsConnect  # noqa: E402
from websockets.sync.server import serve as wsServe  # noqa: E402

pytestmark = pytest.mark.interop

MESSAGES = ["hello", "ünïcode ☃ 𝄞 ∑", b"\x00\x01\x02\xff", "x" * 2**20, b"\xaa" * 2**20, "", b""]


async def txwsEcho(ws):
    async for message in ws:
        if message == "close-please":
            await ws.close(4001, "as you wish")
            return
        if message == "fail-please":
            raise RuntimeError("handler failure on purpose")
        await ws.send(message)


class TestWebsocketsClientAgainstTxwsServer:
    @pytest_twisted.ensureDeferred
    async def test_messages(self):
        """
        The websockets client's messages, fragments, ping and close, against a txws echo
        server.
        """
        port, url = await serveOn(txwsEcho, maxSize=2**21)

        def client():
            results = []
            with wsConnect(url, open_timeout=10, close_timeout=10, max_size=2**21) as c:
                for m in MESSAGES:
                    c.send(m)
                    results.append(c.recv(timeout=10))
                c.send(["frag", "ment", "ed"])
                results.append(c.recv(timeout=10))
                c.send([b"a", b"b"])
                results.append(c.recv(timeout=10))
                pong = c.ping(b"ping-data")
                results.append(pong.wait(timeout=10))
                c.close(4002, "client bye")
            return results

        try:
            results = await within(deferToThread(client), 60)
            assert results == MESSAGES + ["fragmented", b"ab", True]
        finally:
            await port.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_client_close_code_seen_by_server(self):
        seen = []

        async def handler(ws):
            try:
                await ws.recv()
            except ConnectionClosedOK as e:
                seen.append((e.code, e.reason))
            except ConnectionClosedError as e:
                seen.append(("error", e.code, e.reason))

        port, url = await serveOn(handler)

        def client():
            with wsConnect(url, open_timeout=10, close_timeout=10) as c:
                c.close(1001, "going away now")
            return c.close_code

        try:
            assert await within(deferToThread(client)) == 1001
            assert seen == [(1001, "going away now")]
        finally:
            await port.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_server_close_and_handler_error_seen_by_client(self):
        port, url = await serveOn(txwsEcho)

        def client(trigger):
            with wsConnect(url, open_timeout=10, close_timeout=10) as c:
                c.send(trigger)
                try:
                    c.recv(timeout=10)
                except WSClosed as e:
                    return e.rcvd.code, e.rcvd.reason
            return None

        try:
            assert await within(deferToThread(client, "close-please")) == (4001, "as you wish")
            code, reason = await within(deferToThread(client, "fail-please"))
            assert code == 1011
        finally:
            await port.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_per_message_control(self):
        """compress=False between compressed messages, text=True bytes, text=False str."""

        async def handler(ws):
            await ws.send("squeeze me " * 50)
            await ws.send("leave me plain " * 50, compress=False)
            await ws.send("squeeze me again " * 50)
            await ws.send("ünï".encode(), text=True)
            await ws.send("as bytes", text=False)
            assert await ws.recv(decode=False) == "done ✓".encode()

        port, url = await serveOn(handler)

        def client():
            with wsConnect(url, open_timeout=10, close_timeout=10) as c:
                assert c.protocol.extensions, "permessage-deflate was not negotiated"
                got = [c.recv(timeout=10) for _ in range(5)]
                c.send("done ✓")
                return got

        try:
            got = await within(deferToThread(client), 60)
            assert got == [
                "squeeze me " * 50,
                "leave me plain " * 50,
                "squeeze me again " * 50,
                "ünï",
                b"as bytes",
            ]
        finally:
            await port.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_subprotocol(self):
        """
        The server's preference among the offered subprotocols wins, as the websockets
        client sees it.
        """

        async def handler(ws):
            await ws.send(ws.subprotocol)

        port, url = await serveOn(handler, subprotocols=["v2.chat", "v1.chat"])

        def client():
            with wsConnect(url, subprotocols=["v1.chat", "v2.chat"], open_timeout=10) as c:
                return c.subprotocol, c.recv(timeout=10)

        try:
            assert await within(deferToThread(client)) == ("v2.chat", "v2.chat")
        finally:
            await port.stopListening()


class WebsocketsServer:
    """A websockets (sync) server in a thread, recording what it sees."""

    def __init__(self):
        self.closes: queue.Queue = queue.Queue()

        def handler(ws):
            path = ws.request.path
            try:
                if path == "/close":
                    ws.close(4003, "server closes")
                    return
                if path == "/fail":
                    raise RuntimeError("websockets handler failure on purpose")
                if path == "/stream":
                    # The second fragment only once the client acknowledged
                    # the first: it must have been delivered on its own.
                    def fragments():
                        yield "first "
                        yield "then " + ws.recv(timeout=10)

                    ws.send(fragments())
                    ws.send([b"\x00" * 70000, b"\x01" * 70000])
                if path == "/ping":
                    ws.ping(b"server-ping").wait(timeout=10)
                    ws.send("ponged")
                for message in ws:
                    ws.send(message)
            finally:
                self.closes.put((path, ws.close_code, ws.close_reason))

        self.server = wsServe(
            handler,
            "127.0.0.1",
            0,
            max_size=2**21,
            open_timeout=10,
            close_timeout=10,
            compression=None,
        )
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/"):
        return f"ws://127.0.0.1:{self.port}{path}"

    def stop(self):
        self.server.shutdown()
        self.thread.join(10)


@pytest.fixture
def wsServer():
    server = WebsocketsServer()
    yield server
    server.stop()


class TestTxwsClientAgainstWebsocketsServer:
    @pytest_twisted.ensureDeferred
    async def test_messages(self, wsServer):
        """
        txws's client: messages, fragments from an iterator and an async iterator, ping and
        close, against a websockets echo server.
        """
        ws = await within(txws.connect(wsServer.url("/echo"), maxSize=2**21))
        for message in MESSAGES:
            await within(ws.send(message))
            assert await within(ws.recv()) == message
        await within(ws.send(iter(["frag", "ment", "ed"])))
        assert await within(ws.recv()) == "fragmented"

        async def chunks():
            yield b"as"
            yield b"ync"

        await within(ws.send(chunks()))
        assert await within(ws.recv()) == b"async"
        rtt = await within(ws.ping(b"txws-ping"))
        assert rtt >= 0
        await within(ws.close(4004, "txws says bye"))
        path, code, reason = await within(deferToThread(wsServer.closes.get, True, 10))
        assert (path, code, reason) == ("/echo", 4004, "txws says bye")

    @pytest_twisted.ensureDeferred
    async def test_recvStreaming(self, wsServer):
        """
        Fragments of a websockets message come one by one: the server sends
        its second fragment only after the client answered the first.
        """
        ws = await within(txws.connect(wsServer.url("/stream")))
        stream = ws.recvStreaming()
        assert await within(anext(stream)) == "first "
        await within(ws.send("ack"))

        async def pieces(stream):
            return [piece async for piece in stream]

        assert await within(pieces(stream)) == ["then ack"]
        binary = await within(pieces(ws.recvStreaming()))
        assert b"".join(binary) == b"\x00" * 70000 + b"\x01" * 70000
        await within(ws.close())

    @pytest_twisted.ensureDeferred
    async def test_server_close_code_seen(self, wsServer):
        ws = await within(txws.connect(wsServer.url("/close")))
        with pytest.raises(ConnectionClosedError) as e:
            await within(ws.recv())
        assert (e.value.code, e.value.reason) == (4003, "server closes")
        await within(ws.whenClosed())

    @pytest_twisted.ensureDeferred
    async def test_server_handler_error_is_1011(self, wsServer):
        ws = await within(txws.connect(wsServer.url("/fail")))
        with pytest.raises(ConnectionClosedError) as e:
            await within(ws.recv())
        assert e.value.code == 1011

    @pytest_twisted.ensureDeferred
    async def test_server_ping_answered(self, wsServer):
        ws = await within(txws.connect(wsServer.url("/ping")))
        assert await within(ws.recv()) == "ponged"
        await within(ws.close())

    @pytest_twisted.ensureDeferred
    async def test_normal_close_iteration_ends(self, wsServer):
        ws = await within(txws.connect(wsServer.url("/echo")))
        await ws.send("one")
        received = []

        async def consume():
            async for message in ws:
                received.append(message)
                await ws.close()

        await within(consume())
        assert received == ["one"]


# -- permessage-deflate in both directions ---------------------------------

from websockets.extensions import permessage_deflate as wsDeflate  # noqa: E402

from txws.extensions.permessage_deflate import ClientPerMessageDeflateFactory  # noqa: E402

DEFLATE_MESSAGES = ["compressible " * 500, b"\x00" * 100000, os.urandom(3000), "é" * 10, "", b""]

# (websockets client factory kwargs): window bits 9 to 15, no-context-takeover
# on either side.
CLIENT_OFFERS = (
    [dict()]
    + [dict(server_max_window_bits=b, client_max_window_bits=b) for b in range(9, 16)]
    + [
        dict(server_no_context_takeover=True),
        dict(client_no_context_takeover=True),
        dict(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=9,
        ),
    ]
)


@pytest.mark.parametrize(
    "offer", CLIENT_OFFERS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default"
)
@pytest_twisted.ensureDeferred
async def test_websockets_client_deflate_against_txws_server(offer):
    port, url = await serveOn(txwsEcho)

    def client():
        factory = wsDeflate.ClientPerMessageDeflateFactory(**offer)
        results = []
        with wsConnect(url, extensions=[factory], compression=None, open_timeout=10) as c:
            results.append(c.response.headers["Sec-WebSocket-Extensions"])
            for m in DEFLATE_MESSAGES:
                c.send(m)
                results.append(c.recv(timeout=10))
            c.send(["frag " * 100, "mented"])
            results.append(c.recv(timeout=10))
        return results

    try:
        results = await within(deferToThread(client), 60)
        assert results[0].startswith("permessage-deflate")
        assert results[1:] == DEFLATE_MESSAGES + ["frag " * 100 + "mented"]
    finally:
        await port.stopListening()


# (txws client factory kwargs, websockets server factory kwargs)
SERVER_CASES = (
    [(dict(), dict())]
    + [(dict(serverMaxWindowBits=b), dict(server_max_window_bits=b)) for b in (9, 12, 15)]
    + [(dict(), dict(client_max_window_bits=b)) for b in range(9, 16)]
    + [
        (dict(serverNoContextTakeover=True), dict()),
        (dict(clientNoContextTakeover=True), dict()),
        (dict(), dict(server_no_context_takeover=True, client_no_context_takeover=True)),
    ]
)


@pytest.mark.parametrize(
    "ours,theirs",
    SERVER_CASES,
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default",
)
@pytest_twisted.ensureDeferred
async def test_txws_client_deflate_against_websockets_server(ours, theirs):
    def handler(ws):
        for message in ws:
            ws.send(message)

    server = wsServe(
        handler,
        "127.0.0.1",
        0,
        compression=None,
        open_timeout=10,
        extensions=[wsDeflate.ServerPerMessageDeflateFactory(**theirs)],
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
        ws = await within(txws.connect(url, extensions=[ClientPerMessageDeflateFactory(**ours)]))
        assert [e.name for e in ws.extensions] == ["permessage-deflate"]
        for message in DEFLATE_MESSAGES:
            await within(ws.send(message))
            assert await within(ws.recv()) == message
        await within(ws.send(iter([b"frag" * 100, b"mented"])))
        assert await within(ws.recv()) == b"frag" * 100 + b"mented"
        await within(ws.close())
    finally:
        server.shutdown()
        thread.join(10)
