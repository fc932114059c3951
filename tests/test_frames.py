"""RFC 6455, section 5: framing, as implemented by txws.frames."""

from __future__ import annotations

import os
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txws.exceptions import InvalidUTF8, PayloadTooBig, ProtocolError
from txws.frames import Close, CloseCode, Frame, Opcode, Parser, parseFrames, serializeFrame
from txws.speedups import _applyMaskPython, _maskJoinPython, applyMask, maskJoin


def collect(data: bytes, chunks=None, **kw):
    """Feed data (optionally in chunks) and return (opcode, end, rsv, payload)s."""
    events = []
    parser = Parser(lambda *a: events.append(a), **kw)
    if chunks is None:
        parser.feed(data)
    else:
        pos = 0
        for size in chunks:
            parser.feed(data[pos : pos + size])
            pos += size
        parser.feed(data[pos:])
    return events


def joinPieces(events):
    """Group streamed pieces back into (opcode, payload) per message."""
    messages, current, opcode = [], [], None
    for op, end, _rsv, payload in events:
        if op >= 8:
            messages.append((op, payload))
            continue
        if op:
            opcode = op
        current.append(payload)
        if end:
            messages.append((opcode, b"".join(current)))
            current = []
    return messages


MASKERS = [_applyMaskPython]
if applyMask is not _applyMaskPython:
    MASKERS.append(applyMask)
JOINERS = [_maskJoinPython]
if maskJoin is not _maskJoinPython:
    JOINERS.append(maskJoin)


@given(pieces=st.lists(st.binary(max_size=40), max_size=8), key=st.binary(min_size=4, max_size=4))
@settings(max_examples=200, deadline=None)
def test_mask_join_is_mask_of_the_join(pieces, key):
    expected = bytes(b ^ key[i % 4] for i, b in enumerate(b"".join(pieces)))
    for join in JOINERS:
        assert join(pieces, key) == expected
        assert join([memoryview(p) for p in pieces], bytearray(key)) == expected


def test_accelerator_in_use():
    """CI builds the C accelerator; TXWS_NO_SPEEDUPS runs the pure-Python path."""
    if os.environ.get("TXWS_NO_SPEEDUPS"):
        assert applyMask is _applyMaskPython
        assert maskJoin is _maskJoinPython
    elif os.environ.get("CI"):
        assert applyMask is not _applyMaskPython, "the C accelerator was not built"
        assert maskJoin is not _maskJoinPython


@pytest.mark.parametrize("mask", MASKERS, ids=lambda f: f.__module__)
class TestMasking:
    """5.3. Client-to-Server Masking, for each implementation present."""

    def test_rfc_example(self, mask):
        # 5.7: a masked "Hello".
        assert mask(b"Hello", b"\x37\xfa\x21\x3d") == b"\x7f\x9f\x4d\x51\x58"

    def test_involution(self, mask):
        """Masking twice with the same key gives the data back."""
        data = os.urandom(1000)
        key = os.urandom(4)
        assert mask(mask(data, key), key) == data

    @pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 125, 4096, 2**20 + 3])
    def test_matches_bytewise(self, mask, n):
        data = os.urandom(n)
        key = os.urandom(4)
        expected = bytes(b ^ key[i % 4] for i, b in enumerate(data))
        assert mask(data, key) == expected
        assert mask(memoryview(data)[:], key) == expected
        assert mask(bytearray(data), bytearray(key)) == expected

    def test_memoryview_slice(self, mask):
        data = os.urandom(100)
        key = os.urandom(4)
        expected = bytes(b ^ key[i % 4] for i, b in enumerate(data[3:50]))
        assert mask(memoryview(data)[3:50], key) == expected

    def test_masked_serialization_rfc_example(self, mask):
        frame = serializeFrame(Opcode.TEXT, b"Hello", mask=b"\x37\xfa\x21\x3d")
        assert frame == bytes.fromhex("818537fa213d7f9f4d5158")


