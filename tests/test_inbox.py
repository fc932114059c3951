"""L{txws.inbox}: messages waiting to be read and the readers waiting for them."""

from __future__ import annotations

import sys

from twisted.internet import defer

from txws.exceptions import ConnectionClosedError, ConnectionClosedOK
from txws.inbox import END, Inbox, IterationWaiter


def makeInbox(limit: int = 4) -> tuple[Inbox, list[None]]:
    """An inbox, and the list its C{drained} callable appends to once set."""
    drained: list[None] = []
    inbox = Inbox(limit)
    inbox.drained = lambda: drained.append(None)
    return inbox, drained


def test_getTakesAQueuedMessage() -> None:
    inbox, _ = makeInbox()
    inbox.put("a")
    assert inbox.get().result == "a"
    assert not inbox.messages


def test_wakeHandsMessagesInOrder() -> None:
    inbox, _ = makeInbox()
    first, second = inbox.get(), inbox.get()
    for message in ["a", "b", "c"]:
        inbox.put(message)
    inbox.wake()
    assert (first.result, second.result) == ("a", "b")
    assert list(inbox.messages) == ["c"] and inbox.readers == []


def test_cancelledReaderLeaves() -> None:
    inbox, _ = makeInbox()
    d = inbox.get()
    d.addErrback(lambda f: f.trap(defer.CancelledError))
    d.cancel()
    assert inbox.readers == []


def test_drainedOnceBelowResumeAt() -> None:
    inbox, drained = makeInbox(limit=4)
    assert inbox.resumeAt == 1
    for message in ["a", "b", "c"]:
        inbox.put(message)
    inbox.pop()
    assert drained == []
    inbox.pop()
    assert drained == [None] and inbox.drained is None
    inbox.pop()
    assert drained == [None]


def test_wakeTellsDrained() -> None:
    """A reader woken takes its message as L{Inbox.pop} does: C{drained} is told."""
    inbox, drained = makeInbox(limit=4)
    reader = inbox.get()
    for message in ["a", "b"]:
        inbox.put(message)
    inbox.wake()
    assert reader.result == "a" and drained == [None] and inbox.drained is None


def test_noLimit() -> None:
    """Without C{maxQueue}, the limit is never reached."""
    inbox = Inbox(None)
    assert inbox.limit == sys.maxsize and inbox.resumeAt == 0
    inbox.setLimit(8)
    assert (inbox.limit, inbox.resumeAt) == (8, 2)


def test_notDrainedUnlessPaused() -> None:
    """Without a C{drained} left by a pause, popping calls nothing."""
    inbox = Inbox(20)
    inbox.put("a")
    assert inbox.pop() == "a"
    assert inbox.drained is None


def test_noQueueUntilTheFirstMessage() -> None:
    """An idle connection's inbox holds no deque."""
    inbox = Inbox()
    assert inbox.messages is None
    assert inbox.get().called is False


def test_closeEndsIterationOnlyWhenOk() -> None:
    inbox, _ = makeInbox()
    iterating = IterationWaiter()
    plain = inbox.get()
    inbox.readers.append(iterating)
    inbox.close(True, lambda: ConnectionClosedOK(1000, "", None, None))
    assert iterating.result is END
    failure = plain.result
    plain.addErrback(lambda f: None)
    assert failure.check(ConnectionClosedOK)


def test_closeFailsEveryReaderWhenNotOk() -> None:
    inbox, _ = makeInbox()
    iterating = IterationWaiter()
    inbox.readers.append(iterating)
    inbox.close(False, lambda: ConnectionClosedError(1006, "", None, None))
    assert iterating.result.check(ConnectionClosedError)
    iterating.addErrback(lambda f: None)


def test_afterCloseQueuedMessagesComeFirst() -> None:
    inbox, drained = makeInbox()
    inbox.put("last")
    inbox.close(False, lambda: ConnectionClosedError(1006, "", None, None))
    assert inbox.get().result == "last"
    assert drained == []  # nothing to resume once closed
    d = inbox.get()
    assert d.result.check(ConnectionClosedError)
    d.addErrback(lambda f: None)
