# -*- test-case-name: tests.test_main -*-
"""
An interactive WebSocket client, for trying a server by hand::

    txws ws://localhost:8765/
    python -m txws wss://example.com/chat -H "Authorization: Bearer T"

Each line typed is sent as a text message; each message received is shown
(a binary one as its length and first bytes in hex). End of input (Ctrl-D)
or Ctrl-C closes the connection cleanly. The close code is shown with its
name; the exit status is 0 after a normal close (1000, 1001), 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from twisted.internet import defer, stdio, task
from twisted.protocols.basic import LineReceiver
from zope.interface import implementer

from . import connect
from ._version import __version__
from .closing import describeCloseCode
from .exceptions import ConnectionClosed, WebSocketError
from .frames import isNormalCloseCode

__all__ = ["main"]

PROMPT = "> "


def formatMessage(message: str | bytes) -> str:
    if isinstance(message, str):
        return f"< {message}"
    preview = message[:32].hex(" ")
    more = " ..." if len(message) > 32 else ""
    return f"< (binary, {len(message)} bytes) {preview}{more}"


class _Console:
    """
    Where the client writes. On a terminal, a prompt stays on the last
    line: each line shown erases it and draws it again below.
    """

    def __init__(self, out: Any, interactive: bool) -> None:
        self.out = out
        self.interactive = interactive

    def show(self, text: str) -> None:
        if self.interactive:
            # Back to the start of the prompt's line, erase it, print, and
            # draw the prompt again.
            self.out.write(f"\r\x1b[K{text}\n{PROMPT}")
        else:
            self.out.write(f"{text}\n")
        self.out.flush()

    def end(self) -> None:
        if self.interactive:
            self.out.write("\r\x1b[K")
            self.out.flush()


class _Input(LineReceiver):
    delimiter = b"\n"

    def __init__(self, websocket: Any, done: defer.Deferred, console: _Console) -> None:
        self.websocket = websocket
        self.done = done
        self.console = console

    def lineReceived(self, line: bytes) -> None:
        text = line.rstrip(b"\r").decode("utf-8", "replace")
        if self.websocket.open:
            self.websocket.send(text).addErrback(lambda f: None)
        if self.console.interactive:
            self.console.out.write(PROMPT)
            self.console.out.flush()

    def connectionLost(self, reason: Any = None) -> None:
        # End of input: close the WebSocket connection cleanly.
        if not self.done.called:
            self.done.callback(None)


def _insecureTLS(host: str) -> Any:
    """TLS to C{host} (its name still sent for SNI) with no certificate check."""
    from OpenSSL import SSL
    from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
    from twisted.internet.ssl import CertificateOptions

    context = CertificateOptions(verify=False).getContext()

    @implementer(IOpenSSLClientConnectionCreator)
    class Insecure:
        def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
            connection = SSL.Connection(context, None)
            connection.set_tlsext_host_name(host.encode("idna"))
            connection.set_app_data(tlsProtocol)
            return connection

    return Insecure()


def _headers(values: list[str]) -> list[tuple[str, str]]:
    headers = []
    for value in values:
        name, colon, rest = value.partition(":")
        if not colon or not name.strip():
            raise SystemExit(f"txws: -H {value!r}: expected 'Name: value'")
        headers.append((name.strip(), rest.strip()))
    return headers


async def run(
    reactor: Any,
    uri: str,
    out: Any = sys.stdout,
    *,
    interactive: bool = False,
    insecure: bool = False,
    headers: list[tuple[str, str]] | None = None,
    subprotocols: list[str] | None = None,
) -> int:
    console = _Console(out, interactive)
    options: dict[str, Any] = {}
    if headers:
        options["additionalHeaders"] = headers
    if subprotocols:
        options["subprotocols"] = subprotocols
    tlsOptions = None
    if insecure and uri.startswith("wss:"):
        from .uri import parseURI

        print(
            "txws: --insecure: the server's certificate is NOT checked;"
            " anyone on the path can read and change this connection.",
            file=sys.stderr,
            flush=True,
        )
        tlsOptions = _insecureTLS(parseURI(uri).host)
    try:
        websocket = await connect(uri, reactor, tlsOptions=tlsOptions, **options)
    except (WebSocketError, OSError, ValueError) as e:
        console.show(f"Failed to connect to {uri}: {e}")
        return 1
    except Exception as e:  # TLS and DNS errors come in many shapes
        console.show(f"Failed to connect to {uri}: {e!r}")
        return 1
    chosen = f" (subprotocol {websocket.subprotocol})" if websocket.subprotocol else ""
    console.show(f"Connected to {uri}{chosen}.")
    endOfInput: defer.Deferred = defer.Deferred()
    stdio.StandardIO(_Input(websocket, endOfInput, console), reactor=reactor)
    # Ctrl-C stops the reactor: close cleanly before it does.
    reactor.addSystemEventTrigger("before", "shutdown", lambda: _closeNow(websocket))

    async def printMessages() -> None:
        try:
            while True:
                console.show(formatMessage(await websocket.recv()))
        except ConnectionClosed:
            pass

    printing = defer.ensureDeferred(printMessages())
    closed = websocket.whenClosed()
    await defer.DeferredList([endOfInput, closed], fireOnOneCallback=True)
    if websocket.open:
        await websocket.close()
    await closed
    await printing
    reason = f": {websocket.closeReason}" if websocket.closeReason else ""
    console.show(f"Connection closed: {describeCloseCode(websocket.closeCode)}{reason}.")
    console.end()
    return 0 if isNormalCloseCode(websocket.closeCode) else 1


def _closeNow(websocket: Any) -> Any:
    if websocket.open:
        return websocket.close()
    return None


def main(argv: list[str] | None = None) -> None:
    """The C{txws} command (also C{python -m txws})."""
    import twisted

    doc = (__doc__ or "").split("\n\n")
    parser = argparse.ArgumentParser(
        prog="txws",
        description=doc[0].strip().rstrip(":") + ".\n\n" + doc[2].strip(),
        epilog="examples:\n" + doc[1].rstrip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("uri", help="the ws:// or wss:// URI to connect to")
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="an extra request header (repeatable)",
    )
    parser.add_argument(
        "--subprotocol",
        action="append",
        default=[],
        metavar="NAME",
        help="a subprotocol to offer, in order of preference (repeatable)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="do not check the server's TLS certificate (for testing only)",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"txws {__version__} (Twisted {twisted.__version__},"
        f" Python {sys.version.split()[0]})",
    )
    args = parser.parse_args(argv)
    headers = _headers(args.header)

    async def _main(reactor: Any) -> None:
        code = await run(
            reactor,
            args.uri,
            interactive=sys.stdin.isatty() and sys.stdout.isatty(),
            insecure=args.insecure,
            headers=headers,
            subprotocols=args.subprotocol,
        )
        if code:
            raise SystemExit(code)

    task.react(lambda reactor: defer.ensureDeferred(_main(reactor)))


if __name__ == "__main__":
    main()
