"""
The hello server: reads a name, answers "Hello NAME!".

    python examples/server.py          # serves ws://localhost:8765/
"""

import sys

from twisted.internet import defer, task
from twisted.logger import globalLogBeginner, textFileLogObserver

import txws


async def hello(websocket):
    name = await websocket.recv()
    print(f"<<< {name}")
    greeting = f"Hello {name}!"
    await websocket.send(greeting)
    print(f">>> {greeting}")


async def main(reactor, endpoint="tcp:8765"):
    port = await txws.serve(hello, endpoint)
    print(f"Serving on ws://localhost:{port.getHost().port}/ (Ctrl-C stops it)")
    await defer.Deferred()


if __name__ == "__main__":
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)], redirectStandardIO=False)
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, *sys.argv[1:])))
