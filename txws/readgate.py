# -*- test-case-name: tests.test_readgate -*-
"""
The one owner of every reason a connection stops reading from its peer.

A L{ReadGate} pauses the connection's transport when the first reason
appears and resumes it when the last one goes, and holds the frame parser
while a reason that is about messages (the queue, the application)
stands. It acts through the L{GatedConnection} seam, so its tests need no
Twisted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .frames import Parser

__all__ = ["ReadGate", "GatedConnection", "CLOSED_GATE", "QUEUE", "WRITE", "APPLICATION", "STREAM"]

QUEUE = 1
"""Received messages wait unread: C{maxQueue} of them."""
WRITE = 2
"""The transport asked us to stop writing (C{writeLimit}): a peer that does
not read what we send does not get to send more."""
APPLICATION = 4
"""The application called C{pauseReading} (or a wrapped protocol paused
its transport)."""
STREAM = 8
"""Pieces of a message read with C{recvStreaming()} wait unread:
C{maxQueue} of them."""

# Reasons that also stop the parser: no message may be delivered while they
# stand, not even from bytes already read.
_HOLDING = QUEUE | APPLICATION | STREAM


class GatedConnection(Protocol):
    """What a L{ReadGate} acts on: a connection's transport and parser."""

    @property
    def transport(self) -> Any:
        """An C{IPushProducer} (or C{None} once gone)."""

    @property
    def parser(self) -> Parser | None:
        """The frame parser, once the connection is open."""

    def parsed(self) -> None:
        """
        The bytes held back were parsed: hand the messages on (and pause
        again if the queue is still full).
        """

    def parseFailed(self, error: Exception) -> None:
        """Parsing the bytes held back raised C{error}."""


class ReadGate:
    """
    The reasons to pause reading that stand, as a set of bits, and what
    they do to the connection.

    @ivar reasons: the reasons that stand.
    @ivar closed: the input is closed (L{close}): nothing is paused or
        resumed again.
    """

    __slots__ = ("reasons", "closed", "connection")

    def __init__(self, connection: GatedConnection | None) -> None:
        self.reasons = 0
        self.closed = False
        self.connection = connection

    def pause(self, reason: int) -> None:
        """Add C{reason}: the first one pauses the transport."""
        if self.closed or self.reasons & reason:
            return
        first = not self.reasons
        self.reasons |= reason
        connection = self.connection
        assert connection is not None
        if first and connection.transport is not None:
            connection.transport.pauseProducing()
        parser = connection.parser
        if reason & _HOLDING and parser is not None:
            parser.paused = True

    def resume(self, reason: int) -> None:
        """
        Drop C{reason}: once none is left, resume the transport, then parse
        what the parser held back and tell the connection (L{GatedConnection.parsed}).
        """
        if not self.reasons & reason:
            return
        self.reasons &= ~reason
        connection = self.connection
        if self.reasons or self.closed or connection is None:
            return
        if connection.transport is not None:
            connection.transport.resumeProducing()
        parser = connection.parser
        if parser is not None and parser.paused:
            try:
                parser.resume()
            except Exception as e:
                connection.parseFailed(e)
                return
            connection.parsed()

    def queueDrained(self) -> None:
        """The readers took enough messages (L{Inbox.drained <txws.inbox.Inbox>})."""
        self.resume(QUEUE)

    def holds(self, reason: int) -> bool:
        """Whether C{reason} stands."""
        return bool(self.reasons & reason)

    def close(self) -> None:
        """
        The input is closed: resume a paused transport (so that the peer
        closing TCP is seen; nothing more is parsed), and never pause again.
        """
        connection = self.connection
        if self.reasons and connection is not None and connection.transport is not None:
            connection.transport.resumeProducing()
        self.closed = True
        self.reasons = 0
        self.connection = None


CLOSED_GATE = ReadGate(None)
"""A closed gate: it never changes again, so closed connections share it
(and an open one that never paused has none)."""
CLOSED_GATE.close()
