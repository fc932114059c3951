# -*- test-case-name: tests.test_groups -*-
"""
Groups (rooms): named sets of connections, and messages to all of a
group's members, in this process and, through a backplane, in others.

L{Groups} keeps this process's members and sends to them with
L{txws.broadcast} (a slow reader is skipped, not waited for); a
L{Backplane} (L{txws.redis} has one on Redis pub/sub) carries each group
message to the other processes once, and each of them sends it to its own
members. A connection leaves its groups when it closes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet import defer
from twisted.logger import Logger

from .broadcast import broadcast

__all__ = ["Groups", "Backplane"]

log = Logger()

Message = str | bytes


class Backplane(Protocol):
    """
    What carries group messages between processes. L{Groups} calls
    L{start} once, then L{subscribe} when a group gets its first member
    here and L{unsubscribe} when it loses its last, L{publish} for every
    message sent to a group, and L{stop} at the end. The backplane calls
    C{deliver(group, message)} for each message published by another
    process to a group subscribed here, and never for this process's own.
    """

    def start(self, deliver: Callable[[str, Message], object]) -> None:
        """Begin: connect, and deliver what is published elsewhere."""

    def subscribe(self, group: str) -> None:
        """Deliver what is published to C{group} from now on."""

    def unsubscribe(self, group: str) -> None:
        """Stop delivering C{group}'s messages."""

    def publish(self, group: str, message: Message) -> None:
        """Send C{message} to C{group}'s members in the other processes."""

    def stop(self) -> defer.Deferred[None]:
        """Disconnect; fires once done."""


class Groups:
    """
    Named groups of connections, local members and, with a L{Backplane},
    members in other processes.

    @ivar backplane: the backplane, or C{None} (groups of this process only).
    """

    def __init__(self, backplane: Backplane | None = None) -> None:
        self.backplane = backplane
        self._members: dict[str, set[Any]] = {}
        self._groupsOf: dict[Any, set[str]] = {}
        self._started = False

    def add(self, group: str, connection: Any) -> None:
        """
        Make C{connection} a member of C{group} (until L{remove}, or until
        it closes).
        """
        if not isinstance(group, str) or not group:
            raise TypeError("group must be a non-empty str")
        if connection.closed:
            return
        members = self._members.get(group)
        if members is None:
            members = self._members[group] = set()
            self._backplane("subscribe", group)
        members.add(connection)
        of = self._groupsOf.get(connection)
        if of is None:
            of = self._groupsOf[connection] = set()
            connection.whenClosed().addCallback(lambda _: self._closed(connection))
        of.add(group)

    def remove(self, group: str, connection: Any) -> None:
        """Take C{connection} out of C{group} (nothing if it is not in it)."""
        members = self._members.get(group)
        if members is None or connection not in members:
            return
        members.discard(connection)
        of = self._groupsOf.get(connection)
        if of is not None:
            of.discard(group)
        if not members:
            del self._members[group]
            self._backplane("unsubscribe", group)

    def send(self, group: str, message: Message) -> int:
        """
        Send C{message} to every member of C{group}: here, with
        L{txws.broadcast} (how many got it is returned), and in the other
        processes through the backplane (published once).
        """
        if not isinstance(message, (str, bytes)):
            raise TypeError(f"message must be str or bytes, not {type(message).__name__}")
        self._backplane("publish", group, message)
        return self.deliver(group, message)

    def deliver(self, group: str, message: Message) -> int:
        """Send C{message} to this process's members of C{group} only."""
        members = self._members.get(group)
        return broadcast(members, message) if members else 0

    def groups(self) -> list[str]:
        """The groups with members in this process."""
        return sorted(self._members)

    def members(self, group: str) -> frozenset[Any]:
        """This process's members of C{group}."""
        return frozenset(self._members.get(group, ()))

    def groupsOf(self, connection: Any) -> frozenset[str]:
        """The groups C{connection} is in."""
        return frozenset(self._groupsOf.get(connection, ()))

    def stop(self) -> defer.Deferred[None]:
        """Stop the backplane (local groups go on working)."""
        backplane, self._started = self.backplane, False
        if backplane is None:
            return defer.succeed(None)
        return backplane.stop()

    def _closed(self, connection: Any) -> None:
        for group in list(self._groupsOf.pop(connection, ())):
            self.remove(group, connection)

    def _backplane(self, method: str, *args: Any) -> None:
        backplane = self.backplane
        if backplane is None:
            return
        if not self._started:
            self._started = True
            backplane.start(self.deliver)
            for group in self._members:
                if group != args[0] or method != "subscribe":
                    backplane.subscribe(group)
        try:
            getattr(backplane, method)(*args)
        except Exception:
            # The backplane's trouble never stops local delivery.
            log.failure(
                "Backplane {method} failed for group {group!r}", method=method, group=args[0]
            )
