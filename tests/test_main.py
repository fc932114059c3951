"""
C{python -m txws} (L{txws.__main__}), the interactive client, run as a
subprocess against a real server.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import pytest_twisted

from .realnet import freePort, serveOn, within

pytestmark = pytest.mark.sockets


async def echo(ws):
    async for message in ws:
        await ws.send(message)


class TestCommandLine:
    @pytest_twisted.ensureDeferred
    async def test_interactive_client(self):
        """
        python -m txws URI: lines typed are sent, text and binary messages are shown, and
        the server's close code is reported.
        """

        async def greeter(ws):
            await ws.send(b"\x00\x01\x02")
            async for message in ws:
                if message == "bye":
                    await ws.close(4000, "see you")
                    return
                await ws.send(f"got {message}")

        port, url = await serveOn(greeter)
        try:
            from twisted.internet.threads import deferToThread

            def run():
                return subprocess.run(
                    [sys.executable, "-m", "txws", url],
                    input="hello\nbye\n",
                    capture_output=True,
                    text=True,
                    timeout=30,
                )

            result = await within(deferToThread(run), 40)
            out = result.stdout
            assert f"Connected to {url}." in out
            assert "< (binary, 3 bytes) 00 01 02" in out
            assert "< got hello" in out
            assert "Connection closed: 4000 see you." in out
        finally:
            await port.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_end_of_input_closes_cleanly(self):
        port, url = await serveOn(echo)
        try:
            from twisted.internet.threads import deferToThread

            def run():
                return subprocess.run(
                    [sys.executable, "-m", "txws", url],
                    input="",
                    capture_output=True,
                    text=True,
                    timeout=30,
                )

            result = await within(deferToThread(run), 40)
            assert result.returncode == 0, result.stderr
            assert "Connection closed: 1000." in result.stdout
        finally:
            await port.stopListening()

    def test_connection_refused(self):
        free = freePort()
        result = subprocess.run(
            [sys.executable, "-m", "txws", f"ws://127.0.0.1:{free}/"],
            input="",
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode != 0
        assert "Failed to connect" in result.stdout
        assert "Traceback" not in result.stderr
