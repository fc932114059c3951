"""
L{txws._log}: every event about a connection names it (a short id and the
peer, as fields and in the text), and frame logging, off by default and
free when off.
"""

from __future__ import annotations

from twisted.logger import LogLevel, formatEvent

from txws import broadcast
from txws.frames import OP_TEXT

from .helpers import PEER, openServer, serverConnection, successResultOf


def aboutConnections(events: list[dict]) -> list[dict]:
    return [
        e for e in events if "connection" in e and e.get("log_namespace", "").startswith("txws")
    ]


def test_failingNamesTheConnectionAndThePeer(logEvents) -> None:
    first, second = openServer(), openServer()
    first.receiveFrame(3, b"")  # a reserved opcode
    second.receiveFrame(3, b"")
    events = aboutConnections(logEvents)
    assert len(events) == 2
    ids = [e["connection"] for e in events]
    assert ids[0] != ids[1] and all(i.startswith("#") for i in ids)
    for event, cid in zip(events, ids):
        text = formatEvent(event)
        assert cid in text and event["peer"] in text
        assert event["peer"] == f"{PEER.host}:{PEER.port}"


def test_oneConnectionKeepsItsId(logEvents) -> None:
    """The refusal and anything after it carry the same id."""
    conn = serverConnection(openTimeout=5)
    conn.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # not an upgrade: refused
    refused = aboutConnections(logEvents)
    assert [formatEvent(e).split(" ")[3] for e in refused] == [refused[0]["connection"]]
    conn.clock.advance(5)
    assert len({e["connection"] for e in aboutConnections(logEvents)}) == 1


def frameLines(events: list[dict]) -> list[str]:
    return [
        formatEvent(e) for e in events if e.get("log_level") == LogLevel.debug and "direction" in e
    ]


def test_framesAreNotLoggedByDefault(logEvents) -> None:
    conn = openServer()
    assert conn.protocol.parser.callback == conn.protocol._frameReceived  # nothing in between
    conn.receiveFrame(OP_TEXT, b"hello")
    successResultOf(conn.protocol.send("back"))
    assert frameLines(logEvents) == []


def test_logFramesShowsEveryFrameInAndOut(logEvents) -> None:
    conn = openServer(logFrames=True, compression=None)
    conn.receiveFrame(OP_TEXT, b"hello there")
    assert successResultOf(conn.protocol.recv()) == "hello there"
    successResultOf(conn.protocol.send(b"\x00\x01", compress=False))
    conn.protocol.ping(b"p")
    assert broadcast([conn.protocol], "to all") == 1
    conn.receiveClose(1000)
    lines = frameLines(logEvents)
    cid = [e for e in logEvents if "direction" in e][0]["connection"]
    assert lines == [
        f"{cid} < TEXT fin=1 rsv=000 11 bytes b'hello there'",
        f"{cid} > BINARY fin=1 rsv=000 2 bytes b'\\x00\\x01'",
        f"{cid} > PING fin=1 rsv=000 1 bytes b'p'",
        f"{cid} > TEXT fin=1 rsv=000 6 bytes b'to all'",
        f"{cid} < CLOSE fin=1 rsv=000 2 bytes b'\\x03\\xe8'",
        f"{cid} > CLOSE fin=1 rsv=000 2 bytes b'\\x03\\xe8'",
    ]
    assert conn.framesSent()[1].payload == b"p"  # the frames themselves are unchanged


def test_logFramesShowsFragments(logEvents) -> None:
    conn = openServer(logFrames=True)
    successResultOf(conn.protocol.send(iter([b"ab", b"cd"])))
    lines = frameLines(logEvents)
    assert [line.split(" ", 1)[1] for line in lines] == [
        "> BINARY fin=0 rsv=000 2 bytes b'ab'",
        "> CONT fin=1 rsv=000 2 bytes b'cd'",
    ]


def test_logFramesKeepsAClosedConnectionFreeable() -> None:
    import gc
    import weakref

    gc.collect()
    gc.disable()
    conn = openServer(logFrames=True)
    ref = weakref.ref(conn.protocol)
    conn.receiveFrame(OP_TEXT, b"logged")
    conn.receiveClose(1000)
    conn.lose()
    try:
        del conn
        assert ref() is None
    finally:
        gc.enable()


def test_logFramesOnTheClientSide(logEvents) -> None:
    """A client's frames are logged before masking, as the frame carries them."""
    from .helpers import openClient

    conn = openClient(logFrames=True)
    successResultOf(conn.protocol.send("hi"))
    conn.receiveFrame(OP_TEXT, b"yo")
    assert [line.split(" ", 1)[1] for line in frameLines(logEvents)] == [
        "> TEXT fin=1 rsv=000 2 bytes b'hi'",
        "< TEXT fin=1 rsv=000 2 bytes b'yo'",
    ]
    assert conn.framesSent()[0].payload == b"hi"  # masked on the wire, as ever
