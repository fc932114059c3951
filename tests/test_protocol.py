"""
WebSocketProtocol, deterministically: StringTransport and MemoryReactorClock,
no sockets and no real time. Grouped by RFC 6455 section.
"""

from __future__ import annotations

import struct

import pytest

from txws.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidState
from txws.frames import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Close, Frame
from txws.protocol import CLOSED, CLOSING, WebSocketProtocol

from .helpers import (
    assertNoResult,
    failureResultOf,
    openClient,
    openServer,
    serverConnection,
    successResultOf,
)


@pytest.fixture(params=["server", "client"])
def conn(request):
    return openServer() if request.param == "server" else openClient()


class TestMessages:
    """5.6 Data Frames, 5.4 Fragmentation"""

    def test_text(self, conn):
        """A text frame is read as str."""
        conn.receiveFrame(OP_TEXT, "café ☕".encode())
        assert successResultOf(conn.protocol.recv()) == "café ☕"

    def test_binary(self, conn):
        """A binary frame is read as bytes."""
        conn.receiveFrame(OP_BINARY, b"\x00\xff")
        assert successResultOf(conn.protocol.recv()) == b"\x00\xff"

    def test_empty_messages(self, conn):
        conn.receiveFrame(OP_TEXT, b"")
        conn.receiveFrame(OP_BINARY, b"")
        assert successResultOf(conn.protocol.recv()) == ""
        assert successResultOf(conn.protocol.recv()) == b""

    def test_recv_waits(self, conn):
        """recv() before a message arrives fires when it does."""
        d = conn.protocol.recv()
        assertNoResult(d)
        conn.receiveFrame(OP_TEXT, b"hi")
        assert successResultOf(d) == "hi"

    def test_recv_cancel(self, conn):
        d = conn.protocol.recv()
        d.cancel()
        failureResultOf(d)
        conn.receiveFrame(OP_TEXT, b"kept")
        assert successResultOf(conn.protocol.recv()) == "kept"

    def test_fragmented_text_with_interleaved_ping(self, conn):
        text = "ünïcödé split in the middle of characters"
        data = text.encode()
        conn.receiveFrame(OP_TEXT, data[:1], fin=False)
        conn.receiveFrame(OP_PING, b"p")
        conn.receiveFrame(OP_CONT, data[1:2], fin=False)
        conn.receiveFrame(OP_CONT, data[2:])
        assert successResultOf(conn.protocol.recv()) == text
        assert conn.framesSent() == [Frame(OP_PONG, b"p")]

    def test_fragmented_binary_byte_by_byte(self, conn):
        from txws.frames import serializeFrame

        data = serializeFrame(
            OP_BINARY, b"abc", fin=False, mask=not conn.isClient
        ) + serializeFrame(OP_CONT, b"def", mask=not conn.isClient)
        for i in range(len(data)):
            conn.receive(data[i : i + 1])
        assert successResultOf(conn.protocol.recv()) == b"abcdef"

    def test_order_kept(self, conn):
        """Messages are read in the order they arrived."""
        for i in range(5):
            conn.receiveFrame(OP_TEXT, str(i).encode())
        assert [successResultOf(conn.protocol.recv()) for i in range(5)] == list("01234")

    def test_send_text_binary(self, conn):
        successResultOf(conn.protocol.send("é"))
        successResultOf(conn.protocol.send(b"\x01"))
        successResultOf(conn.protocol.send(bytearray(b"\x02")))
        conn.assertFramesSent(
            Frame(OP_TEXT, "é".encode()), Frame(OP_BINARY, b"\x01"), Frame(OP_BINARY, b"\x02")
        )

    def test_send_bytes_as_text_and_str_as_binary(self, conn):
        successResultOf(conn.protocol.send("café".encode(), text=True))
        successResultOf(conn.protocol.send(bytearray(b"raw"), text=True))
        successResultOf(conn.protocol.send("café", text=False))
        successResultOf(conn.protocol.send(b"bin", text=False))
        conn.assertFramesSent(
            Frame(OP_TEXT, "café".encode()),
            Frame(OP_TEXT, b"raw"),
            Frame(OP_BINARY, "café".encode()),
            Frame(OP_BINARY, b"bin"),
        )

    def test_send_text_refuses_what_it_cannot_send_at_once(self, conn):
        """Not UTF-8, or not a whole message: refused before anything is written."""
        with pytest.raises(ValueError, match="UTF-8"):
            conn.protocol.send(b"\xff\xfe", text=True)
        with pytest.raises(TypeError, match="whole"):
            conn.protocol.send(iter([b"a"]), text=True)
        assert conn.framesSent() == []

    def test_recv_without_decoding(self, conn):
        conn.receiveFrame(OP_TEXT, "café".encode())
        conn.receiveFrame(OP_BINARY, b"\x00")
        assert successResultOf(conn.protocol.recv(decode=False)) == "café".encode()
        assert successResultOf(conn.protocol.recv(decode=False)) == b"\x00"

    def test_send_large_uses_one_frame(self, conn):
        payload = bytes(range(256)) * 4096
        successResultOf(conn.protocol.send(payload))
        assert conn.framesSent() == [Frame(OP_BINARY, payload)]

    def test_send_fragments(self, conn):
        successResultOf(conn.protocol.send(["a", "b", "c"]))
        conn.assertFramesSent(
            Frame(OP_TEXT, b"a", fin=False), Frame(OP_CONT, b"b", fin=False), Frame(OP_CONT, b"c")
        )

    def test_send_one_fragment(self, conn):
        """An iterable of one piece is sent as one whole frame, not as a fragment."""
        successResultOf(conn.protocol.send(iter([b"x"])))
        conn.assertFramesSent(Frame(OP_BINARY, b"x"))

    def test_send_mixed_fragments_refused(self, conn):
        with pytest.raises(TypeError):
            conn.protocol.send(["a", b"b"])

    def test_send_unsupported_type(self, conn):
        with pytest.raises(TypeError):
            conn.protocol.send(42)

    def test_send_mapping_refused(self, conn):
        # Iterating a dict would send its keys as a fragmented message.
        conn.sent()
        with pytest.raises(TypeError, match="mapping"):
            conn.protocol.send({"a": 1})
        assert conn.sent() == b""

    def test_send_async_fragments(self, conn):
        from twisted.internet.defer import Deferred

        gate = Deferred()

        async def fragments():
            yield b"a"
            await gate
            yield b"b"

        d = conn.protocol.send(fragments())
        assertNoResult(d)
        # Another message waits for the fragmented one to end.
        other = conn.protocol.send(b"other")
        conn.receiveFrame(OP_PING, b"")
        gate.callback(None)
        successResultOf(d)
        successResultOf(other)
        conn.assertFramesSent(
            Frame(OP_PONG, b""),
            Frame(OP_BINARY, b"a", fin=False),
            Frame(OP_CONT, b"b"),
            Frame(OP_BINARY, b"other"),
        )

    def test_async_iteration(self, conn):
        """async for reads every message, and a normal close ends the loop."""
        from twisted.internet.defer import ensureDeferred

        received = []

        async def consume():
            async for message in conn.protocol:
                received.append(message)

        d = ensureDeferred(consume())
        conn.receiveFrame(OP_TEXT, b"a")
        conn.receiveFrame(OP_BINARY, b"b")
        conn.receiveClose(1000)
        conn.lose()
        successResultOf(d)
        assert received == ["a", b"b"]

    def test_async_iteration_raises_on_error_close(self, conn):
        from twisted.internet.defer import ensureDeferred

        async def consume():
            async for _message in conn.protocol:
                pass

        d = ensureDeferred(consume())
        conn.lose()
        failureResultOf(d, ConnectionClosedError)

    def test_message_received_override(self):
        """A subclass that overrides messageReceived gets each message and nothing is queued."""
        from twisted.internet.testing import MemoryReactorClock

        from txws.server import WebSocketServerFactory, WebSocketServerProtocol

        from .helpers import PEER, Connection

        class Echo(WebSocketServerProtocol):
            def messageReceived(self, message):
                self.send(message)

        from .helpers import request

        factory = WebSocketServerFactory(None, reactor=MemoryReactorClock())
        factory.protocol = Echo
        conn = Connection(factory.buildProtocol(PEER), factory.options.reactor)
        conn.receive(request())
        conn.sent()
        conn.receiveFrame(OP_TEXT, b"echo me")
        conn.assertFramesSent(Frame(OP_TEXT, b"echo me"))
        assert not conn.protocol.pendingMessages


