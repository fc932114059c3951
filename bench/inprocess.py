"""
In-process benchmark: the cost of txws's own Python, with no sockets and no
reactor, for the figures docs/performance.md cites.

    python bench/inprocess.py                   # times, µs per unit
    python bench/inprocess.py --calls           # Python calls per message
    python bench/inprocess.py --calls --metrics # the same, counting metrics
    python bench/inprocess.py --against 66c614f # paired with another revision
    python bench/inprocess.py --instructions    # instructions per unit (callgrind)
    valgrind --tool=callgrind python bench/inprocess.py --only echo-100 --once

A server connection runs on a transport that discards what it is given; the
peer's frames are built once, beforehand. Workloads:

  - C{echo-1}, C{echo-100}: an C{async for} echo handler, 1 or 100 masked
    32-byte text frames per read;
  - C{callback-1}, C{callback-100}: the same with C{messageReceived}
    overridden (the callback style);
  - C{connection}: a whole server connection (request, one echo, close);
  - C{connection-10}: the same, ten connections open at a time (their
    timeouts share timers, as a server's do).

With C{--against REV}, the revision is checked out in a temporary git
worktree and both are run in turns (this one, then REV, for each repeat);
the table gives medians and the median of the per-repeat ratios.

C{--instructions} runs each workload under callgrind twice, with C{--rounds}
and twice as many, and reports the difference per unit: start-up and
warm-up cancel out, and the count moves by well under 1 % from run to run
where times move by 10 % or more.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOADS = ("echo-1", "echo-100", "callback-1", "callback-100", "connection", "connection-10")
REQUEST = (
    b"GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
)


def build(callbackClass: type | None = None) -> dict:
    """
    The workloads, each a C{(run, units)}: C{run(n)} does n rounds.
    C{callbackClass} replaces the callback workloads' protocol class.
    """
    from twisted.internet.address import IPv4Address
    from twisted.internet.epollreactor import EPollReactor
    from twisted.internet.testing import MemoryReactorClock

    import txws
    from txws.frames import serializeFrame

    peer = IPv4Address("TCP", "127.0.0.1", 54321)
    mask = b"\x37\xfa\x21\x3d"
    message = serializeFrame(1, b"0123456789abcdef0123456789abcdef", mask=mask)
    close = serializeFrame(8, b"\x03\xe8", mask=mask)

    class NullTransport:
        """Takes what is written and forgets it."""

        disconnected = False

        def write(self, data: bytes) -> None:
            pass

        def writeSequence(self, data: object) -> None:
            pass

        def registerProducer(self, producer: object, streaming: bool) -> None:
            pass

        def unregisterProducer(self) -> None:
            pass

        def pauseProducing(self) -> None:
            pass

        def resumeProducing(self) -> None:
            pass

        def loseConnection(self) -> None:
            pass

        def abortConnection(self) -> None:
            pass

        def getPeer(self) -> IPv4Address:
            return peer

        def getHost(self) -> IPv4Address:
            return peer

    async def echo(websocket):
        async for received in websocket:
            await websocket.send(received)

    class CallbackEcho(txws.WebSocketServerProtocol):
        __slots__ = ()

        def messageReceived(self, received):
            self.send(received)

    if callbackClass is not None:
        CallbackEcho = callbackClass
    clock = MemoryReactorClock()

    def opened(protocolClass=None):
        extra = {"metrics": True} if os.environ.get("TXWS_BENCH_METRICS") else {}
        factory = txws.WebSocketServerFactory(echo, reactor=clock, pingInterval=None, **extra)
        if protocolClass is not None:
            factory.protocol = protocolClass
        protocol = factory.buildProtocol(peer)
        protocol.makeConnection(NullTransport())
        protocol.dataReceived(REQUEST)
        assert protocol.open
        return protocol

    def echoes(perRead: int, protocolClass=None):
        protocol = opened(protocolClass)
        data = message * perRead
        receive = protocol.dataReceived

        def run(n: int) -> None:
            for _ in range(n):
                receive(data)

        return run, perRead

    # The connections' timers go on a real reactor (never run: each round
    # ends with the timer bookkeeping of one reactor turn), whose heap and
    # lazy cancellation cost what a server's do; Clock's sorted list would not.
    reactor = EPollReactor()
    factory = txws.WebSocketServerFactory(echo, reactor=reactor)

    def connections(n: int) -> None:
        for _ in range(n):
            protocol = factory.buildProtocol(peer)
            protocol.makeConnection(NullTransport())
            protocol.dataReceived(REQUEST)
            protocol.dataReceived(message)
            protocol.dataReceived(close)
            protocol.connectionLost(None)
            reactor.runUntilCurrent()

    def connectionsTogether(n: int) -> None:
        for _ in range(n):
            protocols = [factory.buildProtocol(peer) for _ in range(10)]
            for protocol in protocols:
                protocol.makeConnection(NullTransport())
            for protocol in protocols:
                protocol.dataReceived(REQUEST)
            for protocol in protocols:
                protocol.dataReceived(message)
            for protocol in protocols:
                protocol.dataReceived(close)
            for protocol in protocols:
                protocol.connectionLost(None)
            reactor.runUntilCurrent()

    return {
        "echo-1": echoes(1),
        "echo-100": echoes(100),
        "callback-1": echoes(1, CallbackEcho),
        "callback-100": echoes(100, CallbackEcho),
        "connection": (connections, 1),
        "connection-10": (connectionsTogether, 10),
    }


def timeAll(only: list[str], rounds: int) -> dict[str, float]:
    """Microseconds per unit (message or connection), best of five."""
    workloads = build()
    results = {}
    for name in only:
        run, units = workloads[name]
        n = max(1, rounds // units // (100 if name.startswith("connection") else 1))
        run(n // 10 + 1)  # warm up
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            run(n)
            best = min(best, time.perf_counter() - start)
        results[name] = best / (n * units) * 1e6
    return results


def countCalls(only: list[str], callbackClass: type | None = None) -> dict[str, float]:
    """Python-level calls (function and method frames) per unit."""
    workloads = build(callbackClass)
    results = {}
    for name in only:
        run, units = workloads[name]
        run(3)  # warm up: nothing lazy left to set up
        calls = 0

        def profile(frame: object, event: str, arg: object) -> None:
            nonlocal calls
            if event == "call":
                calls += 1

        rounds = 10
        sys.setprofile(profile)
        try:
            run(rounds)
        finally:
            sys.setprofile(None)
        results[name] = calls / (rounds * units)
    return results


def countInstructions(only: list[str], rounds: int) -> dict[str, float]:
    """Instructions per unit (message or connection), from two callgrind runs."""
    results = {}
    for name in only:
        collected = []
        for n in (rounds, 2 * rounds):
            run = subprocess.run(
                [
                    "valgrind",
                    "--tool=callgrind",
                    "--callgrind-out-file=/dev/null",
                    sys.executable,
                    str(Path(__file__)),
                    "--once",
                    "--rounds",
                    str(n),
                    "--only",
                    name,
                ],
                env={**os.environ, "PYTHONPATH": str(HERE.parent)},
                check=True,
                capture_output=True,
                text=True,
            )
            counts = [
                line.rsplit(":", 1)[1] for line in run.stderr.splitlines() if "Collected :" in line
            ]
            collected.append(int(counts[-1].strip()))
        units = max(1, rounds // 100) if name.startswith("connection") else rounds
        results[name] = (collected[1] - collected[0]) / units
    return results


def paired(against: str, only: list[str], rounds: int, repeats: int) -> None:
    """This tree and revision C{against}, in turns, in fresh processes."""
    from worktree import otherTree  # beside this file

    root = HERE.parent
    runs: dict[str, list[dict]] = {"this": [], against: []}
    with otherTree(against) as other:
        for _ in range(repeats):
            for label, tree in (("this", root), (against, other)):
                out = subprocess.run(
                    [
                        sys.executable,
                        str(Path(__file__)),
                        "--json",
                        "--rounds",
                        str(rounds),
                        "--only",
                        ",".join(only),
                    ],
                    env={**os.environ, "PYTHONPATH": str(tree)},
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                runs[label].append(json.loads(out))
    print(f"| workload | this (µs) | {against} (µs) | this / {against} |")
    print("|---|---:|---:|---:|")
    for name in only:
        mine = [r[name] for r in runs["this"]]
        theirs = [r[name] for r in runs[against]]
        ratios = [a / b for a, b in zip(mine, theirs)]
        print(
            f"| {name} | {statistics.median(mine):.2f} | {statistics.median(theirs):.2f}"
            f" | {statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    parser.add_argument(
        "--rounds", type=int, default=200_000, help="messages (or connections/100) per timing"
    )
    parser.add_argument("--calls", action="store_true", help="count Python calls")
    parser.add_argument(
        "--metrics", action="store_true", help="with metrics=True (the cost of counting)"
    )
    parser.add_argument("--once", action="store_true", help="one timing pass, for callgrind")
    parser.add_argument(
        "--instructions", action="store_true", help="instructions per unit, under callgrind"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--against", help="a git revision to pair this tree with")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    only = [name for name in args.only.split(",") if name]
    if args.metrics:
        os.environ["TXWS_BENCH_METRICS"] = "1"
    unknown = set(only) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    if args.against:
        paired(args.against, only, args.rounds, args.repeats)
        return
    if args.instructions:
        results = countInstructions(only, args.rounds)
    elif args.calls:
        results = countCalls(only)
    elif args.once:
        workloads = build()
        for name in only:
            run, units = workloads[name]
            run(max(1, args.rounds // units // (100 if name.startswith("connection") else 1)))
        return
    else:
        results = timeAll(only, args.rounds)
    if args.json:
        print(json.dumps(results))
        return
    unit = "instructions" if args.instructions else "calls" if args.calls else "µs"
    for name, value in results.items():
        per = "connection" if name.startswith("connection") else "message"
        print(f"{name:14} {value:10.2f} {unit} per {per}")


if __name__ == "__main__":
    main()
