"""
The txws server under test for the Autobahn cases: an echo server with
maxSize raised to 16 MiB (section 9 sends messages that large).

    python compliance/echo_server.py [ENDPOINT]

prints "listening on PORT" once it listens (default: a free loopback port),
then "closed" as each connection ends: compliance/run.py takes a long
silence for a hang.
"""

import sys

from twisted.internet import defer, task

import txws


async def echo(websocket):
    try:
        async for message in websocket:
            await websocket.send(message)
    finally:
        websocket.whenClosed().addBoth(lambda _: print("closed", flush=True))


async def main(reactor, endpoint="tcp:0:interface=127.0.0.1"):
    port = await txws.serve(echo, endpoint, maxSize=2**24, maxQueue=None, pingInterval=None)
    print(f"listening on {port.getHost().port}", flush=True)
    await defer.Deferred()


if __name__ == "__main__":
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, *sys.argv[1:])))
