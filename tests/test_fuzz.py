"""
Fuzz targets for the three parsers a peer feeds: frames, the HTTP head and
the permessage-deflate negotiation. Inputs are built from the grammar and
then mutated (bytes flipped, inserted, cut), so that they get past the first
check and into the corners. Each target runs a bounded number of examples
(a few seconds); a crash it finds is kept below as an C{@example}.

The property is always the same: the parser answers or raises its own
documented error, never anything else, and never holds more than its limit.
"""

from __future__ import annotations

import os
import struct

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from txws.exceptions import InvalidHandshake, ProtocolError
from txws.extensions import negotiateClient, negotiateServer
from txws.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from txws.frames import Parser
from txws.handshake import checkRequest, checkResponse, generateKey
from txws.http import parseRequest, parseResponse

from .helpers import PEER, serverConnection

# The same examples on every run, so that CI is reproducible; set
# TXWS_EXPLORE=1 to look for new ones.
FUZZ = settings(
    max_examples=500,
    deadline=None,
    derandomize=not os.environ.get("TXWS_EXPLORE"),
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def mutated(draw, base: bytes) -> bytes:
    """C{base} with a few bytes flipped, inserted or cut."""
    data = bytearray(base)
    for _ in range(draw(st.integers(0, 3))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "cut"]))
        if action == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        else:
            del data[at : at + draw(st.integers(1, 8))]
    return bytes(data)


# -- frames ----------------------------------------------------------------


@st.composite
def frameBytes(draw) -> bytes:
    fin = draw(st.booleans())
    rsv = draw(st.sampled_from([0, 0, 0, 0x40, 0x20, 0x10]))
    opcode = draw(st.sampled_from([0, 1, 2, 8, 9, 10, 3, 11]))
    payload = draw(st.binary(max_size=300))
    masked = draw(st.booleans())
    n = len(payload)
    # The length in any of its three encodings, minimal or not.
    encoding = draw(st.sampled_from(["short", "16", "64"]))
    if encoding == "short" and n < 126:
        length = bytes([n])
    elif encoding == "16" and n < 2**16:
        length = bytes([126]) + struct.pack("!H", n)
    else:
        length = bytes([127]) + struct.pack("!Q", n)
    length = bytes([length[0] | (0x80 if masked else 0)]) + length[1:]
    key = draw(st.binary(min_size=4, max_size=4)) if masked else b""
    if key:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes([(0x80 if fin else 0) | rsv | opcode]) + length + key + payload


@given(
    stream=st.lists(frameBytes(), max_size=8).map(b"".join).flatmap(mutated),
    chunks=st.lists(st.integers(1, 200), max_size=12),
    requireMask=st.booleans(),
    deflate=st.booleans(),
)
@FUZZ
# Not a crash found: a length in more bytes than needed, which RFC 6455 asks
# senders not to do and receivers can take as it is.
@example(
    stream=b"\x81\xfe\x00\x05\x00\x00\x00\x00hello", chunks=[], requireMask=True, deflate=False
)
def test_frame_parser(stream, chunks, requireMask, deflate):
    """
    Any bytes, cut anywhere, give only valid frames within the limits, or a ProtocolError: never
    another exception.
    """
    maxSize = 512
    messageSize = 0

    def frame(opcode: int, fin: bool, rsv: int, payload: bytes) -> None:
        nonlocal messageSize
        assert opcode in (0, 1, 2, 8, 9, 10)
        if opcode >= 8:
            assert len(payload) <= 125
        else:
            messageSize += len(payload)
            assert messageSize <= maxSize
            if fin:
                messageSize = 0

    parser = Parser(
        frame,
        requireMask=requireMask,
        maxSize=maxSize,
        allowedRsv=0x40 if deflate else 0,
        compressedRsv=0x40 if deflate else 0,
    )
    try:
        at = 0
        for size in chunks:
            parser.feed(stream[at : at + size])
            at += size
        parser.feed(stream[at:])
    except ProtocolError:
        pass


# -- the HTTP head -----------------------------------------------------------

_NAMES = [
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Extensions",
    "Sec-WebSocket-Protocol",
    "Origin",
    "Content-Length",
    "X-A",
]
_VALUES = [
    "example.com",
    "websocket",
    "Upgrade",
    "keep-alive, Upgrade",
    generateKey(),
    "13",
    "8, 13",
    "permessage-deflate",
    "chat, superchat",
    "http://example.com",
    "0",
    "",
    " padded ",
    "\tx",
    "a\x00b",
    "é",
]


