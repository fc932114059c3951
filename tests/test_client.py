"""The client side of the opening handshake, deterministically."""

from __future__ import annotations

import pytest

from txws.exceptions import (
    InvalidHeader,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    NegotiationError,
    OpenTimeout,
)
from txws.frames import OP_TEXT, serializeFrame
from txws.handshake import acceptKey
from txws.protocol import OPEN

from .helpers import (
    acceptResponse,
    assertNoResult,
    clientConnection,
    failureResultOf,
    sentRequest,
    successResultOf,
)


def test_request():
    """
    Every option the client is given shows in its request: host, origin, subprotocols, extra
    headers, user agent, credentials from the URI, the deflate offer.
    """
    conn = clientConnection(
        "ws://user:pw@example.com:8080/path?q=1",
        origin="https://o",
        subprotocols=["chat"],
        additionalHeaders=[("X-Token", "t")],
        userAgentHeader="agent/1",
    )
    req = sentRequest(conn)
    assert req.path == "/path?q=1"
    h = req.headers
    assert h.get("Host") == "example.com:8080"
    assert h.get("Sec-WebSocket-Version") == "13"
    assert h.get("Origin") == "https://o"
    assert h.get("Sec-WebSocket-Protocol") == "chat"
    assert h.get("X-Token") == "t"
    assert h.get("User-Agent") == "agent/1"
    assert h.get("Authorization").startswith("Basic ")
    assert h.get("Sec-WebSocket-Extensions") == (
        "permessage-deflate; client_no_context_takeover; client_max_window_bits"
    )


def test_default_user_agent():
    req = sentRequest(clientConnection())
    assert "txws/" in req.headers.get("User-Agent")
    req = sentRequest(clientConnection(userAgentHeader=None))
    assert "User-Agent" not in req.headers


def test_accepted():
    """A valid 101 fires the handshake Deferred with the open protocol, which keeps the response."""
    conn = clientConnection()
    conn.receive(acceptResponse(sentRequest(conn)))
    protocol = successResultOf(conn.factory.handshake)
    assert protocol is conn.protocol
    assert protocol.state is OPEN
    assert protocol.response.status == 101


def test_response_in_pieces_with_frames_behind():
    conn = clientConnection()
    data = acceptResponse(sentRequest(conn)) + serializeFrame(OP_TEXT, b"welcome")
    for i in range(len(data)):
        conn.receive(data[i : i + 1])
    successResultOf(conn.factory.handshake)
    assert successResultOf(conn.protocol.recv()) == "welcome"


def test_wrong_accept():
    conn = clientConnection()
    sentRequest(conn)
    conn.receive(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey("other").encode() + b"\r\n\r\n"
    )
    failureResultOf(conn.factory.handshake, InvalidHeader)
    assert conn.transport.disconnected


