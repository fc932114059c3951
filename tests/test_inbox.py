"""L{txws.inbox}: messages waiting to be read and the readers waiting for them."""

from __future__ import annotations

from twisted.internet import defer

from txws.exceptions import ConnectionClosedError, ConnectionClosedOK
from txws.inbox import END, Inbox, IterationWaiter


def makeInbox(resumeAt: int = 1) -> tuple[Inbox, list[None]]:
    drained: list[None] = []
    return Inbox(resumeAt, lambda: drained.append(None)), drained


def test_getTakesAQueuedMessage() -> None:
    inbox, _ = makeInbox()
    inbox.messages.append("a")
    assert inbox.get().result == "a"
    assert not inbox.messages


def test_wakeHandsMessagesInOrder() -> None:
    inbox, _ = makeInbox()
    first, second = inbox.get(), inbox.get()
    inbox.messages.extend(["a", "b", "c"])
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
    inbox, drained = makeInbox(resumeAt=1)
    inbox.messages.extend(["a", "b", "c"])
    inbox.full = True
    inbox.pop()
    assert drained == []
    inbox.pop()
    assert drained == [None] and not inbox.full
    inbox.pop()
    assert drained == [None]


def test_notDrainedUnlessFull() -> None:
    inbox, drained = makeInbox(resumeAt=5)
    inbox.messages.append("a")
    inbox.pop()
    assert drained == []


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
    inbox.messages.append("last")
    inbox.full = True
    inbox.close(False, lambda: ConnectionClosedError(1006, "", None, None))
    assert inbox.get().result == "last"
    assert drained == []  # nothing to resume once closed
    d = inbox.get()
    assert d.result.check(ConnectionClosedError)
    d.addErrback(lambda f: None)
