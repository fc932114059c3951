# -*- test-case-name: tests.test_deflate -*-
"""
The extension interface (RFC 6455, section 9) and its negotiation.

An extension is negotiated in the opening handshake by a factory (one per
side) and then transforms message data on the way in (L{Extension.decode})
and out (L{Extension.encode}). Control frames never pass through extensions.
Pure codec: no Twisted.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..exceptions import NegotiationError
from ..handshake import ExtensionOffer, parseExtensions, serializeExtensions

__all__ = [
    "Extension",
    "ServerExtensionFactory",
    "ClientExtensionFactory",
    "negotiateServer",
    "offerClient",
    "negotiateClient",
]

Params = list[tuple[str, "str | None"]]


class Extension:
    """
    A negotiated extension on one connection.

    C{rsvBits} are the reserved bits (L{txws.frames.RSV1} ...) it may find
    set on received data frames; the parser refuses any others.
    """

    name: str = ""
    rsvBits: int = 0
    compresses: bool = False
    """Whether it compresses: C{send(message, compress=False)} skips it."""

    def decode(
        self, data: bytes, *, rsv: int, start: bool, end: bool, maxSize: int | None
    ) -> bytes:
        """
        Transform a piece of received message data.

        C{start} is true on the first piece of a message, C{end} on the last;
        C{rsv} holds the reserved bits of the frame the piece came in. The
        result must not make the message exceed C{maxSize} bytes: raise
        L{txws.exceptions.PayloadTooBig} instead of producing more.
        """
        raise NotImplementedError

    def encode(self, data: bytes, *, start: bool, end: bool) -> tuple[int, bytes]:
        """Transform a piece of an outgoing message: (rsv bits, data)."""
        raise NotImplementedError


class ServerExtensionFactory:
    """Accepts (or declines) a client's offer of the extension C{name}."""

    name: str = ""

    def accept(self, params: Params, accepted: Sequence[Extension]) -> tuple[Params, Extension]:
        """
        Answer one offer: the response parameters and the extension. Raise
        L{NegotiationError} to decline this offer (the next is then tried).
        """
        raise NotImplementedError


class ClientExtensionFactory:
    """Offers the extension C{name} and checks the server's answer."""

    name: str = ""

    def offer(self) -> Params:
        """The parameters to offer."""
        raise NotImplementedError

    def accept(self, params: Params, accepted: Sequence[Extension]) -> Extension:
        """Check the server's response parameters; raise L{NegotiationError}."""
        raise NotImplementedError


def negotiateServer(
    values: Sequence[str], factories: Sequence[ServerExtensionFactory]
) -> tuple[str | None, Sequence[Extension]]:
    """
    Answer a request's Sec-WebSocket-Extensions fields: the response value
    (None for no extension) and the extensions, in the order to apply them.
    Offers are considered in the client's order of preference (9.1).
    """
    if not values or not factories:
        return None, ()  # (shared: an empty list would cost every connection 56 bytes)
    offers = parseExtensions(values)
    accepted: list[Extension] = []
    response: list[ExtensionOffer] = []
    for name, params in offers:
        if any(e.name == name for e in accepted):
            continue
        for factory in factories:
            if factory.name != name:
                continue
            try:
                responseParams, extension = factory.accept(params, accepted)
            except NegotiationError:
                continue
            accepted.append(extension)
            response.append((name, responseParams))
            break
    if not accepted:
        return None, ()
    return serializeExtensions(response), accepted


def offerClient(factories: Sequence[ClientExtensionFactory]) -> str | None:
    """The Sec-WebSocket-Extensions value a client sends."""
    if not factories:
        return None
    return serializeExtensions([(f.name, f.offer()) for f in factories])


def negotiateClient(
    values: Sequence[str], factories: Sequence[ClientExtensionFactory]
) -> list[Extension]:
    """
    Check the server's Sec-WebSocket-Extensions fields against what we
    offered; anything not offered raises L{NegotiationError}.
    """
    accepted: list[Extension] = []
    for name, params in parseExtensions(values):
        for factory in factories:
            if factory.name == name and not any(e.name == name for e in accepted):
                accepted.append(factory.accept(params, accepted))
                break
        else:
            raise NegotiationError(f"server accepted unoffered extension {name!r}")
    return accepted