class TestPingPong:
    """5.5.2 Ping, 5.5.3 Pong"""

    def test_auto_pong_echoes_payload(self, conn):
        conn.receiveFrame(OP_PING, b"hello")
        conn.assertFramesSent(Frame(OP_PONG, b"hello"))

    def test_ping_round_trip(self, conn):
        d = conn.protocol.ping(b"abc")
        conn.assertFramesSent(Frame(OP_PING, b"abc"))
        conn.clock.advance(0.25)
        conn.receiveFrame(OP_PONG, b"abc")
        assert successResultOf(d) == 0.25
        assert conn.protocol.latency == 0.25

    def test_pong_acknowledges_earlier_pings(self, conn):
        first = conn.protocol.ping(b"1")
        conn.clock.advance(1)
        second = conn.protocol.ping(b"2")
        third = conn.protocol.ping(b"3")
        conn.clock.advance(1)
        conn.receiveFrame(OP_PONG, b"2")
        assert successResultOf(first) == 2
        assert successResultOf(second) == 1
        assertNoResult(third)

    def test_unsolicited_pong_ignored(self, conn):
        d = conn.protocol.ping(b"x")
        conn.receiveFrame(OP_PONG, b"y")
        assertNoResult(d)

    def test_default_ping_data_is_random_and_unique(self, conn):
        conn.protocol.ping()
        conn.protocol.ping()
        frames = conn.framesSent()
        assert len(frames[0].payload) == 4
        assert frames[0].payload != frames[1].payload

    def test_duplicate_ping_data(self, conn):
        """A ping with the data of a ping still waiting for its pong fails with InvalidState."""
        conn.protocol.ping(b"same")
        failureResultOf(conn.protocol.ping(b"same"), InvalidState)

    def test_ping_too_long(self, conn):
        with pytest.raises(ValueError):
            conn.protocol.ping(b"x" * 126)

    def test_unsolicited_pong(self, conn):
        """pong() sends an unsolicited pong (a heartbeat, RFC 6455, 5.5.3)."""
        successResultOf(conn.protocol.pong(b"beat"))
        conn.assertFramesSent(Frame(OP_PONG, b"beat"))

    def test_pending_pings_fail_on_close(self, conn):
        d = conn.protocol.ping(b"x")
        conn.lose()
        failureResultOf(d, ConnectionClosedError)


