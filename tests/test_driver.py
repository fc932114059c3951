"""
The handler driver: what Deferred.fromCoroutine does, and a wait for the
next message of an async for with no Deferred in between.
"""

from __future__ import annotations

import contextvars
import types

from twisted.internet import defer

from txws._driver import HandlerDriver, runHandler
from txws.exceptions import ConnectionClosedError
from txws.frames import OP_TEXT

from .helpers import assertNoResult, failureResultOf, openServer, successResultOf


@types.coroutine
def _yieldValue(value):
    """Yield C{value} itself to the driver and return what it sends back."""
    return (yield value)


class TestLikeFromCoroutine:
    def test_result(self):
        """
        A handler's return value is the result of its Deferred, as with
        Deferred.fromCoroutine.
        """

        async def handler():
            return 7

        assert successResultOf(runHandler(handler)) == 7

    def test_other_awaitables_fail_down_the_handler_path(self):
        """An awaitable that is not a coroutine is awaited like one."""

        class Awaitable:
            def __init__(self, result):
                self.result = result

            def __await__(self):
                yield from ()
                if isinstance(self.result, Exception):
                    raise self.result
                return self.result

        assert successResultOf(runHandler(lambda: Awaitable(3))) == 3
        failureResultOf(runHandler(lambda: Awaitable(KeyError("x"))), KeyError)

    def test_awaits_deferreds(self):
        first, second = defer.Deferred(), defer.Deferred()

        async def handler():
            a = await first
            try:
                await second
            except ZeroDivisionError:
                return a

        d = HandlerDriver(handler()).deferred
        assertNoResult(d)
        first.callback("a")
        assertNoResult(d)
        second.errback(ZeroDivisionError())
        assert successResultOf(d) == "a"

    def test_failure_keeps_the_handler_in_its_traceback(self):
        async def brokenHandler():
            await defer.succeed(None)
            raise ValueError("no")

        failure = failureResultOf(runHandler(brokenHandler), ValueError)
        assert "brokenHandler" in failure.getTraceback()

    def test_deferreds_fired_when_yielded_do_not_recurse(self):
        # A Deferred that is yielded (not awaited) after it fired runs the
        # driver's callback at once: the driver goes on in a loop.
        async def handler():
            total = 0
            for _i in range(5000):
                total += await _yieldValue(defer.succeed(1))
            try:
                await _yieldValue(defer.fail(KeyError("k")))
            except KeyError:
                return total

        assert successResultOf(runHandler(handler)) == 5000

    def test_other_values_are_sent_back(self):
        async def handler():
            return await _yieldValue("anything")

        assert successResultOf(runHandler(handler)) == "anything"

    def test_runs_in_a_copy_of_the_context(self):
        var = contextvars.ContextVar("var", default="outside")
        gate = defer.Deferred()
        seen = []

        async def handler():
            seen.append(var.get())
            var.set("inside")
            await gate
            seen.append(var.get())

        var.set("before")
        d = runHandler(handler)
        var.set("after")
        gate.callback(None)
        successResultOf(d)
        assert seen == ["before", "inside"]
        assert var.get() == "after"

    def test_cancel_cancels_the_awaited_deferred(self):
        cancelled = []
        awaited = defer.Deferred(cancelled.append)

        async def handler():
            await awaited

        d = runHandler(handler)
        d.cancel()
        assert cancelled == [awaited]
        failureResultOf(d, defer.CancelledError)

    def test_cancelled_handler_may_carry_on(self):
        gate, later = defer.Deferred(), defer.Deferred()
        finished = []

        async def handler():
            try:
                await gate
            except defer.CancelledError:
                await later
                finished.append(True)

        d = runHandler(handler)
        d.cancel()
        failureResultOf(d, defer.CancelledError)
        later.callback(None)
        assert finished == [True]


class TestNextMessage:
    def test_waits_in_the_connection_without_a_deferred(self):
        received = []

        async def handler(ws):
            async for message in ws:
                received.append(message)

        conn = openServer(handler)
        (waiter,) = conn.protocol.inbox.readers
        assert isinstance(waiter, HandlerDriver)
        conn.receiveFrame(OP_TEXT, b"a")
        conn.receiveFrame(OP_TEXT, b"b")
        assert received == ["a", "b"]
        conn.receiveClose(1000)
        conn.lose()
        assert successResultOf(conn.protocol.handlerResult) is None

    def test_abnormal_close_raises_in_the_loop(self):
        caught = []

        async def handler(ws):
            try:
                async for _message in ws:
                    pass
            except ConnectionClosedError as e:
                caught.append(e)

        conn = openServer(handler)
        conn.lose()
        assert len(caught) == 1
        assert successResultOf(conn.protocol.handlerResult) is None

    def test_loop_started_after_close(self):
        gate = defer.Deferred()
        received = []

        async def handler(ws):
            await gate
            async for message in ws:
                received.append(message)

        conn = openServer(handler)
        conn.receiveFrame(OP_TEXT, b"queued")
        conn.receiveClose(1000)
        conn.lose()
        gate.callback(None)
        assert received == ["queued"]
        assert successResultOf(conn.protocol.handlerResult) is None

    def test_under_another_driver(self):
        """
        Under Deferred.fromCoroutine (not txws's driver), async for still works: what is not
        a Deferred is sent back, so the wait falls back to one, and so do later waits on
        that connection.
        """
        received = []

        async def inner(ws):
            async for message in ws:
                received.append(("inner", message))
                if message == "stop":
                    return

        async def handler(ws):
            await defer.Deferred.fromCoroutine(inner(ws))
            async for message in ws:
                received.append(("outer", message))

        conn = openServer(handler)
        conn.receiveFrame(OP_TEXT, b"a")
        conn.receiveFrame(OP_TEXT, b"stop")
        conn.receiveFrame(OP_TEXT, b"b")
        conn.receiveFrame(OP_TEXT, b"c")
        conn.receiveClose(1000)
        conn.lose()
        assert received == [("inner", "a"), ("inner", "stop"), ("outer", "b"), ("outer", "c")]
        assert successResultOf(conn.protocol.handlerResult) is None

    def test_cancel_while_waiting(self):
        outcome = []

        async def handler(ws):
            try:
                async for message in ws:
                    outcome.append(message)
            except defer.CancelledError:
                outcome.append("cancelled")

        conn = openServer(handler)
        conn.protocol.handlerResult.cancel()
        assert outcome == ["cancelled"]
        assert conn.protocol.inbox.readers == []
        # A later message is kept for the next reader, not lost.
        conn.receiveFrame(OP_TEXT, b"kept")
        assert successResultOf(conn.protocol.recv()) == "kept"
