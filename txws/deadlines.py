# -*- test-case-name: tests.test_deadlines -*-
"""
Timeouts that many connections share: one C{DelayedCall} for all of them.

Every connection of a factory waits for the same delays (its options'
C{openTimeout}, C{closeTimeout}, C{pingInterval}, C{pingTimeout}), so the
deadlines of one delay come due in the order they were set. L{Deadlines}
keeps them in that order and has a single timer, on the reactor, for the
first of them: setting or dropping a deadline is a dictionary operation,
and a connection waiting holds no timer of its own (a C{DelayedCall} with
its arguments is about 600 bytes). Deadlines fire exactly when they are
due, as C{callLater} would.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from twisted.internet.interfaces import IDelayedCall, IReactorTime

__all__ = ["Deadlines"]

T = TypeVar("T")


class Deadlines(Generic[T]):
    """
    Call C{fire(item)} C{delay} seconds after each C{add(item, clock)},
    unless the item was discarded first.

    Items are told apart by identity (a connection need not be hashable),
    and have at most one deadline here: adding one again moves it. One
    added with a shorter delay than those before it fires with them: the
    deadlines stay in order (a keepalive's next ping, due an interval after
    the last was sent, may come due a round trip's spread late).

    The items of each clock share one C{DelayedCall}, which exists only
    while one of them waits: nothing is left on the reactor once every
    deadline has fired or been discarded.
    """

    __slots__ = ("delay", "_fire", "_clock", "_due", "_timer", "_running", "_others")

    def __init__(self, delay: float, fire: Callable[[T], object]) -> None:
        if not delay >= 0:
            raise ValueError(f"delay must be at least 0, not {delay!r}")
        self.delay = delay
        self._fire = fire
        # The deadlines of one clock (nearly always the only one), in the
        # order they come due: id(item) -> (when, item).
        self._clock: IReactorTime | None = None
        self._due: OrderedDict[int, tuple[float, T]] = OrderedDict()
        self._timer: IDelayedCall | None = None
        self._running = False
        # Those of other clocks, while they have any.
        self._others: dict[IReactorTime, Deadlines[T]] | None = None

    def add(self, item: T, clock: IReactorTime, delay: float | None = None) -> None:
        """
        Fire C{item} C{delay} seconds from now on C{clock} (by default this
        L{Deadlines}' own delay; never earlier than an item added before).
        """
        due = self._due
        if clock is not self._clock:
            if due or self._running or (self._others and clock in self._others):
                self._other(clock, True).add(item, clock, delay)  # type: ignore[union-attr]
                return
            self._clock = clock
        now = clock.seconds()
        when = now + (self.delay if delay is None else delay)
        key = id(item)
        if due:
            due.pop(key, None)
            if due:
                last = due[next(reversed(due))][0]
                if when < last:
                    when = last
        due[key] = (when, item)
        if self._timer is None and not self._running:
            when = due[next(iter(due))][0]
            # (now + (when - now) is when again in floating point, for when >= now.)
            self._timer = clock.callLater(when - now if when > now else 0.0, self._run)

    def discard(self, item: T, clock: IReactorTime) -> None:
        """Forget C{item}'s deadline on C{clock}, if it has one."""
        if clock is not self._clock:
            other = self._other(clock, False)
            if other is not None:
                other.discard(item, clock)
                if not other._due:
                    del self._others[clock]  # type: ignore[union-attr]
            return
        due = self._due
        if due.pop(id(item), None) is not None and not due and not self._running:
            timer, self._timer = self._timer, None
            if timer is not None:
                timer.cancel()

    def __len__(self) -> int:
        others = self._others.values() if self._others else ()
        return len(self._due) + sum(len(other) for other in others)

    def _other(self, clock: IReactorTime, create: bool) -> Deadlines[T] | None:
        others = self._others
        if others is None:
            if not create:
                return None
            others = self._others = {}
        other = others.get(clock)
        if other is None and create:
            other = others[clock] = Deadlines(self.delay, self._fire)
        return other

    def _run(self) -> None:
        self._timer = None
        clock: IReactorTime = self._clock  # type: ignore[assignment]
        now = clock.seconds()
        due = self._due
        fire = self._fire
        self._running = True
        try:
            while due:
                key = next(iter(due))
                when, item = due[key]
                if when > now:
                    break
                del due[key]
                fire(item)
        finally:
            self._running = False
            if due:
                # The first deadline left; from now, as fire() may have taken time.
                when = due[next(iter(due))][0]
                now = clock.seconds()
                self._timer = clock.callLater(when - now if when > now else 0.0, self._run)
