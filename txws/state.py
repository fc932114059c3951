# -*- test-case-name: tests.test_protocol -*-
"""
What a connection knows: the fields of L{WebSocketProtocol
<txws.protocol.WebSocketProtocol>}, and the attributes of
L{IWebSocket <txws.interfaces.IWebSocket>} that show them.

L{ConnectionState} is the protocol's base class: it declares and
initialises every field (as slots: an idle connection should cost little),
declares the hooks the two sides and subclasses override, and answers the
questions IWebSocket's attributes ask; the protocol's behaviour, and its
collaborators, change the fields.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from twisted.internet import defer
from twisted.internet.protocol import Protocol

from .assembly import MessageAssembler
from .closing import ClosingHandshake
from .deadlines import Deadlines
from .extensions import Extension
from .frames import Parser
from .http import Request, Response, parseRequest, parseResponse
from .inbox import Inbox
from .keepalive import Pings
from .options import Options
from .readgate import ReadGate
from .writer import FrameWriter

__all__ = ["State", "ConnectionState", "CONNECTING", "OPEN", "CLOSING", "CLOSED"]


class State(enum.IntEnum):
    """The state of a connection (RFC 6455, 4 and 7)."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


CONNECTING, OPEN, CLOSING, CLOSED = State


class ConnectionState(Protocol):
    """
    The fields of a WebSocket connection, and IWebSocket's attributes.

    @ivar state: a L{State}.
    @ivar clock: the reactor the connection's timers run on (C{options}).
    @ivar parser: the frame parser (L{txws.frames.Parser}), once open.
    @ivar inbox: the messages received and not yet read, and the readers
        waiting for them (L{txws.inbox.Inbox}).
    @ivar readSincePing: set whenever bytes arrive; the keepalive clears it
        when it pings (any bytes are a sign of life).
    @ivar keepaliveTimer: the keepalive's pending timer
        (L{txws.keepalive.Keepalive}), cancelled when the connection is gone.
    """

    # An ITCPTransport (or TLS), an IPushProducer and an IConsumer in practice;
    # Protocol declares it as an optional ITransport, which says too little.
    transport: Any

    isClient = False
    defaultOptions = Options()
    """The options of a protocol that no factory configured."""

    # Slots, not a __dict__: an idle connection should cost little.
    # fmt: off
    __slots__ = (
        "options", "state", "_request", "_response", "subprotocol",
        "extensions", "latency", "clock", "readSincePing", "parser", "_writer",
        "_gate", "_closing", "_assembler", "keepaliveTimer", "_pings", "_producing",
        "inbox", "_closeWaiters",
        # One timer: the opening handshake's, then the closing one's.
        "_timer",
    )
    # fmt: on

    def __init__(self) -> None:
        self.options = self.defaultOptions
        self.state = CONNECTING
        self._request: Request | bytes | None = None
        self._response: Response | bytes | None = None
        self.subprotocol: str | None = None
        self.extensions: Sequence[Extension] = ()
        self.latency = 0.0
        self.clock: Any = None
        self.readSincePing = False
        self.parser: Parser | None = None
        self._writer: FrameWriter | None = None
        # Created at the first pause: most connections never pause.
        self._gate: ReadGate | None = None
        self._closing: ClosingHandshake | None = None
        self._assembler: MessageAssembler | None = None
        self.keepaliveTimer: Deadlines[Any] | None = None
        self._pings: Pings | None = None
        self._producing = False
        self.inbox = Inbox()
        self._timer: Deadlines[Any] | None = None
        self._closeWaiters: list[defer.Deferred[None]] | None = None

    # The handshake's request and response are kept as their raw heads
    # (keepHandshake) and parsed again only if asked for: bytes cost far
    # less memory than parsed objects.

    @property
    def request(self) -> Request | None:
        request = self._request
        if isinstance(request, bytes):
            request = self._request = parseRequest(request)
        return request

    @request.setter
    def request(self, value: Request | None) -> None:
        self._request = value

    @property
    def response(self) -> Response | None:
        response = self._response
        if isinstance(response, bytes):
            response = self._response = parseResponse(response)
        return response

    @response.setter
    def response(self, value: Response | None) -> None:
        self._response = value

    def keepHandshake(self, request: bytes, response: bytes) -> None:
        """Keep the handshake as its raw heads and drop the parsed objects."""
        self._request, self._response = request, response

    # -- Hooks for the sides and for subclasses (no-ops here) -------------------

    def handshakeDataReceived(self, data: bytes) -> None:
        """Bytes before the connection is open: the sides read the handshake."""

    def handshakeDone(self) -> None:
        """The connection is open, before any frame (for the sides)."""

    def connectionOpen(self) -> None:
        pass

    def handshakeTimedOut(self) -> None:
        """The opening handshake took too long (for the sides)."""

    def connectionClosed(self) -> None:
        """
        The connection, once open, is gone (its readers are told next).
        Subclasses that override it call it too.
        """

    # -- IWebSocket's attributes --------------------------------------------------

    @property
    def open(self) -> bool:
        return self.state is OPEN

    @property
    def closed(self) -> bool:
        return self.state is CLOSED

    @property
    def closeCode(self) -> int | None:
        closing = self._closeKnown()
        return None if closing is None else closing.code

    @property
    def sentCloseCode(self) -> int | None:
        closing = self._closing
        sent = closing.sent if closing is not None else None
        return sent.code if sent is not None else None

    @property
    def closeReason(self) -> str | None:
        closing = self._closeKnown()
        return None if closing is None else closing.reason

    def _closeKnown(self) -> ClosingHandshake | None:
        """The closing handshake, once the peer's close (or its absence) is known."""
        closing = self._closing
        if self.state is CLOSED or (closing is not None and closing.received is not None):
            return self._closingHandshake()
        return None

    @property
    def pendingMessages(self) -> int:
        messages = self.inbox.messages
        return len(messages) if messages is not None else 0

    @property
    def localAddress(self) -> Any:
        return self.transport.getHost() if self.transport else None

    @property
    def remoteAddress(self) -> Any:
        return self.transport.getPeer() if self.transport else None

    def _closingHandshake(self) -> ClosingHandshake:
        closing = self._closing
        if closing is None:
            closing = self._closing = ClosingHandshake(self.isClient)
        return closing

    def _readGate(self) -> ReadGate:
        gate = self._gate
        if gate is None:
            gate = self._gate = ReadGate(self)  # type: ignore[arg-type]  # (the protocol)
        return gate
