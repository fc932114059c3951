"""L{txws.broadcast}: one frame for many connections, on StringTransports."""

from __future__ import annotations

import txws
from txws.frames import OP_BINARY, OP_TEXT, Frame

from .helpers import openClient, openServer


class TestBroadcast:
    def test_encodes_once_and_skips_slow_and_closed(self):
        fast = [openServer(compression=None) for _ in range(3)]
        slow = openServer(compression=None)
        slow.protocol.pauseProducing()  # its transport buffer is full
        closed = openServer(compression=None)
        closed.lose()
        client = openClient(compression=None)
        everyone = [c.protocol for c in fast + [slow, closed, client]]
        assert txws.broadcast(everyone, "news") == 4
        for conn in fast:
            conn.assertFramesSent(Frame(OP_TEXT, b"news"))
        assert slow.sent() == b""
        client.assertFramesSent(Frame(OP_TEXT, b"news"))  # masked by its own encoder

    def test_compressed_connections_encode_for_themselves(self):
        import zlib

        from txws.extensions.permessage_deflate import ServerPerMessageDeflateFactory
        from txws.frames import RSV1

        from .helpers import request, serverConnection

        conn = serverConnection(
            compression=None,
            extensions=[
                ServerPerMessageDeflateFactory(serverMaxWindowBits=None, clientMaxWindowBits=None)
            ],
        )
        conn.receive(request(headers={"Sec-WebSocket-Extensions": "permessage-deflate"}))
        conn.sent()
        plain = openServer(compression=None)
        assert txws.broadcast([conn.protocol, plain.protocol], b"\x00" * 1000) == 2
        [frame] = conn.framesSent()
        assert frame.rsv == RSV1 and frame.opcode == OP_BINARY
        assert (
            zlib.decompressobj(-15).decompress(frame.payload + b"\x00\x00\xff\xff")
            == b"\x00" * 1000
        )
        plain.assertFramesSent(Frame(OP_BINARY, b"\x00" * 1000))
