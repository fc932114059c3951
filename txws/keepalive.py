# -*- test-case-name: tests.test_keepalive -*-
"""
Pings and pongs (RFC 6455, 5.5.2-5.5.3): the pings waiting for their pong,
and the keepalive that pings an idle peer and fails the connection when it
stops answering.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime

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

    keepaliveTimer: IDelayedCall | None
    """The keepalive's pending timer, kept on the connection (which cancels
    it when it is gone); C{None} when there is none."""

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

    Nothing is kept per connection but its C{keepaliveTimer}: a short
    connection costs one timer and no object.
    """

    __slots__ = ("interval", "timeout")

    def __init__(self, interval: float, timeout: float | None) -> None:
        self.interval = interval
        self.timeout = timeout

    def start(self, connection: KeepaliveConnection) -> None:
        """Keep C{connection} alive from now on."""
        connection.keepaliveTimer = connection.clock.callLater(
            self.interval, _ping, self, connection
        )

    @staticmethod
    def stop(connection: KeepaliveConnection) -> None:
        """Cancel C{connection}'s timer."""
        timer = connection.keepaliveTimer
        if timer is not None:
            connection.keepaliveTimer = None
            timer.cancel()


# Module functions, not bound methods, in the timers: a bound method per
# timer would cost 80 bytes per connection.


def _ping(keepalive: Keepalive, connection: KeepaliveConnection) -> None:
    connection.keepaliveTimer = None
    if not connection.open:
        return
    d = connection.ping()
    timeout = keepalive.timeout
    if timeout is not None:
        connection.readSincePing = False
        connection.keepaliveTimer = connection.clock.callLater(
            timeout, _timedOut, keepalive, connection
        )
    d.addCallbacks(_answered, _ignore, callbackArgs=(keepalive, connection))


def _answered(rtt: float, keepalive: Keepalive, connection: KeepaliveConnection) -> None:
    Keepalive.stop(connection)  # the timeout's timer
    if connection.open:
        # The next ping, an interval after this one was sent.
        connection.keepaliveTimer = connection.clock.callLater(
            max(0.0, keepalive.interval - rtt), _ping, keepalive, connection
        )


def _timedOut(keepalive: Keepalive, connection: KeepaliveConnection) -> None:
    connection.keepaliveTimer = None
    if connection.readSincePing and connection.open:
        connection.readSincePing = False
        connection.keepaliveTimer = connection.clock.callLater(
            keepalive.timeout,  # type: ignore[arg-type]
            _timedOut,
            keepalive,
            connection,
        )
        return
    connection.failConnection(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")


def _ignore(failure: Any) -> None:
    """A ping that fails ends with its connection, which says why."""
