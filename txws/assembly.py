# -*- test-case-name: tests.test_assembly -*-
"""
Messages that do not arrive whole: fragments joined, text decoded as it
comes (so that bad UTF-8 is refused at once), extensions' decoding with the
size budget they may inflate to (RFC 6455, 5.4 and 8.1; RFC 7692).

Pure: no I/O and no Twisted. A connection hands a piece of a data frame to
L{MessageAssembler.feed} only when the message is fragmented or an
extension is in use; a whole, plain message never comes here.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from typing import Any

from .exceptions import InvalidUTF8
from .extensions import Extension
from .frames import COALESCE, OP_CONT, OP_TEXT, BytesLike

__all__ = ["MessageAssembler", "decodeText"]


def decodeText(payload: BytesLike) -> str:
    """A whole text message's payload as C{str}; L{InvalidUTF8} if it is not UTF-8."""
    try:
        return str(payload, "utf-8")
    except UnicodeDecodeError:
        raise InvalidUTF8("invalid UTF-8 in text message") from None


class MessageAssembler:
    """
    Builds messages out of the pieces the frame parser reports.

    L{feed} takes each piece of data as C{(opcode, end, rsv, payload)} and
    returns the message (C{str} or C{bytes}) when C{end} completes it, or
    C{None}. What it holds while a message arrives is that message's
    payload and a small constant, however many fragments (even empty ones)
    it comes in.

    @ivar extensions: the negotiated extensions, decoding in reverse order.
    @ivar maxSize: the largest decoded message, or C{None}; an extension
        that would inflate past it raises L{txws.exceptions.PayloadTooBig}.
    """

    __slots__ = ("extensions", "maxSize", "_parts", "_text", "_decoder", "_decodedSize")

    def __init__(self, extensions: Sequence[Extension], maxSize: int | None) -> None:
        self.extensions = extensions
        self.maxSize = maxSize
        # str pieces for a text message, bytes-like ones for a binary one.
        self._parts: list[Any] | None = None
        self._text = False
        self._decoder: codecs.IncrementalDecoder | None = None
        self._decodedSize = 0

    def feed(self, opcode: int, end: bool, rsv: int, payload: bytes) -> str | bytes | None:
        """Take a piece of a data frame; return the message it completes."""
        if self.extensions:
            payload = self._decodeExtensions(opcode, end, rsv, payload)
        if opcode != OP_CONT:
            if end:
                # A whole message, once decoded.
                return decodeText(payload) if opcode == OP_TEXT else payload
            self._parts = []
            self._text = opcode == OP_TEXT
            if self._text:
                if self._decoder is None:
                    self._decoder = codecs.getincrementaldecoder("utf-8")()
                else:
                    self._decoder.reset()
        piece: str | BytesLike = self._decodePiece(payload, end) if self._text else payload
        parts = self._parts
        assert parts is not None, "the parser lets no continuation come first"
        if len(piece) < COALESCE and parts and len(parts[-1]) < COALESCE:
            if parts[-1].__class__ is bytes:
                parts[-1] = bytearray(parts[-1])
            parts[-1] += piece
        else:
            parts.append(piece)
        if not end:
            return None
        self._parts = None
        if self._text:
            return "".join(parts)
        return b"".join(parts)

    def reset(self) -> None:
        """Drop the message in assembly."""
        self._parts = None

    def _decodePiece(self, payload: BytesLike, end: bool) -> str:
        decoder = self._decoder
        assert decoder is not None
        try:
            text = decoder.decode(payload, end)
        except UnicodeDecodeError:
            raise InvalidUTF8("invalid UTF-8 in text message") from None
        if not end:
            # CPython waits for a third byte before refusing a UTF-16
            # surrogate (ED A0..BF); refuse it as soon as it is certain.
            pending = decoder.getstate()[0]
            if len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0:
                raise InvalidUTF8("invalid UTF-8 in text message")
        return text

    def _decodeExtensions(self, opcode: int, end: bool, rsv: int, payload: bytes) -> bytes:
        start = opcode != OP_CONT
        if start:
            self._decodedSize = 0
        maxSize = self.maxSize
        budget = None if maxSize is None else maxSize - self._decodedSize
        for extension in reversed(self.extensions):
            payload = extension.decode(payload, rsv=rsv, start=start, end=end, maxSize=budget)
        self._decodedSize += len(payload)
        return payload
