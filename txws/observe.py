# -*- test-case-name: tests.test_metrics -*-
"""
What watches a connection's frames: frame logging (C{logFrames}) and
metrics (C{metrics}).

When a connection opens, L{frameIO} gives it its parser callback and its
writer: the plain ones when neither is on, so that an unwatched connection
pays nothing per frame; otherwise a callback that counts and logs each
frame received before passing it on, and a writer that does so for each
frame written.
"""

from __future__ import annotations

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


def frameIO(protocol: Any, received: FrameCallback) -> tuple[FrameCallback, FrameWriter]:
    """
    The parser callback and the writer of C{protocol}, which is opening:
    C{received} and a plain L{FrameWriter}, or both watched by its
    options' frame log and metrics. Counts the connection as opened (the
    protocol counts it as closed).
    """
    options = protocol.options
    metrics: Metrics | None = options.metrics
    frames = FrameLog(protocol) if options.logFrames else None
    cls: type[FrameWriter] = FrameWriter
    if metrics is not None:
        received = _counting(metrics, received)
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
    return received, writer


def _counting(metrics: Metrics, received: FrameCallback) -> FrameCallback:
    def counted(opcode: int, end: bool, rsv: int, payload: bytes) -> None:
        if opcode < 8:
            metrics.bytesReceived += len(payload)
            if end:
                metrics.messagesReceived += 1
        received(opcode, end, rsv, payload)

    return counted
