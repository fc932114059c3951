"""
L{txws.groups}: membership, local delivery, and what a backplane is told,
deterministically (StringTransport connections, a recording backplane).
"""

from __future__ import annotations

import pytest
from twisted.internet import defer

from txws.frames import OP_TEXT, Frame
from txws.groups import Groups

from .helpers import openServer


class RecordingBackplane:
    """A backplane that records what it is told, and can deliver as another process would."""

    def __init__(self, failing: bool = False) -> None:
        self.calls: list = []
        self.deliver = None
        self.failing = failing

    def start(self, deliver):
        self.calls.append(("start",))
        self.deliver = deliver

    def subscribe(self, group):
        self.calls.append(("subscribe", group))

    def unsubscribe(self, group):
        self.calls.append(("unsubscribe", group))

    def publish(self, group, message):
        if self.failing:
            raise ConnectionError("backplane down")
        self.calls.append(("publish", group, message))

    def stop(self):
        self.calls.append(("stop",))
        return defer.succeed(None)


def test_sendReachesMembersOnly():
    groups = Groups()
    a, b, c = openServer(), openServer(), openServer()
    for conn in (a, b, c):
        conn.sent()
    groups.add("room", a.protocol)
    groups.add("room", b.protocol)
    groups.add("other", c.protocol)
    assert groups.send("room", "hello") == 2
    assert a.framesSent() == b.framesSent() == [Frame(OP_TEXT, b"hello")]
    assert c.framesSent() == []
    assert groups.groups() == ["other", "room"]
    assert groups.members("room") == {a.protocol, b.protocol}
    assert groups.groupsOf(a.protocol) == {"room"}


def test_closedConnectionLeavesItsGroups():
    groups = Groups()
    conn = openServer()
    groups.add("x", conn.protocol)
    groups.add("y", conn.protocol)
    conn.lose()
    assert groups.groups() == []
    assert groups.groupsOf(conn.protocol) == frozenset()
    groups.add("z", conn.protocol)  # closed already: not added
    assert groups.groups() == []


def test_remove():
    groups = Groups()
    conn = openServer()
    groups.add("x", conn.protocol)
    groups.remove("x", conn.protocol)
    groups.remove("x", conn.protocol)
    assert groups.groups() == []


def test_backplaneToldOfFirstAndLastMember():
    backplane = RecordingBackplane()
    groups = Groups(backplane)
    a, b = openServer(), openServer()
    groups.add("room", a.protocol)
    groups.add("room", b.protocol)
    groups.send("room", b"data")
    groups.remove("room", a.protocol)
    b.lose()
    assert backplane.calls == [
        ("start",),
        ("subscribe", "room"),
        ("publish", "room", b"data"),
        ("unsubscribe", "room"),
    ]


def test_remoteMessagesReachLocalMembers():
    backplane = RecordingBackplane()
    groups = Groups(backplane)
    conn = openServer()
    conn.sent()
    groups.add("room", conn.protocol)
    assert backplane.deliver("room", "from elsewhere") == 1
    assert conn.framesSent() == [Frame(OP_TEXT, b"from elsewhere")]
    assert backplane.deliver("nobody-here", "x") == 0


def test_backplaneTroubleNeverStopsLocalDelivery(logEvents):
    groups = Groups(RecordingBackplane(failing=True))
    conn = openServer()
    conn.sent()
    groups.add("room", conn.protocol)
    assert groups.send("room", "still") == 1
    assert any(e.get("log_failure") for e in logEvents)


@pytest.mark.parametrize(("group", "message"), [("", "m"), (3, "m"), ("g", 3)])
def test_badArguments(group, message):
    groups = Groups()
    conn = openServer()
    with pytest.raises(TypeError):
        groups.add(group, conn.protocol)
        groups.send(group, message)


def test_factoryHasGroups():
    from txws.server import WebSocketServerFactory

    factory = WebSocketServerFactory(None)
    assert isinstance(factory.groups, Groups)
    assert factory.groups is factory.groups
    with pytest.raises(TypeError):
        factory.groups = object()  # type: ignore[assignment]