class TestSerialization:
    """5.2. Base Framing Protocol: examples of 5.7."""

    def test_unmasked_text(self):
        assert serializeFrame(Opcode.TEXT, b"Hello") == bytes.fromhex("810548656c6c6f")

    def test_fragmented(self):
        assert serializeFrame(Opcode.TEXT, b"Hel", fin=False) == bytes.fromhex("010348656c")
        assert serializeFrame(Opcode.CONT, b"lo") == bytes.fromhex("80026c6f")

    def test_ping(self):
        assert serializeFrame(Opcode.PING, b"Hello") == bytes.fromhex("890548656c6c6f")

    @pytest.mark.parametrize(
        "n,header",
        [(125, "827d"), (126, "827e007e"), (65535, "827effff"), (65536, "827f0000000000010000")],
    )
    def test_length_boundaries(self, n, header):
        frame = serializeFrame(Opcode.BINARY, b"\x00" * n)
        assert frame[: len(header) // 2] == bytes.fromhex(header)
        assert len(frame) == len(header) // 2 + n


class TestRoundTrip:
    KINDS = [Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG, Opcode.CLOSE]

    @pytest.mark.parametrize("opcode", KINDS)
    @pytest.mark.parametrize("masked", [False, True])
    def test_every_kind(self, opcode, masked):
        """A frame of each opcode, masked or not, parses back to itself."""
        payload = b"\x03\xe8bye" if opcode == Opcode.CLOSE else b"payload"
        frame = Frame(opcode, payload)
        assert parseFrames(frame.serialize(mask=masked), requireMask=masked) == [frame]

    @pytest.mark.parametrize("n", [0, 1, 125, 126, 127, 65535, 65536, 70000])
    @pytest.mark.parametrize("masked", [False, True])
    def test_every_length_boundary(self, n, masked):
        frame = Frame(Opcode.BINARY, os.urandom(n))
        assert parseFrames(frame.serialize(mask=masked), requireMask=masked) == [frame]

    def test_fragments_keep_fin(self):
        frames = [
            Frame(Opcode.TEXT, b"a", fin=False),
            Frame(Opcode.PING, b"p"),
            Frame(Opcode.CONT, b"b", fin=False),
            Frame(Opcode.CONT, b"c"),
        ]
        data = b"".join(f.serialize() for f in frames)
        assert parseFrames(data) == frames

    @given(
        opcode=st.sampled_from([Opcode.TEXT, Opcode.BINARY]),
        payload=st.binary(max_size=70000),
        masked=st.booleans(),
        chunks=st.lists(st.integers(1, 5000), max_size=30),
    )
    @settings(max_examples=150, deadline=None)
    def test_property_any_payload_any_chunking(self, opcode, payload, masked, chunks):
        data = serializeFrame(opcode, payload, mask=masked)
        events = collect(data, chunks, requireMask=masked, maxSize=None)
        assert joinPieces(events) == [(opcode, payload)]
        # Only the last piece ends the message; the first carries the opcode.
        assert [e[1] for e in events] == [False] * (len(events) - 1) + [True]
        assert events[0][0] == opcode
        assert all(e[0] == 0 for e in events[1:])
        if opcode == Opcode.BINARY:
            assert len(events) == 1, "binary data comes a whole frame at a time"

    @given(
        messages=st.lists(
            st.tuples(st.sampled_from([1, 2, 9, 10]), st.binary(max_size=125)), max_size=20
        ),
        seed=st.integers(0, 2**32),
    )
    @settings(max_examples=150, deadline=None)
    def test_property_stream_of_frames(self, messages, seed):
        data = b"".join(serializeFrame(op, p, mask=True) for op, p in messages)
        rng = random.Random(seed)
        chunks = [rng.randint(1, 40) for _ in range(len(data) // 10 + 1)]
        events = collect(data, chunks, requireMask=True)
        assert joinPieces(events) == messages

    @given(
        frames=st.lists(
            st.tuples(
                st.sampled_from([1, 2, 1, 2, 0, 8, 9, 3, 11]),
                st.sampled_from([0, 0, 0, 4, 1]),
                st.booleans(),
                st.booleans(),
                st.integers(0, 130),
            ),
            min_size=1,
            max_size=6,
        ),
        requireMask=st.booleans(),
        maxSize=st.sampled_from([None, 0, 50, 125]),
    )
    @settings(max_examples=500, deadline=None)
    def test_property_frame_alone_in_a_read(self, frames, requireMask, maxSize):
        # A frame that fills a read takes a shorter path: it must agree with
        # the general one (taken when the frame's first byte came earlier).
        reads = [
            bytes([opcode | rsv << 4 | fin << 7])
            + serializeFrame(1, bytes(range(length)), mask=masked)[1:]
            for opcode, rsv, fin, masked, length in frames
        ]

        def outcome(split):
            events = []
            parser = Parser(lambda *a: events.append(a), requireMask=requireMask, maxSize=maxSize)
            try:
                for data in reads:
                    if split:
                        parser.feed(data[:1])
                        data = data[1:]
                    parser.feed(data)
            except ProtocolError as e:
                return events, type(e), str(e)
            return events, None, None

        assert outcome(False) == outcome(True)

    def test_payload_that_looks_like_a_frame(self):
        # The rest of a frame's payload, alone in a read, is payload even if
        # it has the shape of a whole small frame.
        inner = serializeFrame(Opcode.TEXT, b"x" * 32, mask=True)
        outer = serializeFrame(Opcode.BINARY, inner, mask=b"\0\0\0\0")
        events = collect(outer, [len(outer) - len(inner)], requireMask=True)
        assert events == [(Opcode.BINARY, True, 0, inner)]

    def test_one_frame_read_goes_to_whole(self):
        """
        A read of one small whole frame goes to C{whole} as the message (text
        decoded, ASCII or not); text that is not UTF-8 goes to the callback,
        which fails it.
        """
        events, messages = [], []
        parser = Parser(lambda *a: events.append(a), requireMask=True)
        parser.whole = messages.append
        for payload in (b"plain", "h\u00e9llo \u2603".encode(), b"\xff\xfe"):
            parser.feed(serializeFrame(Opcode.TEXT, payload, mask=True))
        parser.feed(serializeFrame(Opcode.BINARY, b"\xff", mask=True))
        assert messages == ["plain", "h\u00e9llo \u2603", b"\xff"]
        assert events == [(Opcode.TEXT, True, 0, b"\xff\xfe")]

    def test_long_form_length_of_a_small_frame(self):
        # 126 in the 7-bit length is a 16-bit length to follow, even when
        # the read is as long as a 126-byte frame with no extended length.
        payload = b"y" * 124
        data = b"\x81\xfe\x00\x7c" + b"\0\0\0\0" + payload
        assert len(data) == 6 + 126
        assert collect(data, requireMask=True) == [(Opcode.TEXT, True, 0, payload)]


class TestStreaming:
    def test_partial_payload_delivered_before_frame_ends(self):
        # Invalid UTF-8 must be detectable inside a frame (Autobahn 6.4.3).
        data = serializeFrame(Opcode.TEXT, b"abcdef", mask=True)
        events = []
        parser = Parser(lambda *a: events.append(a), requireMask=True)
        parser.feed(data[:9])  # header (6 bytes) + 3 payload bytes
        assert events == [(Opcode.TEXT, False, 0, b"abc")]
        parser.feed(data[9:])
        assert events[1] == (0, True, 0, b"def")

    @pytest.mark.parametrize("masked", [True, False])
    def test_binary_frames_come_whole(self, masked):
        payload = os.urandom(70001)
        data = serializeFrame(
            Opcode.BINARY, payload[:30000], fin=False, mask=masked
        ) + serializeFrame(Opcode.CONT, payload[30000:], mask=masked)
        events = collect(data, [7, 1000, 20000, 3, 30000, 5], requireMask=masked)
        assert events == [
            (Opcode.BINARY, False, 0, payload[:30000]),
            (Opcode.CONT, True, 0, payload[30000:]),
        ]

    def test_compressed_binary_data_streams(self):
        # The inflater keeps to maxSize only if it sees the data as it comes.
        data = serializeFrame(Opcode.BINARY, b"x" * 1000, rsv=0x40, mask=True)
        events = collect(data, [100, 200], requireMask=True, allowedRsv=0x40, compressedRsv=0x40)
        assert len(events) == 3
        assert b"".join(e[3] for e in events) == b"x" * 1000

    def test_binary_frame_across_a_pause(self):
        # While paused, bytes wait in the parser's own buffer: kept as copies.
        events = []
        parser = Parser(lambda *a: events.append(a), requireMask=True)
        payload = os.urandom(5000)
        data = serializeFrame(Opcode.PING, b"p", mask=True) + serializeFrame(
            Opcode.BINARY, payload, mask=True
        )
        parser.paused = True
        parser.feed(data[:3000])
        parser.resume()
        parser.feed(data[3000:4000])
        assert [e[0] for e in events] == [Opcode.PING]
        parser.feed(data[4000:])
        assert events[1:] == [(Opcode.BINARY, True, 0, payload)]

    def test_pause_and_resume(self):
        """
        Setting paused from the callback stops after that frame; bytes fed meanwhile are
        kept, and each resume goes on with them.
        """
        events = []
        parser = Parser(
            lambda *a: (events.append(a), setattr(parser, "paused", True)), requireMask=False
        )
        parser.feed(serializeFrame(1, b"a") + serializeFrame(1, b"b") + b"\x81")
        assert len(events) == 1
        parser.feed(b"\x01c")
        assert len(events) == 1
        parser.resume()
        assert len(events) == 2
        parser.resume()
        assert [e[3] for e in events] == [b"a", b"b", b"c"]


class TestBadInput:
    """Each violation of section 5 raises the right ProtocolError."""

    def parse(self, frame: bytes, **kw):
        kw.setdefault("requireMask", True)
        return collect(frame, **kw)

    def test_unmasked_client_frame(self):
        with pytest.raises(ProtocolError, match="masked"):
            self.parse(serializeFrame(1, b"x"))

    def test_masked_server_frame(self):
        with pytest.raises(ProtocolError, match="masked"):
            self.parse(serializeFrame(1, b"x", mask=True), requireMask=False)

    @pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10, 0x70])
    def test_rsv_without_extension(self, rsv):
        with pytest.raises(ProtocolError, match="reserved bits"):
            self.parse(serializeFrame(1, b"x", rsv=rsv, mask=True))

    def test_rsv_allowed_by_extension(self):
        events = self.parse(serializeFrame(1, b"x", rsv=0x40, mask=True), allowedRsv=0x40)
        assert events[0][2] == 0x40

    @pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
    def test_reserved_opcodes(self, opcode):
        with pytest.raises(ProtocolError, match="reserved opcode"):
            self.parse(serializeFrame(opcode, b"", mask=True))

    @pytest.mark.parametrize("opcode", [8, 9, 10])
    def test_fragmented_control_frame(self, opcode):
        with pytest.raises(ProtocolError, match="fragmented control"):
            self.parse(serializeFrame(opcode, b"", fin=False, mask=True))

    @pytest.mark.parametrize("opcode", [8, 9, 10])
    def test_control_frame_over_125(self, opcode):
        with pytest.raises(ProtocolError, match="too long"):
            self.parse(serializeFrame(opcode, b"x" * 126, mask=True))

    def test_continuation_without_start(self):
        with pytest.raises(ProtocolError, match="unexpected continuation"):
            self.parse(serializeFrame(0, b"x", mask=True))

    @pytest.mark.parametrize("opcode", [1, 2])
    def test_new_message_inside_fragmented(self, opcode):
        data = serializeFrame(1, b"a", fin=False, mask=True) + serializeFrame(
            opcode, b"b", mask=True
        )
        with pytest.raises(ProtocolError, match="expected a continuation"):
            self.parse(data)

    def test_huge_length_refused_from_header_alone(self):
        # Only the 10 header bytes arrive: 2**63-1 is refused at once.
        header = b"\x82\xff" + struct.pack("!Q", 2**63 - 1)
        with pytest.raises(PayloadTooBig):
            self.parse(header, maxSize=2**20)

    def test_length_top_bit(self):
        header = b"\x82\xff" + struct.pack("!Q", 2**63)
        with pytest.raises(ProtocolError, match="top bit"):
            self.parse(header + b"\x00" * 4, maxSize=None)

    def test_max_size_is_inclusive(self):
        ok = serializeFrame(2, b"x" * 100, mask=True)
        assert joinPieces(self.parse(ok, maxSize=100)) == [(2, b"x" * 100)]
        with pytest.raises(PayloadTooBig):
            self.parse(serializeFrame(2, b"x" * 101, mask=True), maxSize=100)

    def test_max_frame_size(self):
        small = serializeFrame(2, b"x" * 50, fin=False, mask=True) + serializeFrame(
            0, b"x" * 50, mask=True
        )
        assert len(self.parse(small, maxFrameSize=50)) == 2
        for data in (
            serializeFrame(2, b"x" * 51, mask=True),  # the fast path's size
            serializeFrame(2, b"x" * 5000, mask=True),  # the general path's
            serializeFrame(2, b"x" * 40, fin=False, mask=True)
            + serializeFrame(0, b"x" * 51, mask=True),
        ):
            with pytest.raises(PayloadTooBig, match="frame of"):
                self.parse(data, maxFrameSize=50)

    def test_max_size_counts_fragments(self):
        data = serializeFrame(2, b"x" * 60, fin=False, mask=True) + serializeFrame(
            0, b"x" * 41, mask=True
        )
        with pytest.raises(PayloadTooBig):
            self.parse(data, maxSize=100)
        data = (
            serializeFrame(2, b"x" * 60, fin=False, mask=True)
            + serializeFrame(0, b"x" * 40, mask=True)
            + serializeFrame(2, b"x" * 100, mask=True)
        )
        assert len(joinPieces(self.parse(data, maxSize=100))) == 2

    @given(
        data=st.binary(max_size=3000),
        masked=st.booleans(),
        chunks=st.lists(st.integers(1, 300), max_size=20),
    )
    @settings(max_examples=300, deadline=None)
    def test_random_bytes_only_yield_frames_or_protocol_errors(self, data, masked, chunks):
        try:
            events = collect(data, chunks, requireMask=masked, maxSize=2**16)
        except ProtocolError:
            return
        for opcode, _end, _rsv, payload in events:
            assert opcode in (0, 1, 2, 8, 9, 10)
            assert isinstance(payload, bytes)

    def test_random_garbage_large_volume(self):
        # Many random streams in random chunk sizes: never another exception.
        rng = random.Random(6455)
        for _ in range(300):
            data = rng.randbytes(rng.randint(0, 4000))
            chunks = [rng.randint(1, 200) for _ in range(40)]
            try:
                collect(data, chunks, requireMask=rng.random() < 0.5, maxSize=2**20)
            except ProtocolError:
                pass


class TestClose:
    """5.5.1 and 7.4: close payloads."""

    def test_empty(self):
        assert Close.parse(b"") == Close(CloseCode.NO_STATUS_RCVD, "")
        assert Close(1005).serialize() == b""

    def test_round_trip(self):
        assert Close.parse(Close(1000, "bye ☃").serialize()) == Close(1000, "bye ☃")

    def test_one_byte(self):
        with pytest.raises(ProtocolError):
            Close.parse(b"\x03")

    @pytest.mark.parametrize(
        "code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
    )
    def test_invalid_codes(self, code):
        with pytest.raises(ProtocolError) as e:
            Close.parse(struct.pack("!H", code))
        assert e.value.closeCode == 1002

    @pytest.mark.parametrize(
        "code",
        [
            1000,
            1001,
            1002,
            1003,
            1007,
            1008,
            1009,
            1010,
            1011,
            1012,
            1013,
            1014,
            3000,
            3999,
            4000,
            4999,
        ],
    )
    def test_valid_codes(self, code):
        assert Close.parse(struct.pack("!H", code)).code == code

    def test_invalid_utf8_reason(self):
        with pytest.raises(InvalidUTF8) as e:
            Close.parse(b"\x03\xe8\xff")
        assert e.value.closeCode == 1007

    def test_serialize_refuses_bad_values(self):
        with pytest.raises(ValueError):
            Close(1006).serialize()
        with pytest.raises(ValueError):
            Close(1000, "x" * 124).serialize()
