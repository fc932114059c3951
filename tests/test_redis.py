"""
L{txws.redis}: groups across processes through a real redis-server (each
test starts its own, on a free port, without persistence): two instances
sharing one Redis, payloads kept as they were, and Redis going away and
coming back with no WebSocket closed.
"""

from __future__ import annotations

import os
import shutil

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task

import txws
from txws.groups import Groups
from txws.redis import RedisBackplane, parseRedisURL

from .realnet import RedisServer, within

pytestmark = pytest.mark.sockets

if shutil.which("redis-server") is None:
    if os.environ.get("CI"):
        raise RuntimeError("redis-server is missing: .ci/run installs it")
    pytest.skip("redis-server is not installed", allow_module_level=True)


@pytest.fixture
def redisServer():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


async def until(predicate, what: str, seconds: float = 30) -> None:
    """Wait, one reactor turn at a time, until C{predicate()} holds (a hang fails)."""

    async def poll():
        while not predicate():
            await task.deferLater(reactor, 0.01, lambda: None)

    try:
        await within(defer.ensureDeferred(poll()), seconds)
    except defer.TimeoutError:
        raise AssertionError(f"not within {seconds} s: {what}") from None


class Instance:
    """A txws server with groups on Redis, as one process of several would run it."""

    def __init__(self, url: str) -> None:
        self.backplane = RedisBackplane(url, initialDelay=0.05, maxDelay=0.5)
        self.groups = Groups(self.backplane)

    async def start(self):
        groups = self.groups

        async def handler(websocket):
            groups.add("room", websocket)
            await websocket.send("joined")
            async for message in websocket:
                groups.send("room", message)

        self.port = await txws.serve(handler, "tcp:0:interface=127.0.0.1")
        self.url = f"ws://127.0.0.1:{self.port.getHost().port}/"
        return self

    async def stop(self):
        await self.port.close()
        await self.groups.stop()


def subscribed(*instances: Instance) -> bool:
    return all(i.backplane.up and b"txws:room" in i.backplane.confirmed for i in instances)


async def joined(url: str):
    ws = await within(txws.connect(url))
    assert await within(ws.recv()) == "joined"
    return ws


@pytest_twisted.ensureDeferred
async def test_groupMessageReachesClientsOnBothInstances(redisServer):
    one = await Instance(redisServer.url).start()
    two = await Instance(redisServer.url).start()
    try:
        a, b = await joined(one.url), await joined(two.url)
        await until(lambda: subscribed(one, two), "both subscribed")
        for message in ("1", b"1", "ünï ☃", b"\x00\xff"):
            await within(a.send(message))
            assert await within(a.recv()) == message  # once: its own is not echoed twice
            assert await within(b.recv()) == message
        await within(b.send("back"))
        assert await within(a.recv()) == "back"
        assert await within(b.recv()) == "back"
        assert a.pendingMessages == 0 and b.pendingMessages == 0
        await within(a.close())
        await within(b.close())
    finally:
        await one.stop()
        await two.stop()


@pytest_twisted.ensureDeferred
async def test_redisRestartClosesNothingAndDeliveryResumes(redisServer, logEvents):
    one = await Instance(redisServer.url).start()
    two = await Instance(redisServer.url).start()
    try:
        a, b = await joined(one.url), await joined(two.url)
        await until(lambda: subscribed(one, two), "both subscribed")
        await within(a.send("before"))
        assert await within(b.recv()) == "before"
        assert await within(a.recv()) == "before"

        redisServer.stop()
        await until(lambda: not one.backplane.up and not two.backplane.up, "both down")
        # Local delivery goes on; the other instance does not get it (at most once).
        await within(a.send("during"))
        assert await within(a.recv()) == "during"
        assert a.open and b.open

        redisServer.start()
        await until(lambda: subscribed(one, two), "both back and subscribed again")
        # Resubscribed after the reconnect: messages cross again.
        await within(a.send("after"))
        assert await within(a.recv()) == "after"
        assert await within(b.recv()) == "after"
        assert a.open and b.open
        ours = [e["log_format"] for e in logEvents if e.get("log_namespace") == "txws.redis"]
        lost = [f for f in ours if " lost: " in f]
        back = [f for f in ours if " is back;" in f]
        assert len(lost) == 2 and len(back) == 2  # once each, per instance
        await within(a.close())
        await within(b.close())
    finally:
        await one.stop()
        await two.stop()


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("redis://h", ("h", 6379, None, None)),
        ("redis://:s%40cret@h:7000/3", ("h", 7000, 3, "s@cret")),
    ],
)
def test_parseRedisURL(url, parsed):
    assert parseRedisURL(url) == parsed


