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


async def echo(ws):
    async for message in ws:
        await ws.send(message)


@pytest.mark.sockets
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
            assert "Connection closed: 4000 (private use): see you." in out
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
            assert "Connection closed: 1000 (OK)." in result.stdout
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


def runClient(*args: str, input: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "txws", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.sockets
class TestOptions:
    @pytest_twisted.ensureDeferred
    async def test_headersAndSubprotocolsReachTheServer(self):
        from twisted.internet.threads import deferToThread

        seen = []

        def processRequest(ws, request):
            seen.append(request.headers.get("Authorization"))

        async def hello(ws):
            await ws.send(f"hi {ws.subprotocol}")

        port, url = await serveOn(hello, processRequest=processRequest, subprotocols=["chat"])
        try:
            result = await within(
                deferToThread(
                    runClient, url, "-H", "Authorization: Bearer t0k", "--subprotocol", "chat"
                ),
                40,
            )
            assert seen == ["Bearer t0k"]
            assert f"Connected to {url} (subprotocol chat)." in result.stdout
            assert "< hi chat" in result.stdout
            assert "Connection closed: 1000 (OK)." in result.stdout
            assert result.returncode == 0
        finally:
            await port.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_insecureSkipsTheCertificateCheckLoudly(self, tmp_path):
        from twisted.internet.threads import deferToThread

        import txws

        from .realnet import tlsServerDescription

        description = tlsServerDescription(tmp_path)[0]
        port = await txws.serve(echo, description)
        url = f"wss://localhost:{port.getHost().port}/"
        try:
            checked = await within(deferToThread(runClient, url), 40)
            assert checked.returncode != 0
            assert "certificate could not be verified" in checked.stdout
            result = await within(deferToThread(runClient, url, "--insecure", input="x\n"), 40)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "NOT checked" in result.stderr
            assert "< x" in result.stdout
        finally:
            await port.stopListening()


def test_version():
    result = runClient("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("txws 0.1.0 (Twisted ")


def test_badHeaderIsOneLine():
    result = runClient("ws://127.0.0.1:1/", "-H", "no colon")
    assert result.returncode != 0
    assert result.stderr.strip() == "txws: -H 'no colon': expected 'Name: value'"


def test_promptStaysBelowWhatIsShown():
    """On a terminal, each line shown erases the prompt and draws it again after."""
    import io

    from txws.__main__ import _Console

    out = io.StringIO()
    console = _Console(out, interactive=True)
    console.show("< one")
    console.show("< two")
    console.end()
    assert out.getvalue() == "\r\x1b[K< one\n> \r\x1b[K< two\n> \r\x1b[K"
    plain = io.StringIO()
    _Console(plain, interactive=False).show("< one")
    assert plain.getvalue() == "< one\n"
