"""
An echo server: every message comes back as it was sent.

    python examples/echo.py            # serves ws://localhost:8765/

The handler, ``echo``, is also what ``twistd websocket --handler
examples.echo.echo`` serves.
"""

import sys

from twisted.internet import defer, task
from twisted.logger import globalLogBeginner, textFileLogObserver

import txws


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def main(reactor, endpoint="tcp:8765"):
    port = await txws.serve(echo, endpoint)
    print(f"Echo server on ws://localhost:{port.getHost().port}/ (Ctrl-C stops it)")
    await defer.Deferred()  # serve until the reactor stops


if __name__ == "__main__":
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)], redirectStandardIO=False)
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, *sys.argv[1:])))