@pytest.mark.parametrize("url", ["http://h", "redis://", "redis://h/x", "redis://h:99999"])
def test_badRedisURL(url):
    with pytest.raises(ValueError):
        parseRedisURL(url)


def test_chatOnTwoTwistdInstancesSharingRedis(redisServer):
    """examples/chat, unchanged, on two twistd processes with --redis: a message reaches both."""
    import json

    from websockets.sync.client import connect

    from .realnet import freePort
    from .test_tap import startTwistd, stop, waitListening

    ports = [freePort(), freePort()]
    processes = [
        startTwistd(
            "--handler",
            "examples.chat.handler",
            "--redis",
            redisServer.url,
            "--port",
            f"tcp:{port}:interface=127.0.0.1",
        )
        for port in ports
    ]
    try:
        for port, process in zip(ports, processes):
            waitListening(port, process)
        with (
            connect(f"ws://127.0.0.1:{ports[0]}/", open_timeout=10) as alice,
            connect(f"ws://127.0.0.1:{ports[1]}/", open_timeout=10) as bob,
        ):

            def events(ws, until):
                while True:
                    event = json.loads(ws.recv(timeout=10))
                    if until(event):
                        return event

            bob.send(json.dumps({"type": "join", "name": "Bob"}))
            bobId = events(bob, lambda e: e["event"] == "welcome")["id"]
            alice.send(json.dumps({"type": "join", "name": "Alice"}))
            aliceId = events(alice, lambda e: e["event"] == "welcome")["id"]
            # Both processes subscribed (each at its first member's join).
            redisServer.waitForSubscribers("txws:chat", 2)
            alice.send(json.dumps({"type": "say", "text": "hello"}))
            heard = events(bob, lambda e: e["event"] == "message")
            assert (heard["name"], heard["text"], heard["id"]) == ("Alice", "hello", aliceId)
            # Ids are unique across processes: each starts with its pid.
            assert aliceId.split("-")[0] != bobId.split("-")[0]
            bob.send(json.dumps({"type": "say", "text": "hi"}))
            heard = events(alice, lambda e: e["event"] == "message" and e["id"] == bobId)
            assert (heard["name"], heard["text"]) == ("Bob", "hi")
    finally:
        outs = [stop(process) for process in processes]
    assert all("connected" in out for out in outs), outs


def test_batchedPayloadsDelivered():
    """One PUBLISH carries the messages of a reactor turn; each is delivered, in order."""
    import struct

    from twisted.internet.testing import MemoryReactorClock

    backplane = RedisBackplane("redis://127.0.0.1:1", reactor=MemoryReactorClock())
    got = []
    backplane.deliver = lambda group, message: got.append((group, message))

    def entry(kind: bytes, data: bytes) -> bytes:
        return struct.pack("!I", len(data) + 1) + kind + data

    other = b"\x01" * 8
    backplane.received(b"txws:room", other + entry(b"t", b"1") + entry(b"b", b"1"))
    assert got == [("room", "1"), ("room", b"1")]
    # Our own, another prefix, and what another program put on the channel are ignored.
    backplane.received(b"txws:room", backplane.origin + entry(b"t", b"mine"))
    backplane.received(b"other:room", other + entry(b"t", b"x"))
    backplane.received(b"txws:room", other + b"\x00\x00\x00\x09short")
    assert len(got) == 2
