# -*- test-case-name: tests.test_frames -*-
"""
What goes on the wire besides the parser: RFC 6455, section 5 (and 7.4 for
close codes). Opcodes and close codes and their predicates, frame headers
and whole frames built (L{serializeFrame}), close payloads read and written
(L{Close}), and a message cut into frames (L{Fragmenter}).

Pure: no I/O and no Twisted. L{txws.frames} has the parser, and gives these
names too: import them from there.
"""

from __future__ import annotations

import enum
import os
import struct
from dataclasses import dataclass

from .exceptions import InvalidUTF8, ProtocolError
from .speedups import applyMask

__all__ = [
    "Opcode",
    "CloseCode",
    "Frame",
    "Close",
    "Fragmenter",
    "controlPayload",
    "dataOpcode",
    "frameHeader",
    "NORMAL_CODES",
    "isNormalCloseCode",
    "isSendableCloseCode",
    "serializeFrame",
    "RSV1",
    "RSV2",
    "RSV3",
]

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

RSV1, RSV2, RSV3 = 0x40, 0x20, 0x10

BytesLike = bytes | bytearray | memoryview

# Pieces of a payload shorter than this are merged as they arrive, so that
# no piece costs more in object overhead than a few percent of it.
COALESCE = 1024


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455, 5.2)."""

    CONT = OP_CONT
    TEXT = OP_TEXT
    BINARY = OP_BINARY
    CLOSE = OP_CLOSE
    PING = OP_PING
    PONG = OP_PONG


class CloseCode(enum.IntEnum):
    """Close status codes (RFC 6455, 7.4.1, and the IANA registry)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


# Codes that may appear in a close frame (7.4.1-7.4.2): 1005, 1006 and 1015
# are reserved for reporting and never sent; 3000-4999 are for libraries,
# frameworks and applications.
_SENDABLE_CODES = frozenset(
    (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014)
)


def isSendableCloseCode(code: int) -> bool:
    """Whether C{code} may be carried in a close frame."""
    return code in _SENDABLE_CODES or 3000 <= code <= 4999


NORMAL_CODES = frozenset((CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD))
"""The codes that end a connection normally (see L{isNormalCloseCode})."""


def isNormalCloseCode(code: int | None) -> bool:
    """Whether C{code} ends a connection normally: 1000, 1001, or 1005 (no code)."""
    return code in NORMAL_CODES


def dataOpcode(message: object) -> int:
    """
    The opcode that carries C{message}: L{OP_TEXT <Opcode.TEXT>} for C{str},
    L{OP_BINARY <Opcode.BINARY>} for bytes-like; C{TypeError} otherwise.
    """
    if isinstance(message, str):
        return OP_TEXT
    if isinstance(message, (bytes, bytearray, memoryview)):
        return OP_BINARY
    raise TypeError(
        f"cannot send {type(message).__name__} as a message; send str (text) or bytes (binary)"
    )


def controlPayload(data: str | BytesLike, name: str) -> bytes:
    """
    C{data} (C{str} as UTF-8) as the payload of a control frame; a
    C{ValueError} naming C{name} if it is over 125 bytes (RFC 6455 5.5).
    """
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(payload) > 125:
        raise ValueError(f"{name} longer than 125 bytes")
    return payload


_pack_B2 = struct.Struct("!BB").pack
_pack_B2H = struct.Struct("!BBH").pack
_pack_B2Q = struct.Struct("!BBQ").pack
_unpack_H = struct.Struct("!H").unpack_from


def frameHeader(
    opcode: int, length: int, fin: bool = True, rsv: int = 0, mask: bytes | None = None
) -> bytes:
    """The header of a frame carrying C{length} payload bytes."""
    b0 = (0x80 if fin else 0) | rsv | opcode
    m = 0x80 if mask is not None else 0
    if length < 126:
        header = _pack_B2(b0, m | length)
    elif length < 0x10000:
        header = _pack_B2H(b0, m | 126, length)
    else:
        header = _pack_B2Q(b0, m | 127, length)
    if mask is not None:
        header += mask
    return header


