"""
L{txws.workers}: C{twistd websocket --workers N}: the parent's sockets,
adopted in this process (TLS too), and real twistd processes: workers on
one port, one killed and replaced, SIGTERM closing every connection with
1001, and workers that stop when their parent is killed.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.python import usage

import txws
from txws.listening import AdoptedEndpoint, bindPort
from txws.tap import Options

from .realnet import freePort, tlsServerDescription, within
from .test_tap import ROOT, TWISTD

pytestmark = pytest.mark.sockets


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--workers", "0"), "at least 1"),
        (("--workers", "two"), "whole number"),
        (("--workers", "2", "--port", "unix:/tmp/x.sock"), "tcp: and ssl:"),
        (("--workers", "2", "--metrics", "/metrics"), "not supported yet"),
    ],
)
def test_usage(args, words):
    with pytest.raises(usage.UsageError, match=words):
        Options().parseOptions(["--handler", "examples.echo.echo", *args])


@pytest_twisted.ensureDeferred
async def test_adoptedSocketServes():
    """A socket bound as the parent does, adopted as a worker does."""
    bound = await bindPort(reactor, "tcp:0:interface=127.0.0.1")
    number = bound.port
    fd = os.dup(bound.socket.fileno())
    bound.socket.close()
    endpoint = AdoptedEndpoint(reactor, "tcp:0:interface=127.0.0.1", fd, 2)
    port = await endpoint.listen(txws.WebSocketServerFactory(echo))
    try:
        ws = await within(txws.connect(f"ws://127.0.0.1:{number}/"))
        await within(ws.send("adopted"))
        assert await within(ws.recv()) == "adopted"
        await within(ws.close())
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_adoptedTLSSocketServes(tmp_path):
    from twisted.internet.ssl import Certificate, optionsForClientTLS

    description, certPEM, _ = tlsServerDescription(tmp_path)
    bound = await bindPort(reactor, description)
    number = bound.port
    fd = os.dup(bound.socket.fileno())
    bound.socket.close()
    port = await AdoptedEndpoint(reactor, description, fd, 2).listen(
        txws.WebSocketServerFactory(echo)
    )
    try:
        trusted = optionsForClientTLS("localhost", trustRoot=Certificate.loadPEM(certPEM))
        ws = await within(txws.connect(f"wss://localhost:{number}/", tlsOptions=trusted))
        await within(ws.send("secure"))
        assert await within(ws.recv()) == "secure"
        await within(ws.close())
    finally:
        await port.stopListening()


def test_onlyStreamPortsBind():
    failures = []
    bindPort(reactor, "unix:/tmp/nope.sock").addErrback(failures.append)
    assert "tcp: and ssl:" in str(failures[0].value)


class Twistd:
    """twistd websocket --workers 2 serving tests.workerhandler.pid, its log read as it comes."""

    def __init__(self, *args: str) -> None:
        self.port = freePort()
        self.process = subprocess.Popen(
            TWISTD
            + ["-n", "--pidfile=", "websocket", "--handler", "tests.workerhandler.pid"]
            + ["--port", f"tcp:{self.port}:interface=127.0.0.1", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def waitFor(self, pattern: str, seconds: float = 60) -> re.Match:
        """The next log line matching C{pattern} (a hang fails, not slowness)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {pattern!r} in:\n" + "".join(self.output)) from None
            if line is None:
                raise AssertionError(f"twistd exited before {pattern!r}:\n" + "".join(self.output))
            match = re.search(pattern, line)
            if match:
                return match

    def started(self, count: int) -> set[int]:
        """Wait until C{count} workers serve; their pids."""
        pids = set()
        while len(pids) < count:
            pids.add(int(self.waitFor(r"\[worker (\d+)\] .*txws serving ws://")[1]))
        return pids

    def connect(self):
        from websockets.sync.client import connect

        ws = connect(f"ws://127.0.0.1:{self.port}/", open_timeout=10)
        return ws, int(ws.recv(timeout=10))

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return "".join(self.output)


def waitGone(pids, seconds: float = 60) -> None:
    """Until every pid has exited: a pidfd becomes readable then (no polling)."""
    import select

    deadline = time.monotonic() + seconds
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            readable, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            assert readable, f"worker {pid} still running after {seconds} s"
        finally:
            os.close(fd)


def test_killedWorkerIsReplacedWhileTheOtherServes():
    twistd = Twistd("--workers", "2")
    try:
        pids = twistd.started(2)
        ws, first = twistd.connect()
        assert first in pids
        ws.close()
        os.kill(first, signal.SIGKILL)
        twistd.waitFor(rf"worker {first} ended")
        # The other goes on serving at once.
        ws, second = twistd.connect()
        assert second in pids - {first}
        ws.send("still here")
        assert ws.recv(timeout=10) == "still here"
        ws.close()
        replacement = int(twistd.waitFor(r"txws worker (\d+) started")[1])
        assert replacement not in pids
        twistd.waitFor(rf"\[worker {replacement}\] .*txws serving")
    finally:
        out = twistd.stop()
    assert "starting another in" in out


def test_sigtermClosesEveryConnectionWith1001():
    from websockets.exceptions import ConnectionClosed

    twistd = Twistd("--workers", "2")
    try:
        pids = twistd.started(2)
        clients = [twistd.connect() for _ in range(6)]
        twistd.process.send_signal(signal.SIGTERM)
        for ws, _ in clients:
            with pytest.raises(ConnectionClosed) as e:
                ws.recv(timeout=30)
            assert e.value.rcvd.code == 1001
        assert twistd.process.wait(60) in (0, -signal.SIGTERM)
        waitGone(pids)
    finally:
        out = twistd.stop()
    assert "txws workers all stopped" in out


def test_workersStopWhenTheParentIsKilled():
    twistd = Twistd("--workers", "2")
    try:
        pids = twistd.started(2)
        twistd.process.kill()
        twistd.process.wait(30)
        waitGone(pids)
    finally:
        twistd.stop()


def test_runsAsAModule():
    """python -m txws.workers is what the parent runs: it needs its config."""
    result = subprocess.run(
        [sys.executable, "-m", "txws.workers"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0


@pytest_twisted.ensureDeferred
async def test_reusePortLetsTwoServersShareAPort():
    """serve(reusePort=True) twice on one port: both listen, and it serves."""
    number = freePort()
    description = f"tcp:{number}:interface=127.0.0.1"
    one = await txws.serve(echo, description, reusePort=True)
    two = await txws.serve(echo, description, reusePort=True)
    try:
        assert one.getHost().port == two.getHost().port == number
        ws = await within(txws.connect(f"ws://127.0.0.1:{number}/"))
        await within(ws.send("shared"))
        assert await within(ws.recv()) == "shared"
        await within(ws.close())
        # Without it, the port is taken.
        from twisted.internet.error import CannotListenError

        with pytest.raises(CannotListenError):
            await txws.serve(echo, description)
    finally:
        await one.close()
        await two.close()


def test_reusePortNeedsAStreamPort():
    with pytest.raises(ValueError, match="tcp: and ssl:"):
        txws.serve(echo, "unix:/tmp/nope.sock", reusePort=True)
    with pytest.raises(TypeError, match="strports"):
        txws.WebSocketService([object()], echo, reusePort=True)
