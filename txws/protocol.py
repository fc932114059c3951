"""
One WebSocket connection after the opening handshake: RFC 6455, sections 5
to 7, on a Twisted transport.

L{WebSocketProtocol} feeds the frame parser, reassembles messages, answers
pings, runs the closing handshake, enforces the size and queue limits and the
timeouts, keeps the connection alive, and applies backpressure both ways. The
opening handshake lives in L{txws.server} and L{txws.client}.
"""

from __future__ import annotations

import codecs
import enum
import os
from collections import deque
from typing import Any, AsyncIterable, Iterable, Mapping, Sequence

from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    InvalidUTF8,
    ProtocolError,
)
from .http import checkToken
from .extensions import ClientExtensionFactory, Extension, ServerExtensionFactory
from .frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Close,
    CloseCode,
    Parser,
    applyMask,
    frameHeader,
    isSendableCloseCode,
)

__all__ = ["State", "Options", "WebSocketProtocol"]

log = Logger()

_UNSET: Any = object()

# Payloads at least this long are written apart from their header rather
# than copied into one buffer with it.
_SEQUENCE_THRESHOLD = 4096

# Pieces of a message shorter than this are merged with the previous piece,
# so that no piece costs more in object overhead than a few percent of it.
_COALESCE = 1024

# Headers of unmasked, unfragmented frames up to 125 bytes, by opcode and length.
_SMALL_HEADERS = {opcode: [bytes((0x80 | opcode, n)) for n in range(126)]
                  for opcode in (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG)}


