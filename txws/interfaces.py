# -*- test-case-name: tests.test_exports -*-
"""
The interface of a WebSocket connection, as handlers and subclasses see it.

L{txws.protocol.WebSocketProtocol} provides L{IWebSocket}; this is where its
public API is documented, as Twisted documents C{ITransport} apart from the
transports.
"""

from __future__ import annotations

from zope.interface import Attribute, Interface

__all__ = ["IWebSocket"]


class IWebSocket(Interface):
    """
    One WebSocket connection (RFC 6455), on either side.

    Read messages with L{recv} or C{async for message in websocket}, or
    override L{messageReceived} for callback-style code; send with L{send}.
    Every method that waits returns a C{Deferred}.
    """

    state = Attribute("The L{State <txws.protocol.State>}: CONNECTING, OPEN, CLOSING or CLOSED.")
    open = Attribute("Whether messages can be sent (the state is OPEN).")
    closed = Attribute("Whether the TCP connection is gone.")
    closeCode = Attribute(
        "The code of the peer's close frame: C{None} while the connection is"
        " not closed, 1006 if it closed without one."
    )
    closeReason = Attribute(
        'The reason in the peer\'s close frame; C{""} if it closed without one.'
    )
    factory = Attribute(
        "The factory that built the connection (C{None} if none did): on a"
        " server, its C{groups} and C{metrics}; on a client, its C{metrics}."
    )
    sentCloseCode = Attribute(
        "The code of the close frame we sent, or C{None} if we sent none (yet)."
    )
    request = Attribute("The opening handshake's L{Request <txws.http.Request>}.")
    response = Attribute("The opening handshake's L{Response <txws.http.Response>}.")
    subprotocol = Attribute("The subprotocol agreed on, or C{None}.")
    extensions = Attribute("The extensions agreed on, in the order they apply.")
    latency = Attribute("The round trip of the last ping answered, in seconds (0 before).")
    pendingMessages = Attribute("How many received messages wait to be read.")
    localAddress = Attribute("The transport's C{getHost()}, or C{None} before it is connected.")
    remoteAddress = Attribute("The transport's C{getPeer()}, or C{None} before it is connected.")

    def recv(decode=True):
        """
        The next message: C{str} for text, C{bytes} for binary; with
        C{decode=False}, a text message too comes as its UTF-8 bytes (it
        was validated as it arrived).

        Errbacks with L{ConnectionClosedOK <txws.exceptions.ConnectionClosedOK>}
        or L{ConnectionClosedError <txws.exceptions.ConnectionClosedError>}
        once the connection is closed and every received message was read.
        Cancelling the Deferred gives up the wait; the next message is kept.
        """

    def recvStreaming():
        """
        The next message in pieces, each as its frame arrives: an async
        iterator (L{MessageStream <txws.streaming.MessageStream>}) of C{str}
        pieces for text (each a whole number of code points) or C{bytes}
        for binary (a binary frame too comes in pieces as the reads bring
        it). C{maxSize} still holds; with C{maxSize=None} a message of any
        size is received in bounded memory. A message that came whole, or
        part of one that was arriving, comes as the first piece.

        Read it to its end or call its C{aclose()}: more than C{maxQueue}
        unread pieces pause reading. Iterating raises L{ConnectionClosed
        <txws.exceptions.ConnectionClosed>} if the connection closes before
        the message ends.
        """

    def send(message, compress=True, text=None):
        """
        Send a message: C{str} as text, bytes-like as binary, an iterable or
        async iterable of either as one fragmented message.

        C{compress=False} sends this message uncompressed on a connection
        that negotiated permessage-deflate. C{text=True} sends a whole
        bytes-like message, which must be UTF-8 (C{ValueError} if not), as
        text, without decoding it; C{text=False} sends a C{str} as binary
        (its UTF-8 bytes). C{text} applies to whole messages only
        (C{TypeError} for an iterable).

        The Deferred fires once the message is written and the transport is
        not asking us to pause (write backpressure, C{writeLimit}); it
        errbacks with L{ConnectionClosed <txws.exceptions.ConnectionClosed>}
        if the connection is not open.
        """

    def ping(data=None):
        """
        Send a ping; the Deferred fires with the round trip in seconds when
        the matching pong arrives (or a pong answering a later ping, RFC 6455
        5.5.3). C{data}, at most 125 bytes, defaults to 4 random bytes.
        """

    def pong(data=b""):
        """Send an unsolicited pong: a unidirectional heartbeat (RFC 6455 5.5.3)."""

    def close(code=1000, reason=""):
        """
        Start the closing handshake; the Deferred fires when the TCP
        connection is gone (after C{closeTimeout}, it is aborted). Raises
        C{ValueError} for a code that cannot be sent or a reason over 123
        bytes of UTF-8.
        """

    def whenClosed():
        """A new Deferred, fired with C{None} when the connection is closed."""

    def pauseReading():
        """
        Stop reading from the peer, and delivering messages, until
        L{resumeReading}: reading resumes only once no reason is left (the
        application, a full queue, a full write buffer).
        """

    def resumeReading():
        """Undo L{pauseReading}."""

    def messageReceived(message):
        """
        Called with each complete message. The default keeps it for
        L{recv}; override it for callback-style code (and then never call
        L{recv}), as with C{LineReceiver.lineReceived}.
        """

    def connectionOpen():
        """Called once the opening handshake succeeded, before any message."""
