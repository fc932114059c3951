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

__all__ = ["HandlerDriver", "runHandler", "startHandler"]


def runHandler(handler: Callable[..., Any], *args: Any) -> Deferred:
    """
    Call C{handler(*args)} and return a Deferred of its outcome: it may
    return a coroutine, a Deferred or a plain value, or raise.
    """
    started = startHandler(handler, *args)
    return started if isinstance(started, Deferred) else started.deferred


def startHandler(
    handler: Callable[..., Any], *args: Any, finished: Callable[[Any, bool], object] | None = None
) -> Deferred | HandlerDriver:
    """
    Call C{handler(*args)}. A coroutine (or other awaitable) it returns is
    stepped by a L{HandlerDriver}, which calls C{finished(result, failed)}
    at its end if given (with no Deferred made unless asked for: one per
    connection is much of an idle connection's memory); anything else
    becomes a Deferred of the outcome.
    """
    try:
        result = handler(*args)
    except BaseException:
        return defer.fail()
    if isinstance(result, Deferred):
        return result
    if inspect.iscoroutine(result):
        return HandlerDriver(result, finished)
    if inspect.isawaitable(result):
        # Any other awaitable is awaited by a coroutine of ours, so that what
        # goes wrong with it goes down the handler's error path.
        return HandlerDriver(_awaitResult(result), finished)
    return defer.succeed(result)


async def _awaitResult(awaitable: Any) -> Any:
    return await awaitable


class HandlerDriver:
    """
    Steps a coroutine to its end and reports its outcome: to C{finished},
    if given, else through L{deferred}.

    The coroutine may await Deferreds (and anything built on them) as under
    C{Deferred.fromCoroutine}, in a copy of the context it was started in.
    When it yields a L{NextMessage}, the driver waits in that connection's
    queue of readers, as a L{txws.inbox.Reader}: the connection calls
    L{callback} with the message (or L{END <txws.inbox.END>} at the end of
    the iteration) or L{errback} with an exception.

    Cancelling L{deferred} cancels what the coroutine waits for, or throws
    C{CancelledError} into it while it waits for a message.
    """

    __slots__ = ("_deferred", "_finished", "_coroutine", "_context", "_waitingOn", "_early")

    endsIteration = True
    """The connection ends an C{async for} by calling back with C{END}."""

    def __init__(
        self, coroutine: Any, finished: Callable[[Any, bool], object] | None = None
    ) -> None:
        self._coroutine = coroutine
        self._context: Context | None = copy_context()
        self._waitingOn: Any = None
        self._early: Any = None
        self._finished = finished
        self._deferred: Deferred | None = None if finished else Deferred(self._cancel)
        self._step(None, None)

    @property
    def deferred(self) -> Deferred:
        """
        The coroutine's outcome; with C{finished}, C{None} once it was told
        (made when first asked for).
        """
        d = self._deferred
        if d is None:
            if self._finished is None:
                return defer.succeed(None)
            d = self._deferred = Deferred(self._cancel)
        return d

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
        d = self._deferred
        if d is not None and d.called:
            return  # cancelled, and the coroutine carried on to its end
        finished, self._finished = self._finished, None
        if finished is not None:
            finished(result, failed)
            result, failed = None, False
        if d is None:
            return
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
