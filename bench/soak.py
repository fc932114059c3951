"""
Soak: many concurrent connections to one txws server process for a while,
then many short ones in a row, with the server's memory watched.

    python bench/soak.py [--connections 10000] [--duration 300]
                         [--sequential 20000] [--json out.json]

The server (a default txws echo server, compression on) runs in its own
process and prints every warning or error it logs. This process opens
CONNECTIONS connections and keeps them all busy for DURATION seconds: each
sends messages of random sizes (text with multi-byte UTF-8, and binary),
checks that each comes back intact, and now and then closes cleanly or
drops its TCP connection without a close frame and reconnects. Then all
leave (the server collects garbage and gives glibc's free memory back
before each measure), and SEQUENTIAL connections are made one after another (connect, one
message, close).

Exits 1 unless: every message came back intact (count and checksum), no
connection closed unexpectedly, the server logged no warning or error, its
RSS after everyone left is within a margin of its RSS before (after a
warm-up) and so is its count of live Python objects, and its RSS stayed
flat over the sequential connections. Prints the figures; ``--json``
writes them too.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

TEXT = "aé€☃𝄞 z"

# RSS may stay this far above its start once everyone left (the allocator
# keeps some freed memory), and grow this much over the sequential run.
RETURN_MARGIN = 0.25  # of the growth at the peak, at least RETURN_FLOOR
RETURN_FLOOR = 8 * 2**20
FLAT_MARGIN = 4 * 2**20
# Live Python objects after everyone left, beyond those at the start.
BLOCKS_MARGIN = 5000


def raiseFileLimit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard == resource.RLIM_INFINITY else min(hard, max(soft, wanted))
    if target != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < wanted:
        raise SystemExit(f"soak: need {wanted} file descriptors, the hard limit is {hard}")


def serve(connections: int) -> None:
    """The server process: a default echo server, warnings printed."""
    raiseFileLimit(connections + 100)
    from twisted.internet import defer, task
    from twisted.logger import LogLevel, formatEvent, globalLogBeginner

    import txws

    def observer(event: dict) -> None:
        if event.get("log_level", LogLevel.info) >= LogLevel.warn or "log_failure" in event:
            text = formatEvent(event)
            if "log_failure" in event:
                text += "\n" + event["log_failure"].getTraceback()
            print("LOGGED " + text.replace("\n", "\n       "), flush=True)

    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        libc = None

    async def echo(ws):
        if ws.request.path == "/stats":
            # Give glibc's cached free memory back first, so that RSS shows
            # what the server holds rather than what the allocator keeps.
            gc.collect()
            if libc is not None:
                libc.malloc_trim(0)
            await ws.send(json.dumps({"blocks": sys.getallocatedblocks()}))
            return
        async for message in ws:
            await ws.send(message)

    async def main(reactor):
        port = await txws.serve(echo, "tcp:0:interface=127.0.0.1:backlog=4096")
        print(f"listening on {port.getHost().port}", flush=True)
        await defer.Deferred()

    task.react(lambda reactor: defer.ensureDeferred(main(reactor)))


async def settled(url: str, pid: int) -> tuple[int, int]:
    """The server's RSS and allocated blocks, after collecting garbage."""
    import txws

    ws = await txws.connect(url + "stats")
    blocks = json.loads(await ws.recv())["blocks"]
    await ws.close()
    return rss(pid), blocks


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class Tally:
    def __init__(self) -> None:
        self.sent = 0
        self.echoed = 0
        self.sentDigest = 0
        self.echoedDigest = 0
        self.mismatches = 0
        self.unexpected: list[str] = []
        self.cleanCloses = 0
        self.drops = 0
        self.connections = 0


def digest(message: str | bytes) -> int:
    raw = message.encode("utf-8") if isinstance(message, str) else message
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big")


