"""
State-machine tests of the protocol, server side and client side.

Hypothesis plays the peer and the application at once: random messages
(text with multi-byte UTF-8, binary, fragmented), pings, pongs, closes and
protocol violations from the peer, delivered in random chunk sizes; random
sends, receives, pings, closes and pauses from the application; the clock
moves on so that keepalive and closing timeouts fire. After every step:

 - no exception escaped into Twisted, and nothing was logged as an error;
 - the state only moved forward;
 - what the protocol wrote is a valid stream of frames for its side, with at
   most one close frame and nothing after it, and every message in it is one
   the application sent, in order;
 - every message the application received is one the peer sent, in order;
 - the memory the connection holds stays within what its limits allow.

At the end the TCP connection goes away and every Deferred the application
got has fired exactly once, with a result or a txws error.
"""

from __future__ import annotations

import gc
import hashlib
import os
import random
import struct
import tracemalloc
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.logger import LogLevel, globalLogPublisher
from twisted.python.failure import Failure

import txws
from txws.exceptions import WebSocketError
from txws.protocol import CLOSED, OPEN

from .helpers import acceptResponse, clientConnection, request, sentRequest, serverConnection

MAX_SIZE = 4096
MAX_QUEUE = 4
# What one connection may hold beyond its queued messages and the message in
# assembly: parser, decoder and deflate state, timers, Deferreds. Far less
# than a flood of fragments held one by one would take (see floodFragments).
SLACK = 192 * 1024
MEMORY_BOUND = SLACK + (MAX_QUEUE + 2) * MAX_SIZE * 2

# The most a Twisted TCP transport reads at once.
READ = 65536

VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999]


def payload(size: int, seed: int, text: bool) -> bytes:
    """Deterministic payload bytes: hypothesis keeps only the two numbers."""
    rng = random.Random(seed)
    if not text:
        return rng.randbytes(size)
    alphabet = "aZ09 é€☃𝄞\n"
    out = "".join(rng.choice(alphabet) for _ in range(size))
    return out.encode("utf-8")


def digest(data: str | bytes) -> tuple[bool, str]:
    text = isinstance(data, str)
    raw = data.encode("utf-8") if text else bytes(data)
    return text, hashlib.sha1(raw).hexdigest()


def frame(
    opcode: int,
    data: bytes,
    fin: bool = True,
    rsv1: bool = False,
    mask: bool = True,
    length: int | None = None,
) -> bytes:
    """A frame as a peer would write it (independent of txws.frames)."""
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    n = len(data) if length is None else length
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 2**16:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + data
    key = b"\x01\x02\x03\x04"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(data))


TXWS = str(Path(txws.__file__).parent)


def txwsHeld() -> int:
    """Bytes held in blocks that txws's own code allocated."""
    gc.collect()
    stats = tracemalloc.take_snapshot().statistics("filename")
    return sum(stat.size for stat in stats if stat.traceback[0].filename.startswith(TXWS))


class OutputChecker:
    """Parses what the protocol wrote, and checks it frame by frame."""

    def __init__(self, masked: bool, deflate: bool) -> None:
        self.masked = masked
        self.deflate = deflate
        self.buffer = bytearray()
        self.closeSent: int | None = None
        self.message: bytearray | None = None
        self.compressed = False
        self.messages: list[tuple[bool, str]] = []
        self.pings: list[bytes] = []
        self.inflater = zlib.decompressobj(-15)

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while True:
            parsed = self._next()
            if parsed is None:
                return
            self._check(*parsed)

    def _next(self):
        b = self.buffer
        if len(b) < 2:
            return None
        fin, rsv, opcode = b[0] & 0x80, b[0] & 0x70, b[0] & 0x0F
        masked, n = b[1] & 0x80, b[1] & 0x7F
        at = 2
        if n == 126:
            if len(b) < 4:
                return None
            n, at = struct.unpack("!H", b[2:4])[0], 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, at = struct.unpack("!Q", b[2:10])[0], 10
        assert bool(masked) == self.masked, "wrong masking for this side"
        key = b""
        if masked:
            if len(b) < at + 4:
                return None
            key, at = bytes(b[at : at + 4]), at + 4
        if len(b) < at + n:
            return None
        data = bytes(b[at : at + n])
        del b[: at + n]
        if key:
            data = bytes(c ^ key[i % 4] for i, c in enumerate(data))
        return bool(fin), rsv, opcode, data

    def _check(self, fin: bool, rsv: int, opcode: int, data: bytes) -> None:
        assert self.closeSent is None, f"frame {opcode} sent after the close frame"
        if opcode >= 8:
            assert fin and rsv == 0 and len(data) <= 125, "bad control frame"
            assert opcode in (8, 9, 10), f"unknown opcode {opcode}"
            if opcode == 8:
                assert len(data) != 1, "one-byte close payload"
                code = struct.unpack("!H", data[:2])[0] if data else 1005
                if data:
                    assert code in VALID_CODES, f"close code {code} sent"
                    data[2:].decode("utf-8")
                self.closeSent = code
            elif opcode == 9:
                self.pings.append(data)
            return
        if opcode == 0:
            assert self.message is not None, "continuation with no message"
            assert rsv == 0
        else:
            assert opcode in (1, 2), f"unknown opcode {opcode}"
            assert self.message is None, "new message inside a fragmented one"
            assert rsv in (0, 0x40) and (rsv == 0 or self.deflate), "bad rsv bits"
            self.message = bytearray()
            self.text = opcode == 1
            self.compressed = bool(rsv)
        self.message += data
        if fin:
            raw = bytes(self.message)
            if self.compressed:
                raw = self.inflater.decompress(raw + b"\x00\x00\xff\xff")
            if self.text:
                raw.decode("utf-8")
            self.messages.append((self.text, hashlib.sha1(raw).hexdigest()))
            self.message = None


