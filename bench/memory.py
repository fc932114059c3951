"""
Memory of one server connection, with and without permessage-deflate and
the keepalive.

    python bench/memory.py [CONNECTIONS]

For each setting, starts a txws echo server in a fresh process that traces
its allocations (tracemalloc, which sees zlib's buffers too), opens
CONNECTIONS connections to it from this process with the websockets client,
and reports the server's memory per connection: idle right after the
handshake, and after each connection echoed one 1 KiB JSON-like message.
The first two rows have keepalive pings off, as the benchmarks do; the
third has txws's defaults (pings every 20 s), without compression.
Prints a Markdown table. Not part of the test suite.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tracemalloc

SETTINGS = {"none": ("none", None), "deflate": ("deflate", None), "none, keepalive": ("none", 20.0)}


def serve(setting: str) -> None:
    compression, pingInterval = SETTINGS[setting]
    tracemalloc.start()
    from twisted.internet import defer, task

    import txws

    async def handler(ws):
        async for message in ws:
            if message == "stats":
                current = tracemalloc.get_traced_memory()[0]
                await ws.send(
                    json.dumps({"bytes": current, "connections": len(factory.connections)})
                )
            else:
                await ws.send(message)

    factory = txws.WebSocketServerFactory(
        handler,
        compression=None if compression == "none" else compression,
        pingInterval=pingInterval,
        maxConnections=None,
    )

    async def main(reactor):
        from twisted.internet.endpoints import serverFromString

        port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(factory)
        print(port.getHost().port, flush=True)
        await defer.Deferred()

    task.react(lambda reactor: defer.ensureDeferred(main(reactor)))


async def measure(port: int, count: int, setting: str) -> dict:
    compression = SETTINGS[setting][0]
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/"
    options = dict(compression=None if compression == "none" else "deflate", ping_interval=None)

    async def stats(control) -> int:
        await control.send("stats")
        return json.loads(await control.recv())["bytes"]

    async with connect(url, **options) as control:
        for _ in range(3):
            await stats(control)  # let one-time allocations happen first
        base = await stats(control)
        clients = [await connect(url, **options) for _ in range(count)]
        await asyncio.sleep(0.2)
        idle = await stats(control)
        message = json.dumps(
            [
                {"id": i, "name": f"user{i}", "active": True, "tags": ["a", "b", "c"]}
                for i in range(16)
            ]
        )[:1024]
        for c in clients:
            await c.send(message)
            assert await c.recv() == message
        await asyncio.sleep(0.2)
        used = await stats(control)
        for c in clients:
            await c.close()
    return {"idle": (idle - base) / count, "used": (used - base) / count}


def main(count: int = 200) -> None:
    rows = []
    for setting in SETTINGS:
        server = subprocess.Popen(
            [sys.executable, __file__, "serve", setting], stdout=subprocess.PIPE, text=True
        )
        try:
            port = int(server.stdout.readline())
            result = asyncio.run(measure(port, count, setting))
        finally:
            server.terminate()
            server.wait(10)
        rows.append((setting, result))
    print(f"Server memory per connection ({count} connections, tracemalloc):\n")
    print("| compression | idle | after one 1 KiB message each |")
    print("|---|---:|---:|")
    for setting, r in rows:
        print(f"| {setting} | {r['idle'] / 1024:.2f} KiB | {r['used'] / 1024:.2f} KiB |")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        main(*(int(a) for a in sys.argv[1:]))