def randomMessage(rng: random.Random) -> str | bytes:
    size = int(rng.expovariate(1 / 2000)) % 60000
    if rng.random() < 0.5:
        return "".join(rng.choice(TEXT) for _ in range(size // 2))
    return rng.randbytes(size)


async def client(url: str, until: float, tally: Tally, rng: random.Random, limit=None) -> None:
    """
    One connection slot: busy until C{until}, reconnecting as it goes;
    C{limit} (a DeferredSemaphore) bounds the connection attempts in flight.
    """
    from twisted.internet import reactor, task

    import txws

    while True:
        if limit is None:
            ws = await txws.connect(url, openTimeout=60)
        else:
            ws = await limit.run(txws.connect, url, openTimeout=60)
        tally.connections += 1
        try:
            while True:
                message = randomMessage(rng)
                tally.sent += 1
                tally.sentDigest ^= digest(message)
                await ws.send(message)
                answer = await ws.recv()
                tally.echoed += 1
                tally.echoedDigest ^= digest(answer)
                if answer != message:
                    tally.mismatches += 1
                if reactor.seconds() >= until:
                    await ws.close()
                    tally.cleanCloses += 1
                    return
                roll = rng.random()
                if roll < 0.02:
                    await ws.close()
                    tally.cleanCloses += 1
                    break
                if roll < 0.04:
                    ws.transport.abortConnection()
                    tally.drops += 1
                    await ws.whenClosed()
                    break
                # Think a little, as a real client would.
                await task.deferLater(reactor, rng.random() * 2, lambda: None)
        except txws.ConnectionClosed as e:
            tally.unexpected.append(repr(e))
            return


async def sequential(url: str, count: int, pid: int, samples: list[int], tally: Tally) -> None:
    import txws

    rng = random.Random(2)
    for i in range(count):
        ws = await txws.connect(url, openTimeout=60)
        message = randomMessage(rng)
        await ws.send(message)
        if await ws.recv() != message:
            tally.mismatches += 1
        await ws.close()
        if i % max(1, count // 20) == 0:
            samples.append(rss(pid))
    samples.append(rss(pid))


async def soak(reactor, args, server: subprocess.Popen, port: int) -> dict:
    from twisted.internet import defer, task

    url = f"ws://127.0.0.1:{port}/"
    pid = server.pid
    result: dict = {
        "connections": args.connections,
        "duration": args.duration,
        "sequential": args.sequential,
    }

    # A warm-up, so that "start" is the server after its first connections.
    warm = Tally()
    rng = random.Random(0)
    await defer.gatherResults(
        [defer.ensureDeferred(client(url, reactor.seconds(), warm, rng)) for _ in range(100)]
    )
    start, startBlocks = await settled(url, pid)

    tally = Tally()
    peak = start
    started = time.monotonic()
    until = reactor.seconds() + args.duration
    limit = defer.DeferredSemaphore(500)  # connects in flight at once

    def watch() -> None:
        nonlocal peak
        peak = max(peak, rss(pid))

    watcher = task.LoopingCall(watch)
    watcher.start(0.5)

    await defer.gatherResults(
        [
            defer.ensureDeferred(client(url, until, tally, random.Random(i + 1), limit))
            for i in range(args.connections)
        ]
    )
    watcher.stop()
    busy = time.monotonic() - started
    # Connections the server has not seen go yet are gone within a moment.
    await task.deferLater(reactor, 1, lambda: None)
    after, afterBlocks = await settled(url, pid)

    samples: list[int] = []
    sequentialStarted = time.monotonic()
    await sequential(url, args.sequential, pid, samples, tally)
    sequentialTime = time.monotonic() - sequentialStarted

    result.update(
        seconds=round(busy, 1),
        connectionsOpened=tally.connections,
        messages=tally.sent,
        echoed=tally.echoed,
        checksumsMatch=tally.sentDigest == tally.echoedDigest,
        mismatches=tally.mismatches,
        unexpectedCloses=tally.unexpected[:10],
        cleanCloses=tally.cleanCloses,
        drops=tally.drops,
        rssStart=start,
        rssPeak=peak,
        rssAfter=after,
        blocksStart=startBlocks,
        blocksAfter=afterBlocks,
        sequentialSeconds=round(sequentialTime, 1),
        rssSequential=[samples[0], samples[len(samples) // 2], samples[-1]] if samples else [],
    )
    return result


def check(result: dict, logged: list[str]) -> list[str]:
    problems = []
    if result["messages"] != result["echoed"] or not result["checksumsMatch"]:
        problems.append(
            f"{result['messages']} sent, {result['echoed']} echoed,"
            f" checksums match: {result['checksumsMatch']}"
        )
    if result["mismatches"]:
        problems.append(f"{result['mismatches']} messages came back changed")
    if result["unexpectedCloses"]:
        problems.append(f"unexpected closes: {result['unexpectedCloses']}")
    if logged:
        problems.append(f"the server logged {len(logged)} warnings or errors: {logged[0][:500]}")
    growth = result["rssPeak"] - result["rssStart"]
    margin = max(RETURN_FLOOR, RETURN_MARGIN * growth)
    if result["rssAfter"] - result["rssStart"] > margin:
        problems.append(
            f"RSS {result['rssAfter'] / 2**20:.1f} MiB after everyone left,"
            f" {result['rssStart'] / 2**20:.1f} MiB at the start"
        )
    if result["blocksAfter"] - result["blocksStart"] > BLOCKS_MARGIN:
        problems.append(
            f"{result['blocksAfter'] - result['blocksStart']} more Python"
            " objects alive after everyone left than at the start"
        )
    seq = result["rssSequential"]
    if seq and seq[-1] - seq[1] > FLAT_MARGIN:
        problems.append(
            f"RSS grew from {seq[1] / 2**20:.1f} to {seq[-1] / 2**20:.1f} MiB"
            " over the sequential connections"
        )
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--duration", type=float, default=300)
    parser.add_argument("--sequential", type=int, default=20000)
    parser.add_argument("--json")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    raiseFileLimit(args.connections + 100)

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.connections)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    line = server.stdout.readline()
    if not line.startswith("listening on "):
        server.kill()
        raise SystemExit(f"soak: server did not start: {line!r}")
    port = int(line.split()[-1])
    logged: list[str] = []

    import threading

    def readLogged() -> None:
        for line in server.stdout:
            if line.startswith("LOGGED "):
                logged.append(line)

    threading.Thread(target=readLogged, daemon=True).start()

    from twisted.internet import defer, task

    holder: dict = {}

    async def run(reactor):
        holder["result"] = await soak(reactor, args, server, port)

    try:
        task.react(lambda reactor: defer.ensureDeferred(run(reactor)))
    except SystemExit as e:
        if e.code:
            raise
    finally:
        server.terminate()
        server.wait(30)
    result = holder["result"]
    result["logged"] = logged[:10]
    problems = check(result, logged)
    mib = 2**20
    print(
        f"{result['connections']} concurrent connections for {result['seconds']} s:"
        f" {result['connectionsOpened']} opened, {result['messages']} messages,"
        f" {result['cleanCloses']} clean closes, {result['drops']} drops"
    )
    print(
        f"server RSS: {result['rssStart'] / mib:.1f} MiB at the start,"
        f" {result['rssPeak'] / mib:.1f} MiB at the peak,"
        f" {result['rssAfter'] / mib:.1f} MiB after everyone left;"
        f" Python blocks {result['blocksStart']} then {result['blocksAfter']}"
    )
    seq = result["rssSequential"]
    if seq:
        print(
            f"{result['sequential']} sequential connections in"
            f" {result['sequentialSeconds']} s: RSS {seq[0] / mib:.1f},"
            f" {seq[1] / mib:.1f}, {seq[2] / mib:.1f} MiB"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    for problem in problems:
        print("FAIL " + problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