class TestClosingHandshake:
    """7.1 and 5.5.1: closing, from either side, for server and client."""

    def test_server_receives_close(self):
        conn = openServer()
        conn.receiveClose(1000, "bye")
        conn.assertFramesSent(Frame(OP_CLOSE, Close(1000).serialize()))
        assert conn.protocol.state is CLOSING
        # The server closes TCP first (7.1.1), unregistering itself as a
        # producer first: TLS transports wait for that before closing.
        assert conn.transport.disconnecting
        assert conn.transport.producer is None
        conn.lose()
        assert conn.protocol.state is CLOSED
        assert (conn.protocol.closeCode, conn.protocol.closeReason) == (1000, "bye")
        failureResultOf(conn.protocol.recv(), ConnectionClosedOK)

    @pytest.mark.parametrize("side", ["server", "client"])
    @pytest.mark.parametrize(
        "payload,answer", [(b"", b""), (b"\x03\xe8", b"\x03\xe8"), (b"\x0f\xa0why", b"\x0f\xa0")]
    )
    def test_close_echoes_code_only(self, side, payload, answer):
        conn = openServer() if side == "server" else openClient()
        conn.receiveFrame(OP_CLOSE, payload)
        conn.assertFramesSent(Frame(OP_CLOSE, answer))
        conn.lose()
        error = failureResultOf(conn.protocol.recv()).value
        sent = Close.parse(answer)
        assert (error.sentCode, error.sentReason) == (sent.code, sent.reason)

    def test_client_receives_close_and_waits_for_server(self):
        conn = openClient()
        conn.receiveClose(1001)
        conn.assertFramesSent(Frame(OP_CLOSE, Close(1001).serialize()))
        assert not conn.transport.disconnecting
        conn.lose()
        f = failureResultOf(conn.protocol.recv(), ConnectionClosedOK)
        assert f.value.code == 1001

    def test_client_aborts_if_server_never_closes_tcp(self):
        conn = openClient()
        conn.receiveClose(1000)
        conn.clock.advance(9.9)
        assert not conn.transport.disconnecting
        conn.clock.advance(0.2)
        assert conn.transport.disconnected  # aborted

    @pytest.mark.parametrize("side", ["server", "client"])
    def test_we_close(self, side):
        """
        We close first: our close frame, no sending after it, no second close frame; the
        server closes TCP, the client waits for it to.
        """
        conn = openServer() if side == "server" else openClient()
        d = conn.protocol.close(4000, "done")
        conn.assertFramesSent(Frame(OP_CLOSE, Close(4000, "done").serialize()))
        assert conn.protocol.state is CLOSING
        assertNoResult(d)
        failureResultOf(conn.protocol.send("late"), ConnectionClosedError)
        conn.receiveClose(4000, "done")
        assert conn.framesSent() == []  # no second close frame
        assert conn.transport.disconnecting == (side == "server")
        conn.lose()
        assert successResultOf(d) is None
        assert conn.protocol.closeCode == 4000

    def test_close_twice(self, conn):
        """A second close() sends nothing more and fires with the first."""
        d1 = conn.protocol.close()
        d2 = conn.protocol.close()
        assert len(conn.framesSent()) == 1
        conn.lose()
        successResultOf(d1)
        successResultOf(d2)

    def test_close_timeout_aborts(self, conn):
        d = conn.protocol.close()
        conn.clock.advance(10)
        assert conn.transport.disconnected
        conn.lose()
        successResultOf(d)
        failureResultOf(conn.protocol.recv(), ConnectionClosedError)

    def test_close_arguments_checked(self, conn):
        with pytest.raises(ValueError):
            conn.protocol.close(1006)
        with pytest.raises(ValueError):
            conn.protocol.close(1000, "x" * 124)

    def test_empty_close_is_echoed_empty(self, conn):
        conn.receiveFrame(OP_CLOSE, b"")
        conn.assertFramesSent(Frame(OP_CLOSE, b""))
        conn.lose()
        f = failureResultOf(conn.protocol.recv(), ConnectionClosedOK)
        assert f.value.code == 1005

    def test_abrupt_loss_is_1006(self, conn):
        d = conn.protocol.recv()
        conn.lose()
        f = failureResultOf(d, ConnectionClosedError)
        assert f.value.code == 1006
        assert conn.protocol.closeCode == 1006

    def test_data_after_close_ignored(self, conn):
        conn.receiveClose(1000)
        conn.sent()
        conn.receiveFrame(OP_TEXT, b"late")
        conn.receiveFrame(OP_PING, b"")
        assert conn.framesSent() == []
        assert not conn.protocol.pendingMessages

    def test_messages_read_before_close_error(self, conn):
        conn.receiveFrame(OP_TEXT, b"last")
        conn.receiveClose(1000)
        conn.lose()
        assert successResultOf(conn.protocol.recv()) == "last"
        failureResultOf(conn.protocol.recv(), ConnectionClosedOK)

    def test_when_closed(self, conn):
        """whenClosed() fires once the connection is gone, at once when asked after."""
        d = conn.protocol.whenClosed()
        assertNoResult(d)
        conn.lose()
        successResultOf(d)
        successResultOf(conn.protocol.whenClosed())
        assert conn.protocol.closed and not conn.protocol.open


