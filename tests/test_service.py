"""
L{txws.service}: WebSocketService (graceful stop) and reconnectingClient over
real loopback sockets, and the reconnection delays deterministically.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor, task
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.testing import MemoryReactorClock

import txws
from txws.exceptions import ConnectionClosedOK
from txws.http import findHeadEnd

from .helpers import PEER, Connection, assertNoResult, request, successResultOf
from .realnet import serveOn, within


async def echo(ws):
    async for message in ws:
        await ws.send(message)


class TestService:
    """WebSocketService on a MemoryReactorClock, its connections on StringTransports."""

    def openService(self, **options):
        clock = MemoryReactorClock()
        service = txws.WebSocketService(
            "tcp:8765:interface=127.0.0.1", echo, reactor=clock, **options
        )
        service.startService()
        return clock, service

    def connect(self, service, clock) -> Connection:
        conn = Connection(service.factory.buildProtocol(PEER), clock)
        conn.receive(request())
        head = conn.sent()
        assert head[: findHeadEnd(head)].startswith(b"HTTP/1.1 101 ")
        return conn

    def test_listensOnEachEndpoint(self) -> None:
        clock, service = self.openService()
        [(port, factory, _, interface)] = clock.tcpServers
        assert (port, interface) == (8765, "127.0.0.1")
        assert factory is service.factory
        [listening] = successResultOf(service.whenListening())
        assert listening.getHost().port == 8765

    def test_gracefulStopWaitsForTheClosingHandshakes(self) -> None:
        clock, service = self.openService()
        conns = [self.connect(service, clock) for _ in range(2)]
        stopped = service.stopService()
        for conn in conns:
            conn.assertClosing(1001, "server shutting down")
        assertNoResult(stopped)
        for conn in conns:
            conn.receiveClose(1001)
            assert conn.transport.disconnecting  # the server closes TCP
            conn.lose()
        successResultOf(stopped)
        assert service.factory.connections == set()

    def test_gracefulStopIsBoundedByCloseTimeout(self) -> None:
        """A peer that never answers the close is aborted after closeTimeout."""
        clock, service = self.openService(closeTimeout=5)
        conn = self.connect(service, clock)
        stopped = service.stopService()
        conn.assertClosing(1001)
        clock.advance(4.9)
        assertNoResult(stopped)
        clock.advance(0.2)
        assert conn.transport.disconnecting
        conn.lose()
        successResultOf(stopped)


@pytest.mark.sockets
class TestServiceOverSockets:
    @pytest_twisted.ensureDeferred
    async def test_graceful_stop_closes_with_1001(self):
        endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        service = txws.WebSocketService(endpoint, echo)
        service.startService()
        [port] = await within(service.whenListening())
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
        """
        reconnectingClient connects again after the server closes, and runs the handler on
        each new connection.
        """

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


class TestReconnectDelay:
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
