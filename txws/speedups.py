# -*- test-case-name: tests.test_speedups -*-
"""
What the optional C accelerator speeds up: masking (RFC 6455, 5.3), the
parser's loop over whole messages, and awaiting a message already received.

Pure: no I/O and no Twisted. The C accelerator (C{txws._speedups}, built
with the wheel when a compiler works; C{TXWS_NO_SPEEDUPS=1} turns it off)
replaces L{applyMask} and L{maskJoin} with functions that give the same
results at memory speed, and provides L{parseRun}, which
L{txws.frames.Parser} uses for runs of the usual frames, and L{ready}, which
C{async for} over a connection uses; without it, those two are C{None} and
the Python code they stand in for does the same.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["applyMask", "maskJoin", "parseOne", "parseRun", "ready"]

BytesLike = bytes | bytearray | memoryview


def applyMask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """
    XOR C{data} with the 4-byte C{mask} repeated (RFC 6455, 5.3).

    Masking and unmasking are the same operation. This is the C
    accelerator's function when it was built, and this pure-Python one
    otherwise (or with C{TXWS_NO_SPEEDUPS} set): the whole buffer XORed as
    one integer, far faster in CPython than a loop over bytes.
    """
    n = len(data)
    if not n:
        return b""
    key = (mask * ((n + 3) >> 2))[:n] if n != 4 else mask
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def maskJoin(pieces: list[BytesLike], mask: bytes) -> bytes:
    """C{applyMask} of the concatenated C{pieces}; in C, one pass and one copy."""
    return applyMask(b"".join(pieces), mask)


# The pure-Python versions, which the property tests hold the C ones to.
_applyMaskPython = applyMask
_maskJoinPython = maskJoin

parseRun: Callable[[BytesLike, int, bool, int, list[str | bytes]], int] | None = None
"""
C{parseRun(buf, pos, masked, limit, out)}: from C{buf[pos:]}, parse the run
of whole frames that are each a message on their own (FIN set, no reserved
bits, text or binary, masked if and only if C{masked}, a payload of at most
C{limit} bytes or C{-1} for no limit, and valid UTF-8 for text), append each
message to C{out} (C{str} for text, C{bytes} for binary) and return where
it stopped. Anything else, an error included, is left for the Python parser
to parse and report. C{None} without the C accelerator.
"""

parseOne: Callable[[BytesLike, bool, int], str | bytes | None] | None = None
"""
C{parseOne(data, masked, limit)}: the message if C{data} is exactly one
frame that L{parseRun} would parse, else C{None} (and for everything else
too: the Python parser parses and reports it). C{None} without the C
accelerator.
"""

ready: Callable[[object], Awaitable[Any]] | None = None
"""
C{ready(value)}: an awaitable that gives C{value} at once, with no Python
frame to run (and C{None} if awaited again). C{None} without the C
accelerator.
"""

if not os.environ.get("TXWS_NO_SPEEDUPS"):
    try:
        from . import _speedups
    except ImportError:
        pass
    else:
        applyMask = _speedups.mask  # type: ignore[assignment]
        maskJoin = _speedups.mask_join  # type: ignore[assignment]
        parseRun = _speedups.parse_run
        parseOne = _speedups.parse_one
        ready = _speedups.ready
