# -*- test-case-name: tests.test_frames -*-
"""
The WebSocket framing protocol: RFC 6455, section 5 (and 7.4 for close codes).

Pure codec: no I/O and no Twisted. L{Parser} is fed bytes as they arrive and
reports message data through a callback; L{serializeFrame} builds frames;
C{applyMask} (from L{txws.speedups}) masks and unmasks; L{Close} reads and
writes close payloads. (What is not the parser is defined in
L{txws.wire}; this module gives it all.)

The parser streams: the payload of a data frame is handed over as soon as any
of it has arrived (so invalid UTF-8 can be refused before the frame is
complete, and a large frame is never buffered twice). Only frame headers and
control frames, 139 bytes at most, are buffered.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from .exceptions import PayloadTooBig, ProtocolError
from .speedups import applyMask, maskJoin, parseOne, parseRun
from .wire import (
    COALESCE,
    NORMAL_CODES,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    RSV1,
    RSV2,
    RSV3,
    BytesLike,
    Close,
    CloseCode,
    Fragmenter,
    Frame,
    Opcode,
    controlPayload,
    dataOpcode,
    frameHeader,
    isNormalCloseCode,
    isSendableCloseCode,
    serializeFrame,
)

__all__ = [
    "Opcode",
    "CloseCode",
    "Frame",
    "Close",
    "Parser",
    "Fragmenter",
    "applyMask",
    "controlPayload",
    "dataOpcode",
    "frameHeader",
    "NORMAL_CODES",
    "isNormalCloseCode",
    "isSendableCloseCode",
    "serializeFrame",
    "parseFrames",
    "RSV1",
    "RSV2",
    "RSV3",
]

_DATA_OPCODES = frozenset((OP_CONT, OP_TEXT, OP_BINARY))
_CONTROL_OPCODES = frozenset((OP_CLOSE, OP_PING, OP_PONG))
_unpack_H = struct.Struct("!H").unpack_from
_unpack_Q = struct.Struct("!Q").unpack_from


# What the parser calls: (opcode, end, rsv, payload). For data, opcode is
# TEXT or BINARY on the first piece of a message and CONT on every later
# piece; end is true on the last piece of the message; rsv holds the frame's
# reserved bits on the first piece of each frame and 0 on later pieces of
# the same frame. Control frames are always whole and arrive with end=True.
FrameCallback = Callable[[int, bool, int, bytes], object]


class Parser:
    """
    An incremental frame parser (RFC 6455, 5.2-5.5).

    Feed it bytes with L{feed}; it calls C{callback(opcode, end, rsv,
    payload)} for message data and every control frame, in order: binary
    data a whole frame at a time, text and compressed data in pieces as they
    arrive (so that a receiver can refuse bad UTF-8 or an inflation bomb
    before the frame ends). It checks all section 5 asks of a receiver:
    masking (C{requireMask} on a server, forbidden on a client), reserved
    bits not in C{allowedRsv}, reserved opcodes, control frames fragmented
    or over 125 bytes, continuation without a start, a new message inside a
    fragmented one, and the 64-bit length's top bit. A message whose declared length
    passes C{maxSize} raises L{PayloadTooBig} as soon as the header says so,
    before any of its payload is kept, unless its first frame has one of the
    C{compressedRsv} bits: then the extension that inflates it enforces the
    limit on the inflated size. A data frame longer than C{maxFrameSize}
    (on the wire) raises L{PayloadTooBig} from its header too.

    Setting C{paused} stops parsing after the current piece; bytes fed while
    paused are kept, and L{resume} goes on with them. Setting C{streaming}
    delivers binary data in pieces too, from the next message on.

    Setting C{whole} to a callable lets the parser hand it a message that
    arrives whole in one frame with no reserved bit as the message itself
    (C{str} for text, its UTF-8 checked; C{bytes} for binary) instead of
    giving the frame to the callback: with the C accelerator, a run of
    such frames in one read is parsed in C (L{txws.speedups.parseRun}).

    @ivar parsing: whether a call to L{feed} is under way (read it, do not
        set it): a callback can tell that more of the same read may follow.
    """

    __slots__ = (
        "callback",
        "requireMask",
        "maxSize",
        "maxFrameSize",
        "_smallLimit",
        "allowedRsv",
        "compressedRsv",
        "paused",
        "streaming",
        "whole",
        "parsing",
        "_buf",
        "_fragmented",
        "_messageSize",
        "_exempt",
        "_remaining",
        "_rsv",
        "_fin",
        "_mask",
        "_maskOffset",
        "_first",
        "_binary",
        "_pieces",
        "_stopped",
    )

    def __init__(
        self,
        callback: FrameCallback,
        *,
        requireMask: bool,
        maxSize: int | None = None,
        maxFrameSize: int | None = None,
        allowedRsv: int = 0,
        compressedRsv: int = 0,
    ) -> None:
        self.callback = callback
        self.requireMask = requireMask
        self.maxSize = maxSize
        self.maxFrameSize = maxFrameSize
        # The fast path's one check of both limits: the smaller (-1: none).
        if maxFrameSize is None or (maxSize is not None and maxSize < maxFrameSize):
            small = maxSize
        else:
            small = maxFrameSize
        self._smallLimit = -1 if small is None else small
        self.allowedRsv = allowedRsv
        self.compressedRsv = compressedRsv
        self.paused = self.streaming = False
        self.whole: Callable[[str | bytes], object] | None = None
        self._exempt = 0
        self._buf: bytearray | None = None
        self.parsing = False
        self._fragmented = False
        self._messageSize = 0
        # State of a data frame whose payload is still arriving.
        self._remaining = 0
        self._rsv = 0
        self._fin = False
        self._mask: bytes | None = None
        self._maskOffset = 0
        self._first = 0
        # Whether the current message is binary and uncompressed, and, while
        # such a frame arrives in several reads, its payload as received.
        self._binary = False
        self._pieces: list[BytesLike] | None = None
        self._stopped = False

    def feed(self, data: bytes) -> None:
        """Parse C{data}, calling the callback for everything it completes."""
        buf = self._buf  # (None when empty: a bytearray costs an idle connection 56 bytes)
        if buf or self.paused:
            if self._stopped:
                return
            if buf is None:
                buf = self._buf = bytearray(data)
            else:
                buf += data
            if self.paused:
                return
            self.parsing = True
            try:
                with memoryview(buf) as view:
                    pos = self._parse(buf, view)
            finally:
                self.parsing = False
            del buf[:pos]
            if self._stopped or not buf:
                self._buf = None
        else:
            masked = self.requireMask
            whole = self.whole
            self.parsing = True
            try:
                if parseOne is not None and whole is not None and not self._remaining:
                    # The usual read, one whole message in one frame, in one C call.
                    message = None if self._fragmented else parseOne(data, masked, self._smallLimit)
                    if message is not None:
                        whole(message)
                        return
                length = len(data) - (6 if masked else 2)
                if (
                    0 <= length < 126
                    and (data[0] == 0x81 or data[0] == 0x82)
                    and data[1] == (0x80 | length if masked else length)
                    and not self._remaining
                    and not self._fragmented
                    and (self._smallLimit < 0 or length <= self._smallLimit)
                ):
                    # The usual read: one small text or binary frame, whole,
                    # unfragmented, without reserved bits.
                    payload = applyMask(data[6:], data[2:6]) if masked else data[2:]
                    if whole is not None and data[0] == 0x82:
                        whole(payload)
                    elif whole is not None:
                        try:
                            text = payload.decode("utf-8")
                        except UnicodeDecodeError:  # (which the callback fails with 1007)
                            self.callback(OP_TEXT, True, 0, payload)
                        else:
                            whole(text)
                    else:
                        self.callback(data[0] & 0x0F, True, 0, payload)
                    return
                with memoryview(data) as view:
                    pos = self._parse(data, view)
            finally:
                self.parsing = False
            if pos < len(data) and not self._stopped:
                self._buf = bytearray(memoryview(data)[pos:])

    def stop(self) -> None:
        """
        Parse nothing more, and drop what is kept: the rest of the read
        being parsed, and the message in assembly.
        """
        self.paused = True
        self._stopped = True
        self._pieces = None
        if not self.parsing:
            self._buf = None

    def resume(self) -> None:
        """Clear C{paused} and parse what was kept meanwhile."""
        self.paused = False
        if self._buf and not self.parsing:
            self.feed(b"")

    def _parse(self, buf: bytes | bytearray, view: memoryview) -> int:
        # The hot loop: attributes that do not change while parsing are
        # read once, and a whole frame in the buffer is sliced, not copied twice.
        callback = self.callback
        requireMask = self.requireMask
        maskBit = 0x80 if requireMask else 0
        forbiddenRsv = 0x70 & ~self.allowedRsv
        maxSize = self.maxSize
        compressedRsv = self.compressedRsv
        isBytes = type(buf) is bytes
        end = len(buf)
        pos = 0
        whole = self.whole if parseRun is not None else None
        limit = self._smallLimit
        tried = -1  # where parseRun last stopped: the frame there is Python's
        while pos < end and not self.paused:
            remaining = self._remaining
            if whole is not None and pos != tried and not remaining and not self._fragmented:
                batch: list[str | bytes] = []
                stop = tried = parseRun(buf, pos, requireMask, limit, batch)  # type: ignore[misc]
                if batch:
                    delivered = 0
                    for message in batch:
                        whole(message)
                        delivered += 1
                        if self.paused:
                            break
                    if delivered == len(batch):
                        pos = stop
                    else:
                        for _ in range(delivered):
                            pos += _frameSize(view, pos, requireMask)  # type: ignore[operator]
                    continue
            if remaining:
                n = end - pos if end - pos < remaining else remaining
                pieces = self._pieces
                if pieces is not None:
                    # Kept as received (a whole read is not even copied),
                    # and unmasked and joined in one pass at the end.
                    if n < COALESCE and pieces and len(pieces[-1]) < COALESCE:
                        # A trickle of small reads is merged as it comes:
                        # what a frame holds stays close to its payload.
                        if pieces[-1].__class__ is bytes:
                            pieces[-1] = bytearray(pieces[-1])
                        pieces[-1] += view[pos : pos + n]  # type: ignore[operator]
                    else:
                        pieces.append(buf[pos : pos + n] if isBytes else bytes(view[pos : pos + n]))
                    pos += n
                    remaining -= n
                    self._remaining = remaining
                    if not remaining:
                        self._pieces = None
                        mask = self._mask
                        payload = b"".join(pieces) if mask is None else maskJoin(pieces, mask)
                        callback(self._first, self._fin, self._rsv, payload)
                    continue
                mask = self._mask
                if mask is None:
                    chunk = bytes(view[pos : pos + n])
                else:
                    k = self._maskOffset & 3
                    if k:
                        mask = mask[k:] + mask[:k]
                    chunk = applyMask(view[pos : pos + n], mask)
                    self._maskOffset += n
                pos += n
                remaining -= n
                self._remaining = remaining
                first, rsv = self._first, self._rsv
                self._first = OP_CONT
                self._rsv = 0
                callback(first, not remaining and self._fin, rsv, chunk)
                continue

            if end - pos < 2:
                break
            b0 = buf[pos]
            b1 = buf[pos + 1]
            opcode = b0 & 0x0F
            rsv = b0 & 0x70
            fin = b0 & 0x80
            if rsv & forbiddenRsv:
                raise ProtocolError("reserved bits must be 0")
            if b1 & 0x80 != maskBit:
                if requireMask:
                    raise ProtocolError("incorrect masking: client frames must be masked")
                raise ProtocolError("incorrect masking: server frames must not be masked")
            length = b1 & 0x7F
            if opcode == OP_TEXT or opcode == OP_BINARY:
                if self._fragmented:
                    raise ProtocolError("expected a continuation frame")
            elif opcode == OP_CONT:
                if not self._fragmented:
                    raise ProtocolError("unexpected continuation frame")
            elif opcode in _CONTROL_OPCODES:
                if not fin:
                    raise ProtocolError("fragmented control frame")
                if rsv:
                    # No extension may use them on control frames (RFC 7692, 6.1).
                    raise ProtocolError("reserved bits set on a control frame")
                if length > 125:
                    raise ProtocolError("control frame too long")
            else:
                raise ProtocolError(f"reserved opcode {opcode}")

            start = pos + 2
            if length == 126:
                if end - pos < 4:
                    break
                length = _unpack_H(buf, start)[0]
                start += 2
            elif length == 127:
                if end - pos < 10:
                    break
                length = _unpack_Q(buf, start)[0]
                if length >> 63:
                    raise ProtocolError("frame length has its top bit set")
                start += 8

            if opcode < 8:
                size = length if opcode else self._messageSize + length
                exempt = rsv & compressedRsv if opcode else self._exempt
                if maxSize is not None and size > maxSize and not exempt:
                    raise PayloadTooBig(
                        f"message of {size} bytes or more exceeds the limit of {maxSize} bytes"
                    )
                if self.maxFrameSize is not None and length > self.maxFrameSize:
                    raise PayloadTooBig(
                        f"frame of {length} bytes exceeds the limit of {self.maxFrameSize} bytes"
                    )
            if requireMask:
                if end - start < 4:
                    break
                mask = buf[start : start + 4]  # type: ignore[assignment]  # bytes-like will do
                start += 4
            else:
                mask = None

            stop = start + length
            if opcode >= 8:
                if stop > end:
                    break
                if mask is not None:
                    payload = applyMask(view[start:stop], mask)
                else:
                    # (buf is bytes when isBytes: the slice is bytes.)
                    payload = buf[start:stop] if isBytes else bytes(view[start:stop])  # type: ignore[assignment]
                pos = stop
                callback(opcode, True, rsv, payload)
                continue

            # A data frame.
            self._fragmented = not fin
            self._messageSize = 0 if fin else size
            self._exempt = exempt
            if opcode:
                self._binary = opcode == OP_BINARY and not exempt and not self.streaming
            if stop <= end:
                if mask is not None:
                    payload = applyMask(view[start:stop], mask)
                else:
                    # (buf is bytes when isBytes: the slice is bytes.)
                    payload = buf[start:stop] if isBytes else bytes(view[start:stop])  # type: ignore[assignment]
                pos = stop
                callback(opcode, fin != 0, rsv, payload)
                continue
            self._remaining = length
            self._fin = fin != 0
            self._rsv = rsv
            self._mask = bytes(mask) if mask is not None else None
            self._maskOffset = 0
            self._first = opcode
            if self._binary:
                # Binary data is delivered a whole frame at a time; text and
                # compressed data stream on, piece by piece, so that bad
                # UTF-8 fails fast and inflating keeps to its limit.
                self._pieces = []
            pos = start
        return pos


def parseFrames(
    data: bytes, *, requireMask: bool = False, maxSize: int | None = None, allowedRsv: int = 0
) -> list[Frame]:
    """
    Parse C{data}, which must hold whole frames, into L{Frame}s.

    A convenience for tests and tools; raises L{ProtocolError} on bad input
    and C{ValueError} if C{data} ends inside a frame.
    """
    frames: list[Frame] = []
    pieces: list[bytes] = []
    parser = Parser(
        lambda opcode, end, rsv, payload: pieces.append(payload),
        requireMask=requireMask,
        maxSize=maxSize,
        allowedRsv=allowedRsv,
    )
    # Feed frame by frame so that each Frame keeps its own fin bit.
    view = memoryview(data)
    pos = 0
    while pos < len(data):
        size = _frameSize(view, pos, requireMask)
        if size is None or pos + size > len(data):
            raise ValueError("data ends inside a frame")
        b0 = view[pos]
        parser.feed(bytes(view[pos : pos + size]))
        frames.append(Frame(b0 & 0x0F, b"".join(pieces), bool(b0 & 0x80), b0 & 0x70))
        pieces.clear()
        pos += size
    return frames


def _frameSize(view: memoryview, pos: int, masked: bool) -> int | None:
    avail = len(view) - pos
    if avail < 2:
        return None
    length = view[pos + 1] & 0x7F
    size = 2
    if length == 126:
        if avail < 4:
            return None
        length = _unpack_H(view, pos + 2)[0]
        size = 4
    elif length == 127:
        if avail < 10:
            return None
        length = _unpack_Q(view, pos + 2)[0]
        size = 10
    return size + (4 if masked else 0) + length
