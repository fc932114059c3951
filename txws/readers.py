"""
What waits for a connection's next message: the reader interface the
connection wakes, and the reader C{async for} uses under a driver other than
L{txws._driver}'s.
"""

from __future__ import annotations

from typing import Any, Protocol

from twisted.internet import defer

__all__ = ["Reader", "END", "IterationWaiter"]

END: Any = object()
"""Given to a reader that L{ends iteration <Reader.endsIteration>} when the
connection closed normally: the end of an C{async for}, with no exception."""


class Reader(Protocol):
    """
    A waiter in a connection's queue of readers (its C{readers} list, see
    L{WebSocketProtocol <txws.protocol.WebSocketProtocol>}).

    The connection calls exactly one of L{callback} and L{errback}, once,
    and forgets the reader: with the next message, with L{END} if
    L{endsIteration} and the connection closed normally, or with the
    L{ConnectionClosed <txws.exceptions.ConnectionClosed>} it closed with.
    A plain L{Deferred <twisted.internet.defer.Deferred>} may wait in the
    queue too: it never ends iteration.
    """

    endsIteration: bool

    def callback(self, message: Any) -> object:
        """The next message (or L{END})."""

    def errback(self, error: Any) -> object:
        """The connection closed before another message came."""


class IterationWaiter(defer.Deferred):
    """
    A reader for C{async for} under another driver: a normal close fires it
    with L{END}, which ends the loop without the cost of an exception
    through Twisted.
    """

    endsIteration = True
