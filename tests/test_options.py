"""
L{txws.options}: the defaults are written once, in L{txws.options.Options}
and L{txws.server.ServerOptions}; the documented table
(docs/reference/options.md) and the twistd plugin
agree with them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from txws import tap
from txws.options import Options, optionNames
from txws.server import ServerOptions

TABLE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "options.md"

UNITS = {"KiB": 2**10, "MiB": 2**20}


def documentedDefaults() -> dict[str, object]:
    """The option table of docs/reference/options.md, as {option: default}."""
    text = TABLE.read_text(encoding="utf-8")
    table = text[text.index("| option | default | why |") :]
    table = table[: table.index("\n\n")]
    defaults: dict[str, object] = {}
    for line in table.splitlines()[2:]:
        names, default = line.split("|")[1:3]
        values = [v.strip() for v in default.split(",")]
        for name, value in zip(re.findall(r"`(\w+)`", names), values, strict=True):
            defaults[name] = parseDefault(value)
    return defaults


def parseDefault(text: str) -> object:
    if text in ("`False`", "`True`"):
        return text == "`True`"
    if text == "none":
        return ()
    if text.startswith('"'):
        return text.strip('"`')
    if text.startswith("`"):
        return parseDefault(text.strip("`"))
    number, _, unit = text.partition(" ")
    return int(number) * UNITS[unit] if unit else float(number)


def test_documentedTableIsTheCode() -> None:
    defaults = documentedDefaults()
    assert len(defaults) >= 9
    options = Options()
    for name, default in defaults.items():
        actual = getattr(options, name)
        assert actual == default or (default == () and not actual), name


def test_documentedTableHasEveryCommonOption() -> None:
    """Every setting common to both sides is in the table (reactor apart)."""
    documented = set(documentedDefaults())
    assert documented | {"extensions", "reactor"} == optionNames(Options)


@pytest.mark.parametrize("flag, attribute", [(f, a) for f, a, _, _ in tap.LIMITS])
def test_twistdDefaultsAreServerOptions(flag: str, attribute: str) -> None:
    options = tap.Options()
    options.parseOptions(["--handler", "examples.echo.echo"])
    assert options[flag] == getattr(ServerOptions(), attribute)


def test_twistdPassesEveryLimit() -> None:
    """Each flag reaches the service's factory under its attribute name."""
    options = tap.Options()
    argv = ["--handler", "examples.echo.echo"]
    for flag, _, _, _ in tap.LIMITS:
        argv += [f"--{flag}", "7"]
    options.parseOptions(argv)
    service = tap.makeService(options)
    factoryOptions = service.factory.options
    for _, attribute, _, _ in tap.LIMITS:
        assert getattr(factoryOptions, attribute) == 7, attribute


def test_keywordTypesNameEveryOption() -> None:
    """
    The TypedDicts behind C{**options} (what IDEs and type checkers show
    for connect(), serve() and the factories) name every option.
    """
    from txws.client import ClientOptions, ClientOptionsKeywords
    from txws.options import OptionsKeywords
    from txws.server import ServerOptionsKeywords

    assert set(OptionsKeywords.__annotations__) == optionNames(Options)
    assert set(ServerOptionsKeywords.__annotations__) == optionNames(ServerOptions)
    assert set(ClientOptionsKeywords.__annotations__) == optionNames(ClientOptions)


@pytest.mark.parametrize(
    ("call", "wrong", "meant"),
    [
        ("connect", "max_size", "maxSize"),
        ("connect", "extra_headers", "additionalHeaders"),
        ("connect", "user_agent_header", "userAgentHeader"),
        ("serve", "process_request", "processRequest"),
        ("serve", "maxsize", "maxSize"),
        ("WebSocketServerFactory", "ping_interval", "pingInterval"),
        ("WebSocketClientFactory", "open_timeout", "openTimeout"),
        ("WebSocketResource", "origin", "origins"),
        ("WebSocketService", "max_queue", "maxQueue"),
        ("reconnectingClient", "close_timeout", "closeTimeout"),
        ("WrappingFactory", "write_limit", "writeLimit"),
    ],
)
def test_unknownOptionNamesTheCallAndTheOptionMeant(call: str, wrong: str, meant: str) -> None:
    """websockets' snake_case names (and near misses) get the txws name suggested."""
    from twisted.internet.testing import MemoryReactorClock

    import txws
    from txws.wrapping import WrappingFactory

    reactor = MemoryReactorClock()
    calls = {
        "connect": lambda **kw: txws.connect("ws://127.0.0.1:1/", reactor, **kw),
        "serve": lambda **kw: txws.serve(None, "tcp:0", reactor=reactor, **kw),
        "WebSocketServerFactory": lambda **kw: txws.WebSocketServerFactory(None, **kw),
        "WebSocketClientFactory": lambda **kw: txws.WebSocketClientFactory("ws://h/", **kw),
        "WebSocketResource": lambda **kw: txws.WebSocketResource(None, **kw),
        "WebSocketService": lambda **kw: txws.WebSocketService("tcp:0", None, **kw),
        "reconnectingClient": lambda **kw: txws.reconnectingClient("ws://h/", None, **kw),
        "WrappingFactory": lambda **kw: WrappingFactory(None, **kw),
    }
    message = f"{call}() got an unexpected keyword argument '{wrong}'; did you mean '{meant}'?"
    with pytest.raises(TypeError) as e:
        calls[call](**{wrong: 1})
    assert str(e.value) == message
    assert reactor.tcpClients == [] and reactor.tcpServers == []


def test_unknownOptionWithNothingCloseIsStillNamed() -> None:
    import txws

    with pytest.raises(TypeError, match=r"^serve\(\) got an unexpected keyword argument 'logger'$"):
        txws.serve(None, logger=object())


def test_maxSizeAsAPair() -> None:
    options = Options(maxSize=(2**20, 2**16))
    assert (options.maxSize, options.maxFragmentSize) == (2**20, 2**16)
    assert Options(maxSize=(None, 100)).maxSize is None
    assert Options().maxFragmentSize is None


@pytest.mark.parametrize("value", [(1, 2, 3), (0, 10), (10, 0), (10, "big"), (10,)])
def test_maxSizePairIsChecked(value: object) -> None:
    with pytest.raises(ValueError, match="maxSize"):
        Options(maxSize=value)  # type: ignore[arg-type]
