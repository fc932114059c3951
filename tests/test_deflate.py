"""permessage-deflate, RFC 7692: negotiation, framing, bounded inflating."""

from __future__ import annotations

import os
import tracemalloc
import zlib

import pytest

from txws.exceptions import NegotiationError, PayloadTooBig, ProtocolError
from txws.extensions import negotiateClient, negotiateServer, offerClient
from txws.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from txws.frames import OP_BINARY, OP_CONT, OP_PING, OP_TEXT, RSV1, serializeFrame

from .helpers import (
    acceptResponse,
    clientConnection,
    request,
    sentRequest,
    serverConnection,
    successResultOf,
)

SERVER = ServerPerMessageDeflateFactory
CLIENT = ClientPerMessageDeflateFactory


def negotiate(offer: str, **config):
    """The server's response header and extension for one offer header."""
    header, extensions = negotiateServer([offer], [SERVER(**config)])
    return header, (extensions[0] if extensions else None)


class TestServerNegotiation:
    """7.1: the server's acceptance rules."""

    def test_default_offer(self):
        """
        A bare offer is accepted with the server's default 12-bit window announced; the
        client keeps its 15.
        """
        header, ext = negotiate("permessage-deflate")
        assert header == "permessage-deflate; server_max_window_bits=12"
        assert (ext.localMaxWindowBits, ext.remoteMaxWindowBits) == (12, 15)

    def test_client_max_window_bits_bare(self):
        header, ext = negotiate("permessage-deflate; client_max_window_bits")
        assert header == (
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
        )
        assert ext.remoteMaxWindowBits == 12

    def test_client_max_window_bits_value(self):
        header, ext = negotiate("permessage-deflate; client_max_window_bits=10")
        assert "client_max_window_bits=10" in header
        assert ext.remoteMaxWindowBits == 10

    @pytest.mark.parametrize("bits", range(9, 16))
    def test_server_max_window_bits_requested(self, bits):
        header, ext = negotiate(f"permessage-deflate; server_max_window_bits={bits}")
        assert f"server_max_window_bits={min(bits, 12)}" in header
        assert ext.localMaxWindowBits == min(bits, 12)

    def test_server_max_window_bits_8_declined(self):
        assert negotiate("permessage-deflate; server_max_window_bits=8") == (None, None)

    def test_no_context_takeover_requested(self):
        header, ext = negotiate(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        )
        assert "server_no_context_takeover" in header
        assert "client_no_context_takeover" in header
        assert ext.localNoContextTakeover and ext.remoteNoContextTakeover

    def test_no_context_takeover_configured(self):
        header, ext = negotiate(
            "permessage-deflate", serverNoContextTakeover=True, clientNoContextTakeover=True
        )
        assert "server_no_context_takeover" in header
        assert "client_no_context_takeover" in header

    def test_full_window_not_announced(self):
        header, ext = negotiate(
            "permessage-deflate; client_max_window_bits",
            serverMaxWindowBits=None,
            clientMaxWindowBits=None,
        )
        assert header == "permessage-deflate"
        assert (ext.localMaxWindowBits, ext.remoteMaxWindowBits) == (15, 15)

    @pytest.mark.parametrize(
        "offer",
        [
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=abc",
            "permessage-deflate; server_max_window_bits=009",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; client_max_window_bits=0",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=11",
            "permessage-deflate; unknown_parameter",
        ],
    )
    def test_bad_offers_declined(self, offer):
        assert negotiate(offer) == (None, None)

    def test_several_offers_first_acceptable_wins(self):
        header, extensions = negotiateServer(
            [
                "permessage-deflate; bogus, permessage-deflate; server_no_context_takeover",
                "permessage-deflate",
            ],
            [SERVER()],
        )
        assert header.startswith("permessage-deflate; server_no_context_takeover")
        assert len(extensions) == 1

    def test_unknown_extension_ignored(self):
        header, extensions = negotiateServer(["x-webkit-deflate-frame"], [SERVER()])
        assert (header, extensions) == (None, ())

    def test_bad_configuration(self):
        with pytest.raises(ValueError):
            SERVER(serverMaxWindowBits=8)
        with pytest.raises(ValueError):
            SERVER(memLevel=10)


