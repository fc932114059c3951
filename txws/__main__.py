# -*- test-case-name: tests.test_main -*-
"""
An interactive WebSocket client:

    python -m txws ws://localhost:8765/

Sends each line typed as a text message and prints each message received
(binary ones as their length and first bytes in hex). End of input (Ctrl-D)
or Ctrl-C closes the connection cleanly; the close code and reason are
shown.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from twisted.internet import defer, stdio, task
from twisted.protocols.basic import LineReceiver

from . import connect
from .exceptions import ConnectionClosed, WebSocketError
from .frames import isNormalCloseCode

__all__ = ["main"]


def formatMessage(message: str | bytes) -> str:
    if isinstance(message, str):
        return f"< {message}"
    preview = message[:32].hex(" ")
    more = " ..." if len(message) > 32 else ""
    return f"< (binary, {len(message)} bytes) {preview}{more}"


class _Input(LineReceiver):
    delimiter = b"\n"

    def __init__(self, websocket: Any, done: defer.Deferred) -> None:
        self.websocket = websocket
        self.done = done

    def lineReceived(self, line: bytes) -> None:
        text = line.rstrip(b"\r").decode("utf-8", "replace")
        if self.websocket.open:
            self.websocket.send(text).addErrback(lambda f: None)

    def connectionLost(self, reason: Any = None) -> None:
        # End of input: close the WebSocket connection cleanly.
        if not self.done.called:
            self.done.callback(None)


async def run(reactor: Any, uri: str, out: Any = sys.stdout) -> int:
    def show(text: str) -> None:
        print(text, file=out, flush=True)

    try:
        websocket = await connect(uri, reactor=reactor)
    except (WebSocketError, OSError) as e:
        show(f"Failed to connect to {uri}: {e}")
        return 1
    except Exception as e:  # TLS and DNS errors come in many shapes
        show(f"Failed to connect to {uri}: {e!r}")
        return 1
    show(f"Connected to {uri}.")
    endOfInput: defer.Deferred = defer.Deferred()
    stdio.StandardIO(_Input(websocket, endOfInput), reactor=reactor)
    # Ctrl-C stops the reactor: close cleanly before it does.
    reactor.addSystemEventTrigger("before", "shutdown", lambda: _closeNow(websocket))

    async def printMessages() -> None:
        try:
            while True:
                show(formatMessage(await websocket.recv()))
        except ConnectionClosed:
            pass

    printing = defer.ensureDeferred(printMessages())
    closed = websocket.whenClosed()
    await defer.DeferredList([endOfInput, closed], fireOnOneCallback=True)
    if websocket.open:
        await websocket.close()
    await closed
    await printing
    reason = f" {websocket.closeReason}" if websocket.closeReason else ""
    show(f"Connection closed: {websocket.closeCode}{reason}.")
    return 0 if isNormalCloseCode(websocket.closeCode) else 1


def _closeNow(websocket: Any) -> Any:
    if websocket.open:
        return websocket.close()
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m txws", description=__doc__.split("\n\n")[1])
    parser.add_argument("uri", help="ws:// or wss:// URI to connect to")
    args = parser.parse_args(argv)

    async def _main(reactor: Any) -> None:
        code = await run(reactor, args.uri)
        if code:
            raise SystemExit(code)

    task.react(lambda reactor: defer.ensureDeferred(_main(reactor)))


if __name__ == "__main__":
    main()
