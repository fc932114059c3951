"""The ``twistd websocket`` plugin; the logic is in L{txws.tap}."""

from twisted.application.service import ServiceMaker

txwsWebSocket = ServiceMaker(
    "txws WebSocket server",
    "txws.tap",
    "Serve a WebSocket handler (MODULE.ATTR) with txws.",
    "websocket",
)
