"""The public API: every name docs/design.md promises is importable from txws."""

import txws


def test_all_names_exist():
    for name in txws.__all__:
        assert hasattr(txws, name), name


def test_design_names():
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


def test_codec_has_no_twisted_imports():
    import ast
    from pathlib import Path

    root = Path(txws.__file__).parent
    for name in [
        "frames.py",
        "handshake.py",
        "http.py",
        "uri.py",
        "exceptions.py",
        "grammar.py",
        "closing.py",
        "assembly.py",
        "readgate.py",
        "extensions/__init__.py",
        "extensions/permessage_deflate.py",
    ]:
        tree = ast.parse((root / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("twisted") for a in node.names), name
            elif isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("twisted"), name


def test_protocolProvidesIWebSocket():
    """The documented interface and the class agree, methods and attributes."""
    from zope.interface.verify import verifyClass, verifyObject

    from txws.interfaces import IWebSocket

    assert verifyClass(IWebSocket, txws.WebSocketProtocol)
    assert verifyObject(IWebSocket, txws.WebSocketServerProtocol())
    assert verifyObject(IWebSocket, txws.WebSocketClientProtocol())