def closeCodeAfter(conn, data: bytes) -> int:
    conn.receive(data)
    frames = conn.framesSent()
    assert frames and frames[-1].opcode == OP_CLOSE, frames
    return Close.parse(frames[-1].payload).code


class TestBadInput:
    """Everything a peer can get wrong, with the close code it earns."""

    def test_unmasked_client_frame(self):
        from txws.frames import serializeFrame

        conn = openServer()
        assert closeCodeAfter(conn, serializeFrame(OP_TEXT, b"x")) == 1002
        assert conn.transport.disconnecting

    def test_masked_server_frame(self):
        from txws.frames import serializeFrame

        conn = openClient()
        assert closeCodeAfter(conn, serializeFrame(OP_TEXT, b"x", mask=True)) == 1002

    @pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10])
    def test_rsv_bits(self, conn, rsv):
        assert closeCodeAfter(conn, conn.peerFrame(OP_TEXT, b"x", rsv=rsv)) == 1002

    @pytest.mark.parametrize("opcode", [3, 7, 11, 15])
    def test_reserved_opcode(self, conn, opcode):
        assert closeCodeAfter(conn, conn.peerFrame(opcode)) == 1002

    def test_fragmented_control(self, conn):
        assert closeCodeAfter(conn, conn.peerFrame(OP_PING, fin=False)) == 1002

    def test_oversized_control(self, conn):
        assert closeCodeAfter(conn, conn.peerFrame(OP_PING, b"x" * 126)) == 1002

    def test_continuation_without_start(self, conn):
        assert closeCodeAfter(conn, conn.peerFrame(OP_CONT, b"x")) == 1002

    def test_new_message_inside_fragmented(self, conn):
        data = conn.peerFrame(OP_TEXT, b"a", fin=False) + conn.peerFrame(OP_BINARY, b"b")
        assert closeCodeAfter(conn, data) == 1002

    def test_invalid_utf8_text(self, conn):
        assert closeCodeAfter(conn, conn.peerFrame(OP_TEXT, b"\xff")) == 1007

    def test_invalid_utf8_fails_fast_in_fragments(self, conn):
        conn.receive(conn.peerFrame(OP_TEXT, "κόσμε".encode(), fin=False))
        assert conn.framesSent() == []
        # Invalid from its second byte: refused before the message ends.
        assert closeCodeAfter(conn, conn.peerFrame(OP_CONT, b"\xf4\x90", fin=False)) == 1007

    def test_invalid_utf8_fails_fast_inside_one_frame(self, conn):
        frame = conn.peerFrame(OP_TEXT, b"abc\xed\xa0\x80def")
        header = len(frame) - 9
        conn.receive(frame[: header + 3])
        assert conn.framesSent() == []
        assert closeCodeAfter(conn, frame[header + 3 : header + 5]) == 1007

    def test_valid_utf8_split_anywhere(self, conn):
        data = "ab€𝄞c".encode()
        frame = conn.peerFrame(OP_TEXT, data)
        for i in range(len(frame)):
            conn.receive(frame[i : i + 1])
        assert conn.framesSent() == []
        assert successResultOf(conn.protocol.recv()) == "ab€𝄞c"

    def test_truncated_utf8_at_message_end(self, conn):
        data = conn.peerFrame(OP_TEXT, b"a\xe2\x82", fin=False) + conn.peerFrame(OP_CONT, b"")
        assert closeCodeAfter(conn, data) == 1007

    def test_invalid_utf8_close_reason(self, conn):
        assert closeCodeAfter(conn, conn.peerFrame(OP_CLOSE, b"\x03\xe8\xff")) == 1007

    @pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1016, 2999, 5000])
    def test_invalid_close_codes(self, conn, code):
        assert closeCodeAfter(conn, conn.peerFrame(OP_CLOSE, struct.pack("!H", code))) == 1002

    def test_one_byte_close_payload(self, conn):
        assert closeCodeAfter(conn, conn.peerFrame(OP_CLOSE, b"\x03")) == 1002

    def test_huge_length_header_closes_1009_at_once(self, conn):
        header = b"\x82" + (b"\x7f" if conn.isClient else b"\xff") + struct.pack("!Q", 2**63 - 1)
        assert closeCodeAfter(conn, header) == 1009

    def test_max_size(self):
        """maxSize is inclusive; one byte more fails with 1009 from the frame header alone."""
        conn = openServer(maxSize=1000)
        conn.receive(conn.peerFrame(OP_BINARY, b"x" * 1000))
        assert successResultOf(conn.protocol.recv()) == b"x" * 1000
        assert closeCodeAfter(conn, conn.peerFrame(OP_BINARY, b"x" * 1001)[:20]) == 1009

    def test_max_size_across_fragments(self):
        conn = openServer(maxSize=1000)
        conn.receive(conn.peerFrame(OP_TEXT, b"x" * 600, fin=False))
        assert closeCodeAfter(conn, conn.peerFrame(OP_CONT, b"x" * 401)) == 1009

    def test_max_size_pair_limits_each_fragment(self):
        """maxSize=(message, fragment): many small frames pass, one large frame fails at once."""
        conn = openServer(maxSize=(1000, 100))
        for _ in range(9):
            conn.receive(conn.peerFrame(OP_BINARY if _ == 0 else OP_CONT, b"x" * 100, fin=False))
        conn.receive(conn.peerFrame(OP_CONT, b"x" * 100))
        assert successResultOf(conn.protocol.recv()) == b"x" * 1000
        # A header for 101 bytes is enough: no payload is kept.
        assert closeCodeAfter(conn, conn.peerFrame(OP_TEXT, b"x" * 101)[:8]) == 1009

    def test_max_size_pair_small_frame_fast_path(self):
        conn = openServer(maxSize=(1000, 10))
        conn.receiveFrame(OP_TEXT, b"x" * 10)
        assert successResultOf(conn.protocol.recv()) == "x" * 10
        assert closeCodeAfter(conn, conn.peerFrame(OP_TEXT, b"x" * 11)) == 1009

    def test_max_size_none(self):
        conn = openServer(maxSize=None)
        conn.receive(conn.peerFrame(OP_BINARY, b"x" * (2**21)))
        assert len(successResultOf(conn.protocol.recv())) == 2**21

    def test_failure_logged_at_info(self, conn, logEvents):
        conn.receive(conn.peerFrame(OP_CONT, b"x"))
        [event] = [e for e in logEvents if "Failing" in e.get("log_format", "")]
        assert event["log_level"].name == "info"
        assert "log_failure" not in event
        assert event["code"] == 1002

    def test_input_ignored_after_failure(self, conn):
        conn.receive(conn.peerFrame(OP_CONT, b"x") + conn.peerFrame(OP_PING, b"p"))
        frames = conn.framesSent()
        assert [f.opcode for f in frames] == [OP_CLOSE]


