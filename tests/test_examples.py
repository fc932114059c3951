"""The examples run as a user runs them: in subprocesses, over loopback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.sockets


def startServer(script: str) -> tuple[subprocess.Popen, int]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / script), "tcp:0:interface=127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    line = process.stdout.readline()
    match = re.search(r"localhost:(\d+)/", line)
    if match is None:
        process.kill()
        raise AssertionError(f"server did not start: {line!r}")
    return process, int(match.group(1))


def run(args: list[str], stdin: str = "") -> str:
    result = subprocess.run(
        [sys.executable, *args], input=stdin, capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_hello_client_and_server():
    server, port = startServer("server.py")
    try:
        out = run([str(ROOT / "examples" / "client.py"), f"ws://127.0.0.1:{port}/"], "Alice\n")
        assert ">>> Alice" in out
        assert "<<< Hello Alice!" in out
    finally:
        server.terminate()
        server.wait(10)


def test_echo_server_with_websockets_client():
    server, port = startServer("echo.py")
    try:
        code = (
            "from websockets.sync.client import connect\n"
            f"with connect('ws://127.0.0.1:{port}/', open_timeout=10) as c:\n"
            "    c.send('ping'); print(c.recv(timeout=10))\n"
        )
        assert run(["-c", code]).strip() == "ping"
    finally:
        server.terminate()
        server.wait(10)
