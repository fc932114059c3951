# -*- test-case-name: tests.test_driver -*-
"""
Running a connection's handler.

A coroutine handler is stepped by L{HandlerDriver}, which does what
C{Deferred.fromCoroutine} does, plus one thing: when the coroutine waits for
the next message of an C{async for} over a connection, the connection wakes
the coroutine itself, with no Deferred in between. That wake is most of the
cost of a round trip in a handler, so it is worth the code.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextvars import Context, copy_context
from typing import Any

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from .inbox import NextMessage

__all__ = ["HandlerDriver", "runHandler"]


def runHandler(handler: Callable[..., Any], *args: Any) -> Deferred:
    """
    Call C{handler(*args)} and return a Deferred of its outcome: it may
    return a coroutine, a Deferred or a plain value, or raise.
    """
    try:
        result = handler(*args)
    except BaseException:
        return defer.fail()
    if isinstance(result, Deferred):
        return result
    if inspect.iscoroutine(result):
        return HandlerDriver(result).deferred
    if inspect.isawaitable(result):
        # Any other awaitable is awaited by a coroutine of ours, so that what
        # goes wrong with it goes down the handler's error path.
        return HandlerDriver(_awaitResult(result)).deferred
    return defer.succeed(result)


async def _awaitResult(awaitable: Any) -> Any:
    return await awaitable


class HandlerDriver:
    """
    Steps a coroutine to its end and fires L{deferred} with its outcome.

    The coroutine may await Deferreds (and anything built on them) as under
    C{Deferred.fromCoroutine}, in a copy of the context it was started in.
    When it yields a L{NextMessage}, the driver waits in that connection's
    queue of readers, as a L{txws.inbox.Reader}: the connection calls
    L{callback} with the message (or L{END <txws.inbox.END>} at the end of
    the iteration) or L{errback} with an exception.

    Cancelling L{deferred} cancels what the coroutine waits for, or throws
    C{CancelledError} into it while it waits for a message.
    """

    __slots__ = ("deferred", "_coroutine", "_context", "_waitingOn", "_early")

    endsIteration = True
    """The connection ends an C{async for} by calling back with C{END}."""

    def __init__(self, coroutine: Any) -> None:
        self._coroutine = coroutine
        self._context: Context | None = copy_context()
        self._waitingOn: Any = None
        self._early: Any = None
        self.deferred: Deferred = Deferred(self._cancel)
        self._step(None, None)

    def _step(self, value: Any, error: BaseException | Failure | None) -> None:
        coroutine = self._coroutine
        run = self._context.run  # type: ignore[union-attr]  # (None only once finished)
        while True:
            try:
                if error is None:
                    yielded = run(coroutine.send, value)
                elif isinstance(error, Failure):
                    yielded = run(error.throwExceptionIntoGenerator, coroutine)
                else:
                    yielded = run(coroutine.throw, error)
            except StopIteration as stop:
                self._finish(stop.value, False)
                return
            except BaseException:
                self._finish(Failure(), True)
                return
            error = None
            if yielded.__class__ is NextMessage:
                yielded.inbox.readers.append(self)
                self._waitingOn = yielded
                return
            if isinstance(yielded, Deferred):
                self._waitingOn = yielded
                self._early = self
                yielded.addBoth(self._deferredFired)
                if self._early is self:
                    self._early = None
                    return
                # It fired at once: go on here rather than recursing.
                value, self._early = self._early, None
                if isinstance(value, Failure):
                    value, error = None, value
                continue
            # Like Deferred.fromCoroutine: anything else is sent back.
            value = yielded

    def _finish(self, result: Any, failed: bool) -> None:
        # Nothing of the coroutine is kept once it is done: its frames would
        # hold the connection.
        self._coroutine = self._context = self._waitingOn = None
        d = self.deferred
        if d.called:
            return  # cancelled, and the coroutine carried on to its end
        if failed:
            d.errback(result)
        else:
            d.callback(result)

    def _deferredFired(self, result: Any) -> None:
        self._waitingOn = None
        if self._early is self:
            self._early = result
        elif isinstance(result, Failure):
            self._step(None, result)
        else:
            self._step(result, None)

    def callback(self, message: Any) -> None:
        """The connection's next message (or C{END})."""
        self._waitingOn = None
        self._step(message, None)

    def errback(self, error: BaseException | Failure) -> None:
        """The connection cannot give a next message."""
        self._waitingOn = None
        self._step(None, error)

    def _cancel(self, deferred: Deferred) -> None:
        waitingOn = self._waitingOn
        if waitingOn is None:
            return
        if isinstance(waitingOn, Deferred):
            waitingOn.cancel()
            return
        waitingOn.inbox.readers.remove(self)
        self.errback(defer.CancelledError())