class TestTimeouts:
    def test_timers_cancelled_on_close(self, conn):
        conn.lose()
        assert conn.clock.getDelayedCalls() == []


class TestBackpressure:
    def test_send_waits_while_transport_paused(self, conn):
        protocol = conn.protocol
        assert conn.transport.producer is protocol
        conn.transport.producer.pauseProducing()
        # We stop reading too, so that replies cannot pile up.
        assert conn.transport.producerState == "paused"
        d = protocol.send("x")
        assertNoResult(d)
        conn.transport.producer.resumeProducing()
        assert successResultOf(d) is None
        assert conn.transport.producerState == "producing"

    def test_send_waiters_fail_if_connection_lost(self, conn):
        conn.protocol.pauseProducing()
        d = conn.protocol.send("x")
        conn.lose()
        failureResultOf(d, ConnectionClosedError)

    def test_close_resumes_a_paused_transport(self):
        """
        Once the peer's close frame arrives, nothing more is parsed, but the
        transport reads on, so that the server closing TCP is seen by a
        client that had paused reading because its writes were stuck.
        """
        conn = openClient()
        conn.protocol.pauseProducing()
        assert conn.transport.producerState == "paused"
        conn.receiveClose(1000)
        assert conn.transport.producerState == "producing"
        conn.protocol.resumeProducing()
        assert conn.transport.producerState == "producing"

    def test_full_queue_pauses_reading(self):
        """
        A read is parsed whole; if C{maxQueue} messages are then left
        unread, reading stops, and what arrives meanwhile (the rest of a TLS
        record, say) is kept unparsed until the queue drains to a quarter.
        """
        conn = openServer(maxQueue=4)
        conn.receive(b"".join(conn.peerFrame(OP_TEXT, str(i).encode()) for i in range(6)))
        protocol = conn.protocol
        assert protocol.pendingMessages == 6
        assert conn.transport.producerState == "paused"
        conn.receive(b"".join(conn.peerFrame(OP_TEXT, str(i).encode()) for i in range(6, 10)))
        assert protocol.pendingMessages == 6
        # Reading down to the low-water mark (maxQueue // 4) resumes and
        # parses what was kept: the queue fills again and reading stops.
        assert [successResultOf(protocol.recv()) for _ in range(4)] == list("0123")
        assert protocol.pendingMessages == 2
        assert successResultOf(protocol.recv()) == "4"
        assert protocol.pendingMessages == 5
        assert conn.transport.producerState == "paused"
        received = []
        while protocol.pendingMessages:
            received.append(successResultOf(protocol.recv()))
        assert received == list("56789")
        assert conn.transport.producerState == "producing"
        d = protocol.recv()
        conn.receive(conn.peerFrame(OP_TEXT, b"more"))
        assert successResultOf(d) == "more"

    def test_queue_below_limit_after_the_read_keeps_reading(self):
        """
        A reader waiting when a read brings more than C{maxQueue} messages
        takes them all at the end of the read: nothing pauses.
        """
        conn = openServer(maxQueue=4)
        received = []

        async def reader():
            async for message in conn.protocol:
                received.append(message)

        from twisted.internet.defer import ensureDeferred

        ensureDeferred(reader())
        conn.receive(b"".join(conn.peerFrame(OP_TEXT, str(i).encode()) for i in range(10)))
        assert received == list("0123456789")
        assert conn.transport.producerState == "producing"

    def test_queue_unbounded(self):
        """With maxQueue=None, messages queue without limit and reading never pauses."""
        conn = openServer(maxQueue=None)
        conn.receive(b"".join(conn.peerFrame(OP_TEXT, b"m") for _ in range(100)))
        assert conn.protocol.pendingMessages == 100
        assert conn.transport.producerState == "producing"


