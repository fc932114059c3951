"""
L{txws.streaming}: C{recvStreaming()} and the C{fragmentReceived} hook,
deterministically (StringTransport, no sockets).
"""

from __future__ import annotations

import hashlib
import tracemalloc
import zlib

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock

from txws.exceptions import ConnectionClosedError, ConnectionClosedOK
from txws.frames import OP_BINARY, OP_CONT, OP_PING, OP_TEXT, Frame
from txws.server import WebSocketServerFactory, WebSocketServerProtocol

from .helpers import (
    PEER,
    Connection,
    assertNoResult,
    failureResultOf,
    openClient,
    openServer,
    request,
    serverConnection,
    successResultOf,
)


@pytest.fixture(params=["server", "client"])
def conn(request):
    return openServer() if request.param == "server" else openClient()


def consume(stream, pieces: list) -> Deferred:
    """Iterate C{stream} into C{pieces}; the Deferred fires at its end."""

    async def run():
        async for piece in stream:
            pieces.append(piece)
        return "end"

    return Deferred.fromCoroutine(run())


class TestRecvStreaming:
    def test_piecesAsFramesArrive(self, conn):
        """Each fragment is yielded as its frame arrives, not at the end."""
        pieces: list = []
        done = consume(conn.protocol.recvStreaming(), pieces)
        conn.receiveFrame(OP_TEXT, b"one ", fin=False)
        assert pieces == ["one "]
        conn.receiveFrame(OP_CONT, b"two ", fin=False)
        assert pieces == ["one ", "two "]
        assertNoResult(done)
        conn.receiveFrame(OP_CONT, b"three")
        assert successResultOf(done) == "end"
        assert pieces == ["one ", "two ", "three"]

    def test_binaryFrameStreamsAsItsBytesArrive(self, conn):
        """One large binary frame comes in pieces as the reads bring it."""
        pieces: list = []
        done = consume(conn.protocol.recvStreaming(), pieces)
        frame = conn.peerFrame(OP_BINARY, bytes(range(256)) * 40)
        conn.receive(frame[:3000])
        assert pieces and b"".join(pieces) == (bytes(range(256)) * 40)[: len(b"".join(pieces))]
        conn.receive(frame[3000:])
        successResultOf(done)
        assert b"".join(pieces) == bytes(range(256)) * 40
        assert all(type(piece) is bytes for piece in pieces)

    def test_textPiecesAreWholeCodePoints(self, conn):
        """A code point split between frames comes whole, in the later piece;
        empty pieces are skipped."""
        encoded = "aé☃".encode()
        pieces: list = []
        done = consume(conn.protocol.recvStreaming(), pieces)
        conn.receiveFrame(OP_TEXT, encoded[:2], fin=False)
        conn.receiveFrame(OP_CONT, encoded[2:4], fin=False)
        conn.receiveFrame(OP_CONT, encoded[4:], fin=False)
        conn.receiveFrame(OP_CONT, b"")
        successResultOf(done)
        assert pieces == ["a", "é", "☃"]

    def test_emptyMessageYieldsOnePiece(self, conn):
        pieces: list = []
        consume(conn.protocol.recvStreaming(), pieces)
        conn.receiveFrame(OP_BINARY, b"", fin=False)
        conn.receiveFrame(OP_CONT, b"")
        assert pieces == [b""]

    def test_wholeMessageIsOnePiece(self, conn):
        """A message that came whole, queued or not, is one piece."""
        conn.receiveFrame(OP_TEXT, b"queued")
        pieces: list = []
        successResultOf(consume(conn.protocol.recvStreaming(), pieces))
        assert pieces == ["queued"]
        done = consume(conn.protocol.recvStreaming(), pieces)
        conn.receiveFrame(OP_BINARY, b"whole")
        successResultOf(done)
        assert pieces == ["queued", b"whole"]

    def test_messageInProgressStartsWithWhatCame(self, conn):
        """Called while a message arrives: what came so far, then the rest."""
        conn.receiveFrame(OP_TEXT, b"ab", fin=False)
        conn.receiveFrame(OP_CONT, b"cd", fin=False)
        pieces: list = []
        done = consume(conn.protocol.recvStreaming(), pieces)
        assert pieces == ["abcd"]
        conn.receiveFrame(OP_CONT, b"ef")
        successResultOf(done)
        assert pieces == ["abcd", "ef"]

    def test_inOrderWithRecv(self, conn):
        """A recv() waiting first gets the next message whole; the stream the one after."""
        first = conn.protocol.recv()
        pieces: list = []
        done = consume(conn.protocol.recvStreaming(), pieces)
        after = conn.protocol.recv()
        for i in (1, 2, 3):
            conn.receiveFrame(OP_TEXT, b"m%d-a" % i, fin=False)
            conn.receiveFrame(OP_CONT, b"-b")
        assert successResultOf(first) == "m1-a-b"
        successResultOf(done)
        assert pieces == ["m2-a", "-b"]
        assert successResultOf(after) == "m3-a-b"

    def test_controlFramesBetweenPieces(self, conn):
        pieces: list = []
        consume(conn.protocol.recvStreaming(), pieces)
        conn.receiveFrame(OP_BINARY, b"a", fin=False)
        conn.sent()
        conn.receiveFrame(OP_PING, b"p")
        assert conn.framesSent() == [Frame(0xA, b"p")]
        conn.receiveFrame(OP_CONT, b"b")
        assert pieces == [b"a", b"b"]

    def test_maxSizeStillHolds(self):
        conn = openServer(maxSize=10)
        pieces: list = []
        done = consume(conn.protocol.recvStreaming(), pieces)
        conn.receiveFrame(OP_BINARY, b"x" * 6, fin=False)
        conn.receiveFrame(OP_CONT, b"x" * 6)
        conn.assertClosing(1009)
        conn.lose()
        assert pieces == [b"x" * 6]
        failureResultOf(done, ConnectionClosedError)

    def test_badUTF8FailsAtOnce(self, conn):
        pieces: list = []
        done = consume(conn.protocol.recvStreaming(), pieces)
        conn.receiveFrame(OP_TEXT, b"ok", fin=False)
        conn.receiveFrame(OP_CONT, b"\xff", fin=False)
        conn.assertClosing(1007)
        conn.lose()
        assert failureResultOf(done, ConnectionClosedError).value.sentCode == 1007

    def test_closeWithinTheMessageRaises(self, conn):
        """A normal close before the message ends still raises: it is incomplete."""
        pieces: list = []
        done = consume(conn.protocol.recvStreaming(), pieces)
        conn.receiveFrame(OP_TEXT, b"half", fin=False)
        conn.receiveClose(1000)
        conn.lose()
        assert pieces == ["half"]
        failureResultOf(done, ConnectionClosedOK)

    def test_closedBeforeTheMessageRaisesAsRecv(self, conn):
        conn.receiveClose(1001)
        conn.lose()
        failureResultOf(consume(conn.protocol.recvStreaming(), []), ConnectionClosedOK)

    def test_unreadPiecesPauseReading(self):
        """Over maxQueue unread pieces pause the transport; reading them resumes it."""
        conn = openServer(maxQueue=4)
        stream = conn.protocol.recvStreaming()
        conn.receiveFrame(OP_BINARY, b"0", fin=False)
        for i in range(1, 4):
            conn.receiveFrame(OP_CONT, b"%d" % i, fin=False)
        assert conn.transport.producerState == "paused"
        # What comes meanwhile is held, not parsed.
        conn.receiveFrame(OP_CONT, b"4")
        pieces: list = []
        done = consume(stream, pieces)
        successResultOf(done)
        assert pieces == [b"0", b"1", b"2", b"3", b"4"]
        assert conn.transport.producerState == "producing"

    def test_acloseDropsTheRest(self, conn):
        stream = conn.protocol.recvStreaming()
        conn.receiveFrame(OP_TEXT, b"a", fin=False)
        successResultOf(Deferred.fromCoroutine(stream.aclose()))
        conn.receiveFrame(OP_CONT, b"b")
        conn.receiveFrame(OP_TEXT, b"next")
        assert successResultOf(conn.protocol.recv()) == "next"
        assert successResultOf(consume(stream, [])) == "end"

    def test_acloseBeforeTheMessageLeavesItToTheNextReader(self, conn):
        stream = conn.protocol.recvStreaming()
        successResultOf(Deferred.fromCoroutine(stream.aclose()))
        conn.receiveFrame(OP_TEXT, b"a", fin=False)
        conn.receiveFrame(OP_CONT, b"b")
        assert successResultOf(conn.protocol.recv()) == "ab"

    def test_cancelGivesTheMessageUp(self, conn):
        pieces: list = []
        done = consume(conn.protocol.recvStreaming(), pieces)
        conn.receiveFrame(OP_TEXT, b"a", fin=False)
        done.cancel()
        failureResultOf(done)
        conn.receiveFrame(OP_CONT, b"b")
        conn.receiveFrame(OP_TEXT, b"next")
        assert successResultOf(conn.protocol.recv()) == "next"

    def test_compressedMessageStreamsDecoded(self):
        conn = serverConnection(None)
        conn.receive(request(headers={"Sec-WebSocket-Extensions": "permessage-deflate"}))
        assert b"permessage-deflate" in conn.sent()
        compressor = zlib.compressobj(wbits=-15)
        text = ("streamed and compressed " * 200).encode()
        data = compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH)
        data = data[:-4]
        pieces: list = []
        done = consume(conn.protocol.recvStreaming(), pieces)
        conn.receiveFrame(OP_TEXT, data[:40], fin=False, rsv=0x40)
        assert pieces and "".join(pieces) == text.decode()[: len("".join(pieces))]
        conn.receiveFrame(OP_CONT, data[40:])
        successResultOf(done)
        assert "".join(pieces) == text.decode()

    def test_boundedMemoryWithNoMaxSize(self):
        """16 MiB in 64 KiB fragments, read as they come, with maxSize=None:
        what is held stays near one fragment."""
        conn = openServer(maxSize=None)
        pieces = 0
        stream = conn.protocol.recvStreaming()
        chunk = b"\xab" * 65536
        frames = [conn.peerFrame(OP_BINARY, chunk, fin=False)]
        frames.append(conn.peerFrame(OP_CONT, chunk, fin=False))

        async def count():
            nonlocal pieces
            async for piece in stream:
                pieces += len(piece)

        done = Deferred.fromCoroutine(count())
        tracemalloc.start()
        try:
            conn.receive(frames[0])
            for _ in range(254):
                conn.receive(frames[1])
            conn.receive(conn.peerFrame(OP_CONT, chunk))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        successResultOf(done)
        assert pieces == 256 * 65536
        assert peak < 1_000_000


