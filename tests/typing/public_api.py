"""
Checked by mypy in CI (see pyproject.toml), never run: what a user's type
checker sees of txws's public API. Each ``type: ignore`` marks an error the
checker must report (``warn_unused_ignores`` fails the gate if it does not).
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort

import txws


async def handler(websocket: txws.WebSocketServerProtocol) -> None:
    message: str | bytes = await websocket.recv()
    await websocket.send(message)
    latency: float = await websocket.ping()
    print(latency)
    stream: txws.MessageStream = websocket.recvStreaming()
    async for piece in stream:
        kept: str | bytes = piece
        print(kept)
    await stream.aclose()


def results() -> None:
    listening: Deferred[txws.WebSocketServer] = txws.serve(
        handler, "tcp:0", maxSize=2**16, maxConnections=3
    )

    def stop(server: txws.WebSocketServer) -> Deferred[None]:
        port: IListeningPort = server  # a WebSocketServer is the listening port
        print(port.getHost(), len(server.connections))
        return server.close(closeConnections=True)

    listening.addCallback(stop)
    client: Deferred[txws.WebSocketClientProtocol] = txws.connect(
        "ws://127.0.0.1/", openTimeout=5, origin="https://example.com"
    )
    proxied = txws.connect("wss://example.com/", proxy="socks5h://127.0.0.1:1080")
    direct = txws.connect("ws://127.0.0.1/", proxy=None)
    print(proxied, direct)
    print(listening, client)


def misspelledOptions() -> None:
    txws.serve(handler, "tcp:0", maxSise=1)  # type: ignore[call-arg]
    txws.connect("ws://127.0.0.1/", pingIntreval=1)  # type: ignore[call-arg]
    txws.WebSocketServerFactory(handler, maxQueue="16")  # type: ignore[arg-type]


def badProxy() -> None:
    txws.connect("ws://127.0.0.1/", proxy=3128)  # type: ignore[arg-type]


def serverOnlyOptionsOnTheClient() -> None:
    txws.connect("ws://127.0.0.1/", origins=["x"])  # type: ignore[call-arg]
