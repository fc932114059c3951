# -*- test-case-name: tests.test_metrics -*-
"""
What watches a connection's frames: frame logging (C{logFrames}) and
metrics (C{metrics}).

When a connection opens, L{frameIO} gives it its parser callback and its
writer: the plain ones when neither is on, so that an unwatched connection
pays nothing per frame; otherwise a callback that counts and logs each
frame received before passing it on, and a writer that does so for each
frame written. With metrics alone, one-frame messages still take the
parser's fast path (L{Parser.whole <txws.frames.Parser.whole>}), counted
on the way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._log import FrameLog, LoggingWriter
from .frames import BytesLike, FrameCallback
from .metrics import Metrics
from .writer import FrameWriter, ObservedWriter

__all__ = ["frameIO", "CountingWriter"]


class CountingWriter(ObservedWriter):
    """A writer that counts the data messages and bytes it writes into L{metrics}."""

    __slots__ = ()

    def writeFrame(self, opcode: int, payload: BytesLike, fin: bool = True, rsv: int = 0) -> None:
        if opcode < 8:
            metrics = self.metrics
            metrics.bytesSent += len(payload)
            if fin:
                metrics.messagesSent += 1
        super().writeFrame(opcode, payload, fin, rsv)


class _CountingLoggingWriter(CountingWriter, LoggingWriter):
    __slots__ = ()


Whole = Callable[[str | bytes], object]


def frameIO(
    protocol: Any, received: FrameCallback, whole: Whole
) -> tuple[FrameCallback, Whole | None, FrameWriter]:
    """
    The parser callback, the parser's C{whole} and the writer of
    C{protocol}, which is opening: C{received}, C{whole} and a plain
    L{FrameWriter}, or all watched by its options' metrics and frame log
    (which sees every frame: no C{whole} then). Counts the connection as
    opened (the protocol counts it as closed).
    """
    options = protocol.options
    metrics: Metrics | None = options.metrics
    frames = FrameLog(protocol) if options.logFrames else None
    cls: type[FrameWriter] = FrameWriter
    if metrics is not None:
        received = _counting(metrics, received)
        whole = _countingWhole(metrics, whole)
        metrics.connectionOpened()
        cls = CountingWriter
    if frames is not None:
        received = frames.receiving(received)
        cls = _CountingLoggingWriter if metrics is not None else LoggingWriter
    writer = cls(protocol.transport, protocol.isClient, protocol.extensions)
    if metrics is not None:
        writer.metrics = metrics  # type: ignore[attr-defined]
    if frames is not None:
        writer.frameLog = frames  # type: ignore[attr-defined]
    return received, None if frames is not None else whole, writer


def _counting(metrics: Metrics, received: FrameCallback) -> FrameCallback:
    def counted(opcode: int, end: bool, rsv: int, payload: bytes) -> None:
        if opcode < 8:
            metrics.bytesReceived += len(payload)
            if end:
                metrics.messagesReceived += 1
        received(opcode, end, rsv, payload)

    return counted


def _countingWhole(metrics: Metrics, whole: Whole) -> Whole:
    def counted(message: str | bytes) -> None:
        size = len(message)
        if isinstance(message, str) and not message.isascii():
            size = len(message.encode("utf-8"))  # (the payload's length, as counted on the wire)
        metrics.bytesReceived += size
        metrics.messagesReceived += 1
        whole(message)

    return counted
