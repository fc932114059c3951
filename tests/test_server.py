"""The server: handshake answers, hooks, limits and the handler's life."""

from __future__ import annotations

import pytest
from twisted.internet import defer

from txws.frames import OP_CLOSE, OP_TEXT, Close, Frame
from txws.http import Response, findHeadEnd, parseResponse
from txws.protocol import CLOSED, CONNECTING, OPEN
from txws.server import ServerOptions, WebSocketServerFactory

from .helpers import (
    PEER,
    Connection,
    assertNoResult,
    openServer,
    request,
    serverConnection,
    successResultOf,
)


def answer(conn: Connection) -> Response:
    data = conn.sent()
    end = findHeadEnd(data)
    response = parseResponse(data[:end])
    response.body = data[end:]
    return response


class TestHandshake:
    def test_accepts(self):
        """
        A valid request is answered with the RFC's accept key and the Server header, and the
        connection is open with its request kept.
        """
        conn = serverConnection()
        conn.receive(request("/chat?room=1"))
        response = answer(conn)
        assert response.status == 101
        assert response.headers.get("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        assert response.headers.get("Server").startswith("Python/")
        assert conn.protocol.state is OPEN
        assert conn.protocol.request.path == "/chat?room=1"
        assert conn.protocol.response is not None

    def test_request_in_pieces(self):
        conn = serverConnection()
        for _i, byte in enumerate(request()):
            conn.receive(bytes([byte]))
        assert answer(conn).status == 101

    def test_frames_right_after_request(self):
        from txws.frames import serializeFrame

        conn = serverConnection()
        conn.receive(request() + serializeFrame(OP_TEXT, b"early", mask=True))
        assert answer(conn).status == 101
        assert successResultOf(conn.protocol.recv()) == "early"

    @pytest.mark.parametrize(
        "raw,status",
        [
            (request(method="POST"), 405),
            (request(headers={"Sec-WebSocket-Version": "8"}), 426),
            (request(key="bad"), 400),
            (request(drop=("Sec-WebSocket-Key",)), 400),
            (request(drop=("Upgrade",)), 426),
            (request(drop=("Connection",)), 426),
            (request(version="HTTP/1.0"), 505),
            (b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"a" * 70000, 431),
            (b"GET /" + b"a" * 9000, 414),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
            # A TLS ClientHello as it comes, with no blank line to wait for.
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
            (b"\x00\x01", 400),
        ],
    )
    def test_bad_handshakes(self, raw, status, logEvents):
        """
        Each bad handshake gets its HTTP status, a one-line body and one info log line with
        no traceback, and nothing after it is read.
        """
        conn = serverConnection()
        conn.receive(raw)
        response = answer(conn)
        assert response.status == status
        assert response.body.startswith(b"Failed to open a WebSocket connection: ")
        assert response.body.count(b"\n") == 1
        assert conn.transport.disconnecting
        assert conn.protocol.state is CONNECTING
        # One info line, no traceback.
        [event] = [e for e in logEvents if "Refused" in e.get("log_format", "")]
        assert event["log_level"].name == "info"
        assert "log_failure" not in event
        # Nothing more is read.
        conn.receive(request())
        assert conn.sent() == b""

    def test_tls_handshake_on_a_plain_port_is_refused_at_once(self):
        """The first byte of a ClientHello is enough: no wait for a head that never ends."""
        conn = serverConnection()
        conn.receive(b"\x16\x03\x01")
        response = answer(conn)
        assert response.status == 400
        assert b"TLS handshake" in response.body and b"not wss://" in response.body

    @pytest.mark.parametrize(
        "reasons,why",
        [
            (
                [("SSL routines", "", "http request")],
                "http request (a ws:// client on this TLS port)",
            ),
            ([("SSL routines", "", "tlsv1 alert unknown ca")], "tlsv1 alert unknown ca"),
            ([], "no reason"),
        ],
    )
    def test_tls_failure_is_logged(self, reasons, why, logEvents):
        """A TLS failure before the request gets one info line saying why."""
        from OpenSSL.SSL import Error
        from twisted.python.failure import Failure

        conn = serverConnection()
        conn.protocol.connectionLost(Failure(Error(reasons)))
        [event] = [e for e in logEvents if "TLS of connection" in e.get("log_format", "")]
        assert event["log_level"].name == "info" and event["why"] == why

    def test_open_timeout(self, logEvents):
        conn = serverConnection()
        conn.receive(b"GET / HTTP/1.1\r\n")
        conn.clock.advance(10)
        assert conn.transport.disconnected
        assert any("timed out" in e.get("log_format", "") for e in logEvents)

    def test_open_timeout_cancelled_by_handshake(self):
        conn = openServer()
        conn.clock.advance(11)
        assert not conn.transport.disconnecting


class TestHooks:
    def test_process_request_health_check(self):
        def health(protocol, req):
            if req.path == "/healthz":
                return Response(200, body=b"OK\n")
            return None

        conn = serverConnection(processRequest=health)
        conn.receive(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        response = answer(conn)
        assert (response.status, response.body) == (200, b"OK\n")
        assert conn.transport.disconnecting
        conn = serverConnection(processRequest=health)
        conn.receive(request("/ws"))
        assert answer(conn).status == 101

    def test_process_request_authentication_async(self):
        pending = defer.Deferred()

        def auth(protocol, req):
            token = req.headers.get("Authorization")
            return pending.addCallback(
                lambda ok: (
                    None
                    if token == "Bearer good"
                    else Response(401, headers=[("WWW-Authenticate", "Bearer")])
                )
            )

        conn = serverConnection(processRequest=auth)
        conn.receive(request(headers={"Authorization": "Bearer bad"}))
        assert conn.sent() == b""
        pending.callback(True)
        response = answer(conn)
        assert response.status == 401
        assert response.headers.get("WWW-Authenticate") == "Bearer"

        pending = defer.Deferred()
        conn = serverConnection(processRequest=auth)
        conn.receive(request(headers={"Authorization": "Bearer good"}))
        pending.callback(True)
        assert answer(conn).status == 101

    def test_process_request_error_is_500(self, logEvents):
        def broken(protocol, req):
            raise RuntimeError("boom")

        conn = serverConnection(processRequest=broken)
        conn.receive(request())
        assert answer(conn).status == 500
        assert any(e.get("log_failure") for e in logEvents)

    def test_process_response(self):
        """processResponse may change the 101 response before it is sent."""

        def addCookie(protocol, req, response):
            response.headers.add("Set-Cookie", "a=b")

        conn = serverConnection(processResponse=addCookie)
        conn.receive(request())
        assert answer(conn).headers.get("Set-Cookie") == "a=b"

    def test_subprotocols(self):
        conn = serverConnection(subprotocols=["chat", "superchat"])
        conn.receive(request(headers={"Sec-WebSocket-Protocol": "superchat, chat"}))
        assert answer(conn).headers.get("Sec-WebSocket-Protocol") == "chat"
        assert conn.protocol.subprotocol == "chat"

    def test_no_common_subprotocol(self):
        conn = serverConnection(subprotocols=["chat"])
        conn.receive(request(headers={"Sec-WebSocket-Protocol": "other"}))
        response = answer(conn)
        assert response.status == 101
        assert "Sec-WebSocket-Protocol" not in response.headers
        assert conn.protocol.subprotocol is None

    def test_select_subprotocol(self):
        """selectSubprotocol chooses among the client's offers."""
        conn = serverConnection(selectSubprotocol=lambda p, offered: offered[-1])
        conn.receive(request(headers={"Sec-WebSocket-Protocol": "a, b"}))
        assert answer(conn).headers.get("Sec-WebSocket-Protocol") == "b"

    def test_select_subprotocol_must_pick_offered(self, logEvents):
        # An answer that was not offered (or "a\r\nX: y") is the
        # application's bug: a 500 and an error logged, never on the wire.
        for chosen in ("z", "a\r\nInjected: yes"):
            conn = serverConnection(selectSubprotocol=lambda p, offered, chosen=chosen: chosen)
            conn.receive(request(headers={"Sec-WebSocket-Protocol": "a"}))
            head = conn.transport.value()
            assert b"Injected" not in head
            assert answer(conn).status == 500
        assert any(e.get("log_failure") for e in logEvents)

    def test_origins(self):
        """
        origins: a listed origin is upgraded, another gets 403, and None allows requests
        without Origin.
        """
        conn = serverConnection(origins=["https://good.example"])
        conn.receive(request(headers={"Origin": "https://evil.example"}))
        assert answer(conn).status == 403
        conn = serverConnection(origins=["https://good.example"])
        conn.receive(request(headers={"Origin": "https://good.example"}))
        assert answer(conn).status == 101
        conn = serverConnection(origins=["https://good.example", None])
        conn.receive(request())
        assert answer(conn).status == 101

    def test_origin_patterns(self):
        import re

        options = {"origins": [re.compile(r"https://[a-z]+\.example\.com")]}
        conn = serverConnection(**options)
        conn.receive(request(headers={"Origin": "https://chat.example.com"}))
        assert answer(conn).status == 101
        conn = serverConnection(**options)
        conn.receive(request(headers={"Origin": "https://chat.example.com.evil.net"}))
        assert answer(conn).status == 403

    @pytest.mark.parametrize("origins", ["https://one", [b"https://bytes"], [42]])
    def test_origins_checked(self, origins):
        with pytest.raises(TypeError, match="origins"):
            ServerOptions(origins=origins)

    def test_no_server_header(self):
        conn = serverConnection(serverHeader=None)
        conn.receive(request())
        assert "Server" not in answer(conn).headers

    def test_max_connections(self):
        """maxConnections: the next connection gets 503 until one closes."""
        factory = WebSocketServerFactory(None, maxConnections=1, reactor=_clock())
        first = Connection(factory.buildProtocol(PEER), factory.options.reactor)
        first.receive(request())
        assert answer(first).status == 101
        assert factory.connections == {first.protocol}
        second = Connection(factory.buildProtocol(PEER), factory.options.reactor)
        second.receive(request())
        assert answer(second).status == 503
        first.lose()
        assert factory.connections == set()
        third = Connection(factory.buildProtocol(PEER), factory.options.reactor)
        third.receive(request())
        assert answer(third).status == 101

    def test_unknown_option(self):
        with pytest.raises(TypeError):
            WebSocketServerFactory(None, maxsize=10)

    def test_options_validated(self):
        with pytest.raises(ValueError):
            ServerOptions(maxConnections=0)


def _clock():
    from twisted.internet.testing import MemoryReactorClock

    return MemoryReactorClock()


class TestHandler:
    def test_async_handler_end_closes_1000(self):
        async def handler(ws):
            message = await ws.recv()
            await ws.send(message.upper())

        conn = openServer(handler)
        conn.receiveFrame(OP_TEXT, b"hi")
        conn.assertFramesSent(Frame(OP_TEXT, b"HI"), Frame(OP_CLOSE, Close(1000).serialize()))

    def test_inline_callbacks_handler(self):
        @defer.inlineCallbacks
        def handler(ws):
            message = yield ws.recv()
            yield ws.send(message)

        conn = openServer(handler)
        conn.receiveFrame(OP_TEXT, b"x")
        conn.assertFramesSent(Frame(OP_TEXT, b"x"), Frame(OP_CLOSE, Close(1000).serialize()))

    def test_plain_handler(self):
        """
        A handler that is a plain function: called with the connection; its return closes
        with 1000 right after the 101.
        """
        seen = []
        conn = serverConnection(seen.append)
        conn.receive(request())
        response = answer(conn)
        assert response.status == 101
        assert seen == [conn.protocol]
        # The handler returned at once: the close follows the 101.
        from txws.frames import parseFrames

        assert parseFrames(response.body) == [Frame(OP_CLOSE, Close(1000).serialize())]

    def test_handler_error_closes_1011_and_logs(self, logEvents):
        async def handler(ws):
            await ws.recv()
            raise ValueError("bug in handler")

        conn = openServer(handler)
        conn.receiveFrame(OP_TEXT, b"x")
        conn.assertClosing(1011)
        [event] = [e for e in logEvents if e.get("log_failure")]
        assert event["log_level"].name == "critical" or event["log_level"].name == "error"
        assert event["log_failure"].check(ValueError)

    def test_handler_sees_connection_closed_quietly(self, logEvents):
        async def handler(ws):
            await ws.recv()

        conn = openServer(handler)
        conn.lose()
        assert conn.protocol.state is CLOSED
        assert not [e for e in logEvents if e.get("log_failure")]

    def test_peer_close_ends_handler(self):
        async def handler(ws):
            async for message in ws:
                await ws.send(message)

        conn = openServer(handler)
        conn.receiveClose(1000)
        conn.lose()
        d = conn.protocol.handlerResult
        assert successResultOf(d) is None


class TestBatchedDelivery:
    """
    Messages parsed from one read reach a waiting handler together, yet in
    the order the peer sees answers: echoes of earlier messages go out before
    a pong, a close or a protocol error caused by a later frame.
    """

    def echoServer(self):
        async def handler(ws):
            async for message in ws:
                await ws.send(message)

        return openServer(handler)

    def chunk(self, *frames):
        from txws.frames import serializeFrame

        return b"".join(
            serializeFrame(op, payload, mask=True, rsv=rsv) for op, payload, rsv in frames
        )

    def test_echoes_before_pong(self):
        """Messages read before a ping in the same read are echoed before its pong."""
        conn = self.echoServer()
        conn.receive(self.chunk((OP_TEXT, b"a", 0), (OP_TEXT, b"b", 0), (9, b"p", 0)))
        assert conn.framesSent() == [Frame(OP_TEXT, b"a"), Frame(OP_TEXT, b"b"), Frame(10, b"p")]

    def test_echo_before_close_reply(self):
        conn = self.echoServer()
        conn.receive(self.chunk((OP_TEXT, b"last words", 0), (8, Close(1000).serialize(), 0)))
        assert conn.framesSent() == [
            Frame(OP_TEXT, b"last words"),
            Frame(OP_CLOSE, Close(1000).serialize()),
        ]

    def test_echo_before_protocol_error(self):
        conn = self.echoServer()
        conn.receive(self.chunk((OP_TEXT, b"fine", 0), (OP_TEXT, b"bad", 0x20)))
        frames = conn.framesSent()
        assert frames[0] == Frame(OP_TEXT, b"fine")
        assert frames[1].opcode == OP_CLOSE and Close.parse(frames[1].payload).code == 1002

    def test_many_messages_one_read(self):
        conn = self.echoServer()
        conn.receive(self.chunk(*[(OP_TEXT, str(i).encode(), 0) for i in range(50)]))
        assert [f.payload for f in conn.framesSent()] == [str(i).encode() for i in range(50)]

    def test_recv_waiter_woken_at_end_of_read(self):
        conn = openServer()
        d = conn.protocol.recv()
        conn.receive(self.chunk((OP_TEXT, b"1", 0), (OP_TEXT, b"2", 0)))
        assert successResultOf(d) == "1"
        assert successResultOf(conn.protocol.recv()) == "2"


class TestNothingUnsendableOnTheWire:
    """What the application gives the server cannot split the response."""

    @pytest.mark.parametrize("value", ["a\r\nInjected: yes", "a\nInjected: yes", "a\x00", "\u4f8b"])
    def test_server_header_checked(self, value):
        with pytest.raises(ValueError, match="serverHeader"):
            WebSocketServerFactory(None, serverHeader=value)

    def test_subprotocols_are_tokens(self):
        with pytest.raises(ValueError, match="subprotocols"):
            WebSocketServerFactory(None, subprotocols=["chat, evil"])

    def test_process_request_response_with_bad_header(self, logEvents):
        def process(protocol, request):
            response = Response(401)
            # Added after construction, so only serializing can catch it.
            response.headers.add("X-A", "a\r\nInjected: yes")
            return response

        conn = serverConnection(processRequest=process)
        conn.receive(request())
        head = conn.transport.value()
        assert b"Injected" not in head
        assert answer(conn).status == 500
        assert any(e.get("log_failure") for e in logEvents)

    def test_process_response_with_bad_header(self, logEvents):
        def process(protocol, request, response):
            response.headers.add("Bad Name", "x")

        conn = serverConnection(processResponse=process)
        conn.receive(request())
        assert answer(conn).status == 500
        assert not conn.protocol.open

    def test_response_arguments(self):
        """
        Response refuses bad arguments at once: positional headers, CR or LF in the reason
        or headers, a str body.
        """
        from txws import Headers

        # The natural call with positional headers fails at once.
        with pytest.raises(TypeError):
            Response(401, Headers([("WWW-Authenticate", "Bearer")]), b"body")
        with pytest.raises(TypeError, match="reason"):
            Response(401, Headers([("WWW-Authenticate", "Bearer")]))
        with pytest.raises(ValueError, match="status"):
            Response(99)
        with pytest.raises(ValueError, match="reason"):
            Response(200, "OK\r\nX: y")
        with pytest.raises(ValueError):
            Response(200, headers=[("X", "a\rb")])
        with pytest.raises(TypeError, match="body"):
            Response(200, body="text")
        ok = Response(401, headers=[("WWW-Authenticate", "Bearer")], body=b"no")
        assert ok.serialize().startswith(b"HTTP/1.1 401 Unauthorized\r\n")


class TestServerObject:
    """L{txws.server.WebSocketServer}: the port, its connections, a graceful close."""

    class Port:
        def __init__(self):
            self.listening = True

        def getHost(self):
            return "host"

        def startListening(self):
            self.listening = True

        def stopListening(self):
            self.listening = False
            return defer.succeed(None)

    def serverWithConnections(self, count=2):
        from txws.server import WebSocketServer

        factory = WebSocketServerFactory(None, reactor=_clock())
        connections = []
        for _ in range(count):
            conn = Connection(factory.buildProtocol(PEER), factory.options.reactor)
            conn.receive(request())
            assert answer(conn).status == 101
            connections.append(conn)
        return WebSocketServer(self.Port(), factory), connections

    def test_isTheListeningPort(self):
        from twisted.internet.interfaces import IListeningPort
        from zope.interface.verify import verifyObject

        server, connections = self.serverWithConnections()
        assert verifyObject(IListeningPort, server)
        assert server.getHost() == "host"
        assert server.connections == {c.protocol for c in connections}

    def test_closeStopsListeningAndClosesEveryConnectionWith1001(self):
        server, connections = self.serverWithConnections()
        d = server.close()
        again = server.close()
        assert not server.port.listening
        for conn in connections:
            conn.assertClosing(1001, "server shutting down")
        assertNoResult(d)
        connections[0].receiveClose(1001)
        connections[0].lose()
        assertNoResult(d)
        connections[1].receiveClose(1001)
        connections[1].lose()
        assert successResultOf(d) is None and successResultOf(again) is None
        assert server.connections == set()
        assert successResultOf(server.close()) is None

    def test_aClientThatDoesNotAnswerIsAbortedAfterCloseTimeout(self):
        server, connections = self.serverWithConnections(1)
        d = server.close()
        connections[0].sent()
        connections[0].clock.advance(9.9)
        assert not connections[0].transport.disconnected
        assertNoResult(d)
        connections[0].clock.advance(0.1)  # closeTimeout: aborted
        assert connections[0].transport.disconnected
        connections[0].lose()
        assert successResultOf(d) is None

    def test_closeWithoutClosingConnections(self):
        server, connections = self.serverWithConnections(1)
        d = server.close(closeConnections=False)
        assert successResultOf(d) is None
        assert not server.port.listening
        assert connections[0].protocol.open
        assert connections[0].framesSent() == []