class State(enum.IntEnum):
    """The state of a connection (RFC 6455, 4 and 7)."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


CONNECTING, OPEN, CLOSING, CLOSED = State

# A close with one of these (1005: a close frame without a code) is normal.
_OK_CODES = frozenset((CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY,
                       CloseCode.NO_STATUS_RCVD))


def _checkDuration(name: str, value: float | None) -> None:
    if value is not None and (not isinstance(value, (int, float)) or value <= 0):
        raise ValueError(f"{name} must be a positive number of seconds or None")


def _checkSize(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or value <= 0):
        raise ValueError(f"{name} must be a positive number of bytes or None")


class Options:
    """
    The settings a factory shares with all its connections.

    Every duration is in seconds and every size in bytes; C{None} disables a
    limit or a timer.

    @ivar maxSize: largest message accepted (after decompression); exactly
        C{maxSize} bytes is allowed. A larger one fails the connection with
        1009. Default 1 MiB: a peer cannot make us buffer more than this per
        connection.
    @ivar maxQueue: how many received messages may wait for L{recv
        <WebSocketProtocol.recv>} before we stop reading from the socket.
        Default 16.
    @ivar writeLimit: high-water mark of the transport's write buffer: above
        it, L{send <WebSocketProtocol.send>} Deferreds wait and we stop
        reading too. Default 64 KiB. Twisted's TCP transports also read
        this many bytes at a time, so a smaller limit costs throughput on
        large messages (32 KiB: about 40% more CPU per MB).
    @ivar openTimeout: limit on the opening handshake. Default 10 s.
    @ivar closeTimeout: limit on the closing handshake, and on the wait for
        the server to close TCP after it. Default 10 s.
    @ivar pingInterval: send a keepalive ping this long after the last one
        was answered. Default 20 s.
    @ivar pingTimeout: fail the connection with 1011 if a keepalive ping is
        not answered within this time. Default 20 s.
    @ivar subprotocols: subprotocols offered (client) or supported, in order
        of preference (server). Default none.
    @ivar extensions: extension factories (L{txws.extensions}), in order of
        preference. Default none besides what C{compression} adds.
    @ivar compression: C{"deflate"} (the default) negotiates
        permessage-deflate (RFC 7692) with a 2**12-byte window and memLevel 5,
        to keep memory low; pass a factory from
        L{txws.extensions.permessage_deflate} in C{extensions} to tune it.
        C{None} turns compression off.
    @ivar reactor: the reactor (an L{IReactorTime} at least) used for timers;
        default the global reactor.
    """

    __slots__ = (
        "maxSize", "maxQueue", "writeLimit", "openTimeout", "closeTimeout",
        "pingInterval", "pingTimeout", "subprotocols", "extensions", "compression",
        "reactor",
    )

    def __init__(
        self,
        *,
        maxSize: int | None = 2**20,
        maxQueue: int | None = 16,
        writeLimit: int | None = 2**16,
        openTimeout: float | None = 10.0,
        closeTimeout: float | None = 10.0,
        pingInterval: float | None = 20.0,
        pingTimeout: float | None = 20.0,
        subprotocols: Sequence[str] = (),
        extensions: Sequence[ServerExtensionFactory | ClientExtensionFactory] = (),
        compression: str | None = "deflate",
        reactor: IReactorTime | None = None,
    ) -> None:
        _checkSize("maxSize", maxSize)
        _checkSize("maxQueue", maxQueue)
        _checkSize("writeLimit", writeLimit)
        for name, value in (("openTimeout", openTimeout),
                            ("closeTimeout", closeTimeout),
                            ("pingInterval", pingInterval),
                            ("pingTimeout", pingTimeout)):
            _checkDuration(name, value)
        if isinstance(subprotocols, str):
            raise TypeError("subprotocols must be a sequence of strings")
        for name in subprotocols:
            checkToken(name, "subprotocols")
        self.maxSize = maxSize
        self.maxQueue = maxQueue
        self.writeLimit = writeLimit
        self.openTimeout = openTimeout
        self.closeTimeout = closeTimeout
        self.pingInterval = pingInterval
        self.pingTimeout = pingTimeout
        if compression not in ("deflate", None):
            raise ValueError('compression must be "deflate" or None')
        self.subprotocols = list(subprotocols)
        self.extensions = list(extensions)
        if compression == "deflate" and not any(
                e.name == "permessage-deflate" for e in self.extensions):
            deflate = self._defaultDeflate()
            if deflate is not None:
                self.extensions.append(deflate)
        self.compression = compression
        self.reactor = reactor

    def _defaultDeflate(self) -> ServerExtensionFactory | ClientExtensionFactory | None:
        """The permessage-deflate factory that compression="deflate" adds."""
        return None

    def getReactor(self) -> Any:
        if self.reactor is None:
            from twisted.internet import reactor

            self.reactor = reactor
        return self.reactor


def _setWriteLimit(transport: Any, limit: int) -> None:
    # Twisted's file-descriptor transports pause their producer when more
    # than bufferSize bytes wait; under TLS that is the transport beneath.
    for _ in range(3):
        if transport is None:
            return
        if hasattr(transport, "bufferSize"):
            transport.bufferSize = limit
            return
        transport = getattr(transport, "transport", None)


@implementer(IPushProducer)
class WebSocketProtocol(Protocol):
    """
    A WebSocket connection: the common part of the server and the client.

    Read messages with L{recv} or C{async for}, or override
    L{messageReceived} for callback-style code; send with L{send}. See
    DESIGN.md for the whole API.
    """

    isClient = False
    defaultOptions = Options()
    """The options of a protocol that no factory configured."""

    # Slots, not a __dict__: an idle connection should cost little.
    __slots__ = (
        "options", "state", "_request", "_response", "_heads", "subprotocol",
        "extensions", "latency", "closeCode", "closeReason", "clock",
        "_dataReceived", "_parser", "_sentClose", "_inputClosed", "_openTimer",
        "_closeTimer", "_pingTimer", "_textDecoder", "_parts", "_text", "_decodedSize",
        "_queuePaused", "_writePaused", "_readingPaused", "_heardSincePing", "_producing", "_sendLock", "_queue",
        "_recvWaiters", "_sendWaiters", "_pings", "_closeWaiters", "_driverWaits",
    )

    def __init__(self) -> None:
        self.options = self.defaultOptions
        self.state = CONNECTING
        self._request: Any = None
        self._response: Any = None
        # The handshake's raw request and response heads, parsed again only
        # if asked for: they cost far less memory than parsed objects.
        self._heads: tuple[bytes, bytes] | None = None
        self.subprotocol: str | None = None
        self.extensions: Sequence[Extension] = ()
        self.latency = 0.0
        self.closeCode: int | None = None
        self.closeReason: str | None = None
        self.clock: Any = None
        self._dataReceived = _discard
        self._parser: Parser | None = None
        self._sentClose: Close | None = None
        self._inputClosed = False
        self._openTimer: Any = None
        self._closeTimer: Any = None
        self._pingTimer: Any = None
        self._textDecoder: Any = None
        self._parts: list | None = None
        self._text = False
        self._decodedSize = 0
        self._queuePaused = False
        self._writePaused = False
        self._readingPaused = False
        self._heardSincePing = False
        self._producing = False
        self._sendLock: defer.DeferredLock | None = None
        self._queue: deque = deque()
        # A list, not a deque: rarely more than one waiter, and an empty
        # deque costs ten times the memory of an empty list.
        self._recvWaiters: list[defer.Deferred] = []
        self._driverWaits = True
        self._sendWaiters: list[defer.Deferred] = []
        self._pings: dict[bytes, tuple[defer.Deferred, float]] = {}
        self._closeWaiters: list[defer.Deferred] = []

    def dataReceived(self, data: bytes) -> None:
        # The handshake, the frames, then nothing: _dataReceived changes.
        self._dataReceived(data)

    # -- Public API --------------------------------------------------------

    @property
    def request(self) -> Any:
        """The opening handshake's request (a L{txws.http.Request})."""
        if self._request is None and self._heads is not None:
            from .http import parseRequest

            self._request = parseRequest(self._heads[0])
        return self._request

    @request.setter
    def request(self, value: Any) -> None:
        self._request = value

    @property
    def response(self) -> Any:
        """The opening handshake's response (a L{txws.http.Response})."""
        if self._response is None and self._heads is not None:
            from .http import parseResponse

            self._response = parseResponse(self._heads[1])
        return self._response

    @response.setter
    def response(self, value: Any) -> None:
        self._response = value

    def _keepHeads(self, request: bytes, response: bytes) -> None:
        """Keep the handshake as bytes and drop the parsed objects."""
        self._heads = (request, response)
        self._request = self._response = None

    @property
    def open(self) -> bool:
        """Whether messages can be sent."""
        return self.state is OPEN

    @property
    def closed(self) -> bool:
        """Whether the TCP connection is gone."""
        return self.state is CLOSED

    @property
    def localAddress(self) -> Any:
        return self.transport.getHost() if self.transport else None

    @property
    def remoteAddress(self) -> Any:
        return self.transport.getPeer() if self.transport else None

    def recv(self) -> defer.Deferred:
        """
        The next message: C{str} for text, C{bytes} for binary.

        Errbacks with L{ConnectionClosedOK} or L{ConnectionClosedError} once
        the connection is closed and every received message was read.
        """
        if self._queue:
            return defer.succeed(self._popMessage())
        if self.state is CLOSED:
            return defer.fail(self._closedError())
        d = defer.Deferred(self._recvWaiters.remove)
        self._recvWaiters.append(d)
        return d

    def __aiter__(self) -> WebSocketProtocol:
        return self

    def __anext__(self) -> NextMessage:
        return NextMessage(self)

    def _popMessage(self) -> str | bytes:
        queue = self._queue
        message = queue.popleft()
        if self._queuePaused and len(queue) <= self.options.maxQueue // 4:
            self._queuePaused = False
            self._resumeReading()
        return message

    def _wakeReaders(self) -> None:
        """Hand queued messages to waiting readers."""
        waiters = self._recvWaiters
        while waiters and self._queue:
            waiters.pop(0).callback(self._popMessage())

    def messageReceived(self, message: str | bytes) -> None:
        """
        Called with each complete message. The default keeps it for
        L{recv}; override it for callback-style code (and never call recv).
        """
        queue = self._queue
        queue.append(message)
        maxQueue = self.options.maxQueue
        if maxQueue is not None and len(queue) >= maxQueue and not self._queuePaused:
            self._queuePaused = True
            self._pauseReading()
        # While a read is being parsed, waiting readers are woken once at its
        # end (or before a control frame), so that a handler reads the whole
        # batch without suspending between messages.
        if self._recvWaiters and not (self._parser is not None and self._parser._parsing):
            self._wakeReaders()

    def send(self, message: str | bytes | Iterable | AsyncIterable) -> defer.Deferred:
        """
        Send a message: C{str} as text, bytes-like as binary, an iterable or
        async iterable of either as one fragmented message.

        The Deferred fires once the message is written and the transport is
        not asking us to pause; it errbacks with L{ConnectionClosed} if the
        connection is not open.
        """
        lock = self._sendLock
        if lock is not None and lock.locked:
            # A fragmented message is being sent: wait for its end.
            return lock.run(self._send, message)
        return self._send(message)

    def _send(self, message: Any) -> defer.Deferred:
        if self.state is not OPEN:
            return defer.fail(self._closedError())
        if isinstance(message, str):
            opcode, payload = OP_TEXT, message.encode("utf-8")
        elif isinstance(message, (bytes, bytearray, memoryview)):
            opcode, payload = OP_BINARY, message
        elif isinstance(message, Mapping):
            # Iterating would send its keys: surely not what was meant.
            raise TypeError(f"cannot send a mapping ({type(message).__name__});"
                            " encode it first (json.dumps, say)")
        elif hasattr(message, "__aiter__"):
            return defer.ensureDeferred(self._sendAsyncFragments(message))
        elif hasattr(message, "__iter__"):
            self._sendFragments(message)
            return self._writable()
        else:
            raise TypeError(f"cannot send {type(message).__name__}")
        if self.extensions:
            self._sendData(opcode, payload)
        else:
            self._writeFrame(opcode, payload)
        if self._writePaused:
            return self._writable()
        return defer.succeed(None)

    def _writable(self) -> defer.Deferred:
        """A Deferred fired once the transport does not ask us to pause."""
        if not self._writePaused:
            return defer.succeed(None)
        d = defer.Deferred()
        self._sendWaiters.append(d)
        return d

    def ping(self, data: str | bytes | None = None) -> defer.Deferred:
        """
        Send a ping; the Deferred fires with the round trip in seconds when
        the matching pong arrives (or a pong answering a later ping, RFC 6455
        5.5.3). C{data}, at most 125 bytes, defaults to 4 random bytes.
        """
        if self.state is not OPEN:
            return defer.fail(self._closedError())
        if data is None:
            data = os.urandom(4)
            while data in self._pings:
                data = os.urandom(4)
        elif isinstance(data, str):
            data = data.encode("utf-8")
        else:
            data = bytes(data)
        if len(data) > 125:
            raise ValueError("ping data longer than 125 bytes")
        if data in self._pings:
            return defer.fail(InvalidState("a ping with the same data is already waiting"))
        d = defer.Deferred(lambda _: self._pings.pop(data, None))
        self._pings[data] = (d, self.clock.seconds())
        self._writeFrame(OP_PING, data)
        return d

    def pong(self, data: str | bytes = b"") -> defer.Deferred:
        """Send an unsolicited pong (a unidirectional heartbeat, 5.5.3)."""
        if self.state is not OPEN:
            return defer.fail(self._closedError())
        if isinstance(data, str):
            data = data.encode("utf-8")
        if len(data) > 125:
            raise ValueError("pong data longer than 125 bytes")
        self._writeFrame(OP_PONG, bytes(data))
        return defer.succeed(None)

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> defer.Deferred:
        """
        Start the closing handshake; the Deferred fires when the TCP
        connection is gone (after C{closeTimeout}, it is aborted).
        Raises C{ValueError} for a code that cannot be sent or a reason over
        123 bytes.
        """
        if not isSendableCloseCode(code):
            raise ValueError(f"close code {code} cannot be sent")
        if len(reason.encode("utf-8")) > 123:
            raise ValueError("close reason longer than 123 bytes")
        d = self.whenClosed()
        if self.state is OPEN:
            self._sendClose(code, reason)
            self.state = CLOSING
            self._startCloseTimer()
        elif self.state is CONNECTING and self.transport is not None:
            self.transport.abortConnection()
        return d

    def whenClosed(self) -> defer.Deferred:
        """A new Deferred, fired with None when the connection is closed."""
        if self.state is CLOSED:
            return defer.succeed(None)
        d = defer.Deferred()
        self._closeWaiters.append(d)
        return d

    def connectionOpen(self) -> None:
        """Called once the opening handshake succeeded. Override at will."""

    # -- IPushProducer: the transport tells us to stop or resume writing ----

    def pauseProducing(self) -> None:
        if not self._writePaused:
            self._writePaused = True
            self._pauseReading()

    def resumeProducing(self) -> None:
        if self._writePaused:
            self._writePaused = False
            self._resumeReading()
            waiters, self._sendWaiters = self._sendWaiters, []
            for d in waiters:
                d.callback(None)

    def stopProducing(self) -> None:
        pass

    # -- Twisted protocol --------------------------------------------------

    def connectionMade(self) -> None:
        self.clock = self.options.getReactor()
        timeout = self.options.openTimeout
        if timeout is not None:
            self._openTimer = self.clock.callLater(timeout, self._openTimedOut)

    def connectionLost(self, reason: Failure = None) -> None:
        wasOpen = self.state is not CONNECTING
        self.state = CLOSED
        self._inputClosed = True
        # Drop what refers back to us, so that reference counting frees the
        # connection at once rather than leaving cycles to the collector.
        self._dataReceived = _discard
        parser = self._parser
        if parser is not None:
            parser.stop()
            parser.callback = _discardFrame
        for call in (self._openTimer, self._closeTimer, self._pingTimer):
            if call is not None and call.active():
                call.cancel()
        self._openTimer = self._closeTimer = self._pingTimer = None
        if self.closeCode is None:
            self.closeCode = CloseCode.ABNORMAL_CLOSURE
            self.closeReason = ""
        if wasOpen:
            self._connectionClosed()
        if self._recvWaiters:
            waiters, self._recvWaiters = self._recvWaiters, []
            ok = self._closedOK()
            for waiter in waiters:
                if ok and getattr(waiter, "endsIteration", False):
                    # The end of an async for loop: no exception to carry.
                    waiter.callback(_END)
                else:
                    # No local name for the error: its traceback holds this
                    # frame, which would make a cycle.
                    waiter.errback(self._closedError())
        if self._pings:
            pings, self._pings = self._pings, {}
            for d, _ in pings.values():
                d.errback(self._closedError())
        if self._sendWaiters:
            waiters, self._sendWaiters = self._sendWaiters, []
            for d in waiters:
                d.errback(self._closedError())
        if self._closeWaiters:
            waiters, self._closeWaiters = self._closeWaiters, []
            for d in waiters:
                d.callback(None)

    def _connectionClosed(self) -> None:
        """Hook for subclasses: the connection, once open, is gone."""

    # -- Opening ----------------------------------------------------------

    def _open(self, leftover: bytes = b"") -> None:
        """The handshake succeeded: switch to frames."""
        if self._openTimer is not None and self._openTimer.active():
            self._openTimer.cancel()
        self._openTimer = None
        options = self.options
        rsv = 0
        for extension in self.extensions:
            rsv |= extension.rsvBits
        self._parser = Parser(
            self._frameReceived,
            requireMask=not self.isClient,
            maxSize=options.maxSize,
            allowedRsv=rsv,
            compressedRsv=rsv,
        )
        self.state = OPEN
        self._dataReceived = self._framesReceived
        transport = self.transport
        if options.writeLimit is not None:
            _setWriteLimit(transport, options.writeLimit)
        transport.registerProducer(self, True)
        self._producing = True
        if options.pingInterval is not None:
            self._pingTimer = self.clock.callLater(options.pingInterval, self._keepalive)
        self._opened()
        self.connectionOpen()
        # Frames that came with the handshake are read only now, once the
        # application had its chance to wait for them.
        if leftover and self.state is OPEN:
            self._framesReceived(leftover)

    def _opened(self) -> None:
        """Hook for subclasses: the connection is open, before any frame."""

    def _openTimedOut(self) -> None:
        self._openTimer = None
        if self.state is CONNECTING:
            log.info("Opening handshake with {peer} timed out", peer=self._peerText())
            self._handshakeTimedOut()
            self.transport.abortConnection()

    def _handshakeTimedOut(self) -> None:
        """Hook for subclasses: the opening handshake took too long."""

    # -- Receiving --------------------------------------------------------

    def _framesReceived(self, data: bytes) -> None:
        self._feed(self._parser.feed, data)

    def _feed(self, feed: Any, *data: bytes) -> None:
        """Parse; then wake readers, before failing the connection if need be."""
        try:
            feed(*data)
        except ProtocolError as e:
            self._wakeReaders()
            self._fail(e.closeCode, str(e))
            return
        except Exception:
            log.failure("Error while handling data from {peer}", peer=self._peerText())
            self._fail(CloseCode.INTERNAL_ERROR, "internal error")
            return
        if self._recvWaiters and self._queue:
            self._wakeReaders()

    def _frameReceived(self, opcode: int, end: bool, rsv: int, payload: bytes) -> None:
        if opcode >= 8:
            self._controlReceived(opcode, payload)
            return
        if self.extensions:
            payload = self._decodeExtensions(opcode, end, rsv, payload)
        if opcode:
            if end:
                # A whole message in one piece: the common case.
                if opcode == OP_TEXT:
                    try:
                        message = payload.decode("utf-8")
                    except UnicodeDecodeError:
                        raise InvalidUTF8("invalid UTF-8 in text message") from None
                    self.messageReceived(message)
                else:
                    self.messageReceived(payload)
                return
            self._parts = []
            self._text = opcode == OP_TEXT
            if self._text:
                if self._textDecoder is None:
                    self._textDecoder = codecs.getincrementaldecoder("utf-8")()
                else:
                    self._textDecoder.reset()
        if self._text:
            payload = self._decodeText(payload, end)
        parts = self._parts
        if len(payload) < _COALESCE and parts and len(parts[-1]) < _COALESCE:
            # Small pieces are joined as they come, so that what a message in
            # assembly holds is its payload and a small constant, however
            # many fragments (even empty ones) it comes in.
            tail = parts[-1]
            if tail.__class__ is bytes:
                parts[-1] = bytearray(tail)
            parts[-1] += payload
        else:
            parts.append(payload)
        if end:
            self._parts = None
            if self._text:
                self.messageReceived("".join(parts))
            else:
                self.messageReceived(b"".join(parts))

    def _decodeText(self, payload: bytes, end: bool) -> str:
        decoder = self._textDecoder
        try:
            text = decoder.decode(payload, end)
        except UnicodeDecodeError:
            raise InvalidUTF8("invalid UTF-8 in text message") from None
        if not end:
            # CPython waits for a third byte before refusing a UTF-16
            # surrogate (ED A0..BF); refuse it as soon as it is certain.
            pending = decoder.getstate()[0]
            if len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0:
                raise InvalidUTF8("invalid UTF-8 in text message")
        return text

    def _decodeExtensions(self, opcode: int, end: bool, rsv: int, payload: bytes) -> bytes:
        start = opcode != OP_CONT
        if start:
            self._decodedSize = 0
        maxSize = self.options.maxSize
        budget = None if maxSize is None else maxSize - self._decodedSize
        for extension in reversed(self.extensions):
            payload = extension.decode(payload, rsv=rsv, start=start, end=end,
                                       maxSize=budget)
        self._decodedSize += len(payload)
        return payload

    def _controlReceived(self, opcode: int, payload: bytes) -> None:
        if self._recvWaiters and self._queue:
            # Messages before this frame are read before it is answered.
            self._wakeReaders()
        if opcode == OP_PING:
            if self.state is OPEN:
                self._writeFrame(OP_PONG, payload)
        elif opcode == OP_PONG:
            if payload in self._pings:
                self._pongReceived(payload)
        else:
            self._closeReceived(Close.parse(payload), payload)

    def _pongReceived(self, data: bytes) -> None:
        now = self.clock.seconds()
        acknowledged = []
        for key, (_, sent) in self._pings.items():
            acknowledged.append(key)
            if key == data:
                self.latency = now - sent
                break
        for key in acknowledged:
            d, sent = self._pings.pop(key)
            d.callback(now - sent)

    def _closeReceived(self, close: Close, payload: bytes) -> None:
        self.closeCode, self.closeReason = close.code, close.reason
        self._stopInput()
        if self.state is OPEN:
            # Echo the code (5.5.1); an empty close is answered with one.
            # Without a reason, the payload received is the one to send.
            if close.reason:
                self._sendClose(close.code)
            else:
                self._sentClose = close
                self._writeFrame(OP_CLOSE, payload)
            self.state = CLOSING
        self._closeHandshakeDone()

    # -- Sending ----------------------------------------------------------

    def _writeFrame(self, opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> None:
        n = len(payload)
        if self.isClient:
            mask = os.urandom(4)
            header = frameHeader(opcode, n, fin, rsv, mask)
            payload = applyMask(payload, mask)
        elif n < 126 and fin and not rsv:
            header = _SMALL_HEADERS[opcode][n]
        else:
            header = frameHeader(opcode, n, fin, rsv)
        if n < _SEQUENCE_THRESHOLD:
            self.transport.write(header + payload)
        else:
            self.transport.writeSequence((header, payload))

    def _sendData(self, opcode: int, payload: bytes, fin: bool = True,
                  start: bool = True) -> None:
        rsv = 0
        if self.extensions:
            for extension in self.extensions:
                bits, payload = extension.encode(payload, start=start, end=fin)
                rsv |= bits
        self._writeFrame(opcode, payload, fin, rsv)

    def _sendFragments(self, fragments: Iterable) -> None:
        iterator = iter(fragments)
        try:
            current = next(iterator)
        except StopIteration:
            return
        kind = _fragmentKind(current)
        opcode = kind
        for following in iterator:
            if _fragmentKind(following) != kind:
                raise TypeError("all fragments must be str, or all bytes-like")
            self._sendData(opcode, _encodeFragment(current), False, opcode != OP_CONT)
            opcode = OP_CONT
            current = following
        self._sendData(opcode, _encodeFragment(current), True, opcode != OP_CONT)

    async def _sendAsyncFragments(self, fragments: AsyncIterable) -> None:
        if self._sendLock is None:
            self._sendLock = defer.DeferredLock()
        await self._sendLock.acquire()
        try:
            iterator = fragments.__aiter__()
            try:
                current = await iterator.__anext__()
            except StopAsyncIteration:
                return
            kind = _fragmentKind(current)
            opcode = kind
            async for following in iterator:
                if _fragmentKind(following) != kind:
                    raise TypeError("all fragments must be str, or all bytes-like")
                if self.state is not OPEN:
                    raise self._closedError()
                self._sendData(opcode, _encodeFragment(current), False, opcode != OP_CONT)
                opcode = OP_CONT
                current = following
                if self._writePaused:
                    d = defer.Deferred()
                    self._sendWaiters.append(d)
                    await d
            if self.state is not OPEN:
                raise self._closedError()
            self._sendData(opcode, _encodeFragment(current), True, opcode != OP_CONT)
        finally:
            self._sendLock.release()

    # -- Closing ----------------------------------------------------------

    def _sendClose(self, code: int, reason: str = "") -> None:
        close = Close(code, reason)
        self._sentClose = close
        self._writeFrame(OP_CLOSE, close.serialize())

    def _stopInput(self) -> None:
        """Ignore everything the peer sends from now on."""
        self._inputClosed = True
        if self._parser is not None:
            self._parser.stop()
        self._dataReceived = _discard

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455, 7.1.7) with close code C{code}."""
        if self.state is CLOSED:
            return
        log.info("Failing WebSocket connection with {peer}: {code} {reason}",
                 peer=self._peerText(), code=code, reason=reason)
        self._stopInput()
        if self.state is OPEN:
            self._sendClose(code, reason.encode("utf-8")[:123].decode("utf-8", "ignore"))
            self.state = CLOSING
        self._closeHandshakeDone()

    def _closeHandshakeDone(self) -> None:
        """
        Close frames were exchanged (or we gave up on the peer): the server
        closes TCP at once (7.1.1); a client waits for the server to.
        """
        if not self.isClient:
            self._loseConnection()
        self._startCloseTimer()

    def _loseConnection(self) -> None:
        # TLS transports wait for the producer to go before closing.
        if self._producing:
            self._producing = False
            self.transport.unregisterProducer()
        self.transport.loseConnection()

    def _startCloseTimer(self) -> None:
        if self._closeTimer is not None and self._closeTimer.active():
            self._closeTimer.cancel()
        timeout = self.options.closeTimeout
        if timeout is not None:
            self._closeTimer = self.clock.callLater(timeout, self._closeTimedOut)

    def _closeTimedOut(self) -> None:
        self._closeTimer = None
        if self.state is not CLOSED:
            log.info("Closing handshake with {peer} timed out; aborting",
                     peer=self._peerText())
            self.transport.abortConnection()

    def _closedOK(self) -> bool:
        """Whether the connection closed normally, as far as it has closed."""
        code = self.closeCode if self.closeCode is not None else CloseCode.ABNORMAL_CLOSURE
        sent = self._sentClose
        return code in _OK_CODES and (sent is None or sent.code in _OK_CODES)

    def _closedError(self) -> ConnectionClosed:
        code = self.closeCode if self.closeCode is not None else CloseCode.ABNORMAL_CLOSURE
        reason = self.closeReason or ""
        sent = self._sentClose
        cls = ConnectionClosedOK if self._closedOK() else ConnectionClosedError
        return cls(code, reason,
                   sent.code if sent is not None else None,
                   sent.reason if sent is not None else None)

    # -- Keepalive --------------------------------------------------------

    def _keepalive(self) -> None:
        self._pingTimer = None
        if self.state is not OPEN:
            return
        sent = self.clock.seconds()
        d = self.ping()
        timeout = self.options.pingTimeout
        if timeout is not None:
            self._listenForLife()
            self._pingTimer = self.clock.callLater(timeout, self._pingTimedOut)

        def answered(rtt: float) -> None:
            if self._pingTimer is not None and self._pingTimer.active():
                self._pingTimer.cancel()
            if self.state is OPEN:
                wait = max(0.0, self.options.pingInterval - (self.clock.seconds() - sent))
                self._pingTimer = self.clock.callLater(wait, self._keepalive)

        d.addCallbacks(answered, lambda failure: None)

    def _listenForLife(self) -> None:
        """Note the next read, at the cost of one swap, not one per read."""
        self._heardSincePing = False
        if self._dataReceived == self._framesReceived:
            self._dataReceived = self._framesReceivedAlive

    def _framesReceivedAlive(self, data: bytes) -> None:
        self._heardSincePing = True
        self._dataReceived = self._framesReceived
        self._framesReceived(data)

    def _pingTimedOut(self) -> None:
        self._pingTimer = None
        if self._heardSincePing and self.state is OPEN:
            # The peer is sending: its pong may be behind a large message
            # that arrives slowly. Any bytes received are a sign of life.
            self._listenForLife()
            self._pingTimer = self.clock.callLater(self.options.pingTimeout,
                                                   self._pingTimedOut)
            return
        self._fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")

    # -- Read flow control ------------------------------------------------

    def pauseReading(self) -> None:
        """
        Stop reading from the peer, and delivering messages, until
        L{resumeReading}: reading resumes only when neither the application
        nor the queue nor the write buffer has a reason left to pause it.
        """
        if not self._readingPaused:
            self._readingPaused = True
            self._pauseReading()

    def resumeReading(self) -> None:
        """Undo L{pauseReading}."""
        if self._readingPaused:
            self._readingPaused = False
            self._resumeReading()

    def _pauseReading(self) -> None:
        if self._inputClosed:
            return
        if (self._queuePaused or self._readingPaused) and self._parser is not None:
            self._parser.paused = True
        if self.transport is not None:
            self.transport.pauseProducing()

    def _resumeReading(self) -> None:
        # Each reason to pause is cleared by its owner; the last one resumes.
        if self._queuePaused or self._writePaused or self._readingPaused or self._inputClosed:
            return
        if self.transport is not None:
            self.transport.resumeProducing()
        if self._parser is not None and self._parser.paused:
            self._feed(self._parser.resume)

    def _peerText(self) -> str:
        try:
            peer = self.transport.getPeer()
        except Exception:
            return "peer"
        host = getattr(peer, "host", None)
        port = getattr(peer, "port", None)
        if host is None:
            return str(peer)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class NextMessage:
    """
    What C{async for} awaits: the next message, or the end of the loop.

    Under the handler driver (L{txws._driver}), the coroutine waits in the
    connection's queue of readers itself. Any other driver (such as
    C{Deferred.fromCoroutine}) sends back what is not a Deferred: then the
    wait, and every later one on this connection, is on a Deferred.
    """

    __slots__ = ("ws",)

    def __init__(self, ws: WebSocketProtocol) -> None:
        self.ws = ws

    def __await__(self) -> Any:
        ws = self.ws
        if ws._queue:
            return ws._popMessage()
        if ws.state is CLOSED:
            if ws._closedOK():
                raise StopAsyncIteration
            raise ws._closedError()
        result = (yield self) if ws._driverWaits else self
        if result is self:
            ws._driverWaits = False
            waiter = _IterationWaiter(ws._recvWaiters.remove)
            ws._recvWaiters.append(waiter)
            result = yield from waiter.__await__()
        if result is _END:
            raise StopAsyncIteration
        return result


_END: Any = object()


def _discard(data: bytes) -> None:
    """C{_dataReceived} before the handshake and after the input closed."""


def _discardFrame(opcode: int, end: bool, rsv: int, payload: bytes) -> None:
    """The parser's callback once the connection is gone."""


class _IterationWaiter(defer.Deferred):
    """
    A reader for C{async for} under another driver: a normal close fires it
    with C{_END}, which ends the loop without the cost of an exception
    through Twisted.
    """

    endsIteration = True


def _fragmentKind(fragment: object) -> int:
    if isinstance(fragment, str):
        return OP_TEXT
    if isinstance(fragment, (bytes, bytearray, memoryview)):
        return OP_BINARY
    raise TypeError(f"cannot send a fragment of type {type(fragment).__name__}")


def _encodeFragment(fragment: str | bytes) -> bytes:
    return fragment.encode("utf-8") if isinstance(fragment, str) else fragment
