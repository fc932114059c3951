"""The twistd plugin: options, and real twistd processes."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from twisted.python import usage

from txws import tap

from .realnet import freePort, selfSignedCertificate

ROOT = Path(__file__).resolve().parent.parent
TWISTD = [str(Path(sys.executable).with_name("twistd"))]


def parse(*args: str) -> tap.Options:
    options = tap.Options()
    options.parseOptions(list(args))
    return options


class TestOptions:
    def test_logFrames(self):
        """--log-frames turns frame logging on for the service's connections; off by default."""
        assert (
            tap.makeService(parse("--handler", "examples.echo.echo")).factory.options.logFrames
            is False
        )
        options = parse("--handler", "examples.echo.echo", "--log-frames")
        assert tap.makeService(options).factory.options.logFrames is True

    def test_defaults(self):
        """With only --handler: port tcp:8765 and the ServerOptions defaults."""
        options = parse("--handler", "examples.echo.echo")
        assert options["ports"] == ["tcp:8765"]
        assert callable(options["handler"])
        assert options["max-size"] == 2**20 and options["ping-interval"] == 20.0

    def test_everything(self):
        """Every flag parses into its option, repeated ones into lists, 'none' into None."""
        options = parse(
            "--handler",
            "examples.echo.echo",
            "--port",
            "tcp:1",
            "-p",
            "tcp:2",
            "--max-size",
            "100",
            "--max-queue",
            "none",
            "--ping-interval",
            "1.5",
            "--subprotocol",
            "a",
            "--subprotocol",
            "b",
            "--origin",
            "https://x",
            "--origin",
            "none",
            "--no-compression",
            "--max-connections",
            "3",
        )
        assert options["ports"] == ["tcp:1", "tcp:2"]
        assert options["max-size"] == 100 and options["max-queue"] is None
        assert options["ping-interval"] == 1.5
        assert options["subprotocols"] == ["a", "b"]
        assert options["origins"] == ["https://x", None]
        service = tap.makeService(options)
        factory = service.factory
        assert factory.options.maxSize == 100
        assert factory.options.extensions == []
        assert factory.options.maxConnections == 3

    @pytest.mark.parametrize(
        "args,message",
        [
            ((), "--handler MODULE.ATTR is required"),
            (("--handler", "echo"), "must be MODULE.ATTR"),
            (("--handler", "no_such_module.fn"), "cannot import module"),
            (("--handler", "examples.echo.nothing"), "has no attribute"),
            (("--handler", "examples.echo.sys"), "is not callable"),
            (
                ("--handler", "examples.echo.echo", "--max-size", "big"),
                "^--max-size must be a number of bytes or 'none', not 'big'$",
            ),
            (
                ("--handler", "examples.echo.echo", "--max-size", "-1"),
                "^--max-size must be positive, not '-1'$",
            ),
            (
                ("--handler", "examples.echo.echo", "--ping-timeout", "x"),
                "^--ping-timeout .* seconds",
            ),
            (("--handler", "examples.echo.echo", "--port", "nonsense:1"), "invalid --port"),
            (("--handler", "examples.echo.echo", "--static", "/no/such/dir"), "not a directory"),
            (("--handler", "examples.echo.echo", "--path", "ws"), "--path"),
            (("--handler", "examples.echo.echo", "--metrics", "metrics"), "^--metrics must"),
            (
                ("--handler", "examples.echo.echo", "--static", ".", "--metrics", "/ws"),
                "--metrics and --path must differ",
            ),
        ],
    )
    def test_errors(self, args, message):
        """Each bad flag value is a UsageError that says what is wrong."""
        with pytest.raises(usage.UsageError, match=message):
            parse(*args)


