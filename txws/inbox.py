# -*- test-case-name: tests.test_inbox -*-
"""
The receiving side of a connection: the messages received and not yet
read, and the readers waiting for one (C{recv} Deferreds, C{async for}
loops, the handler driver).

The connection appends to L{Inbox.messages} itself (that is on the hot
path); everything else about handing messages out is here. No I/O: when the
queue drains below the point where reading should resume, the inbox calls
the C{drained} callable the connection left when it paused.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, Protocol

from twisted.internet import defer

from .exceptions import ConnectionClosed

__all__ = ["Inbox", "Reader", "END", "IterationWaiter", "NextMessage"]

Message = str | bytes

END: Any = object()
"""Given to a reader that L{ends iteration <Reader.endsIteration>} when the
connection closed normally: the end of an C{async for}, with no exception."""


class Reader(Protocol):
    """
    A waiter in L{Inbox.readers}.

    The inbox calls exactly one of L{callback} and L{errback}, once, and
    forgets the reader: with the next message, with L{END} if
    L{endsIteration} and the connection closed normally, or with the
    L{ConnectionClosed} it closed with. A plain
    C{Deferred} may wait too: it never
    ends iteration. A reader whose C{takesPieces} is true (a
    L{txws.streaming.MessageStream}) takes a message that begins on its
    turn in pieces, from L{Inbox.nextStream}.
    """

    endsIteration: bool

    def callback(self, message: Any) -> object:
        """The next message (or L{END})."""

    def errback(self, error: Any) -> object:
        """The connection closed before another message came."""


class IterationWaiter(defer.Deferred[Any]):
    """
    A reader for C{async for} under a driver other than L{txws._driver}'s:
    a normal close fires it with L{END}, which ends the loop without the
    cost of an exception through Twisted.
    """

    endsIteration = True


class Inbox:
    """
    Received messages, first first, and the readers waiting for them.

    @ivar messages: the messages not yet read, or C{None} before the first
        (an empty deque costs 600 bytes, most of an idle connection); the
        connection creates it and appends.
    @ivar readers: the readers waiting, first first: a L{Reader} appended
        here is given the next message that nobody else waits for.
    @ivar limit: how many messages the queue holds before the connection
        should stop reading (C{maxQueue}; C{sys.maxsize} for no limit).
    @ivar resumeAt: a quarter of C{limit}: see C{drained}.
    @ivar drained: left by the connection when it paused reading because
        the queue is full: L{pop} calls it, once, when at most C{resumeAt}
        messages are left.
    @ivar stream: the reader that takes the message in progress in pieces
        (see L{nextStream}), told by L{close} if it ends first.
    """

    # A list, not a deque, for readers: rarely more than one, and an empty
    # deque costs ten times the memory of an empty list.
    __slots__ = (
        "messages",
        "readers",
        "limit",
        "resumeAt",
        "drained",
        "driverWaits",
        "stream",
        "_closedWith",
    )

    def __init__(self, limit: int | None = None) -> None:
        self.messages: deque[Message] | None = None
        self.readers: list[Reader | defer.Deferred[Any]] = []
        self.setLimit(limit)
        self.drained: Callable[[], object] | None = None
        # Until a driver other than txws's shows up, NextMessage yields
        # itself to the driver (see NextMessage).
        self.driverWaits = True
        self.stream: Any = None
        self._closedWith: tuple[bool, Callable[[], ConnectionClosed]] | None = None

    def setLimit(self, limit: int | None) -> None:
        """Set L{limit} (and C{resumeAt}) from C{maxQueue}."""
        self.limit = sys.maxsize if limit is None else limit
        self.resumeAt = (limit or 0) // 4

    def get(self) -> defer.Deferred[Message]:
        """A Deferred of the next message (C{recv})."""
        if self.messages:
            return defer.succeed(self.pop())
        if self._closedWith is not None:
            return defer.fail(self._closedWith[1]())
        d: defer.Deferred[Message] = defer.Deferred(self.readers.remove)
        self.readers.append(d)
        return d

    def wait(self, reader: Reader) -> None:
        """
        Give C{reader} the next message nobody else waits for: now if one
        is queued (or the connection is gone), or when it comes.
        """
        if self.messages:
            reader.callback(self.pop())
        elif self._closedWith is not None:
            reader.errback(self._closedWith[1]())
        else:
            self.readers.append(reader)

    def nextStream(self) -> Any:
        """
        A message begins to arrive in pieces: if its reader takes pieces,
        take it out of the queue of readers, make it L{stream} and return
        its sink (L{txws.assembly.Sink}); else C{None}, to join the pieces.
        """
        readers = self.readers
        if readers and not self.messages and getattr(readers[0], "takesPieces", False):
            stream: Any = readers.pop(0)
            self.stream = stream
            return stream.pieceReceived
        return None

    def put(self, message: Message) -> None:
        """Add a message (the connection inlines this)."""
        if self.messages is None:
            self.messages = deque()
        self.messages.append(message)

    def pop(self) -> Message:
        """Take the first message; there must be one."""
        messages = self.messages
        assert messages is not None
        message = messages.popleft()
        drained = self.drained
        if drained is not None and len(messages) <= self.resumeAt:
            self.drained = None
            drained()
        return message

    def wake(self) -> None:
        """Hand queued messages to waiting readers."""
        readers = self.readers
        messages = self.messages  # (made once, never replaced)
        while readers and messages:
            # L{pop}, inline while nobody waits for the queue to drain.
            readers.pop(0).callback(messages.popleft() if self.drained is None else self.pop())

    def close(self, ok: bool, error: Callable[[], ConnectionClosed]) -> None:
        """
        The connection is gone: no message will be added. Readers waiting
        now, and those that come once the queue is empty, get C{error()}, or
        L{END} if C{ok} (a normal close) and they end iteration.
        """
        self._closedWith = (ok, error)
        self.drained = None
        stream = self.stream
        if stream is not None:
            # Its message will never end.
            self.stream = None
            stream.errback(error())
        if self.readers:
            readers, self.readers = self.readers, []
            for reader in readers:
                if ok and getattr(reader, "endsIteration", False):
                    reader.callback(END)
                else:
                    # No local name for the error: its traceback holds this
                    # frame, which would make a cycle.
                    reader.errback(error())


class NextMessage:
    """
    What C{async for} awaits: the next message, or the end of the loop.

    Under the handler driver (L{txws._driver}), the coroutine waits in the
    inbox's readers itself. Any other driver (such as
    C{Deferred.fromCoroutine}) sends back what is not a Deferred: then the
    wait, and every later one on this connection, is on a Deferred.
    """

    __slots__ = ("inbox",)

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    def __await__(self) -> Generator[Any, Any, Message]:
        inbox = self.inbox
        if inbox.messages:
            return inbox.pop()
        closedWith = inbox._closedWith
        if closedWith is not None:
            if closedWith[0]:
                raise StopAsyncIteration
            raise closedWith[1]()
        result: Any = (yield self) if inbox.driverWaits else self
        if result is self:
            inbox.driverWaits = False
            waiter = IterationWaiter(inbox.readers.remove)
            inbox.readers.append(waiter)
            result = yield from waiter.__await__()
        if result is END:
            raise StopAsyncIteration
        return result