def test_protocol_defaults_documented():
    """The defaults docs/reference/options.md documents are the protocol's."""
    options = WebSocketProtocol.defaultOptions
    assert options.maxSize == 2**20
    assert options.maxQueue == 16
    assert options.writeLimit == 2**16
    assert (options.openTimeout, options.closeTimeout) == (10, 10)
    assert (options.pingInterval, options.pingTimeout) == (20, 20)


@pytest.mark.parametrize(
    "name,value",
    [("maxSize", 0), ("maxSize", -1), ("openTimeout", 0), ("pingInterval", "x"), ("maxQueue", 1.5)],
)
def test_bad_option_values(name, value):
    from txws.protocol import Options

    with pytest.raises(ValueError):
        Options(**{name: value})


class TestNoCycles:
    """
    A closed server connection is freed by reference counting alone: cycles
    would leave every connection to the garbage collector, whose passes over
    a big heap cost a busy server more than the rest of the handshake. (A
    client and its factory refer to each other: clients are few.)
    """

    @pytest.mark.parametrize("style", ["async for", "recv", "callback", "deflate"])
    def test_closed_connection_is_freed_without_the_collector(self, style):
        import gc
        import weakref

        from twisted.internet.testing import MemoryReactorClock

        from txws.server import WebSocketServerFactory, WebSocketServerProtocol

        from .helpers import PEER, Connection
        from .helpers import request as handshakeRequest

        async def echo(ws):
            async for message in ws:
                await ws.send(message)

        async def once(ws):
            await ws.send(await ws.recv())
            await ws.recv()

        class Callback(WebSocketServerProtocol):
            def messageReceived(self, message):
                self.send(message)

        gc.collect()
        gc.disable()
        try:
            if style == "callback":
                clock = MemoryReactorClock()
                factory = WebSocketServerFactory(None, reactor=clock)
                factory.protocol = Callback
                conn = Connection(factory.buildProtocol(PEER), clock)
                conn.receive(handshakeRequest())
            elif style == "deflate":
                conn = serverConnection(echo)
                conn.receive(
                    handshakeRequest(headers={"Sec-WebSocket-Extensions": "permessage-deflate"})
                )
                assert b"permessage-deflate" in conn.sent()
            else:
                conn = openServer(echo if style == "async for" else once)
            if style == "deflate":
                import zlib

                compressor = zlib.compressobj(wbits=-15)
                data = compressor.compress(b"hello") + compressor.flush(zlib.Z_SYNC_FLUSH)
                conn.receiveFrame(OP_TEXT, data[:-4], rsv=0x40)
            else:
                conn.receiveFrame(OP_TEXT, b"hello")
            assert conn.sent()  # the echo
            conn.receiveClose(1000)
            conn.lose()
            ref = weakref.ref(conn.protocol)
            del conn
            assert ref() is None
        finally:
            gc.enable()


