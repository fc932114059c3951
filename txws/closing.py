# -*- test-case-name: tests.test_closing -*-
"""
The closing handshake's decisions (RFC 6455, 5.5.1, 7.1 and 7.4), apart
from any transport: what to send, whether to close TCP now, and what a
closed connection reports.

Pure: no I/O and no Twisted. The protocol asks, then acts: it writes the
close frame it is given, closes TCP when told to, and runs the timers.
"""

from __future__ import annotations

from .exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK
from .frames import NORMAL_CODES as _NORMAL_CODES
from .frames import Close, CloseCode

__all__ = ["ClosingHandshake", "describeCloseCode"]

# Close reasons are cut to fit a control frame: 125 bytes less the code.
_MAX_REASON = 123


class ClosingHandshake:
    """
    The close frames of one connection, sent and received.

    Each method that may send answers with the close payload to write (or
    C{None}); L{closesTCP} says who closes the TCP connection once the
    frames are exchanged: the server at once (7.1.1), the client only if the
    server does not (it waits for the server to).

    @ivar sent: the close frame we sent, if any.
    @ivar received: the close frame the peer sent, if any.

    @ivar closesTCP: whether this side closes TCP as soon as the handshake
        is over.
    """

    __slots__ = ("closesTCP", "sent", "received")

    def __init__(self, isClient: bool) -> None:
        self.closesTCP = not isClient
        self.sent: Close | None = None
        self.received: Close | None = None

    def start(self, code: int, reason: str = "") -> bytes:
        """We close first: the payload of our close frame."""
        close = Close(code, reason)
        self.sent = close
        return close.serialize()

    def fail(self, code: int, reason: str, isOpen: bool) -> bytes | None:
        """
        We fail the connection (7.1.7): the payload of the close frame to
        send (C{reason} cut to what fits), or C{None} if one was sent already
        or the connection is not open.
        """
        if not isOpen or self.sent is not None:
            return None
        return self.start(code, reason.encode("utf-8")[:_MAX_REASON].decode("utf-8", "ignore"))

    def receive(self, close: Close, payload: bytes, isOpen: bool) -> bytes | None:
        """
        The peer's close frame arrived (C{payload} as received): the payload
        to echo (5.5.1: the same code; an empty close is answered with an
        empty one) or C{None} if we sent ours already.
        """
        self.received = close
        if not isOpen or self.sent is not None:
            return None
        if close.reason:
            return self.start(close.code)
        self.sent = close
        return payload

    @property
    def code(self) -> int:
        """The code received, or 1006 (abnormal closure) when none was."""
        received = self.received
        return received.code if received is not None else CloseCode.ABNORMAL_CLOSURE

    @property
    def reason(self) -> str:
        """The reason received, or C{""}."""
        received = self.received
        return received.reason if received is not None else ""

    @property
    def ok(self) -> bool:
        """Whether the connection closed normally, both ways, as far as it has."""
        received, sent = self.received, self.sent
        return (
            received is not None
            and received.code in _NORMAL_CODES
            and (sent is None or sent.code in _NORMAL_CODES)
        )

    def error(self) -> ConnectionClosed:
        """
        What a closed connection raises: L{ConnectionClosedOK} after a normal
        close, L{ConnectionClosedError} otherwise.
        """
        sent = self.sent
        cls = ConnectionClosedOK if self.ok else ConnectionClosedError
        return cls(
            self.code,
            self.reason,
            sent.code if sent is not None else None,
            sent.reason if sent is not None else None,
        )


_CLOSE_CODE_NAMES = {
    1000: "OK",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status received",
    1006: "abnormal closure",
    1007: "invalid data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS failure",
}


def describeCloseCode(code: int | None) -> str:
    """C{code} with its name, as people read it: C{"1000 (OK)"}, C{"4000 (private use)"}."""
    if code is None:
        return "no close code"
    name = _CLOSE_CODE_NAMES.get(code)
    if name is None:
        if 3000 <= code <= 3999:
            name = "registered"
        elif 4000 <= code <= 4999:
            name = "private use"
        else:
            name = "unknown"
    return f"{code} ({name})"
