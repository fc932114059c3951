# -*- test-case-name: tests.test_log -*-
"""
How log events name a connection, and frame logging for debugging.

Every event about a connection carries the fields of L{about}: its short
id (C{connection}) and its peer's address (C{peer}), both also in the
event's text, so that the lines of one connection can be found in a busy
log. Frame logging (C{Options.logFrames}) puts a L{FrameLog} on the
connection's frame paths when it opens; when it is off nothing is built or
called per frame.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, TypedDict
from weakref import WeakKeyDictionary

from twisted.logger import Logger

from .frames import BytesLike, Opcode
from .writer import ObservedWriter

__all__ = ["peerText", "connectionId", "about", "FrameLog", "LoggingWriter"]

log = Logger()

# Ids are given when a connection first logs, so that connections that
# never do cost nothing; the table forgets a connection when it is freed.
_ids = itertools.count(1)
_connectionIds: WeakKeyDictionary[Any, str] = WeakKeyDictionary()


def peerText(transport: Any) -> str:
    """C{host:port} (C{[host]:port} for IPv6) of C{transport}'s peer, or a stand-in."""
    try:
        peer = transport.getPeer()
    except Exception:
        return "peer"
    host = getattr(peer, "host", None)
    port = getattr(peer, "port", None)
    if host is None:
        return str(peer)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def connectionId(protocol: Any) -> str:
    """A short id for C{protocol}'s log lines (C{#1}, C{#2}...), the same for its life."""
    cid = _connectionIds.get(protocol)
    if cid is None:
        cid = _connectionIds[protocol] = f"#{next(_ids)}"
    return cid


class LogFields(TypedDict):
    """The fields of every log event about a connection."""

    connection: str
    peer: str


def about(protocol: Any) -> LogFields:
    """The fields of an event about C{protocol}: C{connection} and C{peer}."""
    return {"connection": connectionId(protocol), "peer": peerText(protocol.transport)}


def _opcodeName(opcode: int) -> str:
    try:
        return Opcode(opcode).name
    except ValueError:
        return f"opcode {opcode}"


class FrameLog:
    """
    One debug line per frame in and out of one connection: direction,
    opcode, fin, rsv, length and the first bytes. L{receiving} wraps the
    parser's callback (a large frame that arrives in pieces logs a line per
    piece); a L{LoggingWriter} logs what is written (L{txws.observe} puts both on).

    It keeps the connection's log fields, not the connection, and only the
    parser holds the wrapped callback (the connection drops it when it is
    gone), so that a closed connection is still freed at once.
    """

    def __init__(self, protocol: Any) -> None:
        self.fields = about(protocol)

    def receiving(
        self, received: Callable[[int, bool, int, bytes], object]
    ) -> Callable[[int, bool, int, bytes], None]:
        """C{received}, logging each frame first."""
        frame = self.frame

        def logged(opcode: int, end: bool, rsv: int, payload: bytes) -> None:
            frame("<", opcode, end, rsv, payload)
            received(opcode, end, rsv, payload)

        return logged

    def frame(self, direction: str, opcode: int, fin: bool, rsv: int, payload: BytesLike) -> None:
        log.debug(
            "{connection} {direction} {opcode} fin={fin} rsv={rsv} {length} bytes {head}",
            direction=direction,
            opcode=_opcodeName(opcode),
            fin=int(fin),
            rsv=f"{rsv >> 4:03b}",
            length=len(payload),
            head=bytes(payload[:24]),
            **self.fields,
        )


class LoggingWriter(ObservedWriter):
    """A writer whose every frame goes through its L{FrameLog}'s C{frame} first."""

    __slots__ = ()

    def writeFrame(self, opcode: int, payload: BytesLike, fin: bool = True, rsv: int = 0) -> None:
        self.frameLog.frame(">", opcode, fin, rsv, payload)
        super().writeFrame(opcode, payload, fin, rsv)
