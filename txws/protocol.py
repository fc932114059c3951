# -*- test-case-name: tests.test_protocol -*-
"""
One WebSocket connection after the opening handshake: RFC 6455, sections 5
to 7, on a Twisted transport.

L{WebSocketProtocol} provides L{IWebSocket <txws.interfaces.IWebSocket>}
(where its public API is documented) and keeps the path of a whole, plain
message short. Its fields are declared in L{txws.state}, its base class;
its collaborators do the rest: L{txws.inbox} (messages waiting to be read),
L{txws.writer} (frames out, backpressure), L{txws.assembly} (fragmented and
compressed messages), L{txws.closing} (the closing handshake's decisions),
L{txws.readgate} (why reading is paused) and L{txws.keepalive} (pings). The
opening handshake lives in L{txws.server} and L{txws.client};
docs/design.md maps it all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, Awaitable, Iterable

from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ._log import about
from .assembly import MessageAssembler
from .closing import ClosingHandshake
from .deadlines import Deadlines
from .exceptions import ConnectionClosed, InvalidUTF8, ProtocolError
from .frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Close,
    CloseCode,
    Parser,
    controlPayload,
    isSendableCloseCode,
)
from .inbox import NextMessage
from .interfaces import IWebSocket
from .keepalive import Pings
from .observe import frameIO
from .options import Options
from .readgate import APPLICATION, CLOSED_GATE, QUEUE, WRITE
from .speedups import ready
from .state import CLOSED, CLOSING, CONNECTING, OPEN, State
from .streaming import StreamingReceive
from .writer import HOLDING, PreparedMessage, prepareTransport

__all__ = ["State", "Options", "WebSocketProtocol", "CONNECTING", "OPEN", "CLOSING", "CLOSED"]

log = Logger()

Message = str | bytes


@implementer(IPushProducer, IWebSocket)
class WebSocketProtocol(StreamingReceive):
    """
    A WebSocket connection: the common part of the server and the client.
    Its public API is L{IWebSocket <txws.interfaces.IWebSocket>}; its
    fields are L{txws.state}'s, receiving in pieces L{txws.streaming}'s.
    """

    __slots__ = ()

    # -- Receiving -------------------------------------------------------------

    def recv(self, decode: bool = True) -> defer.Deferred[Message]:
        d = self.inbox.get()
        if not decode:
            d.addCallback(_utf8)
        return d

    def __aiter__(self) -> WebSocketProtocol:
        return self

    def __anext__(self) -> Awaitable[Message]:
        inbox = self.inbox
        messages = inbox.messages
        if messages and inbox.drained is None and ready is not None:
            return ready(messages.popleft())  # (Inbox.pop, inline: nothing to resume)
        return NextMessage(inbox)

    def messageReceived(self, message: Message) -> None:
        inbox = self.inbox
        messages = inbox.messages
        parser = self.parser
        if messages is None:
            messages = inbox.messages = deque()
            if parser is not None and parser.whole == self.messageReceived and _notOverridden(self):
                parser.whole = messages.append  # (from now on the parser queues them itself)
        messages.append(message)
        # Readers are woken and the queue's limit checked at the end of a read (see
        # parsed): a handler then reads the whole batch without suspending.
        if parser is None or not parser.parsing:
            self.parsed()

    # -- Sending ---------------------------------------------------------------

    def send(
        self,
        message: Message | Iterable[Message] | AsyncIterable[Message],
        compress: bool = True,
        text: bool | None = None,
    ) -> defer.Deferred[None]:
        writer = self._writer
        if writer is None:
            return defer.fail(self._closedError())
        if self.state is OPEN and text is None:
            lock = writer.lock
            if lock is None or not lock.locked:
                if message.__class__ is str:
                    opcode, payload = OP_TEXT, message.encode("utf-8")
                elif message.__class__ is bytes:
                    opcode, payload = OP_BINARY, message
                else:
                    return writer.send(message, compress)
                if self.extensions:
                    writer.writeData(opcode, payload, compress=compress)
                else:
                    writer.writeFrame(opcode, payload)
                if writer.paused:
                    return writer.writable()
                return defer.succeed(None)
        return writer.send(message, compress, text)

    def sendPrepared(self, prepared: PreparedMessage) -> bool:
        """
        Send a message prepared for many connections (L{txws.broadcast});
        whether it was sent: not if the connection is not open or its
        transport asked it to pause.
        """
        return self._writer is not None and self._writer.sendPrepared(prepared)

    def ping(self, data: str | bytes | None = None) -> defer.Deferred[float]:
        if self.state is not OPEN:
            return defer.fail(self._closedError())
        pings = self._pings
        if pings is None:
            pings = self._pings = Pings()
        payload = pings.newData() if data is None else controlPayload(data, "ping data")
        d = pings.expect(payload, self.clock.seconds())
        if not d.called:
            self._writer.writeFrame(OP_PING, payload)  # type: ignore[union-attr]
        return d

    def pong(self, data: str | bytes = b"") -> defer.Deferred[None]:
        if self.state is not OPEN:
            return defer.fail(self._closedError())
        self._writer.writeFrame(OP_PONG, controlPayload(data, "pong data"))  # type: ignore[union-attr]
        return defer.succeed(None)

    # -- Closing ---------------------------------------------------------------

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> defer.Deferred[None]:
        if not isSendableCloseCode(code):
            raise ValueError(f"close code {code} cannot be sent")
        if len(reason.encode("utf-8")) > 123:
            raise ValueError("close reason longer than 123 bytes")
        d = self.whenClosed()
        if self.state is OPEN:
            self._sendClose(self._closingHandshake().start(code, reason))
            self._startTimer(self.options.closeTimeout)
        elif self.state is CONNECTING and self.transport is not None:
            self.transport.abortConnection()
        return d

    def whenClosed(self) -> defer.Deferred[None]:
        if self.state is CLOSED:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        if self._closeWaiters is None:
            self._closeWaiters = []
        self._closeWaiters.append(d)
        return d

    def failConnection(self, code: int, reason: str) -> None:
        """
        Fail the connection (RFC 6455, 7.1.7): read nothing more, send a
        close frame with C{code} and C{reason} (cut to fit) if none was
        sent, and close.
        """
        if self.state is CLOSED:
            return
        log.info(
            "Failing WebSocket connection {connection} with {peer}: {code} {reason}",
            code=code,
            reason=reason,
            **about(self),
        )
        self._stopInput()
        closing = self._closingHandshake()
        payload = closing.fail(code, reason, self.state is OPEN)
        if payload is not None:
            self._sendClose(payload)
        self._closeHandshakeDone(closing)

    def closeTransport(self) -> None:
        """Close TCP, and abort it if it is not gone within C{closeTimeout}."""
        if self._writer is not None:
            self._writer.releaseBefore()
        # TLS transports wait for the producer to go before closing.
        if self._producing:
            self._producing = False
            self.transport.unregisterProducer()
        self.transport.loseConnection()
        self._startTimer(self.options.closeTimeout)

    def _closedError(self) -> ConnectionClosed:
        return self._closingHandshake().error()

    def _sendClose(self, payload: bytes) -> None:
        """Send our close frame: the connection is no longer open."""
        writer = self._writer
        assert writer is not None and self._closing is not None
        writer.writeFrame(OP_CLOSE, payload)
        writer.closing = self._closing
        self.state = CLOSING

    def _closeHandshakeDone(self, closing: ClosingHandshake) -> None:
        """Close frames were exchanged (or we gave up on the peer)."""
        if closing.closesTCP:
            self.closeTransport()
        else:
            self._startTimer(self.options.closeTimeout)

    # -- One timer (a TimeoutMixin, for less): the opening handshake's, then the closing one's

    def _startTimer(self, timeout: float | None) -> None:
        timer = self._timer
        if timer is not None:
            timer.discard(self, self.clock)  # (one that fired is None: _timedOut clears it)
        if timeout is None:
            self._timer = None
        else:
            timer = _timeouts.get(timeout)
            if timer is None:
                timer = _timeouts[timeout] = Deadlines(timeout, WebSocketProtocol._timedOut)
            timer.add(self, self.clock)
            self._timer = timer

    def _timedOut(self) -> None:
        self._timer = None
        if self.state is CONNECTING and not self.transport.disconnecting:
            log.info("Opening handshake {connection} with {peer} timed out", **about(self))
            self.handshakeTimedOut()
        else:
            log.info("Closing handshake {connection} with {peer} timed out: abort", **about(self))
        self.transport.abortConnection()

    # -- Read flow control (txws.readgate) ----------------------------------

    def pauseReading(self) -> None:
        self._readGate().pause(APPLICATION)

    def resumeReading(self) -> None:
        if self._gate is not None:
            self._gate.resume(APPLICATION)

    def _stopInput(self) -> None:
        """Ignore everything the peer sends from now on."""
        if self._gate is not None:
            self._gate.close()
        self._gate = CLOSED_GATE
        if self.parser is not None:
            self.parser.stop()

    # -- IPushProducer: the transport tells us to stop or resume writing -------

    def pauseProducing(self) -> None:
        if self._writer is not None and self._writer.pause():
            self._readGate().pause(WRITE)

    def resumeProducing(self) -> None:
        if self._writer is not None and self._writer.paused:
            self._readGate().resume(WRITE)
            self._writer.resume()

    def stopProducing(self) -> None:
        pass

    # -- Twisted protocol --------------------------------------------------------

    def connectionMade(self) -> None:
        options = self.options
        self.clock = options.reactor if options.reactor is not None else options.getReactor()
        self.inbox.setLimit(options.maxQueue)
        self._startTimer(options.openTimeout)

    def dataReceived(self, data: bytes) -> None:
        parser = self.parser
        if parser is None:
            self.handshakeDataReceived(data)
            return
        self.readSincePing = True
        writer = self._writer
        writer.held = HOLDING  # type: ignore[union-attr]  # (see FrameWriter.held)
        try:
            parser.feed(data)
        except Exception as e:
            self.parseFailed(e)
        else:
            inbox = self.inbox
            messages = inbox.messages
            if messages:
                if inbox.readers:
                    inbox.wake()
                if len(messages) >= inbox.limit:
                    self.parsed()
        writer.release()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure | None = None) -> None:
        wasOpen = self.state is not CONNECTING
        self.state = CLOSED
        inputOpen = self._gate is not CLOSED_GATE
        self._gate = CLOSED_GATE
        parser = self.parser
        if parser is not None:
            if inputOpen:
                parser.stop()
            # Drop what refers back to us: reference counting frees the
            # connection at once, with no cycle left to the collector.
            parser.callback = _discardFrame
            parser.whole = None
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.discard(self, self.clock)
        timer, self.keepaliveTimer = self.keepaliveTimer, None
        if timer is not None:
            timer.discard(self, self.clock)
        self._assembler = None
        if wasOpen:
            if self.options.metrics is not None:
                self.options.metrics.connectionClosed(self.closeCode, self.sentCloseCode)
            self.connectionClosed()
        closing = self._closing or self._closingHandshake()
        self.inbox.close(closing.ok, closing.error)
        if self._pings is not None:
            self._pings.stop(closing.error())
        if self._writer is not None:
            self._writer.stop(closing)
        if self._closeWaiters:
            waiters, self._closeWaiters = self._closeWaiters, None
            for d in waiters:
                d.callback(None)

    # -- Opening ---------------------------------------------------------------

    def switchToFrames(self, leftover: bytes = b"") -> None:
        """The sides call this once the handshake succeeded: frames from now on."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.discard(self, self.clock)
        options = self.options
        rsv = 0
        for extension in self.extensions:
            rsv |= extension.rsvBits
        inner = self.frameCallback()
        callback, whole, self._writer = frameIO(self, inner, self.messageReceived)
        self.parser = parser = Parser(
            callback,
            requireMask=not self.isClient,
            maxSize=options.maxSize,
            maxFrameSize=options.maxFragmentSize,
            allowedRsv=rsv,
            compressedRsv=rsv,
        )
        parser.streaming = inner != self._frameReceived  # (fragmentReceived)
        if not parser.streaming and not self.extensions:
            parser.whole = whole  # (one-frame messages, a run per read in C)
        transport = self.transport
        self.state = OPEN
        prepareTransport(transport, options.writeLimit)
        transport.registerProducer(self, True)
        self._producing = True
        if options.keepalive is not None:
            options.keepalive.start(self)
        self.handshakeDone()
        self.connectionOpen()
        # Frames sent with the handshake are read now, once the application can wait.
        if leftover and self.state is OPEN:
            self.dataReceived(leftover)

    # -- Frames in ---------------------------------------------------------------

    def parsed(self) -> None:
        """The end of a read: wake readers; stop reading if C{maxQueue} messages are left."""
        inbox = self.inbox
        messages = inbox.messages
        if not messages:
            return
        if inbox.readers:
            inbox.wake()
        if len(messages) >= inbox.limit:
            gate = self._readGate()
            inbox.drained = gate.queueDrained
            gate.pause(QUEUE)

    def parseFailed(self, error: Exception) -> None:
        """Parsing raised: wake readers, then fail the connection."""
        if isinstance(error, ProtocolError):
            self.inbox.wake()
            self.failConnection(error.closeCode, str(error))
            return
        log.failure("Error handling data {connection} from {peer}", Failure(error), **about(self))
        self.failConnection(CloseCode.INTERNAL_ERROR, "internal error")

    def _frameReceived(self, opcode: int, end: bool, rsv: int, payload: bytes) -> None:
        if opcode >= 8:
            self._controlReceived(opcode, payload)
        elif end and opcode and not self.extensions:
            # A whole message in one piece: the common case.
            if opcode == OP_TEXT:
                try:
                    message: Message = payload.decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidUTF8("invalid UTF-8 in text message") from None
                self.messageReceived(message)
            else:
                self.messageReceived(payload)
        else:
            assembler = self._assembler
            if assembler is None:
                assembler = self._assembler = MessageAssembler(
                    self.extensions, self.options.maxSize
                )
            assembled = assembler.feed(opcode, end, rsv, payload)
            if assembled is not None:
                self.messageReceived(assembled)

    def _controlReceived(self, opcode: int, payload: bytes) -> None:
        inbox = self.inbox
        if inbox.readers and inbox.messages:
            # Messages before this frame are read before it is answered.
            inbox.wake()
        if opcode == OP_PING:
            if self.state is OPEN:
                self._writer.writeFrame(OP_PONG, payload)  # type: ignore[union-attr]
        elif opcode == OP_PONG:
            if self._pings is not None:
                latency = self._pings.pongReceived(payload, self.clock.seconds())
                if latency is not None:
                    self.latency = latency
        else:
            self._stopInput()
            closing = self._closing
            if closing is None:
                closing = self._closing = ClosingHandshake(self.isClient)
            echo = closing.receive(Close.parse(payload), payload, self.state is OPEN)
            if echo is not None:
                self._sendClose(echo)
            self._closeHandshakeDone(closing)


def _notOverridden(protocol: WebSocketProtocol) -> bool:
    """Whether C{protocol}'s class keeps L{WebSocketProtocol.messageReceived}."""
    return type(protocol).messageReceived is WebSocketProtocol.messageReceived


def _utf8(message: Message) -> bytes:
    """A text message as its UTF-8 bytes (C{recv(decode=False)})."""
    return message.encode("utf-8") if isinstance(message, str) else message


def _discardFrame(opcode: int, end: bool, rsv: int, payload: bytes) -> None:
    """The parser's callback once the connection is gone."""


# The connections' opening and closing timeouts, by delay: one timer for
# each delay, however many connections wait (txws.deadlines).
_timeouts: dict[float, Deadlines[WebSocketProtocol]] = {}
