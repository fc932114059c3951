# -*- test-case-name: tests.test_keepalive -*-
"""
Pings and pongs (RFC 6455, 5.5.2-5.5.3): the pings waiting for their pong,
and the keepalive that pings an idle peer and fails the connection when it
stops answering.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any, Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime

from .deadlines import Deadlines
from .exceptions import ConnectionClosed, InvalidState
from .frames import CloseCode

__all__ = ["Pings", "Keepalive", "KeepaliveConnection"]


class Pings:
    """
    The pings sent and not yet answered, with when each was sent.

    A pong answers the ping with its data and every ping sent before it
    (5.5.3: a pong may answer only the latest of several pings).
    """

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: dict[bytes, tuple[defer.Deferred[float], float]] = {}

    def newData(self) -> bytes:
        """Four random bytes that no waiting ping carries."""
        data = os.urandom(4)
        while data in self._waiting:
            data = os.urandom(4)
        return data

    def expect(self, data: bytes, now: float) -> defer.Deferred[float]:
        """
        A ping with C{data} is sent at C{now}: the Deferred of its round
        trip. A ping with the same data that still waits is refused with
        L{InvalidState}.
        """
        if data in self._waiting:
            return defer.fail(InvalidState("a ping with the same data is already waiting"))

        def forget(_: object) -> None:
            self._waiting.pop(data, None)

        d: defer.Deferred[float] = defer.Deferred(forget)
        self._waiting[data] = (d, now)
        return d

    def pongReceived(self, data: bytes, now: float) -> float | None:
        """A pong with C{data} came at C{now}: the round trip of its ping, if any."""
        waiting = self._waiting
        if data not in waiting:
            return None
        acknowledged = []
        for key in waiting:
            acknowledged.append(key)
            if key == data:
                break
        latency = now - waiting[data][1]
        for key in acknowledged:
            d, sent = waiting.pop(key)
            d.callback(now - sent)
        return latency

    def stop(self, error: ConnectionClosed) -> None:
        """The connection is gone: fail every waiting ping."""
        waiting, self._waiting = self._waiting, {}
        for d, _ in waiting.values():
            d.errback(error)


class KeepaliveConnection(Protocol):
    """What L{Keepalive} needs of the connection it keeps alive."""

    @property
    def open(self) -> bool:
        """Whether the connection is open."""

    readSincePing: bool
    """Set by the connection whenever bytes arrive; cleared by the keepalive."""

    keepaliveTimer: Deadlines[Any] | None
    """The keepalive's deadlines the connection waits in, kept on the
    connection (which calls L{Keepalive.stop} when it is gone); C{None} when
    it waits in none."""

    clock: IReactorTime
    """The connection's clock."""

    def ping(self, data: str | bytes | None = None) -> defer.Deferred[float]:
        """Send a ping; its round trip."""

    def failConnection(self, code: int, reason: str) -> None:
        """Fail the connection with C{code}."""


class Keepalive:
    """
    The keepalive of a set of options, shared by their connections: ping
    the peer C{interval} seconds after the last ping was answered, and fail
    the connection with 1011 if a ping is not answered within C{timeout}
    seconds, unless bytes keep arriving (a pong may be behind a large
    message that arrives slowly).

    Nothing is kept per connection but its place in one of two shared
    L{Deadlines} (the next ping's, the pong's): no timer of its own.
    """

    __slots__ = ("interval", "timeout", "_pings", "_pongs")

    def __init__(self, interval: float, timeout: float | None) -> None:
        self.interval = interval
        self.timeout = timeout
        self._pings: Deadlines[KeepaliveConnection] = Deadlines(interval, partial(_ping, self))
        self._pongs: Deadlines[KeepaliveConnection] | None = (
            None if timeout is None else Deadlines(timeout, partial(_timedOut, self))
        )

    def start(self, connection: KeepaliveConnection, delay: float | None = None) -> None:
        """Keep C{connection} alive: its next ping C{delay} (or the interval) from now."""
        self._pings.add(connection, connection.clock, delay)
        connection.keepaliveTimer = self._pings

    def waitForPong(self, connection: KeepaliveConnection) -> None:
        """A ping was sent on C{connection}: it fails if no pong comes in time."""
        connection.readSincePing = False
        pongs = self._pongs
        if pongs is not None:
            pongs.add(connection, connection.clock)
        connection.keepaliveTimer = pongs

    @staticmethod
    def stop(connection: KeepaliveConnection) -> None:
        """Drop C{connection}'s deadline."""
        deadlines = connection.keepaliveTimer
        if deadlines is not None:
            connection.keepaliveTimer = None
            deadlines.discard(connection, connection.clock)


def _ping(keepalive: Keepalive, connection: KeepaliveConnection) -> None:
    connection.keepaliveTimer = None
    if not connection.open:
        return
    d = connection.ping()
    keepalive.waitForPong(connection)
    d.addCallbacks(_answered, _ignore, callbackArgs=(keepalive, connection))


def _answered(rtt: float, keepalive: Keepalive, connection: KeepaliveConnection) -> None:
    Keepalive.stop(connection)  # the pong's deadline
    if connection.open:
        # The next ping, an interval after this one was sent.
        keepalive.start(connection, max(0.0, keepalive.interval - rtt))


def _timedOut(keepalive: Keepalive, connection: KeepaliveConnection) -> None:
    connection.keepaliveTimer = None
    if connection.readSincePing and connection.open:
        keepalive.waitForPong(connection)
        return
    connection.failConnection(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")


def _ignore(failure: Any) -> None:
    """A ping that fails ends with its connection, which says why."""
