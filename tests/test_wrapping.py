"""WrappingFactory, deterministically: flow control between the two protocols."""

from __future__ import annotations

from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock

import txws

from .helpers import PEER, Connection, request


class TestWrappedProtocolFlowControl:
    """A wrapped protocol that pauses its transport stays paused until it resumes."""

    class Pausing(Protocol):
        def connectionMade(self):
            self.received = []

        def dataReceived(self, data):
            self.received.append(data)
            self.transport.pauseProducing()

    def test_write_buffer_resume_does_not_resume_a_paused_wrapped_protocol(self):
        from txws.frames import OP_BINARY, Frame

        factory = txws.WrappingFactory(
            Factory.forProtocol(self.Pausing), compression=None, reactor=MemoryReactorClock()
        )
        conn = Connection(factory.buildProtocol(PEER), factory.options.reactor)
        conn.receive(request())
        wrapped = conn.protocol.wrapped
        two = Frame(OP_BINARY, b"one").serialize(mask=True) + Frame(OP_BINARY, b"two").serialize(
            mask=True
        )
        conn.receive(two)
        assert wrapped.received == [b"one"]  # nothing after it paused
        assert conn.transport.producerState == "paused"
        # The WebSocket's own write buffer fills and drains meanwhile.
        conn.protocol.pauseProducing()
        conn.protocol.resumeProducing()
        assert conn.transport.producerState == "paused"
        assert wrapped.received == [b"one"]
        wrapped.transport.resumeProducing()
        assert wrapped.received == [b"one", b"two"]  # and it paused again
        wrapped.transport.resumeProducing()
        assert conn.transport.producerState == "producing"
