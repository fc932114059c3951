"""
Run the Autobahn test suite's cases (through kosoku) against txws.

    python compliance/run.py server [-o reports] [-i 6.4.*] [--json results.json]
    python compliance/run.py client [-o reports] ...

"server" starts compliance/echo_server.py and runs ``kosoku -m
fuzzingclient`` against it; "client" runs ``kosoku -m fuzzingserver`` and
compliance/client.py against that. Each section runs as its own kosoku run
under a hang detector, because kosoku has no closing-handshake timeout: a
section that hangs is reported as failed (verdict HANG) instead of hanging
CI. A hang is no case finishing for STALL seconds (the servers and client
under test print a line per finished case), so a slow machine is never
taken for a hung one. Exits 1 unless every case is OK or INFORMATIONAL (NON-STRICT counts as
a failure).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

SECTIONS = ["1", "2", "3", "4", "5", "6", "7", "9", "10", "12", "13"]

# Sections not run yet, and why: the one place they are excluded.
EXCLUDED: dict[str, str] = {}

GOOD = {"OK", "INFORMATIONAL"}

# No case finished for this long: the section hangs. The slowest case takes
# a few seconds on a quiet machine.
STALL = 120


class Progress:
    """
    Watch a stream that gets one line per finished case, and wait for a
    process for as long as lines keep coming.
    """

    def __init__(self, stream) -> None:
        self.last = time.monotonic()
        thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        thread.start()

    def _read(self, stream) -> None:
        for _ in stream:
            self.last = time.monotonic()

    def wait(self, process: subprocess.Popen) -> bool:
        """False if C{process} is still running after STALL s of no progress."""
        self.last = time.monotonic()
        while process.poll() is None:
            if time.monotonic() - self.last > STALL:
                stop(process)
                return False
            time.sleep(0.2)
        return True


def kosokuCommand() -> list[str]:
    exe = Path(sys.executable).with_name("kosoku")
    return [str(exe)] if exe.exists() else ["kosoku"]


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def startEchoServer() -> tuple[subprocess.Popen, int, Progress]:
    process = subprocess.Popen(
        [sys.executable, str(HERE / "echo_server.py")], stdout=subprocess.PIPE, text=True
    )
    line = process.stdout.readline()
    match = re.match(r"listening on (\d+)", line)
    if not match:
        stop(process)
        raise RuntimeError(f"echo server did not start: {line!r}")
    return process, int(match.group(1)), Progress(process.stdout)


def runServerSection(port: int, progress: Progress, globs: list[str], outdir: Path) -> bool:
    """kosoku drives the txws server; False if it hangs."""
    command = kosokuCommand() + [
        "-m",
        "fuzzingclient",
        f"127.0.0.1:{port}",
        "-p",
        "4",
        "-o",
        str(outdir),
    ]
    for glob in globs:
        command += ["-i", glob]
    kosoku = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return progress.wait(kosoku)


def runClientSection(globs: list[str], outdir: Path) -> bool:
    """The txws client runs the cases kosoku serves; False on a hang."""
    port = freePort()
    command = kosokuCommand() + ["-m", "fuzzingserver", f"127.0.0.1:{port}", "-o", str(outdir)]
    for glob in globs:
        command += ["-i", glob]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # kosoku says where it listens once it is ready.
        deadline = time.monotonic() + 30
        while "listening" not in server.stderr.readline():
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("kosoku fuzzingserver did not start")
        client = subprocess.Popen(
            [sys.executable, str(HERE / "client.py"), f"ws://127.0.0.1:{port}", "2"],
            stdout=subprocess.PIPE,
            text=True,
        )
        if not Progress(client.stdout).wait(client) or client.returncode != 0:
            return False
        # kosoku writes its reports once the client has asked for them.
        return Progress(server.stderr).wait(server)
    finally:
        stop(server)


def readResults(outdir: Path) -> dict[str, dict]:
    """Case id -> verdicts (and description) from a kosoku report."""
    index = outdir / "index.json"
    if not index.exists():
        return {}
    results = {}
    for cases in json.loads(index.read_text()).values():
        for case, verdict in cases.items():
            entry = {
                "behavior": verdict["behavior"],
                "behaviorClose": verdict["behaviorClose"],
                "duration": verdict.get("duration"),
            }
            report = outdir / verdict.get("reportfile", "")
            if report.is_file():
                detail = json.loads(report.read_text())
                text = re.sub(r"<[^>]+>", " ", detail.get("description", ""))
                entry["description"] = " ".join(text.split())
            results[case] = entry
    return results


def versions() -> dict[str, str]:
    from importlib.metadata import version

    found = {"python": sys.version.split()[0]}
    for name in ("txws", "twisted", "kosoku"):
        try:
            found[name] = version(name)
        except Exception:
            found[name] = "?"
    return found


def caseKey(case: str) -> tuple[int, ...]:
    return tuple(int(p) for p in case.split("."))


def run(side: str, outroot: Path, include: list[str] | None = None) -> dict:
    outroot.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results: dict[str, dict] = {}
    hangs: list[str] = []
    echo = None
    if side == "server":
        echo, port, progress = startEchoServer()
    try:
        for section in SECTIONS:
            if section in EXCLUDED:
                continue
            globs = [g for g in (include or [f"{section}.*"]) if g.split(".")[0] == section]
            if not globs:
                continue
            outdir = outroot / f"{side}-{section}"
            if side == "server":
                finished = runServerSection(port, progress, globs, outdir)
            else:
                finished = runClientSection(globs, outdir)
            sectionResults = readResults(outdir)
            if not finished or not sectionResults:
                hangs.append(section)
            results.update(sectionResults)
    finally:
        if echo is not None:
            stop(echo)
    return {
        "side": side,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "versions": versions(),
        "seconds": round(time.monotonic() - started, 1),
        "excluded": EXCLUDED,
        "hangs": hangs,
        "cases": dict(sorted(results.items(), key=lambda kv: caseKey(kv[0]))),
    }


def failures(summary: dict) -> list[str]:
    """One readable line per case that is not OK (or INFORMATIONAL)."""
    lines = [f"section {s}: no case finished for {STALL} s (HANG)" for s in summary["hangs"]]
    for case, v in summary["cases"].items():
        if v["behavior"] not in GOOD or v["behaviorClose"] not in GOOD:
            lines.append(
                f"{case}: behavior {v['behavior']}, close {v['behaviorClose']}"
                f" — {v.get('description', '')[:160]}"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("side", choices=["server", "client"])
    parser.add_argument("-o", "--outdir", default="reports")
    parser.add_argument(
        "-i", "--include", action="append", help="case glob, e.g. 6.4.* (default: every section)"
    )
    parser.add_argument("--json", help="write the summary here")
    args = parser.parse_args()
    summary = run(args.side, Path(args.outdir), args.include)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
    bad = failures(summary)
    counts: dict[str, int] = {}
    for v in summary["cases"].values():
        counts[v["behavior"]] = counts.get(v["behavior"], 0) + 1
    print(f"{args.side}: {len(summary['cases'])} cases in {summary['seconds']} s: {counts}")
    for section, why in EXCLUDED.items():
        print(f"  section {section} excluded: {why}")
    for line in bad:
        print("  FAIL " + line)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
