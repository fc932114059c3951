"""L{txws.readgate}: every reason to pause reading, with no transport."""

from __future__ import annotations

from txws.readgate import APPLICATION, CLOSED_GATE, QUEUE, WRITE, ReadGate


def test_firstReasonPausesAndLastResumes() -> None:
    gate = ReadGate()
    assert gate.pause(QUEUE) is True
    assert gate.pause(WRITE) is False
    assert gate.resume(QUEUE) is False
    assert gate.holds(WRITE)
    assert gate.resume(WRITE) is True
    assert gate.reasons == 0


def test_eachReasonCountsOnce() -> None:
    gate = ReadGate()
    assert gate.pause(APPLICATION)
    assert not gate.pause(APPLICATION)
    assert gate.resume(APPLICATION)
    assert not gate.resume(APPLICATION)


def test_resumingAReasonNotHeldDoesNothing() -> None:
    gate = ReadGate()
    gate.pause(WRITE)
    assert gate.resume(APPLICATION) is False
    assert gate.holds(WRITE)


def test_onlyQueueAndApplicationHoldMessages() -> None:
    gate = ReadGate()
    gate.pause(WRITE)
    assert not gate.holdsMessages
    gate.pause(QUEUE)
    assert gate.holdsMessages
    gate.resume(QUEUE)
    gate.pause(APPLICATION)
    assert gate.holdsMessages


def test_closedGateNeverPausesOrResumes() -> None:
    gate = ReadGate()
    gate.pause(QUEUE)
    gate.close()
    assert gate.closed and gate.reasons == 0
    assert gate.pause(APPLICATION) is False
    assert gate.resume(QUEUE) is False


def test_sharedClosedGateNeverChanges() -> None:
    """Closed connections share CLOSED_GATE: nothing they do may change it."""
    assert CLOSED_GATE.closed
    assert CLOSED_GATE.pause(QUEUE) is False
    assert CLOSED_GATE.resume(QUEUE) is False
    CLOSED_GATE.close()
    assert CLOSED_GATE.reasons == 0 and not CLOSED_GATE.holdsMessages
