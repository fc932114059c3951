"""
L{txws.assembly}: fragmented messages, incremental UTF-8, and the size
budget of extension decoding.
"""

from __future__ import annotations

import pytest

from txws.assembly import MessageAssembler, decodeText
from txws.exceptions import InvalidUTF8, PayloadTooBig
from txws.extensions.permessage_deflate import PerMessageDeflate
from txws.frames import OP_BINARY, OP_CONT, OP_TEXT


def test_fragmentsMakeOneMessage() -> None:
    assembler = MessageAssembler((), None)
    assert assembler.feed(OP_BINARY, False, 0, b"ab") is None
    assert assembler.feed(OP_CONT, False, 0, b"") is None
    assert assembler.feed(OP_CONT, True, 0, b"cd") == b"abcd"


def test_textAcrossACodePointBoundary() -> None:
    encoded = "héllo".encode()
    assembler = MessageAssembler((), None)
    assert assembler.feed(OP_TEXT, False, 0, encoded[:2]) is None
    assert assembler.feed(OP_CONT, True, 0, encoded[2:]) == "héllo"


def test_invalidUTF8FailsAsSoonAsItIsCertain() -> None:
    """A UTF-16 surrogate (ED A0..) fails at its second byte, not at the end."""
    assembler = MessageAssembler((), None)
    with pytest.raises(InvalidUTF8):
        assembler.feed(OP_TEXT, False, 0, b"ok\xed\xa0")


def test_truncatedCodePointAtTheEnd() -> None:
    assembler = MessageAssembler((), None)
    assembler.feed(OP_TEXT, False, 0, b"\xc3")
    with pytest.raises(InvalidUTF8):
        assembler.feed(OP_CONT, True, 0, b"")


def test_decodeText() -> None:
    assert decodeText(b"\xc3\xa9") == "é"
    with pytest.raises(InvalidUTF8):
        decodeText(b"\xff")


def test_resetDropsTheMessage() -> None:
    assembler = MessageAssembler((), None)
    assembler.feed(OP_BINARY, False, 0, b"dropped")
    assembler.reset()
    assert assembler.feed(OP_BINARY, True, 0, b"new") == b"new"


def deflate() -> PerMessageDeflate:
    return PerMessageDeflate(
        remoteNoContextTakeover=False,
        localNoContextTakeover=False,
        remoteMaxWindowBits=15,
        localMaxWindowBits=15,
        minSize=0,
    )


def test_compressedFragmentsAreDecoded() -> None:
    rsv, compressed = deflate().encode(b"x" * 1000, start=True, end=True)
    assembler = MessageAssembler([deflate()], None)
    half = len(compressed) // 2
    assert assembler.feed(OP_BINARY, False, rsv, compressed[:half]) is None
    assert assembler.feed(OP_CONT, True, 0, compressed[half:]) == b"x" * 1000


def test_decodedSizeBudgetSpansFragments() -> None:
    """The budget counts what earlier fragments decoded to, not each alone."""
    rsv, compressed = deflate().encode(b"x" * 1000, start=True, end=True)
    half = len(compressed) // 2
    assembler = MessageAssembler([deflate()], 600)
    with pytest.raises(PayloadTooBig):
        assembler.feed(OP_BINARY, False, rsv, compressed[:half])
        assembler.feed(OP_CONT, True, 0, compressed[half:])


def test_budgetAllowsExactlyMaxSize() -> None:
    rsv, compressed = deflate().encode(b"x" * 1000, start=True, end=True)
    assert MessageAssembler([deflate()], 1000).feed(OP_BINARY, True, rsv, compressed) == b"x" * 1000