def test_refused_with_status_and_body():
    conn = clientConnection()
    sentRequest(conn)
    conn.receive(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nno ")
    assertNoResult(conn.factory.handshake)
    conn.receive(b"thanks")
    f = failureResultOf(conn.factory.handshake, InvalidStatus)
    assert f.value.response.status == 403
    assert f.value.response.body == b"no thanks"


def test_garbage_response():
    """A peer that is not HTTP at all fails the handshake with InvalidMessage."""
    conn = clientConnection()
    sentRequest(conn)
    conn.receive(b"SSH-2.0-OpenSSH\r\n\r\n")
    failureResultOf(conn.factory.handshake, InvalidMessage)


def test_endless_response_head():
    """A response head that never ends is refused once it passes the head limit, not buffered."""
    conn = clientConnection()
    sentRequest(conn)
    conn.receive(b"HTTP/1.1 101 OK\r\n" + b"X: y\r\n" * 20000)
    failureResultOf(conn.factory.handshake, InvalidMessage)


def test_connection_lost_during_handshake():
    conn = clientConnection()
    conn.lose()
    failureResultOf(conn.factory.handshake, InvalidMessage)


def test_open_timeout():
    conn = clientConnection(openTimeout=2)
    conn.clock.advance(2)
    failureResultOf(conn.factory.handshake, OpenTimeout)
    assert conn.transport.disconnected


def test_subprotocol_chosen():
    conn = clientConnection(subprotocols=["a", "b"])
    conn.receive(acceptResponse(sentRequest(conn), "Sec-WebSocket-Protocol: b\r\n"))
    assert successResultOf(conn.factory.handshake).subprotocol == "b"


def test_subprotocol_not_offered():
    conn = clientConnection(subprotocols=["a"])
    conn.receive(acceptResponse(sentRequest(conn), "Sec-WebSocket-Protocol: z\r\n"))
    failureResultOf(conn.factory.handshake, NegotiationError)


def test_extension_not_offered():
    conn = clientConnection()
    conn.receive(acceptResponse(sentRequest(conn), "Sec-WebSocket-Extensions: x-foo\r\n"))
    failureResultOf(conn.factory.handshake, NegotiationError)


def test_invalid_uri():
    from txws.client import WebSocketClientFactory

    with pytest.raises(InvalidURI):
        WebSocketClientFactory("http://example.com/")


def test_frames_behind_handshake_wait_for_the_application():
    """
    Frames in the same read as the 101 are parsed only after the handshake
    Deferred fired, so an application that echoes sees the valid message
    before a protocol error behind it fails the connection (Autobahn 3.2
    run strictly).
    """
    from txws.frames import OP_CLOSE, Close, Frame

    conn = clientConnection()
    conn.factory.handshake.addCallback(lambda ws: ws.recv().addCallback(ws.send))
    data = (
        acceptResponse(sentRequest(conn))
        + serializeFrame(OP_TEXT, b"first")
        + serializeFrame(OP_TEXT, b"bad rsv", rsv=0x20)
    )
    conn.receive(data)
    frames = conn.framesSent()
    assert frames[0] == Frame(OP_TEXT, b"first")
    assert frames[1].opcode == OP_CLOSE
    assert Close.parse(frames[1].payload).code == 1002


class TestOptionsCheckedBeforeConnecting:
    """
    Nothing a caller passes can put a CR or LF (or a second subprotocol) on
    the wire: connect() and the factory refuse it before any connection.
    """

    BAD_VALUES = ["a\r\nInjected: yes", "a\nInjected: yes", "a\rb", "a\x00", "\u4f8b"]

    @pytest.mark.parametrize("value", BAD_VALUES)
    @pytest.mark.parametrize("option", ["origin", "userAgentHeader"])
    def test_header_values(self, option, value):
        """A header value with CR, LF or NUL is refused by the factory, naming the option."""
        from txws.client import WebSocketClientFactory

        with pytest.raises(ValueError, match=option):
            WebSocketClientFactory("ws://example.com/", **{option: value})

    @pytest.mark.parametrize(
        "headers",
        [
            [("X-A", "a\r\nInjected: yes")],
            [("X-A", "a\nInjected: yes")],
            [("X-A", "\u4f8b")],
            [("X A", "b")],
            [("X-A\r\nInjected", "b")],
            [("", "b")],
            {"X:A": "b"},
        ],
    )
    def test_additional_headers(self, headers):
        """Bad additionalHeaders are refused by connect() before any connection attempt."""
        from twisted.internet.testing import MemoryReactorClock

        import txws

        reactor = MemoryReactorClock()
        with pytest.raises(ValueError, match="additionalHeaders"):
            txws.connect("ws://example.com/", reactor, additionalHeaders=headers)
        assert reactor.tcpClients == []

    @pytest.mark.parametrize("subprotocols", [["chat, evil"], ["a b"], ["a\r\nX: y"], [""]])
    def test_subprotocols(self, subprotocols):
        """
        Subprotocols that are not tokens are refused by connect() before any connection
        attempt.
        """
        from twisted.internet.testing import MemoryReactorClock

        import txws

        reactor = MemoryReactorClock()
        with pytest.raises(ValueError, match="subprotocols"):
            txws.connect("ws://example.com/", reactor, subprotocols=subprotocols)
        assert reactor.tcpClients == []


def test_failure_while_sending_the_request_fails_connect(monkeypatch):
    """Whatever fails while building or writing the request fails connect() at once."""
    from twisted.internet import defer
    from twisted.internet.testing import MemoryReactorClock, StringTransport

    import txws
    import txws.client

    def broken(*args, **kwargs):
        raise RuntimeError("cannot build it")

    monkeypatch.setattr(txws.client, "buildRequest", broken)

    class InMemory:
        def connect(self, factory):
            protocol = factory.buildProtocol(None)
            self.transport = StringTransport()
            protocol.makeConnection(self.transport)
            return defer.succeed(protocol)

    endpoint = InMemory()
    d = txws.connect("ws://example.com/", MemoryReactorClock(), endpoint=endpoint, openTimeout=None)
    failureResultOf(d, RuntimeError)
    assert endpoint.transport.disconnecting or endpoint.transport.disconnected


class TestRedirectsKeepToTheEndpoint:
    """A redirect cannot make the client go around the endpoint it was given."""

    class Redirecting:
        """An endpoint whose server answers 302 to C{location}."""

        def __init__(self, location):
            self.location = location
            self.connected = 0

        def connect(self, factory):
            from twisted.internet import defer
            from twisted.internet.testing import StringTransport

            self.connected += 1
            protocol = factory.buildProtocol(None)
            protocol.makeConnection(StringTransport())
            protocol.dataReceived(
                f"HTTP/1.1 302 Found\r\nLocation: {self.location}\r\n"
                "Content-Length: 0\r\n\r\n".encode()
            )
            return defer.succeed(protocol)

    def test_cross_authority_redirect_refused(self):
        from twisted.internet.testing import MemoryReactorClock

        import txws
        from txws.exceptions import RedirectError

        reactor = MemoryReactorClock()
        endpoint = self.Redirecting("ws://127.0.0.1:22981/elsewhere")
        d = txws.connect("ws://app.invalid:9999/", reactor, endpoint=endpoint)
        failure = failureResultOf(d, RedirectError)
        assert "redirectEndpoint" in str(failure.value)
        assert reactor.tcpClients == []

    def test_same_authority_redirect_uses_the_endpoint(self):
        from twisted.internet.testing import MemoryReactorClock

        import txws
        from txws.exceptions import RedirectError

        reactor = MemoryReactorClock()
        endpoint = self.Redirecting("/again")
        d = txws.connect("ws://app.invalid:9999/", reactor, endpoint=endpoint)
        failureResultOf(d, RedirectError)  # too many, all through the endpoint
        assert endpoint.connected == 11
        assert reactor.tcpClients == []

    def test_redirect_endpoint_chooses(self):
        """
        With redirectEndpoint, a redirect goes to the endpoint it returns for the new URI,
        never to the reactor directly.
        """
        from twisted.internet.testing import MemoryReactorClock

        import txws

        reactor = MemoryReactorClock()
        asked = []
        second = self.Redirecting("ws://app.invalid:9999/")

        def redirectEndpoint(uri):
            asked.append(str(uri))
            return second

        first = self.Redirecting("ws://127.0.0.1:22981/elsewhere")
        d = txws.connect(
            "ws://app.invalid:9999/", reactor, endpoint=first, redirectEndpoint=redirectEndpoint
        )
        assert asked[0] == "ws://127.0.0.1:22981/elsewhere"
        assert second.connected >= 1
        assert reactor.tcpClients == []
        d.cancel()
        d.addErrback(lambda f: None)
