"""
The one owner of every reason a connection stops reading from its peer.

Pure: no I/O and no Twisted. The connection asks the gate, then acts: it
pauses the transport when the first reason appears and resumes it when
the last one goes, and holds its frame parser while a reason that is about
messages (the queue, the application) stands.
"""

from __future__ import annotations

__all__ = ["ReadGate", "CLOSED_GATE", "QUEUE", "WRITE", "APPLICATION"]

QUEUE = 1
"""Received messages wait unread: C{maxQueue} of them."""
WRITE = 2
"""The transport asked us to stop writing (C{writeLimit}): a peer that does
not read what we send does not get to send more."""
APPLICATION = 4
"""The application called C{pauseReading} (or a wrapped protocol paused
its transport)."""

# Reasons that also stop the parser: no message may be delivered while they
# stand, not even from bytes already read.
_HOLDING = QUEUE | APPLICATION


class ReadGate:
    """
    The reasons to pause reading that stand, as a set of bits.

    L{pause} and L{resume} answer whether the transport must now be paused
    or resumed; L{close} ends it all (the input is closed: nothing is ever
    resumed again).
    """

    __slots__ = ("reasons", "closed")

    def __init__(self) -> None:
        self.reasons = 0
        self.closed = False

    def pause(self, reason: int) -> bool:
        """Add C{reason}; whether it is the first (pause the transport)."""
        if self.closed or self.reasons & reason:
            return False
        first = not self.reasons
        self.reasons |= reason
        return first

    def resume(self, reason: int) -> bool:
        """Drop C{reason}; whether none is left (resume the transport)."""
        if not self.reasons & reason:
            return False
        self.reasons &= ~reason
        return not self.reasons and not self.closed

    def holds(self, reason: int) -> bool:
        """Whether C{reason} stands."""
        return bool(self.reasons & reason)

    @property
    def holdsMessages(self) -> bool:
        """Whether the parser must stop delivering messages too."""
        return bool(self.reasons & _HOLDING)

    def close(self) -> None:
        """The input is closed: no reason to pause or resume is left."""
        self.closed = True
        self.reasons = 0


CLOSED_GATE = ReadGate()
"""A closed gate: it never changes again, so closed connections share it
(and an open one that never paused has none)."""
CLOSED_GATE.close()
