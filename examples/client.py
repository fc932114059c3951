"""
The hello client: asks for your name, sends it, prints the server's answer.

    python examples/client.py [ws://localhost:8765/]
"""

import sys

from twisted.internet import defer, task, threads

import txws


async def main(reactor, uri="ws://localhost:8765/"):
    # input() blocks, so it runs in a thread while the reactor goes on.
    name = await threads.deferToThread(input, "What's your name? ")
    websocket = await txws.connect(uri)
    await websocket.send(name)
    print(f">>> {name}")
    greeting = await websocket.recv()
    print(f"<<< {greeting}")
    await websocket.close()


if __name__ == "__main__":
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, *sys.argv[1:])))
