"""L{broadcast}: one message to many connections, encoded once."""

from __future__ import annotations

from typing import Iterable

from .frames import OP_BINARY, OP_TEXT, frameHeader
from .protocol import OPEN, WebSocketProtocol

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
    if isinstance(message, str):
        opcode, payload = OP_TEXT, message.encode("utf-8")
    elif isinstance(message, (bytes, bytearray, memoryview)):
        opcode, payload = OP_BINARY, bytes(message)
    else:
        raise TypeError(f"cannot broadcast {type(message).__name__}")
    frame: bytes | None = None
    sent = 0
    for connection in connections:
        if connection.state is not OPEN or connection._writePaused:
            continue
        lock = connection._sendLock
        if lock is not None and lock.locked:
            # A fragmented message is on its way: queue behind it.
            connection.send(message)
        elif connection.extensions or connection.isClient:
            connection._sendData(opcode, payload)
        else:
            if frame is None:
                frame = frameHeader(opcode, len(payload)) + payload
            connection.transport.write(frame)
        sent += 1
    return sent
