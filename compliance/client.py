"""
The txws client under test for the Autobahn cases: the Autobahn client loop
against a fuzzing server.

    python compliance/client.py ws://127.0.0.1:9001 [CONCURRENCY]

asks /getCaseCount, runs /runCase?case=N&agent=txws for each case (echoing
every message), then /updateReports?agent=txws. It prints a line as each case ends:
compliance/run.py takes a long silence for a hang.
"""

import sys

from twisted.internet import defer, task

import txws

AGENT = "txws"
OPTIONS = dict(maxSize=2**24, maxQueue=None, pingInterval=None)


async def runCase(server, number):
    try:
        ws = await txws.connect(f"{server}/runCase?case={number}&agent={AGENT}", **OPTIONS)
    except txws.WebSocketError:
        return  # some cases are about the handshake itself
    try:
        async for message in ws:
            await ws.send(message)
    except txws.ConnectionClosed:
        pass  # the case failed the connection on purpose
    await ws.whenClosed()


async def main(reactor, server="ws://127.0.0.1:9001", concurrency="1"):
    ws = await txws.connect(f"{server}/getCaseCount", **OPTIONS)
    count = int(await ws.recv())
    await ws.whenClosed()
    print(f"{count} cases", flush=True)
    numbers = iter(range(1, count + 1))

    async def worker():
        for number in numbers:
            await runCase(server, number)
            print(f"case {number} done", flush=True)

    await defer.gatherResults([defer.ensureDeferred(worker()) for _ in range(int(concurrency))])
    ws = await txws.connect(f"{server}/updateReports?agent={AGENT}", **OPTIONS)
    # kosoku drops this connection without a close frame: that is expected.
    await ws.whenClosed()


if __name__ == "__main__":
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, *sys.argv[1:])))