class TestMemoryPerFragment:
    """
    What a message in assembly holds is its payload and a small constant,
    whatever the number of fragments (or reads) it arrives in.
    """

    @staticmethod
    def heldAfter(conn, chunks) -> int:
        import tracemalloc

        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for chunk in chunks:
                conn.receive(chunk)
            return tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()

    @pytest.mark.parametrize("split", [True, False])
    @pytest.mark.parametrize(
        "first",
        [
            Frame(OP_BINARY, b"", fin=False),  # then 4,097 bytes: 1009
            Frame(OP_TEXT, b"\xff", fin=False),  # 1007
        ],
    )
    def test_nothing_kept_after_failing(self, first, split):
        # The rest of the read that failed the connection is dropped, not
        # held by the closed connection (found by tests/test_stateful.py).
        conn = openServer(compression=None, maxSize=4096)
        fragment = Frame(OP_CONT, b"x", fin=False).serialize(mask=True)
        data = first.serialize(mask=True) + fragment * 40_000
        held = self.heldAfter(conn, [data[:1], data[1:]] if split else [data])
        conn.assertClosing(1009 if first.opcode == OP_BINARY else 1007)
        assert held < 32 * 1024, held

    @pytest.mark.parametrize(
        "opcode, payload",
        [(OP_BINARY, b""), (OP_BINARY, b"x"), (OP_TEXT, b""), (OP_TEXT, "\u00e9".encode())],
    )
    def test_many_small_fragments(self, opcode, payload):
        """Many small fragments are held at about their own size: no object per fragment."""
        conn = openServer(compression=None, maxSize=None)
        first = Frame(opcode, payload, fin=False).serialize(mask=True)
        more = Frame(OP_CONT, payload, fin=False).serialize(mask=True) * 1000
        held = self.heldAfter(conn, [first] + [more] * 50)
        # 50,001 fragments: a list entry each would be 400 KB at least.
        assert held < 64 * 1024 + 2 * 50_001 * len(payload), held
        conn.receiveFrame(OP_CONT, b"", fin=True)
        message = successResultOf(conn.protocol.recv())
        assert len(message) == 50_001 * (
            len(payload) if opcode == OP_BINARY else len(payload.decode())
        )

    def test_binary_frame_trickled_one_byte_per_read(self):
        conn = openServer(compression=None)
        payload = bytes(range(256)) * 80
        frame = Frame(OP_BINARY, payload).serialize(mask=True)
        header, body = frame[:8], frame[8:]
        chunks = [header] + [body[i : i + 1] for i in range(len(body) - 1)]
        held = self.heldAfter(conn, chunks)
        # A bytes object per read would be over 40 bytes per payload byte.
        assert held < 2 * len(payload) + 16 * 1024, held
        conn.receive(body[-1:])
        assert successResultOf(conn.protocol.recv()) == payload