@st.composite
def requestHead(draw) -> bytes:
    method = draw(st.sampled_from(["GET", "POST", "get", "G ET", ""]))
    target = draw(st.sampled_from(["/", "/chat?x=1", "*", "http://h/p", "", "/%00"]))
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2", "HTTP/1.1 "]))
    lines = [f"{method} {target} {version}"]
    fields = draw(
        st.lists(st.tuples(st.sampled_from(_NAMES), st.sampled_from(_VALUES)), max_size=10)
    )
    base = [
        ("Host", "example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", generateKey()),
        ("Sec-WebSocket-Version", "13"),
    ]
    for name, value in (base if draw(st.booleans()) else []) + fields:
        separator = draw(st.sampled_from([": ", ":", " : ", ":\t"]))
        lines.append(f"{name}{separator}{value}")
    end = draw(st.sampled_from(["\r\n", "\n"]))
    return (end.join(lines) + end + end).encode("utf-8")


@given(head=requestHead().flatmap(mutated))
@FUZZ
def test_request_head(head):
    """Any request head is accepted or refused with an HTTP error status; nothing else escapes."""
    try:
        checkRequest(parseRequest(head))
    except InvalidHandshake as e:
        assert 400 <= e.status < 600


@given(head=requestHead().flatmap(mutated), chunks=st.lists(st.integers(1, 64), max_size=8))
@FUZZ
def test_server_answers_every_head(head, chunks):
    """
    The whole server side, on any head cut anywhere: it upgrades or answers with an HTTP error
    and closes, and nothing escapes into the reactor.
    """
    conn = serverConnection(None)
    at = 0
    for size in chunks + [len(head)]:
        if conn.transport.disconnecting:
            break
        conn.receive(head[at : at + size])
        at += size
    sent = conn.sent()
    if sent:
        assert sent.startswith(b"HTTP/1.1 "), sent[:40]
        status = int(sent[9:12])
        assert status == 101 or 400 <= status < 600
        assert status == 101 or conn.transport.disconnecting
    conn.lose()
    assert conn.protocol.closed
    assert conn.transport.getPeer() == PEER


@given(
    head=st.sampled_from(
        [
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n",
            b"HTTP/1.1 302 Found\r\nLocation: ws://h/\r\nContent-Length: 0\r\n\r\n",
        ]
    ).flatmap(mutated)
)
@FUZZ
def test_response_head(head):
    """Any response head is accepted or refused with InvalidHandshake; nothing else escapes."""
    try:
        checkResponse(parseResponse(head), generateKey())
    except InvalidHandshake:
        pass


# -- permessage-deflate negotiation ------------------------------------------

_PARAMS = [
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
    "x",
]
_PARAM_VALUES = [None, "8", "9", "12", "15", "16", "0", "-1", "010", '"12"', '"1 2"', "", "abc"]


@st.composite
def extensionValue(draw) -> str:
    offers = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(
            st.sampled_from(["permessage-deflate", "x-webkit-deflate-frame", "permessage-deflate "])
        )
        params = []
        for _ in range(draw(st.integers(0, 4))):
            param = draw(st.sampled_from(_PARAMS))
            value = draw(st.sampled_from(_PARAM_VALUES))
            params.append(param if value is None else f"{param}={value}")
        offers.append("; ".join([name] + params))
    return ", ".join(offers)


@given(value=extensionValue().map(str.encode).flatmap(mutated))
@FUZZ
def test_deflate_negotiation(value):
    """
    Any extension header is negotiated or refused by both sides, and what a server agrees to, it
    can parse again.
    """
    text = value.decode("latin-1")
    client = ClientPerMessageDeflateFactory()
    try:
        answer, accepted = negotiateServer([text], [ServerPerMessageDeflateFactory()])
    except InvalidHandshake:
        pass
    else:
        assert (answer is None) == (not accepted)
        if answer is not None:
            # Whatever the server agreed to is something it can parse again.
            negotiateServer([answer], [ServerPerMessageDeflateFactory()])
    try:
        negotiateClient([text], [client])
    except InvalidHandshake:
        pass