class TestClientNegotiation:
    def test_offer(self):
        """
        The client's offer for its default and for configured parameters, in the order the
        parameters are written.
        """
        assert offerClient([CLIENT()]) == (
            "permessage-deflate; client_no_context_takeover; client_max_window_bits"
        )
        assert offerClient([CLIENT(clientNoContextTakeover=False)]) == (
            "permessage-deflate; client_max_window_bits"
        )
        assert offerClient(
            [
                CLIENT(
                    serverMaxWindowBits=10,
                    serverNoContextTakeover=True,
                    clientNoContextTakeover=True,
                )
            ]
        ) == (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits"
        )

    def accept(self, response: str, **config):
        [ext] = negotiateClient([response], [CLIENT(**config)])
        return ext

    def test_plain_response(self):
        """
        An answer with no parameters: our default window for compressing, the full window
        for inflating.
        """
        ext = self.accept("permessage-deflate", clientNoContextTakeover=False)
        assert (ext.localMaxWindowBits, ext.remoteMaxWindowBits) == (12, 15)
        assert not ext.localNoContextTakeover

    def test_offered_no_context_takeover_is_kept(self):
        # The offer's client_no_context_takeover binds us (RFC 7692 7.1.1.2)
        # even if the response leaves it out.
        assert self.accept("permessage-deflate").localNoContextTakeover

    def test_server_limits(self):
        """Every limit the server answers with is applied to the right direction."""
        ext = self.accept(
            "permessage-deflate; server_max_window_bits=9; "
            "client_max_window_bits=10; client_no_context_takeover; "
            "server_no_context_takeover"
        )
        assert (ext.remoteMaxWindowBits, ext.localMaxWindowBits) == (9, 10)
        assert ext.localNoContextTakeover and ext.remoteNoContextTakeover

    @pytest.mark.parametrize(
        "response",
        [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=8",
            "permessage-deflate; unknown",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        ],
    )
    def test_bad_responses(self, response):
        with pytest.raises(NegotiationError):
            self.accept(response)

    def test_server_must_honour_requests(self):
        with pytest.raises(NegotiationError):
            self.accept("permessage-deflate", serverNoContextTakeover=True)
        with pytest.raises(NegotiationError):
            self.accept("permessage-deflate", serverMaxWindowBits=10)
        with pytest.raises(NegotiationError):
            self.accept("permessage-deflate; server_max_window_bits=11", serverMaxWindowBits=10)

    def test_two_answers_for_one_offer(self):
        with pytest.raises(NegotiationError):
            negotiateClient(["permessage-deflate, permessage-deflate"], [CLIENT()])

    def test_connection_fails_on_bad_answer(self):
        conn = clientConnection()
        conn.receive(
            acceptResponse(
                sentRequest(conn), "Sec-WebSocket-Extensions: permessage-deflate; x=1\r\n"
            )
        )
        from .helpers import failureResultOf

        failureResultOf(conn.factory.handshake, NegotiationError)


def pair(**kw):
    """Two ends of a connection: what a compresses, b inflates."""
    settings = dict(
        remoteNoContextTakeover=False,
        localNoContextTakeover=False,
        remoteMaxWindowBits=12,
        localMaxWindowBits=12,
    )
    settings.update(kw)
    a = PerMessageDeflate(**settings)
    b = PerMessageDeflate(**settings)
    return a, b


def roundTrip(a, b, fragments, maxSize=None):
    out = []
    for i, fragment in enumerate(fragments):
        start, end = i == 0, i == len(fragments) - 1
        rsv, data = a.encode(fragment, start=start, end=end)
        assert rsv == (RSV1 if start else 0)
        out.append(b.decode(data, rsv=rsv, start=start, end=end, maxSize=maxSize))
    return b"".join(out)


