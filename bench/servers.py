"""
The echo servers the benchmark compares, one per process:

    python bench/servers.py KIND PORT

prints "ready" once it listens on 127.0.0.1:PORT. Every server echoes each
message as it came (text as text, binary as binary), with compression and
keepalive pings off and limits raised so that 1 MiB messages pass.
"""

from __future__ import annotations

import sys

MAX = 2**24


def twistedMain(listen) -> None:
    from twisted.internet import reactor

    listen(reactor)
    reactor.callWhenRunning(lambda: print("ready", flush=True))
    reactor.run()


def floor(port: int) -> None:
    """Plain Twisted TCP echo: no WebSocket at all."""
    from twisted.internet.protocol import Factory, Protocol

    class Echo(Protocol):
        def dataReceived(self, data):
            self.transport.write(data)

    twistedMain(
        lambda reactor: reactor.listenTCP(port, Factory.forProtocol(Echo), interface="127.0.0.1")
    )


def handshakeIO(port: int) -> None:
    """
    The handshake workload's I/O on plain Twisted, with canned answers and
    no WebSocket logic at all: the floor for any WebSocket server on Twisted
    (three reads and three writes per connection where the TCP echo has one
    of each). It answers nothing but that workload.
    """
    from twisted.internet.protocol import Factory, Protocol

    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from run import KEY, TEXT

    from txws.frames import serializeFrame
    from txws.handshake import buildResponseHead

    accept = buildResponseHead(KEY)
    echo = serializeFrame(1, TEXT)
    close = serializeFrame(8, b"\x03\xe8")

    class Canned(Protocol):
        opened = False

        def dataReceived(self, data):
            if not self.opened:
                self.opened = True
                self.transport.write(accept)
            elif data[0] == 0x88:
                self.transport.write(close)
                self.transport.loseConnection()
            else:
                self.transport.write(echo)

    twistedMain(
        lambda reactor: reactor.listenTCP(port, Factory.forProtocol(Canned), interface="127.0.0.1")
    )


def txws_(port: int, **options) -> None:
    import txws

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    factory = txws.WebSocketServerFactory(
        echo, compression=None, pingInterval=None, maxSize=MAX, serverHeader=None, **options
    )
    twistedMain(lambda reactor: reactor.listenTCP(port, factory, interface="127.0.0.1"))


def txwsCallback(port: int) -> None:
    import txws

    class Echo(txws.WebSocketServerProtocol):
        def messageReceived(self, message):
            self.send(message)

    factory = txws.WebSocketServerFactory(
        None, compression=None, pingInterval=None, maxSize=MAX, serverHeader=None
    )
    factory.protocol = Echo
    twistedMain(lambda reactor: reactor.listenTCP(port, factory, interface="127.0.0.1"))


def autobahn(port: int) -> None:
    from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol

    class Echo(WebSocketServerProtocol):
        def onMessage(self, payload, isBinary):
            self.sendMessage(payload, isBinary)

    factory = WebSocketServerFactory(f"ws://127.0.0.1:{port}")
    factory.protocol = Echo
    factory.setProtocolOptions(
        maxMessagePayloadSize=MAX, maxFramePayloadSize=MAX, autoPingInterval=0
    )
    twistedMain(lambda reactor: reactor.listenTCP(port, factory, interface="127.0.0.1"))


def twistedWeb(port: int) -> None:
    from twisted.web.resource import Resource
    from twisted.web.server import Site
    from twisted.web.websocket import WebSocketResource

    class Echo:
        def negotiationStarted(self, transport):
            self.transport = transport

        def negotiationFinished(self):
            pass

        def textMessageReceived(self, message):
            self.transport.sendTextMessage(message)

        def bytesMessageReceived(self, data):
            self.transport.sendBytesMessage(data)

        def pongReceived(self, payload):
            pass

        def connectionLost(self, reason):
            pass

    class Factory:
        def buildProtocol(self, request):
            return Echo()

    root = Resource()
    resource = WebSocketResource(Factory())
    root.putChild(b"", resource)
    site = Site(root)
    site.noisy = False
    twistedMain(lambda reactor: reactor.listenTCP(port, site, interface="127.0.0.1"))


def asyncioMain(coroutine) -> None:
    import asyncio

    async def main():
        await coroutine()
        print("ready", flush=True)
        await asyncio.Future()

    asyncio.run(main())


def websockets_(port: int) -> None:
    from websockets.asyncio.server import serve

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async def start():
        global _server
        _server = await serve(
            echo,
            "127.0.0.1",
            port,
            compression=None,
            ping_interval=None,
            max_size=MAX,
            max_queue=16,
        )

    asyncioMain(start)


def aiohttp_(port: int) -> None:
    from aiohttp import WSMsgType, web

    async def handler(request):
        ws = web.WebSocketResponse(compress=False, max_msg_size=MAX, autoping=True)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    async def start():
        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    asyncioMain(start)


def picows_(port: int) -> None:
    from picows import WSListener, WSMsgType, ws_create_server

    class Echo(WSListener):
        def on_ws_frame(self, transport, frame):
            if frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
            elif frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
                transport.send(frame.msg_type, frame.get_payload_as_memoryview())

    async def start():
        global _server
        _server = await ws_create_server(
            lambda request: Echo(), "127.0.0.1", port, max_frame_size=MAX
        )

    asyncioMain(start)


SERVERS = {
    "floor": floor,
    "handshake-io": handshakeIO,
    "txws": txws_,
    "txws-callback": txwsCallback,
    # Not in run.py's default list: --only txws,txws-metrics gives the cost of counting.
    "txws-metrics": lambda port: txws_(port, metrics=True),
    "autobahn": autobahn,
    "twisted.web": twistedWeb,
    "websockets": websockets_,
    "aiohttp": aiohttp_,
    "picows": picows_,
}


def withFlush(server):
    """The server with bench/flush.py's proposed change to Twisted installed."""

    def run(port: int) -> None:
        sys.path.insert(0, __file__.rsplit("/", 1)[0])
        import flush

        flush.install()
        server(port)

    return run


def withNagle(port: int) -> None:
    """txws with Nagle's algorithm left on, as Twisted leaves it (TCP_NODELAY's cost)."""
    import txws.writer

    txws.writer.setNoDelay = lambda transport: None  # type: ignore[assignment]
    txws_(port)


# Not in run.py's default list: --only floor,txws,floor+flush,txws+flush.
SERVERS["floor+flush"] = withFlush(floor)
SERVERS["txws+flush"] = withFlush(txws_)
SERVERS["txws+nagle"] = withNagle

if __name__ == "__main__":
    SERVERS[sys.argv[1]](int(sys.argv[2]))
