# -*- test-case-name: tests.test_deflate -*-
"""
The permessage-deflate extension: RFC 7692.

Pure codec: negotiation (section 7.1) for both sides, and the compression
of messages (section 7.2) with C{zlib}. Inflating is bounded: it stops as
soon as a message would exceed C{maxSize}, so a small compressed message
cannot make us hold more than C{maxSize} bytes (plus one read).

Defaults are chosen for memory, as the best peers do: a window of 2**12
bytes and memLevel 5 cost about 4 KiB to inflate and 16 KiB to deflate per
connection, against 32 KiB and 256 KiB with zlib's own defaults.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from ..exceptions import NegotiationError, PayloadTooBig, ProtocolError
from ..frames import RSV1
from . import ClientExtensionFactory, Extension, Params, ServerExtensionFactory

__all__ = [
    "PerMessageDeflate",
    "ServerPerMessageDeflateFactory",
    "ClientPerMessageDeflateFactory",
    "DEFAULT_WINDOW_BITS",
    "DEFAULT_MEM_LEVEL",
    "DEFAULT_MIN_SIZE",
]

NAME = "permessage-deflate"
_TAIL = b"\x00\x00\xff\xff"

DEFAULT_WINDOW_BITS = 12
DEFAULT_MEM_LEVEL = 5
DEFAULT_COMPRESS_LEVEL = 6
DEFAULT_MIN_SIZE = 0
"""Unfragmented messages shorter than this are sent uncompressed. The
default compresses every message: with context takeover, even short
messages shrink once earlier ones have filled the window (repeated JSON
keys, say), and deflate adds at most a few bytes to those that do not."""

_PARAMS = (
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
)


class PerMessageDeflate(Extension):
    """
    permessage-deflate on one connection.

    C{remote*} settings are those the peer compresses with (what we inflate);
    C{local*} those we compress with.
    """

    name = NAME
    rsvBits = RSV1
    compresses = True

    def __init__(
        self,
        *,
        remoteNoContextTakeover: bool,
        localNoContextTakeover: bool,
        remoteMaxWindowBits: int,
        localMaxWindowBits: int,
        compressLevel: int = DEFAULT_COMPRESS_LEVEL,
        memLevel: int = DEFAULT_MEM_LEVEL,
        minSize: int = DEFAULT_MIN_SIZE,
    ) -> None:
        self.remoteNoContextTakeover = remoteNoContextTakeover
        self.localNoContextTakeover = localNoContextTakeover
        self.remoteMaxWindowBits = remoteMaxWindowBits
        self.localMaxWindowBits = localMaxWindowBits
        self.compressLevel = compressLevel
        self.memLevel = memLevel
        self.minSize = minSize
        # Created on first use, so that an idle connection costs nothing.
        self._decoder: zlib._Decompress | None = None
        self._encoder: zlib._Compress | None = None
        self._decoding = False
        self._encoding = False

    def __repr__(self) -> str:
        return (
            f"PerMessageDeflate(remoteNoContextTakeover={self.remoteNoContextTakeover},"
            f" localNoContextTakeover={self.localNoContextTakeover},"
            f" remoteMaxWindowBits={self.remoteMaxWindowBits},"
            f" localMaxWindowBits={self.localMaxWindowBits})"
        )

    def decode(
        self, data: bytes, *, rsv: int, start: bool, end: bool, maxSize: int | None
    ) -> bytes:
        if start:
            self._decoding = bool(rsv & RSV1)
        elif rsv & RSV1:
            raise ProtocolError("RSV1 set on a continuation frame")
        if not self._decoding:
            return data
        decoder = self._decoder
        if decoder is None:
            # zlib cannot inflate with an 8-bit window; a larger one is fine.
            decoder = self._decoder = zlib.decompressobj(-max(self.remoteMaxWindowBits, 9))
        if end:
            data += _TAIL
        try:
            # Ask for one byte more than allowed: getting it means too big.
            out = decoder.decompress(data, 0 if maxSize is None else maxSize + 1)
        except zlib.error as e:
            raise ProtocolError(f"invalid compressed data: {e}") from None
        if maxSize is not None and len(out) > maxSize:
            raise PayloadTooBig(f"message inflates past the limit of {maxSize} bytes")
        if end and self.remoteNoContextTakeover:
            self._decoder = None
        return out

    def encode(self, data: bytes, *, start: bool, end: bool) -> tuple[int, bytes]:
        if start:
            self._encoding = not (end and len(data) < self.minSize)
        if not self._encoding:
            return 0, data
        encoder = self._encoder
        if encoder is None:
            encoder = self._encoder = zlib.compressobj(
                self.compressLevel, zlib.DEFLATED, -self.localMaxWindowBits, self.memLevel
            )
        out = encoder.compress(data) + encoder.flush(zlib.Z_SYNC_FLUSH)
        if end:
            # 7.2.1: drop the empty block's tail; an empty result becomes the
            # single 0x00 of 7.2.3.6.
            out = out[:-4] if out.endswith(_TAIL) else out
            if not out:
                out = b"\x00"
            if self.localNoContextTakeover:
                self._encoder = None
        return (RSV1 if start else 0), out


def _parseParams(params: Params, windowBitsRequired: bool) -> dict[str, int]:
    """Check a parameter list (7.1): known names, once each, valid values."""
    # A flag, or a bare client_max_window_bits, is True.
    found: dict[str, int] = {}
    for name, value in params:
        if name not in _PARAMS:
            raise NegotiationError(f"unknown permessage-deflate parameter {name!r}")
        if name in found:
            raise NegotiationError(f"duplicate permessage-deflate parameter {name!r}")
        if name.endswith("no_context_takeover"):
            if value is not None:
                raise NegotiationError(f"{name} takes no value")
            found[name] = True
        elif value is None:
            # Only a client's offer may name client_max_window_bits bare.
            if name == "server_max_window_bits" or windowBitsRequired:
                raise NegotiationError(f"{name} needs a value")
            found[name] = True
        else:
            if not (value.isdigit() and len(value) <= 2 and 8 <= int(value) <= 15):
                raise NegotiationError(f"invalid {name} {value!r}")
            found[name] = int(value)
    return found


def _checkWindowBits(name: str, bits: int | None) -> None:
    if bits is not None and not (isinstance(bits, int) and 9 <= bits <= 15):
        raise ValueError(f"{name} must be an integer from 9 to 15, or None")


class _Settings:
    def __init__(
        self,
        *,
        serverNoContextTakeover: bool,
        clientNoContextTakeover: bool,
        serverMaxWindowBits: int | None,
        clientMaxWindowBits: int | None,
        compressLevel: int,
        memLevel: int,
        minSize: int,
    ) -> None:
        _checkWindowBits("serverMaxWindowBits", serverMaxWindowBits)
        _checkWindowBits("clientMaxWindowBits", clientMaxWindowBits)
        if not (isinstance(memLevel, int) and 1 <= memLevel <= 9):
            raise ValueError("memLevel must be an integer from 1 to 9")
        if not (isinstance(compressLevel, int) and -1 <= compressLevel <= 9):
            raise ValueError("compressLevel must be an integer from -1 to 9")
        self.serverNoContextTakeover = serverNoContextTakeover
        self.clientNoContextTakeover = clientNoContextTakeover
        self.serverMaxWindowBits = serverMaxWindowBits
        self.clientMaxWindowBits = clientMaxWindowBits
        self.compressLevel = compressLevel
        self.memLevel = memLevel
        self.minSize = minSize


class ServerPerMessageDeflateFactory(ServerExtensionFactory, _Settings):
    """
    The server's side of permessage-deflate.

    @param serverNoContextTakeover: reset our compressor after each message
        (less memory between messages, worse compression).
    @param clientNoContextTakeover: ask the client to do the same.
    @param serverMaxWindowBits: the window we compress with (9 to 15); a
        client asking for less gets what it asks. Default 12.
    @param clientMaxWindowBits: the window we ask the client to use, when it
        says it can limit it (9 to 15). Default 12.
    @param compressLevel: zlib level, -1 to 9. Default 6.
    @param memLevel: zlib memLevel, 1 to 9. Default 5.
    @param minSize: unfragmented messages shorter than this are not
        compressed. Default 0: every message is.
    """

    name = NAME

    def __init__(
        self,
        *,
        serverNoContextTakeover: bool = False,
        clientNoContextTakeover: bool = False,
        serverMaxWindowBits: int | None = DEFAULT_WINDOW_BITS,
        clientMaxWindowBits: int | None = DEFAULT_WINDOW_BITS,
        compressLevel: int = DEFAULT_COMPRESS_LEVEL,
        memLevel: int = DEFAULT_MEM_LEVEL,
        minSize: int = DEFAULT_MIN_SIZE,
    ) -> None:
        _Settings.__init__(
            self,
            serverNoContextTakeover=serverNoContextTakeover,
            clientNoContextTakeover=clientNoContextTakeover,
            serverMaxWindowBits=serverMaxWindowBits,
            clientMaxWindowBits=clientMaxWindowBits,
            compressLevel=compressLevel,
            memLevel=memLevel,
            minSize=minSize,
        )

    def accept(self, params: Params, accepted: Sequence[Extension]) -> tuple[Params, Extension]:
        offer = _parseParams(params, windowBitsRequired=False)
        response: Params = []

        serverNoContext = self.serverNoContextTakeover or bool(
            offer.get("server_no_context_takeover")
        )
        if serverNoContext:
            response.append(("server_no_context_takeover", None))
        clientNoContext = self.clientNoContextTakeover or bool(
            offer.get("client_no_context_takeover")
        )
        if clientNoContext:
            response.append(("client_no_context_takeover", None))

        requested = offer.get("server_max_window_bits")
        serverBits = self.serverMaxWindowBits or 15
        if requested is not None:
            if requested < 9:
                # zlib cannot compress with an 8-bit window: decline.
                raise NegotiationError("cannot compress with server_max_window_bits=8")
            serverBits = min(serverBits, requested)
        if requested is not None or serverBits < 15:
            response.append(("server_max_window_bits", str(serverBits)))

        clientOffer = offer.get("client_max_window_bits")
        clientBits = 15
        if clientOffer is not None:
            clientBits = clientOffer if clientOffer is not True else 15
            if self.clientMaxWindowBits is not None:
                clientBits = min(clientBits, self.clientMaxWindowBits)
            if clientOffer is not True or clientBits < 15:
                response.append(("client_max_window_bits", str(clientBits)))

        return response, PerMessageDeflate(
            remoteNoContextTakeover=clientNoContext,
            localNoContextTakeover=serverNoContext,
            remoteMaxWindowBits=clientBits,
            localMaxWindowBits=serverBits,
            compressLevel=self.compressLevel,
            memLevel=self.memLevel,
            minSize=self.minSize,
        )


class ClientPerMessageDeflateFactory(ClientExtensionFactory, _Settings):
    """
    The client's side of permessage-deflate.

    @param serverNoContextTakeover: ask the server to reset its compressor
        after each message.
    @param clientNoContextTakeover: compress each message on its own, and
        say so in the offer. Default True: our compressor's memory is freed
        between messages, and servers that accept only clients without
        context takeover (to bound what they must remember) accept the offer.
        Set it to False for better ratios on clients that send many similar
        messages.
    @param serverMaxWindowBits: ask the server to use at most this window
        (9 to 15). Default None: do not ask.
    @param clientMaxWindowBits: the window we compress with; we tell the
        server we can limit it, so it may ask for less. Default 12.
    @param compressLevel: as for the server.
    @param memLevel: as for the server.
    @param minSize: as for the server.
    """

    name = NAME

    def __init__(
        self,
        *,
        serverNoContextTakeover: bool = False,
        clientNoContextTakeover: bool = True,
        serverMaxWindowBits: int | None = None,
        clientMaxWindowBits: int | None = DEFAULT_WINDOW_BITS,
        compressLevel: int = DEFAULT_COMPRESS_LEVEL,
        memLevel: int = DEFAULT_MEM_LEVEL,
        minSize: int = DEFAULT_MIN_SIZE,
    ) -> None:
        _Settings.__init__(
            self,
            serverNoContextTakeover=serverNoContextTakeover,
            clientNoContextTakeover=clientNoContextTakeover,
            serverMaxWindowBits=serverMaxWindowBits,
            clientMaxWindowBits=clientMaxWindowBits,
            compressLevel=compressLevel,
            memLevel=memLevel,
            minSize=minSize,
        )

    def offer(self) -> Params:
        params: Params = []
        if self.serverNoContextTakeover:
            params.append(("server_no_context_takeover", None))
        if self.clientNoContextTakeover:
            params.append(("client_no_context_takeover", None))
        if self.serverMaxWindowBits is not None:
            params.append(("server_max_window_bits", str(self.serverMaxWindowBits)))
        # Offered bare: we can limit our window to whatever the server asks.
        params.append(("client_max_window_bits", None))
        return params

    def accept(self, params: Params, accepted: Sequence[Extension]) -> Extension:
        response = _parseParams(params, windowBitsRequired=True)
        serverNoContext = bool(response.get("server_no_context_takeover"))
        if self.serverNoContextTakeover and not serverNoContext:
            raise NegotiationError("server did not agree to server_no_context_takeover")
        clientNoContext = self.clientNoContextTakeover or bool(
            response.get("client_no_context_takeover")
        )

        serverBits = response.get("server_max_window_bits", 15)
        if self.serverMaxWindowBits is not None:
            if "server_max_window_bits" not in response:
                raise NegotiationError("server did not agree to server_max_window_bits")
            if serverBits > self.serverMaxWindowBits:
                raise NegotiationError(
                    f"server_max_window_bits={serverBits} is more "
                    f"than the {self.serverMaxWindowBits} offered"
                )

        clientBits = response.get("client_max_window_bits", 15)
        if clientBits < 9:
            raise NegotiationError("cannot compress with client_max_window_bits=8")
        if self.clientMaxWindowBits is not None:
            clientBits = min(clientBits, self.clientMaxWindowBits)

        return PerMessageDeflate(
            remoteNoContextTakeover=serverNoContext,
            localNoContextTakeover=clientNoContext,
            remoteMaxWindowBits=serverBits,
            localMaxWindowBits=clientBits,
            compressLevel=self.compressLevel,
            memLevel=self.memLevel,
            minSize=self.minSize,
        )
