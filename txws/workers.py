# -*- test-case-name: tests.test_workers -*-
"""
Every core serving the same ports: C{twistd websocket --workers N}.

The twistd process binds each port once and starts N worker processes
(C{python -m txws.workers}) that inherit the listening sockets and adopt
them (C{IReactorSocket.adoptStreamPort}); the kernel hands each new
connection to one of them. It replaces a worker that dies, after a short
backoff; SIGTERM or SIGINT makes every worker close its connections with
1001 and exit, and the parent exits once none is left. A worker whose
parent is gone (its stdin, a pipe from the parent, closes) stops the same
way.

An inherited socket rather than C{SO_REUSEPORT}: one socket serves port
0, TLS (C{ssl:}) and any interface as the strports description gives
them, the port never closes while workers come and go, and no other
process can bind the same port by accident. (With C{SO_REUSEPORT} the
kernel spreads connections more evenly; for that, run the processes
yourself with C{reusePort=True}, see docs/deploy/scaling.md.)
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.protocol import ProcessProtocol, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from .listening import AdoptedEndpoint, Bound, bindPort

__all__ = ["WorkersService", "workerMain"]

log = Logger()

# The first descriptor a worker gets its listening sockets on.
_FIRST_FD = 3


class WorkersService(Service):
    """
    Binds C{descriptions} and keeps C{count} workers serving them with
    C{config} (what C{python -m txws.workers} takes: the handler's
    C{MODULE.ATTR} and C{WebSocketService}'s options).

    @ivar workers: the running workers, by pid.
    """

    restartDelay = 0.5
    """Seconds before the first replacement of a worker that died; doubled
    for each one that dies within a minute of starting, up to 30."""

    def __init__(
        self,
        count: int,
        descriptions: Sequence[str],
        config: dict[str, Any],
        *,
        closeTimeout: float | None = 10.0,
        reactor: Any = None,
    ) -> None:
        if not isinstance(count, int) or count < 1:
            raise ValueError("workers must be a positive whole number")
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.count = count
        self.descriptions = list(descriptions)
        self.config = config
        self.closeTimeout = closeTimeout
        self.bound: list[Bound] = []
        self.workers: dict[int, _Worker] = {}
        self._stopping = False
        self._stopWaiters: list[defer.Deferred[None]] = []
        self._delay = self.restartDelay
        self._pending: list[Any] = []

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        for description in self.descriptions:
            failed: list[Failure] = []
            bindPort(self.reactor, description).addCallbacks(self.bound.append, failed.append)
            if failed:
                raise SystemExit(
                    f"txws: cannot listen on {description}: {failed[0].getErrorMessage()}"
                )

    def startService(self) -> None:
        super().startService()
        if not self.bound:
            self.privilegedStartService()
        ports = ", ".join(f"{b.description} (port {b.port})" for b in self.bound)
        log.info("txws starting {count} workers on {ports}", count=self.count, ports=ports)
        for _ in range(self.count):
            self._spawn()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        for call in self._pending:
            if call.active():
                call.cancel()
        self._pending = []
        d: defer.Deferred[None] = defer.Deferred()
        self._stopWaiters.append(d)
        if not self._stopping:
            self._stopping = True
            if not self.workers:
                self._stopped()
                return d
            for worker in list(self.workers.values()):
                worker.terminate()
            grace = (self.closeTimeout or 0) + 5
            self._pending.append(self.reactor.callLater(grace, self._killRemaining))
        return d

    def _spawn(self) -> None:
        ports = [
            [b.description, _FIRST_FD + i, int(b.socket.family)] for i, b in enumerate(self.bound)
        ]
        config = dict(self.config, ports=ports)
        childFDs: dict[int, Any] = {0: "w", 1: "r", 2: "r"}
        for i, b in enumerate(self.bound):
            childFDs[_FIRST_FD + i] = b.socket.fileno()
        worker = _Worker(self)
        process = self.reactor.spawnProcess(
            worker,
            sys.executable,
            [sys.executable, "-m", "txws.workers", json.dumps(config)],
            env=dict(os.environ),
            path=os.getcwd(),
            childFDs=childFDs,
        )
        worker.pid = process.pid
        worker.started = self.reactor.seconds()
        self.workers[worker.pid] = worker
        log.info("txws worker {pid} started", pid=worker.pid)

    def workerEnded(self, worker: _Worker, reason: Failure) -> None:
        self.workers.pop(worker.pid, None)
        if self._stopping:
            if not self.workers:
                self._stopped()
            return
        lived = self.reactor.seconds() - worker.started
        self._delay = self.restartDelay if lived > 60 else min(self._delay * 2, 30.0)
        delay = self.restartDelay if lived > 60 else self._delay
        log.warn(
            "txws worker {pid} ended ({why}); starting another in {delay} s",
            pid=worker.pid,
            why=reason.getErrorMessage(),
            delay=delay,
        )
        self._pending = [c for c in self._pending if c.active()]
        self._pending.append(self.reactor.callLater(delay, self._spawn))

    def _stopped(self) -> None:
        for call in self._pending:
            if call.active():
                call.cancel()
        self._pending = []
        for bound in self.bound:
            bound.socket.close()
        self.bound = []
        waiters, self._stopWaiters = self._stopWaiters, []
        if waiters:
            log.info("txws workers all stopped")
        for waiter in waiters:
            waiter.callback(None)

    def _killRemaining(self) -> None:
        for worker in list(self.workers.values()):
            log.warn("txws worker {pid} did not stop in time; killing it", pid=worker.pid)
            worker.kill()


class _Worker(ProcessProtocol):
    """One worker: its output goes to our log, its end to the service."""

    def __init__(self, service: WorkersService) -> None:
        self.service = service
        self.pid = 0
        self.started = 0.0
        self._partial = {1: b"", 2: b""}

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        text = self._partial.get(childFD, b"") + data
        *lines, self._partial[childFD] = text.split(b"\n")
        for line in lines:
            if line.strip():
                log.info(
                    "[worker {pid}] {line}", pid=self.pid, line=line.decode("utf-8", "replace")
                )

    def terminate(self) -> None:
        self._signal("TERM")

    def kill(self) -> None:
        self._signal("KILL")

    def _signal(self, name: str) -> None:
        try:
            if self.transport is not None:
                self.transport.signalProcess(name)
        except Exception:  # already gone
            pass

    def processEnded(self, reason: Failure) -> None:
        self.service.workerEnded(self, reason)


class _ParentWatch(Protocol):
    """A worker's stdin, a pipe from its parent: closed when the parent is gone."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor

    def connectionLost(self, reason: Any = None) -> None:
        if self.reactor.running:
            log.info("txws worker {pid}: the parent is gone; stopping", pid=os.getpid())
            self.reactor.stop()


def workerMain(argv: Sequence[str] | None = None) -> None:
    """A worker: serve the config's handler on the inherited sockets until told to stop."""
    from twisted.internet import reactor, stdio
    from twisted.logger import globalLogBeginner, textFileLogObserver

    from .service import WebSocketService
    from .tap import importHandler

    args = list(sys.argv[1:] if argv is None else argv)
    config = json.loads(args[0])
    globalLogBeginner.beginLoggingTo(
        [textFileLogObserver(sys.stdout, timeFormat="")], redirectStandardIO=False
    )
    handler = importHandler(config.pop("handler"))
    endpoints = [
        AdoptedEndpoint(reactor, description, fd, family)
        for description, fd, family in config.pop("ports")
    ]
    service = WebSocketService(endpoints, handler, reactor=reactor, **config)
    service.privilegedStartService()
    service.startService()
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    stdio.StandardIO(_ParentWatch(reactor), stdin=0, stdout=os.dup(1))  # type: ignore[call-arg]
    reactor.run()


if __name__ == "__main__":
    workerMain()
