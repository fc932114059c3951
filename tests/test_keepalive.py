"""
L{txws.keepalive}: L{Pings} on plain data, L{Keepalive} on a fake connection
and a clock, then both on real protocols (StringTransport and
MemoryReactorClock).
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock

from txws.exceptions import ConnectionClosedError, InvalidState
from txws.frames import OP_BINARY, OP_PING, OP_PONG, Frame
from txws.keepalive import Keepalive, Pings
from txws.protocol import CLOSING, OPEN
from txws.server import WebSocketServerFactory

from .helpers import (
    PEER,
    Connection,
    failureResultOf,
    openClient,
    openServer,
    request,
    successResultOf,
)


@pytest.fixture(params=["server", "client"])
def conn(request):
    return openServer() if request.param == "server" else openClient()


class TestPings:
    def test_pongAnswersItsPingAndEveryEarlierOne(self) -> None:
        """RFC 6455, 5.5.3: a pong may answer only the latest of several pings."""
        pings = Pings()
        first, second, third = (pings.expect(d, 1.0) for d in (b"1", b"2", b"3"))
        assert pings.pongReceived(b"2", 3.5) == 2.5
        assert (successResultOf(first), successResultOf(second)) == (2.5, 2.5)
        assert not third.called
        assert pings.pongReceived(b"2", 4.0) is None  # answered already

    def test_sameDataWhileWaitingIsRefused(self) -> None:
        pings = Pings()
        pings.expect(b"x", 0)
        failureResultOf(pings.expect(b"x", 0), InvalidState)

    def test_cancellingAPingForgetsIt(self) -> None:
        """Its data may then be used again, and its pong is unsolicited."""
        pings = Pings()
        d = pings.expect(b"x", 0)
        d.cancel()
        failureResultOf(d, defer.CancelledError)
        assert pings.pongReceived(b"x", 1) is None
        assert not pings.expect(b"x", 1).called

    def test_newDataIsNeverAWaitingPingsData(self) -> None:
        pings = Pings()
        seen = set()
        for _ in range(200):
            data = pings.newData()
            assert len(data) == 4 and data not in seen
            seen.add(data)
            pings.expect(data, 0)

    def test_stopFailsEveryWaitingPing(self) -> None:
        pings = Pings()
        waiting = [pings.expect(d, 0) for d in (b"a", b"b")]
        pings.stop(ConnectionClosedError(1006, "", None, None))
        for d in waiting:
            failureResultOf(d, ConnectionClosedError)


class FakeConnection:
    """A L{KeepaliveConnection <txws.keepalive.KeepaliveConnection>} that records."""

    def __init__(self) -> None:
        self.open = True
        self.readSincePing = False
        self.keepaliveTimer: Any = None
        self.clock = Clock()
        self.pings: list[defer.Deferred[float]] = []
        self.failed: list[tuple[int, str]] = []

    def ping(self, data: object = None) -> defer.Deferred[float]:
        d: defer.Deferred[float] = defer.Deferred()
        self.pings.append(d)
        return d

    def failConnection(self, code: int, reason: str) -> None:
        self.failed.append((code, reason))
        self.open = False


class TestKeepaliveAlone:
    def test_pingsAnIntervalAfterTheLastPingWasSent(self) -> None:
        connection = FakeConnection()
        Keepalive(10, 5).start(connection)
        connection.clock.advance(9.9)
        assert connection.pings == []
        connection.clock.advance(0.1)
        assert len(connection.pings) == 1
        connection.clock.advance(2)
        connection.pings[0].callback(2.0)
        connection.clock.advance(7.9)
        assert len(connection.pings) == 1
        connection.clock.advance(0.1)
        assert len(connection.pings) == 2

    def test_unansweredPingFailsWith1011(self) -> None:
        connection = FakeConnection()
        Keepalive(10, 5).start(connection)
        connection.clock.advance(10)
        connection.clock.advance(4.9)
        assert connection.failed == []
        connection.clock.advance(0.1)
        assert connection.failed == [(1011, "keepalive ping timeout")]
        assert connection.keepaliveTimer is None

    def test_bytesArrivingPostponeTheTimeout(self) -> None:
        connection = FakeConnection()
        Keepalive(10, 5).start(connection)
        connection.clock.advance(10)
        connection.readSincePing = True
        connection.clock.advance(5)
        assert connection.failed == []
        connection.clock.advance(5)
        assert [code for code, _ in connection.failed] == [1011]

    def test_noTimeoutMeansPingsOnly(self) -> None:
        connection = FakeConnection()
        Keepalive(10, None).start(connection)
        connection.clock.advance(1000)
        assert len(connection.pings) == 1 and connection.failed == []
        assert connection.keepaliveTimer is None

    def test_stopCancelsTheTimer(self) -> None:
        connection = FakeConnection()
        Keepalive(10, 5).start(connection)
        Keepalive.stop(connection)
        assert connection.keepaliveTimer is None
        assert connection.clock.getDelayedCalls() == []

    def test_closedConnectionIsNotPinged(self) -> None:
        connection = FakeConnection()
        Keepalive(10, 5).start(connection)
        connection.open = False
        connection.clock.advance(10)
        assert connection.pings == []


class TestKeepaliveOnConnections:
    """The default keepalive (pingInterval 20, pingTimeout 20) on both sides."""

    def test_keepalive_pings(self, conn):
        """
        A ping every pingInterval while idle; the pong sets latency, and the next ping
        follows pingInterval after the last.
        """
        conn.clock.advance(19.9)
        assert conn.framesSent() == []
        conn.clock.advance(0.1)
        [ping] = conn.framesSent()
        assert ping.opcode == OP_PING
        conn.clock.advance(1)
        conn.receiveFrame(OP_PONG, ping.payload)
        assert conn.protocol.latency == 1
        # The next ping comes pingInterval after the last one was sent.
        conn.clock.advance(18.9)
        assert conn.framesSent() == []
        conn.clock.advance(0.1)
        assert [f.opcode for f in conn.framesSent()] == [OP_PING]

    def test_keepalive_timer_goes_with_the_connection(self, conn):
        """Waiting for the next ping or for a pong, a lost connection leaves no timer."""
        assert len(conn.clock.getDelayedCalls()) == 1
        conn.lose()
        assert conn.clock.getDelayedCalls() == []
        other = openServer()
        other.clock.advance(20)  # a ping is out: the timer is the pong's deadline
        assert len(other.clock.getDelayedCalls()) == 1
        other.lose()
        assert other.clock.getDelayedCalls() == []

    def test_keepalive_connections_share_one_timer(self):
        """However many connections wait, one timer per delay, each pinged on time."""
        clock = MemoryReactorClock()
        factory = WebSocketServerFactory(None, reactor=clock, openTimeout=5)
        conns = [Connection(factory.buildProtocol(PEER), clock) for _ in range(3)]
        assert len(clock.getDelayedCalls()) == 1  # the opening handshakes' timeout
        for conn in conns:
            conn.receive(request())
            conn.sent()
            clock.advance(1)
        assert len(clock.getDelayedCalls()) == 1  # the keepalive's
        clock.advance(17)  # the first opened 20 s ago
        assert [len(c.framesSent()) for c in conns] == [1, 0, 0]
        clock.advance(1)
        assert [len(c.framesSent()) for c in conns] == [0, 1, 0]
        conns[2].lose()
        clock.advance(1)
        assert [len(c.framesSent()) for c in conns[:2]] == [0, 0]
        for conn in conns[:2]:
            conn.lose()
        assert clock.getDelayedCalls() == []

    def test_keepalive_timeout_closes_1011(self, conn):
        conn.clock.advance(20)
        conn.sent()
        conn.clock.advance(19.9)
        assert conn.protocol.state is OPEN
        conn.clock.advance(0.1)
        conn.assertClosing(1011)
        assert conn.protocol.state is CLOSING

    def test_keepalive_counts_a_slow_large_message_as_life(self, conn):
        """
        A 1 MiB frame at 40 KB/s takes longer than pingTimeout, and the
        peer's pong can only follow it: bytes arriving meanwhile keep the
        connection alive.
        """
        conn.clock.advance(20)
        [ping] = conn.framesSent()
        payload = b"x" * 2**20
        frame = Frame(OP_BINARY, payload).serialize(mask=not conn.isClient)
        step = 40_000
        for i in range(0, len(frame), step):
            conn.receive(frame[i : i + step])
            conn.clock.advance(1)
            assert conn.protocol.state is OPEN, f"failed after {i} bytes"
        conn.receiveFrame(OP_PONG, ping.payload)
        assert successResultOf(conn.protocol.recv()) == payload
        assert conn.framesSent() == []

    def test_keepalive_silence_after_life_still_times_out(self, conn):
        conn.clock.advance(20)
        conn.sent()
        conn.clock.advance(10)
        conn.receiveFrame(OP_BINARY, b"x", fin=False)  # then nothing more
        conn.clock.advance(10)
        assert conn.protocol.state is OPEN
        conn.clock.advance(20)
        conn.assertClosing(1011)

    def test_keepalive_disabled(self):
        conn = openServer(pingInterval=None)
        conn.clock.advance(1000)
        assert conn.framesSent() == []
