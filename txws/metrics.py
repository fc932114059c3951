# -*- test-case-name: tests.test_metrics -*-
"""
Counters of what a factory's connections did: connections, handshake
failures, messages and bytes each way, close codes.

Pure: plain integers, no I/O and no Twisted. A factory keeps one
L{Metrics} when its C{metrics} option is on (several factories may share
one); L{txws.prometheus} exports it in the Prometheus text format.
Counting a message costs its connection one call, and only when metrics
are on (L{txws.observe}).
"""

from __future__ import annotations

__all__ = ["Metrics"]


class Metrics:
    """
    What the connections of one or more factories did, since it was made.

    @ivar connectionsOpen: connections open now (the opening handshake done,
        the TCP connection not yet gone).
    @ivar connectionsTotal: connections opened, ever.
    @ivar handshakeFailures: opening handshakes that failed, by status: the
        HTTP status a server refused with (C{"400"}, C{"403"}, C{"503"},
        or what C{processRequest} answered instead of upgrading), or the
        status a client was refused with; C{"timeout"} for one that took
        longer than C{openTimeout}, and C{"invalid"} for a client's other
        failures (a bad response, TLS, the connection lost).
    @ivar messagesReceived: data messages received whole (a fragmented
        message counts once).
    @ivar messagesSent: data messages sent (a fragmented one counts once).
    @ivar bytesReceived: payload bytes of the data frames received, as on
        the wire (compressed, for a compressed message).
    @ivar bytesSent: payload bytes of the data frames sent, as on the wire.
    @ivar closeCodes: closed connections by close code: the peer's, or the
        one we sent when the peer sent none, or 1006 when neither side sent
        a close frame.
    """

    __slots__ = (
        "connectionsOpen",
        "connectionsTotal",
        "handshakeFailures",
        "messagesReceived",
        "messagesSent",
        "bytesReceived",
        "bytesSent",
        "closeCodes",
    )

    def __init__(self) -> None:
        self.connectionsOpen = 0
        self.connectionsTotal = 0
        self.handshakeFailures: dict[str, int] = {}
        self.messagesReceived = 0
        self.messagesSent = 0
        self.bytesReceived = 0
        self.bytesSent = 0
        self.closeCodes: dict[int, int] = {}

    def connectionOpened(self) -> None:
        """A connection finished its opening handshake."""
        self.connectionsOpen += 1
        self.connectionsTotal += 1

    def connectionClosed(self, code: int | None, sentCode: int | None = None) -> None:
        """
        An open connection is gone: the peer's close frame had C{code}
        (1006 if there was none), ours C{sentCode} (C{None} if none).
        """
        if code is None or (code == 1006 and sentCode is not None):
            code = sentCode if sentCode is not None else 1006
        self.connectionsOpen -= 1
        self.closeCodes[code] = self.closeCodes.get(code, 0) + 1

    def handshakeFailed(self, status: int | str) -> None:
        """An opening handshake failed with C{status} (see L{handshakeFailures})."""
        key = str(status)
        self.handshakeFailures[key] = self.handshakeFailures.get(key, 0) + 1

    def __repr__(self) -> str:
        return (
            f"<Metrics open={self.connectionsOpen} total={self.connectionsTotal}"
            f" received={self.messagesReceived} sent={self.messagesSent}>"
        )
