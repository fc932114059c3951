# -*- test-case-name: tests.test_broadcast -*-
"""L{broadcast}: one message to many connections, encoded once."""

from __future__ import annotations

from collections.abc import Iterable

from .protocol import WebSocketProtocol
from .writer import PreparedMessage

__all__ = ["broadcast"]


def broadcast(connections: Iterable[WebSocketProtocol], message: str | bytes) -> int:
    """
    Send C{message} to every open connection in C{connections}; return how
    many got it.

    The frame is built once for all the server connections that use no
    extension; connections that compress, or clients (which must mask each
    frame), encode it for themselves. A connection whose transport asked it
    to pause (its unsent bytes are above C{writeLimit}) is skipped, so that a
    slow reader neither stalls the others nor makes memory grow. It does not
    wait: use C{send} when each delivery must be awaited.
    """
    if not isinstance(message, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"cannot broadcast {type(message).__name__}")
    prepared = PreparedMessage(message)
    return sum(1 for connection in connections if connection.sendPrepared(prepared))
