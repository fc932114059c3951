from collections.abc import Awaitable
from typing import Any

# The C accelerator (_speedups.c): the same functions as speedups.py's
# pure-Python masking, and the parser's hot loop.
def mask(data: bytes | bytearray | memoryview, mask: bytes, /) -> bytes: ...
def mask_join(pieces: list[bytes | bytearray | memoryview], mask: bytes, /) -> bytes: ...
def parse_run(
    buf: bytes | bytearray | memoryview,
    pos: int,
    masked: bool,
    limit: int,
    out: list[str | bytes],
    /,
) -> int: ...
def parse_one(
    data: bytes | bytearray | memoryview, masked: bool, limit: int, /
) -> str | bytes | None: ...
def ready(value: object, /) -> Awaitable[Any]: ...
