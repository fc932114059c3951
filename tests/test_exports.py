"""The public API: every name docs/design.md promises is importable from txws."""

import txws


def test_all_names_exist():
    for name in txws.__all__:
        assert hasattr(txws, name), name


def test_design_names():
    """The names the documentation promises are all in txws.__all__."""
    for name in [
        "serve",
        "connect",
        "WebSocketServerFactory",
        "WebSocketClientFactory",
        "WebSocketServerProtocol",
        "WebSocketClientProtocol",
        "WebSocketProtocol",
        "ConnectionClosed",
        "ConnectionClosedOK",
        "ConnectionClosedError",
        "InvalidHandshake",
        "InvalidStatus",
        "InvalidURI",
        "InvalidOrigin",
        "NegotiationError",
        "PayloadTooBig",
        "ProtocolError",
        "InvalidState",
        "State",
    ]:
        assert name in txws.__all__, name


def test_exception_tree():
    assert issubclass(txws.InvalidStatus, txws.InvalidHandshake)
    assert issubclass(txws.InvalidOrigin, txws.InvalidHandshake)
    assert issubclass(txws.ConnectionClosedOK, txws.ConnectionClosed)
    assert issubclass(txws.PayloadTooBig, txws.ProtocolError)
    assert issubclass(txws.InvalidHandshake, txws.WebSocketError)
    assert txws.PayloadTooBig.closeCode == 1009
    assert txws.InvalidUTF8.closeCode == 1007


def test_protocolProvidesIWebSocket():
    """The documented interface and the class agree, methods and attributes."""
    from zope.interface.verify import verifyClass, verifyObject

    from txws.interfaces import IWebSocket

    assert verifyClass(IWebSocket, txws.WebSocketProtocol)
    assert verifyObject(IWebSocket, txws.WebSocketServerProtocol())
    assert verifyObject(IWebSocket, txws.WebSocketClientProtocol())
