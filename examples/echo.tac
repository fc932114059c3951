# An echo server as a .tac file, with a graceful stop:
#
#     twistd -ny examples/echo.tac
#
# serves ws://localhost:8765/; SIGTERM closes every connection with 1001.
import os
import sys

from twisted.application import service

sys.path.insert(0, os.getcwd())

import txws  # noqa: E402
from examples.echo import echo  # noqa: E402

application = service.Application("txws echo")
txws.WebSocketService(os.environ.get("TXWS_PORT", "tcp:8765"), echo).setServiceParent(application)
