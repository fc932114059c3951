"""
Group fan-out: messages a second delivered to 1,000 clients of one group,
with one worker, one worker on Redis, and two workers on Redis; and the
latency a group message adds when it crosses workers through Redis.

    python bench/fanout.py [--clients 1000] [--messages 200] [--rounds 300]

Starts its own redis-server (no persistence) and
C{twistd websocket --workers N} serving C{fanout_server.handler} (every
connection joins the group "all" and says its worker's pid; every message
it sends goes to the group). This process holds the clients on raw
sockets (one selector, no WebSocket library in the way). Prints a
Markdown table. Not part of the test suite; the load generator shares the
machine's cores with the workers, which caps what two workers can show.
"""

from __future__ import annotations

import argparse
import base64
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from txws.frames import serializeFrame  # noqa: E402

KEY = base64.b64encode(b"0123456789abcdef").decode()
PAYLOAD = b"x" * 32


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def waitFor(process: subprocess.Popen, text: bytes, count: int = 1, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    seen = 0
    assert process.stdout is not None
    while seen < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {text!r} x{count}")
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("process exited")
        seen += text in line


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(
            (
                f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:
            data += self.sock.recv(4096)
        self.buffer = data.partition(b"\r\n\r\n")[2]
        self.pid = int(self.nextMessage())
        self.sock.setblocking(False)
        self.frames = 0

    def nextMessage(self) -> bytes:
        """Blocking: the next (small, unmasked, whole) frame's payload."""
        while len(self.buffer) < 2 or len(self.buffer) < 2 + (self.buffer[1] & 0x7F):
            self.sock.setblocking(True)
            self.buffer += self.sock.recv(65536)
        n = self.buffer[1] & 0x7F
        payload, self.buffer = self.buffer[2 : 2 + n], self.buffer[2 + n :]
        return payload

    def send(self, payload: bytes) -> None:
        self.sock.setblocking(True)
        self.sock.sendall(serializeFrame(1, payload, mask=os.urandom(4)))
        self.sock.setblocking(False)

    def drain(self) -> None:
        """Count the 34-byte frames of PAYLOAD-sized messages that arrived."""
        try:
            while True:
                data = self.sock.recv(262144)
                if not data:
                    return
                self.buffer += data
        except BlockingIOError:
            pass
        whole = len(self.buffer) // 34
        self.frames += whole
        self.buffer = self.buffer[whole * 34 :]


def fanout(clients: list[Client], messages: int) -> float:
    """Deliveries a second of C{messages} sent to the group by the first client."""
    selector = selectors.DefaultSelector()
    for c in clients:
        c.frames = 0
        selector.register(c.sock, selectors.EVENT_READ, c)
    start = time.perf_counter()
    publisher = clients[0]
    for _ in range(messages):
        publisher.send(PAYLOAD)
    waiting = len(clients)
    deadline = time.monotonic() + 120
    done: set[int] = set()
    while waiting and time.monotonic() < deadline:
        for key, _ in selector.select(5):
            c = key.data
            c.drain()
            if c.frames >= messages and id(c) not in done:
                done.add(id(c))
                waiting -= 1
    elapsed = time.perf_counter() - start
    selector.close()
    if waiting:
        raise RuntimeError(f"{waiting} clients did not get every message")
    return messages * len(clients) / elapsed


def latency(publisher: Client, receiver: Client, rounds: int) -> tuple[float, float]:
    """p50 and p99 (ms) from the publisher's send to the receiver's receipt."""
    times = []
    for _ in range(rounds):
        receiver.drain()
        receiver.frames = 0
        start = time.perf_counter()
        publisher.send(PAYLOAD)
        while receiver.frames < 1:
            receiver.sock.setblocking(True)
            receiver.buffer += receiver.sock.recv(65536)
            receiver.sock.setblocking(False)
            whole = len(receiver.buffer) // 34
            receiver.frames += whole
            receiver.buffer = receiver.buffer[whole * 34 :]
        times.append((time.perf_counter() - start) * 1000)
        publisher.drain()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def run(workers: int, redis: str | None, count: int, messages: int, rounds: int) -> dict:
    port = freePort()
    args = [str(Path(sys.executable).with_name("twistd")), "-n", "--pidfile=", "websocket"]
    args += ["--handler", "fanout_server.handler", "--port", f"tcp:{port}:interface=127.0.0.1"]
    args += ["--workers", str(workers), "--max-queue", "none", "--no-compression"]
    if redis:
        args += ["--redis", redis]
    server = subprocess.Popen(args, cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        waitFor(server, b"txws serving", workers)
        # Keep reading its log, or a full pipe would stop it.
        threading.Thread(target=server.stdout.read, daemon=True).start()  # type: ignore[union-attr]
        clients = [Client(port) for _ in range(count)]
        # Until every client hears the group (subscriptions made on every worker).
        for c in clients:
            c.drain()
        probe = clients[0]
        while True:
            probe.send(PAYLOAD)
            time.sleep(0.2)
            for c in clients:
                c.drain()
            if all(c.frames for c in clients):
                break
        for c in clients:
            c.frames = 0
        rate = statistics.median(fanout(clients, messages) for _ in range(3))
        result = {"rate": rate, "pids": len({c.pid for c in clients})}
        others = [c for c in clients[1:] if c.pid != clients[0].pid]
        same = [c for c in clients[1:] if c.pid == clients[0].pid]
        # Latency in a group of three: the publisher, one on its worker, one elsewhere.
        keep = {id(clients[0])} | {id(c[0]) for c in (same, others) if c}
        for c in clients:
            if id(c) not in keep:
                c.sock.close()
        result["local"] = latency(clients[0], same[0], rounds) if same else None
        result["across"] = latency(clients[0], others[0], rounds) if others else None
        return result
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    redisPort = freePort()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redisPort), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.PIPE,
    )
    try:
        waitFor(redis, b"Ready to accept connections")
        url = f"redis://127.0.0.1:{redisPort}/0"
        print(
            "| setup | deliveries/s to",
            args.clients,
            "clients | worker pids | "
            "latency same worker p50/p99 (ms) | across workers p50/p99 (ms) |",
        )
        print("|---|---:|---:|---:|---:|")
        for name, workers, backplane in (
            ("1 worker", 1, None),
            ("1 worker, Redis", 1, url),
            ("2 workers, Redis", 2, url),
        ):
            r = run(workers, backplane, args.clients, args.messages, args.rounds)

            def fmt(pair):
                return "-" if pair is None else f"{pair[0]:.2f} / {pair[1]:.2f}"

            cells = [name, f"{r['rate']:,.0f}", str(r["pids"]), fmt(r["local"]), fmt(r["across"])]
            print("| " + " | ".join(cells) + " |")
    finally:
        redis.terminate()
        redis.wait(30)


if __name__ == "__main__":
    main()
