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
from collections.abc import Callable, Sequence
from typing import Any

from .exceptions import InvalidUTF8
from .extensions import Extension
from .frames import COALESCE, OP_CONT, OP_TEXT, BytesLike

__all__ = ["MessageAssembler", "Sink", "decodeText"]

Sink = Callable[[Any, bool], object]
"""Where a message received in pieces goes: C{sink(piece, last)}, each piece
decoded (C{str} for text, a whole number of code points; bytes-like for
binary)."""


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
    @ivar sinkFor: asked at the start of each message for a L{Sink} to hand
        its pieces to as they come, instead of joining them; C{None} (or a
        C{None} answer) joins. C{maxSize} holds either way.
    @ivar sink: the sink of the message in progress, if it streams.
    """

    __slots__ = (
        "extensions",
        "maxSize",
        "sinkFor",
        "sink",
        "_parts",
        "_text",
        "_decoder",
        "_decodedSize",
    )

    def __init__(self, extensions: Sequence[Extension], maxSize: int | None) -> None:
        self.extensions = extensions
        self.maxSize = maxSize
        self.sinkFor: Callable[[], Sink | None] | None = None
        self.sink: Sink | None = None
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
            if self.sinkFor is not None:
                self.sink = self.sinkFor()
            if end and self.sink is None:
                # A whole message, once decoded.
                return decodeText(payload) if opcode == OP_TEXT else payload
            self._parts = None if self.sink is not None else []
            self._text = opcode == OP_TEXT
            if self._text:
                if self._decoder is None:
                    self._decoder = codecs.getincrementaldecoder("utf-8")()
                else:
                    self._decoder.reset()
        piece: str | BytesLike = self._decodePiece(payload, end) if self._text else payload
        sink = self.sink
        if sink is not None:
            if end:
                self.sink = None
            sink(piece, end)
            return None
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
        self.sink = None

    @property
    def assembling(self) -> bool:
        """Whether a message is being joined: it began and has not ended."""
        return self._parts is not None

    def streamRest(self, sink: Sink) -> str | bytes:
        """
        Hand the rest of the message being joined to C{sink}; return what
        came of it so far, joined. (Only while L{assembling}.)
        """
        parts = self._parts
        assert parts is not None
        self._parts = None
        self.sink = sink
        return "".join(parts) if self._text else b"".join(parts)

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