async def echoHandler(ws):
    async for message in ws:
        await ws.send(message)


class TestHeldWrites:
    """
    Frames written while a read is handled reach the transport together,
    in order, once the read is handled (FrameWriter.held): the first at
    once, the rest in one write.
    """

    def countWrites(self, conn) -> list[bytes]:
        writes: list[bytes] = []
        write = conn.transport.write

        def counting(data: bytes) -> None:
            writes.append(data)
            write(data)

        conn.transport.write = counting
        return writes

    def test_a_read_of_many_messages_costs_two_writes(self):
        conn = openServer(echoHandler)
        conn.sent()
        writes = self.countWrites(conn)
        conn.receive(b"".join(conn.peerFrame(OP_TEXT, str(i).encode()) for i in range(50)))
        assert len(writes) == 2
        assert [f.payload for f in conn.framesSent()] == [str(i).encode() for i in range(50)]
        # Frames written outside a read go at once.
        conn.protocol.send("later")
        assert len(writes) == 3

    def test_a_read_answered_by_one_frame_costs_one_write(self):
        conn = openServer()
        writes = self.countWrites(conn)
        conn.receiveFrame(OP_PING, b"p")
        assert len(writes) == 1
        conn.assertFramesSent(Frame(OP_PONG, b"p"))

    def test_past_the_hold_limit_frames_go_within_the_read(self):
        """The transport's backpressure still applies within one read."""
        from txws.writer import HOLD_LIMIT

        sizes: list[int] = []

        async def handler(ws):
            async for _message in ws:
                for _ in range(40):
                    await ws.send(b"x" * 1000)
                sizes.append(len(conn.transport.value()))

        conn = openServer(handler)
        conn.sent()
        conn.receiveFrame(OP_TEXT, b"go")
        # After 40 KB sent in one read, all but at most HOLD_LIMIT reached the transport.
        assert sizes and sizes[0] >= 40 * 1004 - HOLD_LIMIT
        assert len(conn.framesSent()) == 40
        # The writer's markers for "holding, nothing held" stayed empty.
        from txws.writer import _WROTE, HOLDING

        assert HOLDING == [] and _WROTE == []

    def test_closing_writes_what_is_held_before_closing_tcp(self):
        async def handler(ws):
            async for _message in ws:
                await ws.send("one")
                await ws.send("two")
                await ws.close(1001)

        conn = openServer(handler)
        conn.sent()
        conn.receiveFrame(OP_TEXT, b"go")
        assert conn.transport.disconnecting is False  # the peer's close is awaited
        frames = conn.framesSent()
        assert [f.opcode for f in frames] == [OP_TEXT, OP_TEXT, 8]
        conn.receiveClose(1001)
        assert conn.transport.disconnecting

    def test_a_protocol_error_mid_read_sends_what_was_answered_then_the_close(self):
        conn = openServer(echoHandler)
        conn.sent()
        conn.receive(
            conn.peerFrame(OP_TEXT, b"a") + conn.peerFrame(OP_TEXT, b"b") + b"\x83\x80" + b"\0" * 4
        )
        frames = conn.framesSent()
        assert [f.payload for f in frames[:2]] == [b"a", b"b"]
        assert frames[2].opcode == 8 and conn.transport.disconnecting