class TestCompression:
    """7.2: compressing and decompressing messages."""

    def test_round_trip(self):
        a, b = pair()
        for message in [b"hello" * 100, os.urandom(5000), b"", b"x"]:
            assert roundTrip(a, b, [message]) == message

    def test_tail_removed(self):
        """
        Compressed messages are sent without the 00 00 ff ff tail (RFC 7692, 7.2.1), which
        the receiver appends back.
        """
        a, _ = pair()
        rsv, data = a.encode(b"hello hello hello", start=True, end=True)
        assert not data.endswith(b"\x00\x00\xff\xff")
        # The RFC's own example (7.2.3.1): "Hello" compressed.
        d = zlib.decompressobj(-15)
        assert d.decompress(bytes.fromhex("f248cdc9c90700") + b"\x00\x00\xff\xff") == b"Hello"

    def test_rfc_example_decoded(self):
        _, b = pair(remoteMaxWindowBits=15)
        out = b.decode(
            bytes.fromhex("f248cdc9c90700"), rsv=RSV1, start=True, end=True, maxSize=None
        )
        assert out == b"Hello"

    def test_rfc_example_fragmented(self):
        # 7.2.3.1: "Hello" compressed, then split in two frames.
        _, b = pair(remoteMaxWindowBits=15)
        first = b.decode(bytes.fromhex("f248cd"), rsv=RSV1, start=True, end=False, maxSize=None)
        rest = b.decode(bytes.fromhex("c9c90700"), rsv=0, start=False, end=True, maxSize=None)
        assert first + rest == b"Hello"

    def test_rfc_example_context_takeover(self):
        # 7.2.3.2: the second "Hello" reuses the first one's window.
        _, b = pair(remoteMaxWindowBits=15)
        assert (
            b.decode(bytes.fromhex("f248cdc9c90700"), rsv=RSV1, start=True, end=True, maxSize=None)
            == b"Hello"
        )
        assert (
            b.decode(bytes.fromhex("f200110000"), rsv=RSV1, start=True, end=True, maxSize=None)
            == b"Hello"
        )

    def test_rfc_example_uncompressed_stored_block(self):
        # 7.2.3.3: "Hello" in a stored (uncompressed) deflate block.
        _, b = pair(remoteMaxWindowBits=15)
        out = b.decode(
            bytes.fromhex("0005 00fa ff48 656c 6c6f 00".replace(" ", "")),
            rsv=RSV1,
            start=True,
            end=True,
            maxSize=None,
        )
        assert out == b"Hello"

    def test_fragmented_messages(self):
        a, b = pair()
        fragments = [b"alpha " * 50, b"", b"beta " * 50, b"gamma"]
        assert roundTrip(a, b, fragments) == b"".join(fragments)

    def test_context_takeover_shrinks_repeats(self):
        a, _ = pair()
        message = os.urandom(500)
        _, first = a.encode(message, start=True, end=True)
        _, second = a.encode(message, start=True, end=True)
        assert len(second) < len(first) // 10

    def test_no_context_takeover_resets(self):
        a, b = pair(localNoContextTakeover=True, remoteNoContextTakeover=True)
        message = os.urandom(500)
        _, first = a.encode(message, start=True, end=True)
        _, second = a.encode(message, start=True, end=True)
        assert first == second
        assert roundTrip(a, b, [message]) == message

    def test_min_size(self):
        """
        Messages shorter than minSize go uncompressed (RSV1 clear); longer ones are
        compressed.
        """
        a = PerMessageDeflate(
            remoteNoContextTakeover=False,
            localNoContextTakeover=False,
            remoteMaxWindowBits=15,
            localMaxWindowBits=15,
            minSize=100,
        )
        assert a.encode(b"short", start=True, end=True) == (0, b"short")
        assert a.encode(b"x" * 200, start=True, end=True)[0] == RSV1

    def test_uncompressed_message_passes(self):
        _, b = pair()
        assert b.decode(b"plain", rsv=0, start=True, end=True, maxSize=10) == b"plain"

    def test_rsv1_on_continuation(self):
        _, b = pair()
        b.decode(b"", rsv=0, start=True, end=False, maxSize=None)
        with pytest.raises(ProtocolError):
            b.decode(b"", rsv=RSV1, start=False, end=True, maxSize=None)

    def test_invalid_data(self):
        _, b = pair()
        with pytest.raises(ProtocolError):
            b.decode(b"\xff\xff\xff\xff", rsv=RSV1, start=True, end=True, maxSize=None)

    def test_max_size_is_inflated_size(self):
        a, b = pair()
        message = b"\x00" * 1000
        assert roundTrip(a, b, [message], maxSize=1000) == message
        a, b = pair()
        with pytest.raises(PayloadTooBig):
            roundTrip(a, b, [message + b"\x00"], maxSize=1000)