class ProtocolMachine(RuleBasedStateMachine):
    """The protocol on one side; hypothesis is the peer and the application."""

    isClient = False
    deflate = False

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict] = []
        globalLogPublisher.addObserver(self.events.append)
        options = dict(
            maxSize=MAX_SIZE,
            maxQueue=MAX_QUEUE,
            openTimeout=5,
            closeTimeout=5,
            pingInterval=5,
            pingTimeout=5,
            compression="deflate" if self.deflate else None,
        )
        if self.isClient:
            self.conn = clientConnection(**options)
            extra = (
                "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n"
                if self.deflate
                else ""
            )
            self.conn.receive(acceptResponse(sentRequest(self.conn), extra))
        else:
            self.conn = serverConnection(None, **options)
            headers = (
                {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
                if self.deflate
                else {}
            )
            self.conn.receive(request(headers=headers))
            head = self.conn.sent()
            assert head.startswith(b"HTTP/1.1 101 "), head
        self.protocol = self.conn.protocol
        assert self.protocol.state is OPEN
        assert bool(self.protocol.extensions) == self.deflate
        self.output = OutputChecker(masked=self.isClient, deflate=self.deflate)
        self.lastState = self.protocol.state
        # The peer: bytes not delivered yet, and what it sent.
        self.pending = bytearray()
        self.peerFragmenting: int | None = None
        self.peerClosed = False
        self.peerBroken = False
        self.compressor = zlib.compressobj(wbits=-9)
        self.sentByPeer: list[tuple[bool, str]] = []
        self.sentByApp: list[tuple[bool, str]] = []
        self.received = 0
        self.deferreds: list[tuple[str, list]] = []
        self.baseline = tracemalloc.get_traced_memory()[0]

    # -- helpers -----------------------------------------------------------

    def track(self, kind: str, d) -> None:
        results: list = []
        self.deferreds.append((kind, results))

        def done(result):
            if isinstance(result, Failure):
                assert result.check(WebSocketError), f"{kind} failed with {result!r}"
                results.append("failure")
            elif kind == "recv":
                index = self.received
                self.received += 1
                assert index < len(self.sentByPeer), "received a message never sent"
                assert digest(result) == self.sentByPeer[index], "message changed"
                results.append("message")
            else:
                results.append("success")
            return None  # drop the result: memory is measured

        d.addBoth(done)

    def peerWrites(self, data: bytes) -> None:
        self.pending += data

    @property
    def mask(self) -> bool:
        return not self.isClient

    # -- the peer ----------------------------------------------------------

    @precondition(lambda self: not self.peerClosed and self.peerFragmenting is None)
    @rule(
        size=st.integers(0, 3000),
        seed=st.integers(0, 2**16),
        text=st.booleans(),
        pieces=st.integers(1, 4),
        compress=st.booleans(),
    )
    def peerMessage(self, size, seed, text, pieces, compress):
        data = payload(size, seed, text)
        compress = compress and self.deflate
        wire = data
        if compress:
            wire = self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
            assert wire.endswith(b"\x00\x00\xff\xff")
            wire = wire[:-4]
        step = max(1, -(-len(wire) // pieces))
        chunks = [wire[i : i + step] for i in range(0, len(wire), step)] or [b""]
        for i, chunk in enumerate(chunks):
            self.peerWrites(
                frame(
                    0 if i else (1 if text else 2),
                    chunk,
                    fin=i == len(chunks) - 1,
                    rsv1=compress and i == 0,
                    mask=self.mask,
                )
            )
        if not self.peerBroken:
            self.sentByPeer.append((text, hashlib.sha1(data).hexdigest()))

    @precondition(lambda self: not self.peerClosed)
    @rule(count=st.integers(1, 100_000), size=st.integers(0, 1))
    def floodFragments(self, count, size):
        # Many tiny fragments of one message: held as one buffer, not many.
        if self.peerFragmenting is None:
            self.peerWrites(frame(2, b"", fin=False, mask=self.mask))
            self.peerFragmenting = 2
            self.fragmented = 0
        self.peerWrites(frame(0, b"x" * size, fin=False, mask=self.mask) * count)
        self.fragmented += size * count

    @precondition(lambda self: not self.peerClosed and self.peerFragmenting is not None)
    @rule()
    def peerEndsMessage(self):
        self.peerWrites(frame(0, b"", fin=True, mask=self.mask))
        self.peerFragmenting = None
        if not self.peerBroken:
            if self.fragmented > MAX_SIZE:
                self.peerBroken = True  # 1009, nothing after it arrives
            else:
                data = b"x" * self.fragmented
                self.sentByPeer.append((False, hashlib.sha1(data).hexdigest()))

    @precondition(lambda self: not self.peerClosed)
    @rule(data=st.binary(max_size=125))
    def peerPing(self, data):
        self.peerWrites(frame(9, data, mask=self.mask))

    @precondition(lambda self: not self.peerClosed)
    @rule(useLast=st.booleans(), data=st.binary(max_size=8))
    def peerPong(self, useLast, data):
        if useLast and self.output.pings:
            data = self.output.pings[-1]
        self.peerWrites(frame(10, data, mask=self.mask))

    @precondition(lambda self: not self.peerClosed)
    @rule(code=st.sampled_from(VALID_CODES + [None]), reason=st.text(max_size=20))
    def peerClose(self, code, reason):
        body = b"" if code is None else struct.pack("!H", code) + reason.encode()[:100]
        self.peerWrites(frame(8, body, mask=self.mask))
        self.peerClosed = True

    @rule(
        kind=st.sampled_from(["garbage", "badutf8", "toobig", "unmasked", "reserved", "badclose"]),
        data=st.binary(min_size=1, max_size=64),
    )
    def peerViolation(self, kind, data):
        self.peerBroken = True
        if kind == "garbage":
            self.peerWrites(data)
        elif kind == "badutf8":
            self.peerWrites(frame(1, b"ok\xff\xfe" + data, mask=self.mask))
        elif kind == "toobig":
            self.peerWrites(frame(2, b"", mask=self.mask, length=MAX_SIZE * 1000)[:14])
        elif kind == "unmasked":
            self.peerWrites(frame(2, data, mask=not self.mask))
        elif kind == "reserved":
            self.peerWrites(frame(3, data, mask=self.mask))
        else:
            self.peerWrites(frame(8, struct.pack("!H", 1005) + data[:10], mask=self.mask))

    @precondition(lambda self: self.pending)
    @rule(sizes=st.lists(st.integers(1, 5000) | st.just(READ), min_size=1, max_size=6))
    def deliver(self, sizes):
        # As a TCP transport would: reads of at most READ bytes, and none
        # while the protocol has paused it.
        for size in sizes:
            if (
                not self.pending
                or self.protocol.state is CLOSED
                or self.conn.transport.producerState == "paused"
            ):
                break
            chunk, self.pending = bytes(self.pending[:size]), self.pending[size:]
            self.conn.receive(chunk)
            self.flush()

    @precondition(lambda self: self.protocol.state is not CLOSED)
    @rule(clean=st.booleans())
    def peerDrops(self, clean):
        self.pending.clear()
        self.conn.lose(ConnectionDone() if clean else ConnectionLost())

    @rule(seconds=st.floats(0, 6))
    def clockMoves(self, seconds):
        self.conn.clock.advance(seconds)
        self.flush()

    # -- the application ---------------------------------------------------

    @rule(
        size=st.integers(0, 5000),
        seed=st.integers(0, 2**16),
        text=st.booleans(),
        fragments=st.integers(0, 3),
    )
    def appSend(self, size, seed, text, fragments):
        raw = payload(size, seed, text)
        message = raw.decode("utf-8") if text else raw
        wasOpen = self.protocol.state is OPEN
        if fragments:
            step = max(1, -(-len(message) // fragments))
            d = self.protocol.send(
                [message[i : i + step] for i in range(0, len(message), step)] or [message]
            )
        else:
            d = self.protocol.send(message)
        if wasOpen:
            self.sentByApp.append((text, hashlib.sha1(raw).hexdigest()))
        self.track("send", d)
        self.flush()

    @rule()
    def appRecv(self):
        self.track("recv", self.protocol.recv())
        self.flush()

    @rule(data=st.one_of(st.none(), st.binary(max_size=8)))
    def appPing(self, data):
        self.track("ping", self.protocol.ping(data))
        self.flush()

    @rule(code=st.sampled_from([1000, 1001, 1011, 3000, 4999]), reason=st.text(max_size=10))
    def appClose(self, code, reason):
        self.track("close", self.protocol.close(code, reason))
        self.flush()

    @rule(pause=st.booleans())
    def appPauses(self, pause):
        if pause:
            self.protocol.pauseReading()
        else:
            self.protocol.resumeReading()
        self.flush()

    @rule(pause=st.booleans())
    def transportPauses(self, pause):
        if pause:
            self.protocol.pauseProducing()
        else:
            self.protocol.resumeProducing()
        self.flush()

    # -- after each step ---------------------------------------------------

    def flush(self) -> None:
        """Check what was written; the transport closes when asked to."""
        self.output.feed(self.conn.sent())
        transport = self.conn.transport
        if transport.disconnecting and self.protocol.state is not CLOSED:
            self.conn.lose(ConnectionDone())

    @invariant()
    def stateMovesForward(self):
        state = self.protocol.state
        assert state >= self.lastState, f"{self.lastState!r} -> {state!r}"
        self.lastState = state

    @invariant()
    def appGotWhatItSent(self):
        sent = self.output.messages
        assert sent == self.sentByApp[: len(sent)], "peer got other messages than sent"

    @invariant()
    def nothingLoggedAsError(self):
        bad = [
            e
            for e in self.events
            if e.get("log_level") in (LogLevel.error, LogLevel.critical) or "log_failure" in e
        ]
        assert not bad, bad[0]

    @invariant()
    def memoryBounded(self):
        # Everything allocated since the start is a cheap upper bound; when
        # it is over (hypothesis fills caches too), count what txws allocated.
        grown = tracemalloc.get_traced_memory()[0] - self.baseline - len(self.pending)
        if grown >= MEMORY_BOUND:
            # Only this connection's: tracing started after txws was
            # imported, and earlier connections are collected.
            held = txwsHeld()
            assert held < MEMORY_BOUND, f"connection holds {held} bytes"

    def teardown(self) -> None:
        try:
            if self.protocol.state is not CLOSED:
                self.conn.lose(ConnectionLost())
            self.conn.clock.advance(60)
            self.flush()
            assert self.protocol.state is CLOSED
            for kind, results in self.deferreds:
                assert len(results) == 1, f"{kind} Deferred fired {len(results)} times"
            self.nothingLoggedAsError()
        finally:
            globalLogPublisher.removeObserver(self.events.append)


@pytest.fixture(autouse=True)
def _traceMemory():
    tracemalloc.start()
    yield
    tracemalloc.stop()


@pytest.fixture(autouse=True)
def _noUnhandledErrors(logEvents):
    """A Deferred that failed with nobody to handle it says so when freed."""
    yield
    gc.collect()
    unhandled = [e for e in logEvents if "log_failure" in e]
    assert not unhandled, unhandled[0]


# The same examples on every run, so that CI is reproducible; set
# TXWS_EXPLORE=1 to look for new ones (and keep what they find as a test).
SETTINGS = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    derandomize=not os.environ.get("TXWS_EXPLORE"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class ServerMachine(ProtocolMachine):
    isClient = False


class ClientMachine(ProtocolMachine):
    isClient = True


class DeflateServerMachine(ProtocolMachine):
    isClient = False
    deflate = True


class DeflateClientMachine(ProtocolMachine):
    isClient = True
    deflate = True


# Each machine runs many steps under hypothesis: seconds, not milliseconds.
pytestmark = pytest.mark.slow

TestServer = ServerMachine.TestCase
TestServer.settings = SETTINGS
TestClient = ClientMachine.TestCase
TestClient.settings = SETTINGS
TestDeflateServer = DeflateServerMachine.TestCase
TestDeflateServer.settings = SETTINGS
TestDeflateClient = DeflateClientMachine.TestCase
TestDeflateClient.settings = SETTINGS