def serializeFrame(
    opcode: int,
    payload: bytes = b"",
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | bool | None = None,
) -> bytes:
    """
    One whole frame as bytes.

    C{mask} is a 4-byte masking key, C{True} for a random one (clients must
    mask, RFC 6455 5.3), or C{None} for no masking (servers).
    """
    if mask is True:
        mask = os.urandom(4)
    elif mask is False:
        mask = None
    header = frameHeader(opcode, len(payload), fin, rsv, mask)
    if mask is not None:
        return header + applyMask(payload, mask)
    return header + bytes(payload)


@dataclass(frozen=True, slots=True)
class Frame:
    """A whole frame, for tests and tools; the hot path does not build these."""

    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv: int = 0

    def serialize(self, mask: bytes | bool | None = None) -> bytes:
        return serializeFrame(self.opcode, self.payload, self.fin, self.rsv, mask)


@dataclass(frozen=True, slots=True)
class Close:
    """
    The payload of a close frame (RFC 6455, 5.5.1): a code and a reason.

    An empty payload reads as code 1005 (no status received) and serializes
    back to an empty payload.
    """

    code: int
    reason: str = ""

    @classmethod
    def parse(cls, data: bytes) -> Close:
        """Read a close payload, raising L{ProtocolError} or L{InvalidUTF8}."""
        if not data:
            return cls(CloseCode.NO_STATUS_RCVD, "")
        if len(data) == 1:
            raise ProtocolError("close frame payload of 1 byte")
        (code,) = _unpack_H(data)
        if not isSendableCloseCode(code):
            raise ProtocolError(f"invalid close code {code}")
        try:
            reason = bytes(data[2:]).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidUTF8("invalid UTF-8 in close reason") from None
        return cls(code, reason)

    def serialize(self) -> bytes:
        """The close payload; raises C{ValueError} for an unsendable one."""
        if self.code == CloseCode.NO_STATUS_RCVD and not self.reason:
            return b""
        if not isSendableCloseCode(self.code):
            raise ValueError(f"close code {self.code} cannot be sent")
        data = struct.pack("!H", self.code) + self.reason.encode("utf-8")
        if len(data) > 125:
            raise ValueError("close reason longer than 123 bytes")
        return data


class Fragmenter:
    """
    The frames of a message sent in pieces (RFC 6455, 5.4), one piece behind:
    a piece becomes a frame once the next one shows that it is not the last.

    L{push} each piece, then L{finish}; each returns C{(opcode, payload,
    fin)} for a frame to send, or C{None}. All pieces must be C{str} (a text
    message) or all bytes-like (binary), else C{TypeError}.
    """

    __slots__ = ("_kind", "_opcode", "_pending")

    def __init__(self) -> None:
        self._kind = -1
        self._opcode = -1
        self._pending: BytesLike | None = None

    def push(self, piece: str | BytesLike) -> tuple[int, BytesLike, bool] | None:
        """Take the next piece; return the frame of the one before it."""
        payload: BytesLike
        if isinstance(piece, str):
            kind, payload = OP_TEXT, piece.encode("utf-8")
        else:
            kind, payload = dataOpcode(piece), piece
        pending = self._pending
        if pending is None:
            self._kind = self._opcode = kind
            self._pending = payload
            return None
        if kind != self._kind:
            raise TypeError("all fragments must be str, or all bytes-like")
        frame = (self._opcode, pending, False)
        self._opcode = OP_CONT
        self._pending = payload
        return frame

    def finish(self) -> tuple[int, BytesLike, bool] | None:
        """The last frame, or C{None} if there was no piece at all."""
        if self._pending is None:
            return None
        frame = (self._opcode, self._pending, True)
        self._pending = None
        return frame
