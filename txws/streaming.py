# -*- test-case-name: tests.test_streaming -*-
"""
Receiving a message in pieces, as its frames arrive, instead of whole: a
message of any size in bounded memory.

L{MessageStream} is what C{recvStreaming()} returns: an async iterator over
the pieces of one message. L{StreamingReceive}, a base of the connection,
adds C{recvStreaming()} and the C{fragmentReceived} hook. The pieces come
from L{txws.assembly.MessageAssembler} (its C{sinkFor}), decoded and within
C{maxSize}, so the path of whole messages does not change.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet import defer

from .assembly import MessageAssembler, Sink
from .readgate import STREAM, ReadGate
from .state import ConnectionState

if TYPE_CHECKING:
    from .frames import FrameCallback
    from .inbox import Inbox

__all__ = ["MessageStream", "StreamingReceive"]

Message = str | bytes

_END: Any = object()


class MessageStream:
    """
    The pieces of one message, first first: C{str} for a text message (each
    a whole number of code points), C{bytes} for a binary one. Empty pieces
    are skipped, but every message yields at least one piece.

    Iterate it to its end, or call L{aclose} to drop the rest: while more
    than C{maxQueue} pieces wait unread, the connection stops reading. If
    the connection closes before the message ends, iterating raises the
    L{ConnectionClosed <txws.exceptions.ConnectionClosed>} it closed with,
    even a normal close: the message is incomplete.
    """

    __slots__ = (
        "_inbox",
        "_gate",
        "_maxPending",
        "_pending",
        "_waiter",
        "_yielded",
        "_ended",
        "_error",
        "_paused",
        "_dropping",
    )

    endsIteration = False
    """A normal close before the message begins raises, as C{recv()} does."""
    takesPieces = True
    """The inbox hands this reader its message in pieces."""

    def __init__(self, inbox: Inbox, gate: Callable[[], ReadGate], maxPending: int | None) -> None:
        self._inbox = inbox
        self._gate = gate
        self._maxPending = maxPending
        self._pending: deque[Message] = deque()
        self._waiter: defer.Deferred[Any] | None = None
        self._yielded = False
        self._ended = False
        self._error: BaseException | None = None
        self._paused = False
        self._dropping = False

    # -- What the connection calls: a Reader of the inbox and a Sink -------------

    def callback(self, message: Message) -> None:
        """The message, whole: it arrived before its turn came."""
        self.pieceReceived(message, True)

    def errback(self, error: BaseException) -> None:
        """The connection closed before the message ended."""
        if self._ended:
            return
        self._ended = True
        self._error = error
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.errback(error)

    def pieceReceived(self, piece: Message, last: bool) -> None:
        """The next piece of the message (L{txws.assembly.Sink})."""
        if last:
            self._ended = True
            if self._inbox.stream is self:
                self._inbox.stream = None
        if self._dropping:
            if last:
                self._resume()
            return
        if piece or (last and not self._yielded):
            self._yielded = True
            waiter, self._waiter = self._waiter, None
            if waiter is not None:
                waiter.callback(piece)
                return
            pending = self._pending
            pending.append(piece)
            limit = self._maxPending
            if limit is not None and len(pending) >= limit and not self._paused:
                self._paused = True
                self._gate().pause(STREAM)
        elif last and self._waiter is not None:
            waiter, self._waiter = self._waiter, None
            waiter.callback(_END)

    # -- What the application calls ----------------------------------------------

    def __aiter__(self) -> MessageStream:
        return self

    async def __anext__(self) -> Message:
        pending = self._pending
        if pending:
            piece = pending.popleft()
            if self._paused and len(pending) <= (self._maxPending or 0) // 4:
                self._resume()
            return piece
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self._ended:
            raise StopAsyncIteration
        waiter = self._waiter = defer.Deferred(self._cancel)
        piece = await waiter
        if piece is _END:
            raise StopAsyncIteration
        return piece

    async def aclose(self) -> None:
        """
        Drop the rest of the message: pieces waiting and those to come. A
        message that has not begun is left to the next reader.
        """
        self._drop()

    def _cancel(self, waiter: defer.Deferred[Any]) -> None:
        # Cancelling the wait for a piece gives the message up, as aclose().
        self._waiter = None
        self._drop()

    def _drop(self) -> None:
        if self._ended and not self._pending:
            return
        self._pending.clear()
        if self._inbox.stream is not self and not self._ended:
            # Not begun: out of the queue of readers, and done.
            if self in self._inbox.readers:
                self._inbox.readers.remove(self)
            self._ended = True
            return
        self._dropping = True
        self._resume()

    def _resume(self) -> None:
        if self._paused:
            self._paused = False
            self._gate().resume(STREAM)


class StreamingReceive(ConnectionState):
    """
    The connection's receiving in pieces: L{recvStreaming} and the
    L{fragmentReceived} hook (a base class of
    L{WebSocketProtocol <txws.protocol.WebSocketProtocol>}).
    """

    __slots__ = ()

    def recvStreaming(self) -> MessageStream:
        stream = MessageStream(self.inbox, self._readGate, self.options.maxQueue)
        inbox = self.inbox
        assembler = self._assembler
        if self.parser is not None:
            # Binary frames in pieces too, as they arrive, from now on.
            self.parser.streaming = True
            if assembler is None:
                assembler = self._assembler = self._newAssembler()
            assembler.sinkFor = inbox.nextStream
        if assembler is not None and assembler.assembling and not inbox.readers:
            # The next message is arriving: what came of it, then the rest.
            inbox.stream = stream
            stream.pieceReceived(assembler.streamRest(stream.pieceReceived), False)
        else:
            inbox.wait(stream)
        return stream

    def fragmentReceived(self, fragment: Message, last: bool) -> None:
        """
        Override this to receive every message in pieces as they arrive,
        instead of whole with C{messageReceived}: each piece decoded (C{str}
        for text, a whole number of code points; C{bytes} for binary, even
        a binary frame still arriving), C{last} true on the message's last
        piece. C{maxSize} still holds, and may be C{None}.
        """

    def frameCallback(self) -> FrameCallback:
        """The parser's callback: a subclass's L{fragmentReceived} gets pieces."""
        if type(self).fragmentReceived is StreamingReceive.fragmentReceived:
            return self._frameReceived
        assembler = self._assembler = self._newAssembler()
        assembler.sinkFor = self._fragmentSink
        return self._piecesReceived

    def _newAssembler(self) -> MessageAssembler:
        return MessageAssembler(self.extensions, self.options.maxSize)

    def _fragmentSink(self) -> Sink:
        return self.fragmentReceived

    def _piecesReceived(self, opcode: int, end: bool, rsv: int, payload: bytes) -> None:
        if opcode >= 8:
            self._controlReceived(opcode, payload)
        else:
            self._assembler.feed(opcode, end, rsv, payload)  # type: ignore[union-attr]

    # Defined by WebSocketProtocol.
    _frameReceived: FrameCallback
    _controlReceived: Callable[[int, bytes], None]
    _readGate: Callable[[], ReadGate]
