"""WrappingFactory, deterministically: flow control between the two protocols."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.protocols.basic import LineReceiver

import txws
from txws.frames import OP_BINARY, Frame

from .helpers import PEER, Connection, request
from .realnet import within


class TestWrappedProtocolFlowControl:
    """A wrapped protocol that pauses its transport stays paused until it resumes."""

    class Pausing(Protocol):
        def connectionMade(self):
            self.received = []

        def dataReceived(self, data):
            self.received.append(data)
            self.transport.pauseProducing()

    def test_write_buffer_resume_does_not_resume_a_paused_wrapped_protocol(self):

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


class Echo(LineReceiver):
    delimiter = b"\n"

    def lineReceived(self, line):
        self.sendLine(b"echo: " + line)


@pytest.mark.sockets
class TestWrappingFactoryOverSockets:
    @pytest_twisted.ensureDeferred
    async def test_line_receiver_over_websocket(self):
        factory = txws.WrappingFactory(Factory.forProtocol(Echo))
        port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(factory)
        try:
            ws = await within(txws.connect(f"ws://127.0.0.1:{port.getHost().port}/"))
            await ws.send(b"one\ntw")
            await ws.send("o\n")  # text works too, as UTF-8
            received = b""
            while received.count(b"\n") < 2:
                received += await within(ws.recv())
            assert received == b"echo: one\necho: two\n"
            await within(ws.close())
        finally:
            await port.stopListening()
