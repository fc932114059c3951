# -*- test-case-name: tests.test_writer -*-
"""
Frames onto a transport: masking on the client side, the extensions'
encoding, fragmented messages, and the write side of backpressure.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from typing import Any

from twisted.internet import defer

from .closing import ClosingHandshake
from .extensions import Extension
from .frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    BytesLike,
    Fragmenter,
    applyMask,
    dataOpcode,
    frameHeader,
)

__all__ = [
    "FrameWriter",
    "ObservedWriter",
    "PreparedMessage",
    "prepareTransport",
    "setNoDelay",
    "setWriteLimit",
]

# Payloads at least this long are written apart from their header rather
# than copied into one buffer with it.
_SEQUENCE_THRESHOLD = 4096

# Headers of unmasked, unfragmented frames up to 125 bytes, by opcode and length.
_SMALL_HEADERS = {
    opcode: [bytes((0x80 | opcode, n)) for n in range(126)]
    for opcode in (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG)
}


def prepareTransport(transport: Any, writeLimit: int | None) -> None:
    """
    Ready C{transport} for frames: C{TCP_NODELAY} (a small message goes out
    at once, not behind the acknowledgement of the previous one, which a
    peer that only reads delays by up to 40 ms), and L{setWriteLimit}.
    """
    setNoDelay(transport)
    if writeLimit is not None:
        setWriteLimit(transport, writeLimit)


def setNoDelay(transport: Any) -> None:
    """Turn Nagle's algorithm off on C{transport}, if it is TCP."""
    setTcpNoDelay = getattr(transport, "setTcpNoDelay", None)
    if setTcpNoDelay is not None:
        try:
            setTcpNoDelay(True)
        except OSError:
            pass  # not a TCP socket after all (a Unix socket, a pipe)


def setWriteLimit(transport: Any, limit: int) -> None:
    """
    Make C{limit} the high-water mark of C{transport}'s write buffer: Twisted's
    file-descriptor transports pause their producer when more than
    C{bufferSize} bytes wait; under TLS that is the transport beneath.
    """
    for _ in range(3):
        if transport is None:
            return
        if hasattr(transport, "bufferSize"):
            transport.bufferSize = limit
            return
        transport = getattr(transport, "transport", None)


class PreparedMessage:
    """
    A message to send to many connections: encoded once, and its frame
    (unmasked, without extensions: what every plain server connection
    sends) built once, when first needed.
    """

    __slots__ = ("message", "opcode", "payload", "_frame")

    def __init__(self, message: str | BytesLike) -> None:
        self.message = message
        self.opcode = dataOpcode(message)
        self.payload: bytes = (
            message.encode("utf-8") if isinstance(message, str) else bytes(message)
        )
        self._frame: bytes | None = None

    def frame(self) -> bytes:
        """The whole frame, as a server without extensions sends it."""
        if self._frame is None:
            self._frame = frameHeader(self.opcode, len(self.payload)) + self.payload
        return self._frame


class _Whole:
    """A whole message whose frame type the caller chose (C{send(..., text=)})."""

    __slots__ = ("opcode", "payload")

    def __init__(self, opcode: int, payload: bytes) -> None:
        self.opcode = opcode
        self.payload = payload


def _asWhole(message: Any, text: bool) -> _Whole:
    """C{message} as a text (C{text}) or binary frame, checked at once."""
    if isinstance(message, str):
        return _Whole(OP_TEXT if text else OP_BINARY, message.encode("utf-8"))
    if not isinstance(message, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"text= applies to a whole str or bytes-like message, not {type(message).__name__}"
        )
    payload = bytes(message)
    if text and not payload.isascii():
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"send(..., text=True) needs UTF-8: {e}") from None
    return _Whole(OP_TEXT if text else OP_BINARY, payload)


HOLD_LIMIT = 16384
"""How many bytes L{FrameWriter.held} holds before they go to the transport."""

HOLDING: list[bytes] = []
"""What the connection sets L{FrameWriter.held} to when a read begins:
holding, and nothing written yet (never appended to)."""

_WROTE: list[bytes] = []
# L{FrameWriter.held} once the read's first frame went at once, or what was
# held was written: holding, with nothing held (never appended to either).


