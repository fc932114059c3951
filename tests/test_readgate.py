"""L{txws.readgate}: every reason to pause reading, on a fake connection."""

from __future__ import annotations

from typing import Any

import pytest

from txws.exceptions import ProtocolError
from txws.frames import OP_TEXT, Parser, serializeFrame
from txws.inbox import Inbox
from txws.readgate import APPLICATION, CLOSED_GATE, QUEUE, WRITE, ReadGate


class FakeTransport:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pauseProducing(self) -> None:
        self.calls.append("pause")

    def resumeProducing(self) -> None:
        self.calls.append("resume")


class FakeConnection:
    """
    A L{GatedConnection <txws.readgate.GatedConnection>}: messages into its
    inbox, handed to its readers once parsed.
    """

    def __init__(self) -> None:
        self.transport: Any = FakeTransport()
        self.inbox = Inbox()
        self.failures: list[Exception] = []
        self.parser: Parser | None = Parser(self.frameReceived, requireMask=False)

    def frameReceived(self, opcode: int, end: bool, rsv: int, payload: bytes) -> None:
        self.inbox.put(payload.decode())

    def parsed(self) -> None:
        self.inbox.wake()

    def parseFailed(self, error: Exception) -> None:
        self.failures.append(error)


@pytest.fixture
def conn() -> FakeConnection:
    return FakeConnection()


def test_firstReasonPausesAndLastResumes(conn: FakeConnection) -> None:
    gate = ReadGate(conn)
    gate.pause(QUEUE)
    gate.pause(WRITE)
    gate.resume(QUEUE)
    assert conn.transport.calls == ["pause"]
    assert gate.holds(WRITE)
    gate.resume(WRITE)
    assert conn.transport.calls == ["pause", "resume"]
    assert gate.reasons == 0


def test_eachReasonCountsOnce(conn: FakeConnection) -> None:
    gate = ReadGate(conn)
    gate.pause(APPLICATION)
    gate.pause(APPLICATION)
    gate.resume(APPLICATION)
    gate.resume(APPLICATION)
    assert conn.transport.calls == ["pause", "resume"]


def test_resumingAReasonNotHeldDoesNothing(conn: FakeConnection) -> None:
    gate = ReadGate(conn)
    gate.pause(WRITE)
    gate.resume(APPLICATION)
    assert gate.holds(WRITE)
    assert conn.transport.calls == ["pause"]


def test_onlyQueueAndApplicationHoldTheParser(conn: FakeConnection) -> None:
    assert conn.parser is not None
    gate = ReadGate(conn)
    gate.pause(WRITE)
    assert not conn.parser.paused
    gate.pause(QUEUE)
    assert conn.parser.paused
    gate.resume(QUEUE)
    gate.resume(WRITE)
    assert not conn.parser.paused
    gate.pause(APPLICATION)
    assert conn.parser.paused


def test_resumingParsesWhatWasHeldAndWakesReaders(conn: FakeConnection) -> None:
    """Bytes read while the parser was held become messages for the readers waiting."""
    assert conn.parser is not None
    gate = ReadGate(conn)
    gate.pause(APPLICATION)
    conn.parser.feed(serializeFrame(OP_TEXT, b"one") + serializeFrame(OP_TEXT, b"two"))
    assert conn.inbox.messages is None
    got: list[object] = []
    d = conn.inbox.get()
    d.addCallback(got.append)
    gate.resume(APPLICATION)
    assert got == ["one"]
    assert list(conn.inbox.messages or ()) == ["two"]


def test_aParseErrorOnResumeIsReported(conn: FakeConnection) -> None:
    assert conn.parser is not None
    gate = ReadGate(conn)
    gate.pause(QUEUE)
    conn.parser.feed(b"\x83\x00")  # a reserved opcode
    gate.resume(QUEUE)
    assert [type(e) for e in conn.failures] == [ProtocolError]


def test_queueDrainedResumesTheQueueReason(conn: FakeConnection) -> None:
    gate = ReadGate(conn)
    gate.pause(QUEUE)
    gate.queueDrained()
    assert gate.reasons == 0 and conn.transport.calls == ["pause", "resume"]


def test_closingResumesAPausedTransportAndStaysClosed(conn: FakeConnection) -> None:
    """The peer closing TCP must still be seen once the input is closed."""
    gate = ReadGate(conn)
    gate.pause(QUEUE)
    gate.close()
    assert conn.transport.calls == ["pause", "resume"]
    assert gate.closed and gate.reasons == 0 and gate.connection is None
    gate.pause(APPLICATION)
    gate.resume(QUEUE)
    assert conn.transport.calls == ["pause", "resume"]


def test_closingAGateThatDoesNotPauseLeavesTheTransport(conn: FakeConnection) -> None:
    ReadGate(conn).close()
    assert conn.transport.calls == []


def test_sharedClosedGateNeverChanges() -> None:
    """Closed connections share CLOSED_GATE: nothing they do may change it."""
    assert CLOSED_GATE.closed and CLOSED_GATE.connection is None
    CLOSED_GATE.pause(QUEUE)
    CLOSED_GATE.resume(QUEUE)
    CLOSED_GATE.close()
    assert CLOSED_GATE.reasons == 0
