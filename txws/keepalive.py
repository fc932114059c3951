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

    def ping(self, data: str | bytes | None = None) -> defer.Deferred[float]:
        """Send a ping; its round trip."""

    def failConnection(self, code: int, reason: str) -> None:
        """Fail the connection with C{code}."""


class Keepalive:
    """
    Pings the peer C{interval} seconds after the last ping was answered, and
    fails the connection with 1011 if a ping is not answered within
    C{timeout} seconds, unless bytes keep arriving: a pong may be behind a
    large message that arrives slowly.
    """

    __slots__ = ("_connection", "_clock", "_interval", "_timeout", "_timer", "_sent")

    def __init__(
        self,
        connection: KeepaliveConnection,
        clock: IReactorTime,
        interval: float,
        timeout: float | None,
    ) -> None:
        self._connection: KeepaliveConnection | None = connection
        self._clock = clock
        self._interval = interval
        self._timeout = timeout
        self._timer: IDelayedCall | None = clock.callLater(interval, self._ping)
        self._sent = 0.0

    def stop(self) -> None:
        """Cancel the timer and let go of the connection."""
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()
        self._connection = None

    def _ping(self) -> None:
        self._timer = None
        connection = self._connection
        if connection is None or not connection.open:
            return
        self._sent = self._clock.seconds()
        d = connection.ping()
        if self._timeout is not None:
            connection.readSincePing = False
            self._timer = self._clock.callLater(self._timeout, self._timedOut)
        d.addCallbacks(self._answered, _ignore)

    def _answered(self, rtt: float) -> None:
        timer = self._timer
        if timer is not None and timer.active():
            timer.cancel()
        self._timer = None
        connection = self._connection
        if connection is not None and connection.open:
            wait = max(0.0, self._interval - (self._clock.seconds() - self._sent))
            self._timer = self._clock.callLater(wait, self._ping)

    def _timedOut(self) -> None:
        self._timer = None
        connection = self._connection
        if connection is None:
            return
        if connection.readSincePing and connection.open:
            connection.readSincePing = False
            self._timer = self._clock.callLater(self._timeout, self._timedOut)  # type: ignore[arg-type]
            return
        connection.failConnection(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")


def _ignore(failure: Any) -> None:
    """A ping that fails ends with its connection, which says why."""
