"""
L{txws.speedups}: the C accelerator's parser loop (C{parseRun}), its
one-frame read (C{parseOne}) and the Python parser they stand in for give
the same messages, frames and errors.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txws.exceptions import ProtocolError
from txws.frames import Parser, serializeFrame
from txws.speedups import parseOne, parseRun, ready

needsC = pytest.mark.skipif(parseRun is None, reason="the C accelerator is not built")
MASK = b"\x37\xfa\x21\x3d"


@needsC
class TestParseRun:
    def run(self, data: bytes, pos: int = 0, masked: bool = True, limit: int = -1):
        out: list[str | bytes] = []
        assert parseRun is not None
        stop = parseRun(data, pos, masked, limit, out)
        return stop, out

    def test_a_run_of_whole_frames(self) -> None:
        frames = [
            serializeFrame(1, "héllo".encode(), mask=MASK),
            serializeFrame(2, b"\x00\xff" * 100, mask=MASK),  # a 16-bit length
            serializeFrame(2, bytes(70000), mask=MASK),  # a 64-bit length
            serializeFrame(1, b"", mask=MASK),
        ]
        data = b"".join(frames)
        assert self.run(data) == (len(data), ["héllo", b"\x00\xff" * 100, bytes(70000), ""])
        assert self.run(data, pos=len(frames[0]))[1][0] == b"\x00\xff" * 100

    def test_unmasked_for_a_client(self) -> None:
        data = serializeFrame(1, b"hi") + serializeFrame(2, b"\x01")
        assert self.run(data, masked=False) == (len(data), ["hi", b"\x01"])
        # A masked frame where unmasked ones are expected (and the reverse) is Python's.
        assert self.run(data, masked=True) == (0, [])

    @pytest.mark.parametrize(
        "frame",
        [
            serializeFrame(9, b"ping", mask=MASK),  # control frame
            serializeFrame(1, b"part", fin=False, mask=MASK),  # fragment
            serializeFrame(1, b"rsv", rsv=0x40, mask=MASK),  # reserved bit
            serializeFrame(1, b"\xff\xfe", mask=MASK),  # invalid UTF-8
            serializeFrame(1, "\ud800".encode("utf-8", "surrogatepass"), mask=MASK),
            serializeFrame(2, b"x" * 11, mask=MASK),  # over the limit below
            serializeFrame(2, b"whole", mask=MASK)[:-1],  # not whole yet
            b"\x82\xff" + b"\x80" + bytes(7) + MASK,  # 64-bit length with its top bit
            b"\x82",  # half a header
        ],
    )
    def test_stops_at_what_python_handles(self, frame: bytes) -> None:
        first = serializeFrame(1, b"ok", mask=MASK)
        assert self.run(first + frame, limit=10) == (len(first), ["ok"])

    def test_bad_arguments(self) -> None:
        assert parseRun is not None
        with pytest.raises(TypeError):
            parseRun(b"", 0, True, -1, ())  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            parseRun(b"", 1, True, -1, [])
        with pytest.raises(TypeError):
            parseRun(b"", 0, True)  # type: ignore[call-arg]


@needsC
class TestParseOne:
    def test_one_whole_frame(self) -> None:
        assert parseOne is not None
        assert parseOne(serializeFrame(1, "héllo".encode(), mask=MASK), True, -1) == "héllo"
        assert parseOne(serializeFrame(2, bytes(70000), mask=MASK), True, -1) == bytes(70000)
        assert parseOne(serializeFrame(2, b"\x01"), False, 1) == b"\x01"

    def test_not_exactly_one(self) -> None:
        assert parseOne is not None
        one = serializeFrame(1, b"ok", mask=MASK)
        for data in (b"", one + one, one[:-1], serializeFrame(9, b"", mask=MASK)):
            assert parseOne(data, True, -1) is None
        assert parseOne(serializeFrame(2, b"x" * 11, mask=MASK), True, 10) is None
        assert parseOne(serializeFrame(1, b"\xff", mask=MASK), True, -1) is None

    def test_bad_arguments(self) -> None:
        assert parseOne is not None
        with pytest.raises(TypeError):
            parseOne(b"", True)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            parseOne("text", True, -1)  # type: ignore[arg-type]


# A stream of frames that C takes, Python takes, and that are errors.
FRAMES = st.one_of(
    st.tuples(st.sampled_from([1, 2]), st.binary(max_size=300)),  # whole messages
    st.tuples(st.just(1), st.text(max_size=80).map(lambda t: t.encode())),
    st.tuples(st.just(1), st.sampled_from([b"\xff", b"ok\xc3", b"\xed\xa0\x80"])),  # bad UTF-8
    st.tuples(st.sampled_from([9, 10]), st.binary(max_size=20)),  # ping, pong
    st.tuples(st.just(1), st.just(b"x" * 70000)),  # 64-bit length, and over the limit
    st.tuples(st.just("fragmented"), st.binary(max_size=20)),
    st.tuples(st.just("rsv"), st.binary(max_size=5)),
    st.tuples(st.just("unmasked"), st.binary(max_size=5)),
)


def encode(kind: int | str, payload: bytes, masked: bool) -> bytes:
    mask = MASK if masked else None
    if kind == "fragmented":
        return serializeFrame(2, payload, fin=False, mask=mask) + serializeFrame(
            0, payload, mask=mask
        )
    if kind == "rsv":
        return serializeFrame(2, payload, rsv=0x20, mask=mask)
    if kind == "unmasked":
        return serializeFrame(2, payload, mask=None if masked else MASK)
    assert isinstance(kind, int)
    return serializeFrame(kind, payload, mask=mask)


def events(
    data: bytes, cuts: list[int], masked: bool, useWhole: bool, pauseEvery: int
) -> list[object]:
    """
    What a parser reports for C{data} fed in pieces cut at C{cuts}: each
    whole one-frame message as C{("message", m)}, other frames as the
    callback's arguments, and the error it raised. With C{useWhole}, the
    parser's C{whole} is set (and so C{parseRun} runs); without, and for
    those it gives the callback anyway, one-frame messages are picked out
    of the callback's frames the same way. Every
    C{pauseEvery}-th message pauses the parser, which is resumed at once.
    """
    seen: list[object] = []
    count = 0

    def pauseNow() -> None:
        nonlocal count
        count += 1
        if pauseEvery and count % pauseEvery == 0:
            parser.paused = True

    def message(m: str | bytes) -> None:
        seen.append(("message", m))
        pauseNow()

    def frame(opcode: int, end: bool, rsv: int, payload: bytes) -> None:
        # (With whole set, the parser may still give such a message as a frame.)
        if opcode in (1, 2) and end and not rsv:
            try:
                message(payload.decode("utf-8") if opcode == 1 else payload)
                return
            except UnicodeDecodeError:
                pass
        seen.append((opcode, end, rsv, bytes(payload)))

    parser = Parser(frame, requireMask=masked, maxSize=65536, allowedRsv=0)
    if useWhole:
        parser.whole = message
    pos = 0
    try:
        for cut in [*sorted(cuts), len(data)]:
            parser.feed(data[pos:cut])
            pos = max(pos, cut)
            while parser.paused:
                parser.resume()
    except ProtocolError as e:
        seen.append((type(e).__name__, str(e)))
    return seen


@needsC
@given(
    frames=st.lists(FRAMES, max_size=12),
    masked=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=4),
    pauseEvery=st.integers(min_value=0, max_value=3),
)
@settings(max_examples=300, deadline=None)
def test_c_and_python_parse_alike(frames, masked, cuts, pauseEvery) -> None:
    data = b"".join(encode(kind, payload, masked) for kind, payload in frames)
    assert events(data, cuts, masked, True, pauseEvery) == events(
        data, cuts, masked, False, pauseEvery
    )


@needsC
@given(
    frames=st.lists(FRAMES, max_size=2),
    masked=st.booleans(),
    limit=st.sampled_from([-1, 0, 10, 300, 70000]),
    cut=st.integers(min_value=0, max_value=3),
)
@settings(max_examples=300, deadline=None)
def test_parseOne_is_parseRun_of_exactly_one_frame(frames, masked, limit, cut) -> None:
    data = b"".join(encode(kind, payload, masked) for kind, payload in frames)
    data = data[: len(data) - cut]
    out: list[str | bytes] = []
    assert parseRun is not None and parseOne is not None
    whole = parseRun(data, 0, masked, limit, out) == len(data) and len(out) == 1
    assert parseOne(data, masked, limit) == (out[0] if whole else None)


@pytest.mark.skipif(ready is None, reason="the C accelerator is not built")
class TestReady:
    """C{ready(value)}: an awaitable that gives C{value} at once."""

    async def awaitTwice(self, value: object) -> tuple[object, object]:
        assert ready is not None
        awaitable = ready(value)
        return await awaitable, await awaitable

    def test_under_twisted(self) -> None:
        from twisted.internet.defer import Deferred

        d = Deferred.fromCoroutine(self.awaitTwice(("a", "tuple")))
        assert d.result == (("a", "tuple"), None)

    def test_under_asyncio(self) -> None:
        import asyncio

        assert asyncio.run(self.awaitTwice(b"x")) == (b"x", None)

    def test_traced(self) -> None:
        """A tracer makes CPython iterate it rather than send to it."""
        import sys

        from twisted.internet.defer import Deferred

        previous = sys.gettrace()
        sys.settrace(lambda *args: None)
        try:
            d = Deferred.fromCoroutine(self.awaitTwice("traced"))
        finally:
            sys.settrace(previous)
        assert d.result == ("traced", None)

    def test_iterated(self) -> None:
        assert ready is not None
        awaitable = ready("v").__await__()
        with pytest.raises(StopIteration) as e:
            next(awaitable)
        assert e.value.value == "v"


def test_accelerator_in_use() -> None:
    """CI builds the C accelerator; TXWS_NO_SPEEDUPS runs the pure-Python path."""
    if os.environ.get("TXWS_NO_SPEEDUPS"):
        assert parseRun is None and parseOne is None and ready is None
    else:
        assert None not in (parseRun, parseOne, ready), "the C accelerator was not built"