def startTwistd(*args: str, cwd: Path = ROOT) -> subprocess.Popen:
    process = subprocess.Popen(
        TWISTD + ["-n", "--pidfile=", "websocket", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process


def waitListening(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    """Read twistd's log (in a thread) until it says it listens on C{port}."""
    import queue
    import threading

    lines: queue.Queue = queue.Queue()
    process.outputLines = []  # type: ignore[attr-defined]

    def pump():
        for line in process.stdout:
            process.outputLines.append(line)
            lines.put(line)
        lines.put(None)

    process.reader = threading.Thread(target=pump, daemon=True)  # type: ignore[attr-defined]
    process.reader.start()
    deadline = time.monotonic() + seconds
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(
                "twistd did not start listening:\n" + "".join(process.outputLines)
            ) from None
        if line is None:
            raise AssertionError("twistd exited:\n" + "".join(process.outputLines))
        if f"starting on {port}" in line:
            return


def stop(process: subprocess.Popen) -> str:
    """Stop twistd; return its output (what the reader thread has not taken)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    reader = getattr(process, "reader", None)
    if reader is not None:
        reader.join(10)
    return "".join(getattr(process, "outputLines", []))


pytestmark = pytest.mark.sockets


def test_serves_and_stops_gracefully():
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    port = freePort()
    process = startTwistd(
        "--handler", "examples.echo.echo", "--port", f"tcp:{port}:interface=127.0.0.1"
    )
    try:
        waitListening(port, process)
        with connect(f"ws://127.0.0.1:{port}/", open_timeout=10) as ws:
            ws.send("through twistd")
            assert ws.recv(timeout=10) == "through twistd"
            process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as e:
                ws.recv(timeout=20)
            assert e.value.rcvd.code == 1001
        # twistd re-raises the signal that stopped it, once it shut down.
        assert process.wait(30) in (0, -signal.SIGTERM)
    finally:
        out = stop(process)
    assert f"txws serving ws://127.0.0.1:{port}/\n" in out
    assert "Closing 1 WebSocket connections" in out


def test_tls_port(tmp_path):
    from websockets.sync.client import connect

    certPEM, keyPEM = selfSignedCertificate("localhost")
    (tmp_path / "cert.pem").write_bytes(certPEM)
    (tmp_path / "key.pem").write_bytes(keyPEM)
    port = freePort()
    process = startTwistd(
        "--handler",
        "examples.echo.echo",
        "--port",
        f"ssl:{port}:interface=127.0.0.1:privateKey={tmp_path / 'key.pem'}"
        f":certKey={tmp_path / 'cert.pem'}",
    )
    try:
        waitListening(port, process)
        context = ssl.create_default_context(cadata=certPEM.decode())
        with connect(f"wss://localhost:{port}/", ssl=context, open_timeout=10) as ws:
            ws.send("secure")
            assert ws.recv(timeout=10) == "secure"
    finally:
        out = stop(process)
    assert f"txws serving wss://127.0.0.1:{port}/\n" in out


def test_bad_handler_is_one_line_and_nonzero():
    result = subprocess.run(
        TWISTD + ["-n", "--pidfile=", "websocket", "--handler", "examples.echo.missing"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "has no attribute 'missing'" in output
    assert "Traceback" not in output


def test_static_and_websocket_on_one_port():
    import urllib.error
    import urllib.request

    from websockets.sync.client import connect

    port = freePort()
    process = startTwistd(
        "--handler",
        "examples.echo.echo",
        "--static",
        "examples/chat/static",
        "--port",
        f"tcp:{port}:interface=127.0.0.1",
    )
    try:
        waitListening(port, process)
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read()
        assert b"txws chat" in page
        # The handler's source is beside the page's directory, not in it.
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/__init__.py", timeout=10)
        assert e.value.code == 404
        with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10) as ws:
            ws.send("same port")
            assert ws.recv(timeout=10) == "same port"
    finally:
        out = stop(process)
    assert (
        f"txws serving ws://127.0.0.1:{port}/ws; files from examples/chat/static"
        f" at http://127.0.0.1:{port}/\n"
    ) in out


def test_echo_tac():
    """examples/echo.tac runs under twistd -y and echoes."""
    from websockets.sync.client import connect

    port = freePort()
    process = subprocess.Popen(
        TWISTD + ["-n", "--pidfile=", "-y", "examples/echo.tac"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, TXWS_PORT=f"tcp:{port}:interface=127.0.0.1"),
    )
    try:
        waitListening(port, process)
        with connect(f"ws://127.0.0.1:{port}/", open_timeout=10) as ws:
            ws.send("tac")
            assert ws.recv(timeout=10) == "tac"
    finally:
        stop(process)


@pytest.mark.parametrize("how", ["plugin", "tac"])
@pytest.mark.parametrize("busy", [True, False])
def test_cannot_listen_is_one_line_and_nonzero(how, busy):
    """Like twistd web: a port that cannot be listened on ends twistd at once."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        port = holder.getsockname()[1]
        description = f"tcp:{port}:interface=127.0.0.1" if busy else "tcp:99999"
        if how == "plugin":
            args = ["websocket", "--handler", "examples.echo.echo", "--port", description]
            env = os.environ
        else:
            args = ["-y", "examples/echo.tac"]
            env = dict(os.environ, TXWS_PORT=description)
        result = subprocess.run(
            TWISTD + ["-n", "--pidfile="] + args,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    finally:
        holder.close()
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"txws: cannot listen on {description}" in output
    assert "Traceback" not in output