def deflateServer(**options):
    """A server connection that negotiated permessage-deflate (full windows)."""
    conn = serverConnection(
        extensions=[SERVER(serverMaxWindowBits=None, clientMaxWindowBits=None)],
        compression=None,
        **options,
    )
    conn.receive(request(headers={"Sec-WebSocket-Extensions": "permessage-deflate"}))
    head = conn.sent()
    assert b"Sec-WebSocket-Extensions: permessage-deflate\r\n" in head
    return conn


def compressed(data: bytes, wbits: int = 15) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


class TestOnTheWire:
    def test_default_server_negotiates(self):
        """The default server accepts a client's offer and answers with both window sizes."""
        conn = serverConnection()
        conn.receive(
            request(
                headers={"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
            )
        )
        head = conn.sent()
        assert (
            b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12;"
            b" client_max_window_bits=12\r\n"
        ) in head

    def test_compression_none(self):
        conn = serverConnection(compression=None)
        conn.receive(request(headers={"Sec-WebSocket-Extensions": "permessage-deflate"}))
        assert b"Sec-WebSocket-Extensions" not in conn.sent()

    def test_receive_and_send_compressed(self):
        conn = deflateServer()
        conn.receiveFrame(OP_TEXT, compressed(b"hello " * 20), rsv=RSV1)
        assert successResultOf(conn.protocol.recv()) == "hello " * 20
        successResultOf(conn.protocol.send("hello " * 20))
        [frame] = conn.framesSent()
        assert frame.rsv == RSV1 and frame.opcode == OP_TEXT
        assert (
            zlib.decompressobj(-15).decompress(frame.payload + b"\x00\x00\xff\xff")
            == b"hello " * 20
        )

    def test_compressFalseSendsOneMessagePlain(self):
        """RSV1 absent for that message; the context the next one uses is intact."""
        conn = deflateServer()
        inflater = zlib.decompressobj(-15)  # the client's, with context takeover
        successResultOf(conn.protocol.send("first " * 20))
        successResultOf(conn.protocol.send("plain " * 20, compress=False))
        successResultOf(conn.protocol.send(iter([b"in ", b"pieces"]), compress=False))
        successResultOf(conn.protocol.send("first " * 20))
        frames = conn.framesSent()
        assert [f.rsv for f in frames] == [RSV1, 0, 0, 0, RSV1]
        assert frames[1].payload == b"plain " * 20
        assert (frames[2].payload, frames[3].payload) == (b"in ", b"pieces")
        for frame in (frames[0], frames[4]):
            assert inflater.decompress(frame.payload + b"\x00\x00\xff\xff") == b"first " * 20

    def test_control_frames_never_compressed(self):
        conn = deflateServer()
        conn.receiveFrame(OP_PING, b"ping data")
        conn.protocol.ping(b"mine")
        frames = conn.framesSent()
        assert [(f.opcode, f.rsv, f.payload) for f in frames] == [
            (10, 0, b"ping data"),
            (9, 0, b"mine"),
        ]

    def test_rsv1_on_control_frame_fails(self):
        conn = deflateServer()
        conn.receiveFrame(OP_PING, b"", rsv=RSV1)
        conn.assertClosing(1002)

    def test_rsv1_on_continuation_fails(self):
        conn = deflateServer()
        conn.receiveFrame(OP_TEXT, compressed(b"abc"), fin=False, rsv=RSV1)
        conn.receiveFrame(OP_CONT, b"", rsv=RSV1)
        conn.assertClosing(1002)

    def test_fragmented_compressed_message_in_pieces(self):
        conn = deflateServer()
        data = compressed("ünïcødé ".encode() * 200)
        wire = serializeFrame(OP_TEXT, data[:10], fin=False, rsv=RSV1, mask=True) + serializeFrame(
            OP_CONT, data[10:], mask=True
        )
        for i in range(0, len(wire), 7):
            conn.receive(wire[i : i + 7])
        assert successResultOf(conn.protocol.recv()) == "ünïcødé " * 200

    def test_invalid_utf8_after_inflating(self):
        conn = deflateServer()
        conn.receiveFrame(OP_TEXT, compressed(b"ok\xff"), rsv=RSV1)
        conn.assertClosing(1007)

    def test_sent_fragments_compressed_once(self):
        conn = deflateServer()
        successResultOf(conn.protocol.send([b"a" * 100, b"b" * 100]))
        frames = conn.framesSent()
        assert [(f.opcode, f.rsv, f.fin) for f in frames] == [
            (OP_BINARY, RSV1, False),
            (OP_CONT, 0, True),
        ]
        d = zlib.decompressobj(-15)
        assert (
            d.decompress(frames[0].payload + frames[1].payload + b"\x00\x00\xff\xff")
            == b"a" * 100 + b"b" * 100
        )

    def test_uncompressed_size_still_checked_from_header(self):
        conn = deflateServer(maxSize=1000)
        conn.receive(serializeFrame(OP_BINARY, b"x" * 1001, mask=True)[:20])
        conn.assertClosing(1009)

    def test_compressed_message_over_max_size(self):
        conn = deflateServer(maxSize=1000)
        conn.receiveFrame(OP_BINARY, compressed(b"\x00" * 1000), rsv=RSV1)
        assert successResultOf(conn.protocol.recv()) == b"\x00" * 1000
        conn.receiveFrame(OP_BINARY, compressed(b"\x00" * 1001), rsv=RSV1)
        conn.assertClosing(1009)

    @pytest.mark.slow
    def test_one_gibibyte_bomb_is_refused_in_bounded_memory(self):
        """A message inflating to 1 GiB: 1009 after inflating maxSize + 1 bytes."""
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        chunk = bytes(2**20)
        bomb = b"".join(c.compress(chunk) for _ in range(1024)) + c.flush(zlib.Z_SYNC_FLUSH)
        bomb = bomb[:-4]
        assert len(bomb) < 2 * 2**20  # about 1 MiB on the wire
        conn = deflateServer(maxSize=2**20)
        wire = serializeFrame(OP_BINARY, bomb, rsv=RSV1, mask=True)
        tracemalloc.start()
        try:
            for i in range(0, len(wire), 65536):
                conn.receive(wire[i : i + 65536])
                if conn.protocol.state != 1:
                    break
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        conn.assertClosing(1009)
        # maxSize (1 MiB) plus a read and the inflated piece: nowhere near 1 GiB.
        assert peak < 6 * 2**20, peak


def test_connection_level_round_trip_in_memory():
    """A txws client and server over an in-memory pump, compression on."""
    from twisted.internet.testing import MemoryReactorClock
    from twisted.test.iosim import connectedServerAndClient

    from txws.client import WebSocketClientFactory
    from txws.server import WebSocketServerFactory

    clock = MemoryReactorClock()
    received = []

    async def handler(ws):
        async for message in ws:
            received.append(message)
            await ws.send(message)

    serverFactory = WebSocketServerFactory(handler, reactor=clock)
    clientFactory = WebSocketClientFactory("ws://example.com/", reactor=clock)
    server, client, pump = connectedServerAndClient(
        lambda: serverFactory.buildProtocol(None),
        lambda: clientFactory.buildProtocol(None),
        greet=True,
    )
    pump.flush()
    ws = successResultOf(clientFactory.handshake)
    assert [e.name for e in ws.extensions] == ["permessage-deflate"]
    for message in ["text " * 100, b"\x00\x01" * 1000, "short"]:
        ws.send(message)
        pump.flush()
        assert successResultOf(ws.recv()) == message
    assert received == ["text " * 100, b"\x00\x01" * 1000, "short"]
    ws.close()
    pump.flush()
    assert ws.closeCode == 1000
