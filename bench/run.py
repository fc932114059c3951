"""
Benchmark: server CPU per unit of work for txws and the other WebSocket
stacks on Python, for a plain Twisted TCP echo (the floor), and, for the
handshake workload, for its I/O alone on Twisted with canned answers
(handshake-io: three reads and three writes per connection, no WebSocket
logic), the least any WebSocket server on Twisted could spend.

    pip install -e '.[bench]'
    python bench/run.py [--repeats 5] [--quick] [--only txws,autobahn]
    python bench/run.py --goals     # floor, txws and picows only, 15 repeats
    python bench/run.py --only floor,txws,txws+malloc --workloads MiB

Each measurement starts the server in a fresh process (bench/servers.py),
drives it from this process with precomputed masked frames (echoes are
checked byte for byte, never parsed), and reads the server's CPU time from
/proc/PID/task/*/schedstat (nanoseconds, whatever else the machine does).
Runs are interleaved (A B C ... A B C ...) and repeated; the tables give
medians. It writes bench/results.md and bench/results.png. Not part of the
test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from txws.frames import serializeFrame  # noqa: E402

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
HANDSHAKE = (
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    f"Sec-WebSocket-Key: {KEY}\r\n\r\n"
).encode()
MASK = b"\x37\xfa\x21\x3d"
TEXT = b"0123456789abcdef0123456789abcdef"  # 32 bytes
BIG = bytes(range(256)) * 4096  # 1 MiB
CLOSE = serializeFrame(8, b"\x03\xe8", mask=MASK)

SERVERS = [
    "floor",
    "handshake-io",
    "txws",
    "txws-callback",
    "autobahn",
    "twisted.web",
    "websockets",
    "aiohttp",
    "picows",
]
HANDSHAKE_WORKLOAD = "handshake (connect, upgrade, 1 message, close)"
# Servers that answer one workload only.
ONLY = {"handshake-io": HANDSHAKE_WORKLOAD}


def isFloor(kind: str) -> bool:
    """Whether the server is the plain TCP echo (with a variant, "floor+flush")."""
    return kind.partition("+")[0] == "floor"


def frames(kind: str, payload: bytes, opcode: int) -> tuple[bytes, bytes]:
    """What we send, and what must come back byte for byte."""
    frame = serializeFrame(opcode, payload, mask=MASK)
    if isFloor(kind):
        return frame, frame
    return frame, serializeFrame(opcode, payload)


def cpuNanoseconds(pid: int) -> int:
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            total += int(open(path).read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def rssBytes(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def connect(port: int, upgrade: bool):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if upgrade:
        writer.write(HANDSHAKE)
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"handshake refused: {head[:200]!r}")
    return reader, writer


async def flow(reader, writer, frame: bytes, echo: bytes, total: int, window: int) -> None:
    """Keep `window` messages in flight until `total` came back intact."""
    size = len(echo)
    repeated = echo * (max(1, (1 << 18) // size) + 2)
    sent = min(window, total)
    writer.write(frame * sent)
    received = 0
    goal = total * size
    while received < goal:
        chunk = await reader.read(1 << 18)
        if not chunk:
            raise RuntimeError("connection closed early")
        offset = received % size
        if repeated[offset : offset + len(chunk)] != chunk:
            raise RuntimeError("echo differs from what was sent")
        received += len(chunk)
        more = min(total - sent, received // size + window - sent)
        if more > 0:
            writer.write(frame * more)
            sent += more


async def closeConnection(reader, writer, upgrade: bool) -> None:
    if upgrade:
        writer.write(CLOSE)
        try:
            await asyncio.wait_for(reader.read(64), 5)
        except (asyncio.TimeoutError, ConnectionError):
            pass
    writer.close()
    try:
        await writer.wait_closed()
    except ConnectionError:
        pass


# Each workload returns the units of work it did (messages, MB, handshakes).


async def oneConnection(
    kind: str, port: int, payload: bytes, opcode: int, total: int, window: int
) -> None:
    """Echo C{total} messages over one connection, C{window} in flight."""
    up = not isFloor(kind)
    reader, writer = await connect(port, up)
    frame, echo = frames(kind, payload, opcode)
    await flow(reader, writer, frame, echo, total, window)
    await closeConnection(reader, writer, up)


async def roundTrip(kind: str, port: int, scale: float) -> float:
    total = int(4000 * scale)
    await oneConnection(kind, port, TEXT, 1, total, 1)
    return total


async def pipelined(kind: str, port: int, scale: float) -> float:
    total = int(100000 * scale)
    await oneConnection(kind, port, TEXT, 1, total, 100)
    return total


async def manyConnections(kind: str, port: int, scale: float) -> float:
    up = not isFloor(kind)
    conns = [await connect(port, up) for _ in range(100)]
    frame, echo = frames(kind, TEXT, 1)
    each = int(1000 * scale)
    await asyncio.gather(*(flow(r, w, frame, echo, each, 10) for r, w in conns))
    for r, w in conns:
        await closeConnection(r, w, up)
    return each * 100


async def bigMessages(kind: str, port: int, scale: float) -> float:
    total = max(8, int(200 * scale))
    await oneConnection(kind, port, BIG, 2, total, 4)
    return total * len(BIG) / 1e6


async def handshakes(kind: str, port: int, scale: float) -> float:
    up = not isFloor(kind)
    frame, echo = frames(kind, TEXT, 1)
    total = int(2000 * scale)

    async def one():
        reader, writer = await connect(port, up)
        await flow(reader, writer, frame, echo, 1, 1)
        await closeConnection(reader, writer, up)

    for _ in range(total // 10):
        await asyncio.gather(*(one() for _ in range(10)))
    return total


WORKLOADS = {
    "round trip (1 in flight)": (roundTrip, "µs", 1e6),
    "pipelined (100 in flight, 1 connection)": (pipelined, "µs/msg", 1e6),
    "100 connections x 10 in flight": (manyConnections, "µs/msg", 1e6),
    "1 MiB binary (4 in flight)": (bigMessages, "ms/MB", 1e3),
    HANDSHAKE_WORKLOAD: (handshakes, "µs", 1e6),
}
IDLE = "idle memory per connection"

# The goals of docs/performance.md: for each workload, the reference server
# and the least txws's speed relative to it (reference CPU / txws CPU, paired
# by repeat) may be; for idle memory, the most KiB per connection.
GOALS = [
    ("round trip (1 in flight)", "floor", 0.80),
    ("pipelined (100 in flight, 1 connection)", "picows", 1.5),
    ("100 connections x 10 in flight", "picows", 1.0),
    ("1 MiB binary (4 in flight)", "floor", 0.85),
    (HANDSHAKE_WORKLOAD, "picows", 1.0),
    (IDLE, None, 3.5),
]


# Where each other revision's tree is checked out (--against): a server named
# "txws@REV" is that revision's bench/servers.py running "txws" on its txws.
OTHER_TREES: dict[str, Path] = {}


# A server named "KIND+malloc" is KIND with glibc's malloc told to keep freed
# memory rather than give it back to the kernel (docs/performance.md, "Large
# messages and glibc's malloc"): a tunable read when the process starts.
MALLOC_TUNABLES = "glibc.malloc.trim_threshold=67108864:glibc.malloc.mmap_threshold=33554432"


def startServer(kind: str) -> tuple[subprocess.Popen, int]:
    port = freePort()
    kind, _, revision = kind.partition("@")
    tree = OTHER_TREES[revision] if revision else HERE.parent
    env = {**os.environ, "PYTHONPATH": str(tree)}
    if kind.endswith("+malloc"):
        kind = kind.removesuffix("+malloc")
        env["GLIBC_TUNABLES"] = MALLOC_TUNABLES
    process = subprocess.Popen(
        [sys.executable, str(tree / "bench" / "servers.py"), kind, str(port)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = process.stdout.readline()
    if line.strip() != "ready":
        process.kill()
        raise RuntimeError(f"{kind} did not start")
    return process, port


def stopServer(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def idleMemory(kind: str, pid: int, port: int, count: int) -> float:
    up = not isFloor(kind)
    # Warm up allocators with a first batch, then measure the second.
    first = [await connect(port, up) for _ in range(50)]
    await asyncio.sleep(0.3)
    before = rssBytes(pid)
    conns = [await connect(port, up) for _ in range(count)]
    await asyncio.sleep(0.5)
    after = rssBytes(pid)
    for _r, w in first + conns:
        w.close()
    return (after - before) / count


def measure(kind: str, workload: str, scale: float) -> float:
    process, port = startServer(kind)
    try:
        if workload == IDLE:
            return asyncio.run(idleMemory(kind, process.pid, port, int(1000 * scale)))
        function, _, factor = WORKLOADS[workload]
        mine = time.process_time()
        before = cpuNanoseconds(process.pid)
        units = asyncio.run(function(kind, port, scale))
        cpu = (cpuNanoseconds(process.pid) - before) / 1e9
        measure.generatorCpu[workload].append((time.process_time() - mine) / units * factor)
        return cpu / units * factor
    finally:
        stopServer(process)


measure.generatorCpu = {w: [] for w in WORKLOADS}  # type: ignore[attr-defined]


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0]}
    for name, distribution in (
        ("txws", "twisted-websockets"),
        ("twisted", "twisted"),
        ("autobahn", "autobahn"),
        ("websockets", "websockets"),
        ("aiohttp", "aiohttp"),
        ("picows", "picows"),
    ):
        try:
            found[name] = version(distribution)
        except PackageNotFoundError:
            found[name] = "-"
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a tenth of the work")
    parser.add_argument(
        "--goals",
        action="store_true",
        help="only what the goals compare (floor, txws, picows), 15 repeats unless given",
    )
    parser.add_argument("--only", help="comma-separated servers")
    parser.add_argument(
        "--workloads", help="comma-separated words that pick workloads by name, e.g. handshake,idle"
    )
    parser.add_argument(
        "--against",
        help="a git revision whose txws servers run beside this tree's, paired by repeat",
    )
    args = parser.parse_args()
    if args.goals:
        args.only = args.only or "floor,txws,picows"
        if "--repeats" not in sys.argv:
            args.repeats = 15
    servers = args.only.split(",") if args.only else list(SERVERS)
    if args.against:
        from worktree import otherTree  # beside this file

        with otherTree(args.against) as other:
            OTHER_TREES[args.against] = other
            mine = [s for s in servers if s.startswith("txws")]
            servers += [f"{s}@{args.against}" for s in mine]
            summary = runAll(args, servers)
        writeReport(summary, servers, save=False)
        print(f"\nThis tree / {args.against}, median of the paired ratios (min-max):\n")
        print("| workload | " + " | ".join(mine) + " |")
        print("|---|" + "---:|" * len(mine))
        for workload, runs in summary["runs"].items():
            cells = []
            for server in mine:
                ratios = pairedRatios(runs.get(server), runs.get(f"{server}@{args.against}"))
                cells.append(
                    f"{statistics.median(ratios):.3f} ({min(ratios):.2f}-{max(ratios):.2f})"
                    if ratios
                    else "-"
                )
            print(f"| {workload} | " + " | ".join(cells) + " |")
        return
    summary = runAll(args, servers)
    # A partial run (--only, --workloads) prints its table but keeps the saved results.
    save = not (args.only or args.workloads)
    if save:
        (HERE / "results.json").write_text(json.dumps(summary, indent=1))
    writeReport(summary, servers, save)


def runAll(args: argparse.Namespace, servers: list[str]) -> dict:
    """Every workload on every server, interleaved and repeated: the summary."""
    scale = 0.1 if args.quick else 1.0
    workloads = list(WORKLOADS) + [IDLE]
    if args.workloads:
        words = args.workloads.split(",")
        workloads = [w for w in workloads if any(word in w for word in words)]
    # One slot per repeat (None where a server did not run), so that each
    # server's run can be set against the floor's run of the same repeat.
    results: dict[str, dict[str, list[float | None]]] = {
        w: {s: [None] * args.repeats for s in servers} for w in workloads
    }
    started = time.time()
    for repeat in range(args.repeats):
        for workload in workloads:
            for server in servers:
                if ONLY.get(server, workload) != workload:
                    continue
                try:
                    value = measure(server, workload, scale)
                except Exception as e:  # a peer that fails a workload is reported, not fatal
                    print(f"  {server} / {workload}: failed: {e}", file=sys.stderr)
                    continue
                results[workload][server][repeat] = value
                print(
                    f"[{repeat + 1}/{args.repeats}] {workload:50} {server:14} {value:10.2f}",
                    flush=True,
                )
    medians = {
        w: {
            s: statistics.median(x for x in v if x is not None)
            for s, v in r.items()
            if any(x is not None for x in v)
        }
        for w, r in results.items()
    }
    generator = {w: statistics.median(v) for w, v in measure.generatorCpu.items() if v}
    summary = {
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "versions": versions(),
        "repeats": args.repeats,
        "scale": scale,
        "seconds": round(time.time() - started),
        "cpus": os.cpu_count(),
        "medians": medians,
        "runs": results,
        "generator": generator,
    }
    return summary


def pairedRatios(top: list | None, bottom: list | None) -> list[float]:
    """top/bottom in each repeat where both ran."""
    if not top or not bottom:
        return []
    return [a / b for a, b in zip(top, bottom) if a is not None and b]


def pairedRatio(top: list | None, bottom: list | None) -> float | None:
    """The median of top/bottom over the repeats where both ran."""
    ratios = pairedRatios(top, bottom)
    return statistics.median(ratios) if ratios else None


def unitOf(workload: str) -> str:
    return "KiB" if workload == IDLE else WORKLOADS[workload][1]


def writeReport(summary: dict, servers: list[str], save: bool = True) -> None:
    medians = summary["medians"]
    workloads = list(medians)
    lines = [
        f"# Benchmark results ({summary['date']})",
        "",
        f"Server CPU per unit of work, median of {summary['repeats']} interleaved runs,"
        f" {summary['cpus']} cores; idle memory is RSS growth per connection. "
        "Ratios are medians of the ratios within each repeat (runs next to each other"
        " in time), which the machine's slow swings move less than ratios of medians."
        " Generated by `python bench/run.py`.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in summary["versions"].items()),
        "",
        "| server | " + " | ".join(f"{w} ({unitOf(w)})" for w in workloads) + " |",
        "|---|" + "---:|" * len(workloads),
    ]
    for server in servers:
        cells = []
        for w in workloads:
            value = medians[w].get(server)
            if value is None:
                cells.append("-")
                continue
            if w == IDLE:
                cells.append(f"{value / 1024:.1f}")
            else:
                runs = summary["runs"][w]
                ab = pairedRatio(runs.get("autobahn"), runs[server])
                floor = pairedRatio(runs[server], runs.get("floor"))
                text = f"{value:.2f}"
                if ab and server != "autobahn":
                    text += f" ({ab:.1f}x ab"
                    text += f", {floor:.2f}x floor)" if floor else ")"
                cells.append(text)
        lines.append(f"| {server} | " + " | ".join(cells) + " |")
    lines += goalsTable(summary)
    gen = summary.get("generator", {})
    lines += [
        "",
        "Load generator CPU per unit (its headroom): "
        + "; ".join(f"{w}: {v:.2f} {unitOf(w)}" for w, v in gen.items()),
        "",
    ]
    print("\n".join(lines))
    if not save:
        return
    (HERE / "results.md").write_text("\n".join(lines))
    try:
        chart(summary, servers)
    except ImportError:
        print("matplotlib is not installed: no chart", file=sys.stderr)


def goalsTable(summary: dict, server: str = "txws") -> list[str]:
    """
    The goals of docs/performance.md against this run: txws's speed
    relative to the reference in each repeat (the reference's CPU over
    txws's, so that higher is better), median and range.
    """
    lines = [
        "",
        f"{server} against the goals (speed relative to the reference, paired by repeat:"
        " median, min-max over the repeats):",
        "",
        "| workload | reference | goal | measured | |",
        "|---|---|---:|---:|---|",
    ]
    for workload, reference, goal in GOALS:
        runs = summary["runs"].get(workload)
        if runs is None or server not in runs:
            continue
        if reference is None:
            values = [v / 1024 for v in runs[server] if v is not None]
            if not values:
                continue
            value = statistics.median(values)
            measured = f"{value:.1f} KiB ({min(values):.1f}-{max(values):.1f})"
            met = value <= goal
            lines.append(f"| {workload} | - | ≤ {goal} KiB | {measured} | {verdict(met)} |")
            continue
        ratios = pairedRatios(runs.get(reference), runs[server])
        if not ratios:
            continue
        value = statistics.median(ratios)
        measured = f"{value:.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        met = value >= goal
        lines.append(f"| {workload} | {reference} | ≥ {goal}x | {measured} | {verdict(met)} |")
    return lines if len(lines) > 5 else []


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def chart(summary: dict, servers: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    medians = summary["medians"]
    workloads = list(medians)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for ax, w in zip(axes.flat, workloads):
        names = [s for s in servers if s in medians[w]]
        values = [medians[w][s] / (1024 if w == IDLE else 1) for s in names]
        colours = [
            "#d62728"
            if s.startswith("txws")
            else "#7f7f7f"
            if s in ("floor", "handshake-io")
            else "#1f77b4"
            for s in names
        ]
        ax.barh(names, values, color=colours)
        ax.set_title(f"{w}\n({unitOf(w)}, lower is better)", fontsize=9)
        ax.invert_yaxis()
        ax.tick_params(labelsize=8)
    fig.suptitle(f"Server CPU per unit of work ({summary['date']})")
    fig.tight_layout()
    fig.savefig(HERE / "results.png", dpi=90)


if __name__ == "__main__":
    main()