class FrameWriter:
    """
    Writes the frames of one connection to its transport.

    @ivar paused: whether the transport asked us to stop writing (its
        buffer is above C{writeLimit}); L{writable} waits for that to end.
    @ivar lock: once a message was sent from an async iterable, the lock
        held while one is on its way; a message sent meanwhile waits for its
        end.
    @ivar closing: set by the connection when it stops being open: from
        then on, L{send} fails with the error it builds.
    @ivar held: while the connection handles a read, the small frames
        written meanwhile, which L{release} writes to the transport in one
        piece at its end (C{None} the rest of the time): a read of a
        hundred messages answered one by one costs one transport write,
        not a hundred. Nothing reaches the peer later for it: Twisted only
        sends once the read is handled. Past C{HOLD_LIMIT} bytes, what is
        held goes to the transport at once, so that its backpressure
        still applies within one read.
    """

    __slots__ = (
        "transport",
        "isClient",
        "extensions",
        "paused",
        "lock",
        "closing",
        "held",
        "_heldSize",
        "_waiters",
    )

    def __init__(self, transport: Any, isClient: bool, extensions: Sequence[Extension]) -> None:
        self.transport = transport
        self.isClient = isClient
        self.extensions = extensions
        self.paused = False
        self.lock: defer.DeferredLock | None = None
        self.closing: ClosingHandshake | None = None
        self.held: list[bytes] | None = None  # (or HOLDING)
        self._heldSize = 0
        self._waiters: list[defer.Deferred[None]] | None = None

    def send(
        self, message: Any, compress: bool = True, text: bool | None = None
    ) -> defer.Deferred[None]:
        """
        Send C{message} as the connection's C{send} does (the connection
        itself sends a plain str or bytes), after the fragmented message on
        its way, if any.
        """
        if text is not None:
            # Checked at once, open or not, whether or not a message is on its way.
            message = _asWhole(message, text)
        if self.closing is not None:
            return defer.fail(self.closing.error())
        lock = self.lock
        if lock is not None and lock.locked:
            return lock.run(self._sendNow, message, compress)
        return self._sendNow(message, compress)

    def sendPrepared(self, prepared: PreparedMessage) -> bool:
        """
        Send a message prepared for many connections; whether it was sent
        (not if the transport asked us to pause, or the connection closes).
        """
        if self.paused or self.closing is not None:
            return False
        lock = self.lock
        if lock is not None and lock.locked:
            lock.run(self._sendNow, prepared.message)
        elif self.extensions or self.isClient:
            self.writeData(prepared.opcode, prepared.payload)
        elif self.held is not None:
            self._hold(prepared.frame())
        else:
            self.transport.write(prepared.frame())
        return True

    def _sendNow(self, message: Any, compress: bool = True) -> defer.Deferred[None]:
        if self.closing is not None:
            return defer.fail(self.closing.error())
        if message.__class__ is _Whole:
            self.writeData(message.opcode, message.payload, compress=compress)
        elif isinstance(message, (str, bytes, bytearray, memoryview)):
            self.writeFragments((message,), compress)
        elif isinstance(message, Mapping):
            # Iterating would send its keys: surely not what was meant.
            raise TypeError(
                f"cannot send a mapping ({type(message).__name__});"
                " encode it first (json.dumps, say)"
            )
        elif hasattr(message, "__aiter__"):
            return defer.ensureDeferred(self._sendAsyncFragments(message, compress))
        elif hasattr(message, "__iter__"):
            self.writeFragments(message, compress)
        else:
            raise TypeError(f"cannot send {type(message).__name__}")
        return self.writable()

    def _checkOpen(self) -> None:
        if self.closing is not None:
            raise self.closing.error()

    def writeFrame(self, opcode: int, payload: BytesLike, fin: bool = True, rsv: int = 0) -> None:
        """Write one frame, masked if we are the client."""
        n = len(payload)
        if self.isClient:
            mask = os.urandom(4)
            header = frameHeader(opcode, n, fin, rsv, mask)
            payload = applyMask(payload, mask)
        elif n < 126 and fin and not rsv:
            header = _SMALL_HEADERS[opcode][n]
        else:
            header = frameHeader(opcode, n, fin, rsv)
        held = self.held
        if n >= _SEQUENCE_THRESHOLD:
            if held:
                self._writeHeld()
            self.transport.writeSequence((header, payload))
        elif held is None:
            self.transport.write(header + payload)
        elif held is HOLDING:
            # The first frame of the read goes at once: a read answered by one
            # frame costs nothing more.
            self.transport.write(header + payload)
            self.held = _WROTE
        else:
            self._hold(header + payload)

    def _hold(self, frame: bytes) -> None:
        held = self.held
        if not held:  # (HOLDING or _WROTE: a list of one's own is never empty)
            held = self.held = []
        held.append(frame)
        self._heldSize += len(frame)
        if self._heldSize >= HOLD_LIMIT:
            self._writeHeld()

    def _writeHeld(self) -> None:
        held = self.held
        assert held is not None
        self.held = _WROTE
        self._heldSize = 0
        self.transport.write(held[0] if len(held) == 1 else b"".join(held))

    def release(self) -> None:
        """Write what is L{held} and stop holding (see L{held})."""
        if self.held:
            self._writeHeld()
        self.held = None

    def releaseBefore(self) -> None:
        """Write what is L{held} before something else reaches the transport."""
        if self.held:
            self._writeHeld()

    def writeData(
        self,
        opcode: int,
        payload: BytesLike,
        fin: bool = True,
        start: bool = True,
        compress: bool = True,
    ) -> None:
        """
        Write a data frame, encoded by the extensions (C{start}: a message's
        first); without C{compress}, by those that do not compress only.
        """
        rsv = 0
        for extension in self.extensions:
            if compress or not extension.compresses:
                bits, payload = extension.encode(payload, start=start, end=fin)  # type: ignore[arg-type]
                rsv |= bits
        self.writeFrame(opcode, payload, fin, rsv)

    def writeFragments(self, pieces: Iterable[str | BytesLike], compress: bool = True) -> None:
        """Write a message given in pieces, a frame each (nothing if none)."""
        fragmenter = Fragmenter()
        for piece in pieces:
            frame = fragmenter.push(piece)
            if frame is not None:
                self.writeData(frame[0], frame[1], False, frame[0] != OP_CONT, compress)
        frame = fragmenter.finish()
        if frame is not None:
            self.writeData(frame[0], frame[1], True, frame[0] != OP_CONT, compress)

    async def _sendAsyncFragments(
        self, pieces: AsyncIterable[str | BytesLike], compress: bool = True
    ) -> None:
        # A message from an async iterable, a frame per piece, waiting while
        # paused; other messages wait for its end.
        if self.lock is None:
            self.lock = defer.DeferredLock()
        lock = self.lock
        await lock.acquire()
        try:
            fragmenter = Fragmenter()
            async for piece in pieces:
                frame = fragmenter.push(piece)
                if frame is not None:
                    self._checkOpen()
                    self.writeData(frame[0], frame[1], False, frame[0] != OP_CONT, compress)
                    if self.paused:
                        await self.writable()
            frame = fragmenter.finish()
            if frame is not None:
                self._checkOpen()
                self.writeData(frame[0], frame[1], True, frame[0] != OP_CONT, compress)
        finally:
            lock.release()

    def writable(self) -> defer.Deferred[None]:
        """A Deferred fired once the transport does not ask us to pause."""
        if not self.paused:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(d)
        return d

    def pause(self) -> bool:
        """The transport asks us to stop writing; whether that is news."""
        if self.paused:
            return False
        self.paused = True
        return True

    def resume(self) -> bool:
        """The transport may be written to again: wake the waiters."""
        if not self.paused:
            return False
        self.paused = False
        waiters, self._waiters = self._waiters, None
        for d in waiters or ():
            d.callback(None)
        return True

    def stop(self, closing: ClosingHandshake) -> None:
        """The connection is gone: fail every waiter with C{closing}'s error."""
        self.closing = closing
        self.held = None
        waiters, self._waiters = self._waiters, None
        for d in waiters or ():
            d.errback(closing.error())


class ObservedWriter(FrameWriter):
    """
    A L{FrameWriter} whose every frame goes through L{writeFrame}, even a
    broadcast's shared frame: the base of writers that watch what they
    write (frame logging, metrics), which override C{writeFrame}.

    @ivar frameLog: the frame log a L{txws._log.LoggingWriter} writes to.
    @ivar metrics: the metrics a L{txws.observe.CountingWriter} counts into.
    """

    __slots__ = ("frameLog", "metrics")
    frameLog: Any
    metrics: Any

    def sendPrepared(self, prepared: PreparedMessage) -> bool:
        lock = self.lock
        if self.paused or self.closing is not None or (lock is not None and lock.locked):
            return super().sendPrepared(prepared)
        self.writeData(prepared.opcode, prepared.payload)
        return True
