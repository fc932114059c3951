"""
The same tests as examples/testing.py, written for Twisted's trial:

    python -m twisted.trial examples.testing_trial

A trial test that returns a Deferred is waited for on a real reactor.
"""

from twisted.internet import defer
from twisted.trial import unittest

import txws
from examples.echo import echo
from examples.testing import openConnection
from txws.frames import OP_TEXT, Frame, parseFrames, serializeFrame


class EchoTests(unittest.TestCase):
    def test_echoOnAStringTransport(self):
        protocol, transport, clock, _ = openConnection(echo)
        protocol.dataReceived(serializeFrame(OP_TEXT, b"hello", mask=True))
        self.assertEqual(parseFrames(transport.value()), [Frame(OP_TEXT, b"hello")])

    def test_echoOverLoopback(self):
        async def run():
            port = await txws.serve(echo, "tcp:0:interface=127.0.0.1")
            try:
                websocket = await txws.connect(f"ws://127.0.0.1:{port.getHost().port}/")
                await websocket.send("over TCP")
                self.assertEqual(await websocket.recv(), "over TCP")
                await websocket.close()
            finally:
                await port.stopListening()

        return defer.ensureDeferred(run())