class Pieces(WebSocketServerProtocol):
    def fragmentReceived(self, fragment, last):
        self.factory.pieces.append((fragment, last))


def piecesConnection(**options) -> Connection:
    factory = WebSocketServerFactory(None, reactor=MemoryReactorClock(), **options)
    factory.protocol = Pieces
    factory.pieces = []  # type: ignore[attr-defined]
    conn = Connection(factory.buildProtocol(PEER), factory.options.reactor)
    conn.receive(request())
    conn.sent()
    return conn


class TestFragmentReceived:
    def test_everyMessageInPieces(self):
        """Whole messages are one last piece; fragmented ones piece by piece."""
        conn = piecesConnection()
        pieces = conn.protocol.factory.pieces
        conn.receiveFrame(OP_TEXT, b"whole")
        conn.receiveFrame(OP_BINARY, b"a", fin=False)
        assert pieces == [("whole", True), (b"a", False)]
        conn.receiveFrame(OP_CONT, b"b")
        assert pieces[-1] == (b"b", True)
        assert not conn.protocol.pendingMessages

    def test_binaryFrameInPiecesAsItArrives(self):
        conn = piecesConnection()
        pieces = conn.protocol.factory.pieces
        frame = conn.peerFrame(OP_BINARY, b"z" * 5000)
        conn.receive(frame[:1000])
        assert pieces and not pieces[-1][1]
        conn.receive(frame[1000:])
        assert b"".join(p for p, _ in pieces) == b"z" * 5000
        assert pieces[-1][1]

    def test_maxSizeHolds(self):
        conn = piecesConnection(maxSize=4)
        conn.receiveFrame(OP_TEXT, b"abc", fin=False)
        conn.receiveFrame(OP_CONT, b"de")
        conn.assertClosing(1009)

    def test_controlFramesStillAnswered(self):
        conn = piecesConnection()
        conn.receiveFrame(OP_PING, b"x")
        assert conn.framesSent() == [Frame(0xA, b"x")]


@pytest.mark.sockets
@pytest_twisted.ensureDeferred
async def test_uploadOverASocket():
    """8 MiB in 64 KiB fragments, compressed, to a server with maxSize=None:
    received piece by piece and whole."""
    import txws

    from .realnet import serveOn, within

    seen: list[int] = []

    async def upload(websocket):
        digest = hashlib.sha256()
        async for piece in websocket.recvStreaming():
            digest.update(piece)
            seen.append(len(piece))
        await websocket.send(digest.hexdigest())

    port, url = await serveOn(upload, maxSize=None)
    try:
        ws = await within(txws.connect(url))

        async def chunks():
            for i in range(128):
                yield bytes([i]) * 65536

        await within(ws.send(chunks()))
        expected = hashlib.sha256(b"".join(bytes([i]) * 65536 for i in range(128)))
        assert await within(ws.recv()) == expected.hexdigest()
        assert len(seen) >= 128 and max(seen) <= 65536
        await within(ws.close())
    finally:
        await port.stopListening()
