"""
L{txws.proxy}: choosing a proxy (the argument, the environment), the tunnel
on a StringTransport, and connections through real CONNECT and SOCKS5
proxies (tests/proxies.py) over loopback, TLS included.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

import txws
from txws.exceptions import ProxyError
from txws.http import Response
from txws.proxy import ProxyURL, _TunnelProtocol, parseProxyURL, proxyFor
from txws.tunnel import HTTPConnect
from txws.uri import parseURI

from .proxies import startProxy
from .realnet import serveOn, tlsServerDescription, within


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


class TestParse:
    @pytest.mark.parametrize(
        ("url", "parsed"),
        [
            ("http://p:3128", ProxyURL("http", "p", 3128)),
            ("p:3128", ProxyURL("http", "p", 3128)),
            ("https://p", ProxyURL("https", "p", 443)),
            ("socks5://u%40x:p%3Aw@[::1]:1081", ProxyURL("socks5", "::1", 1081, "u@x", "p:w")),
            ("socks5h://p/", ProxyURL("socks5h", "p", 1080)),
        ],
    )
    def test_urls(self, url, parsed):
        assert parseProxyURL(url) == parsed

    def test_strLeavesCredentialsOut(self):
        assert str(parseProxyURL("http://user:secret@p:1")) == "http://p:1"

    @pytest.mark.parametrize(
        ("url", "words"),
        [
            ("socks4://p:1", "unsupported scheme"),
            ("ftp://p", "unsupported scheme"),
            ("http://p:1/path", "no path"),
            ("http://:1", "no path"),
            ("http://p:99999", "not a proxy URL"),
        ],
    )
    def test_bad(self, url, words):
        with pytest.raises(ValueError, match=words):
            parseProxyURL(url)

    def test_connectRefusesABadProxyAtOnce(self):
        with pytest.raises(ValueError, match="proxy 'gopher://p'"):
            txws.connect("ws://h/", proxy="gopher://p")
        with pytest.raises(TypeError, match="proxy must be"):
            txws.connect("ws://h/", proxy=3128)  # type: ignore[arg-type]

    def test_connectRefusesAProxyThatAnEndpointReplaces(self):
        endpoint = TCP4ClientEndpoint(MemoryReactorClock(), "127.0.0.1", 1)
        with pytest.raises(ValueError, match="proxy 'http://p:1' with endpoint="):
            txws.connect("ws://h/", proxy="http://p:1", endpoint=endpoint)
        with pytest.raises(ValueError, match="proxyTLSOptions with endpoint="):
            txws.connect("ws://h/", proxyTLSOptions=object(), endpoint=endpoint)


class TestEnvironment:
    def test_byScheme(self, monkeypatch):
        monkeypatch.setenv("http_proxy", "http://plain:1")
        monkeypatch.setenv("https_proxy", "http://secure:2")
        assert proxyFor(parseURI("ws://h/")).host == "plain"
        assert proxyFor(parseURI("wss://h/")).host == "secure"

    def test_allProxy(self, monkeypatch):
        monkeypatch.setenv("all_proxy", "socks5h://any:3")
        assert proxyFor(parseURI("ws://h/")) == ProxyURL("socks5h", "any", 3)
        assert proxyFor(parseURI("wss://h/")) == ProxyURL("socks5h", "any", 3)

    def test_onlyHTTPSProxy(self, monkeypatch):
        monkeypatch.setenv("HTTPS_PROXY", "http://secure:2")
        assert proxyFor(parseURI("ws://h/")) is None
        assert proxyFor(parseURI("wss://h/")).host == "secure"

    @pytest.mark.parametrize(
        ("noProxy", "bypassed"),
        [
            ("h.example", True),
            (".example", True),
            ("example", True),
            ("other.example,h.example:8080", True),
            ("h.example:9999", False),
            ("*", True),
            ("x.example", False),
        ],
    )
    def test_noProxy(self, monkeypatch, noProxy, bypassed):
        monkeypatch.setenv("http_proxy", "http://p:1")
        monkeypatch.setenv("no_proxy", noProxy)
        chosen = proxyFor(parseURI("ws://h.example:8080/"))
        assert (chosen is None) is bypassed

    def test_argumentWins(self, monkeypatch):
        monkeypatch.setenv("http_proxy", "http://env:1")
        assert proxyFor(parseURI("ws://h/"), "socks5://arg:2").host == "arg"
        assert proxyFor(parseURI("ws://h/"), None) is None

    def test_badVariableIsNamed(self, monkeypatch):
        monkeypatch.setenv("https_proxy", "socks4://p:1")
        with pytest.raises(ValueError, match="https_proxy"):
            proxyFor(parseURI("wss://h/"))


class Recorder(Protocol):
    def connectionMade(self):
        self.data = b""
        self.lost = None

    def dataReceived(self, data):
        self.data += data

    def connectionLost(self, reason=None):
        self.lost = reason


def tunnelOn(timeout=10.0):
    clock = MemoryReactorClock()
    opened: defer.Deferred = defer.Deferred()
    tunnel = _TunnelProtocol(
        HTTPConnect("h", 80, proxy="http://p:1"),
        Factory.forProtocol(Recorder),
        opened,
        None,
        clock,
        timeout,
        "http://p:1",
    )
    transport = StringTransport()
    tunnel.makeConnection(transport)
    return tunnel, transport, opened, clock


class TestTunnelProtocol:
    def test_handsOverWithLeftover(self):
        tunnel, transport, opened, _ = tunnelOn()
        assert transport.value().startswith(b"CONNECT h:80 HTTP/1.1\r\n")
        tunnel.dataReceived(b"HTTP/1.1 200 OK\r\n\r\nfirst")
        wrapped = opened.result
        assert wrapped.data == b"first"
        assert wrapped.transport is transport
        tunnel.dataReceived(b" then")
        assert wrapped.data == b"first then"
        reason = Failure(ConnectionDone())
        tunnel.connectionLost(reason)
        assert wrapped.lost is reason

    def test_refusalFailsAndAborts(self, logEvents):
        tunnel, transport, opened, _ = tunnelOn()
        tunnel.dataReceived(b"HTTP/1.1 403 Forbidden\r\n\r\n")
        failure = []
        opened.addErrback(failure.append)
        assert failure[0].value.httpStatus == 403
        assert transport.disconnecting or transport.disconnected
        assert any("403" in str(e.get("error")) for e in logEvents)

    def test_silentProxyTimesOut(self):
        tunnel, transport, opened, clock = tunnelOn(timeout=5)
        failure = []
        opened.addErrback(failure.append)
        clock.advance(4.9)
        assert not failure
        clock.advance(0.2)
        assert "no tunnel within 5" in str(failure[0].value)

    def test_closedBeforeTheAnswer(self):
        tunnel, transport, opened, clock = tunnelOn()
        failure = []
        opened.addErrback(failure.append)
        tunnel.connectionLost(None)
        assert "closed the connection" in str(failure[0].value)
        assert not clock.getDelayedCalls()


# -- Through real proxies, over loopback ---------------------------------------


async def roundTrip(url: str, **kwargs) -> None:
    ws = await within(txws.connect(url, **kwargs))
    await within(ws.send("through"))
    assert await within(ws.recv()) == "through"
    await within(ws.close())


@pytest.mark.sockets
class TestHTTPConnectProxy:
    @pytest_twisted.ensureDeferred
    async def test_echo(self):
        port, url = await serveOn(echo)
        proxy, proxyPort = await startProxy("connect")
        try:
            await roundTrip(url, proxy=f"http://127.0.0.1:{proxyPort.getHost().port}")
            [(method, target, headers)] = proxy.seen
            assert (method, target) == ("CONNECT", f"127.0.0.1:{port.getHost().port}")
            assert headers["Host"] == target
            assert "Proxy-Authorization" not in headers
        finally:
            await port.stopListening()
            await proxyPort.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_credentials(self):
        port, url = await serveOn(echo)
        proxy, proxyPort = await startProxy("connect", credentials=("alice", "s3cret:!"))
        where = f"127.0.0.1:{proxyPort.getHost().port}"
        try:
            await roundTrip(url, proxy=f"http://alice:s3cret%3A%21@{where}")
            with pytest.raises(ProxyError) as e:
                await within(txws.connect(url, proxy=f"http://{where}"))
            assert e.value.httpStatus == 407
            assert "no credentials" in str(e.value)
            assert "s3cret" not in str(e.value)
        finally:
            await port.stopListening()
            await proxyPort.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_refusal(self):
        port, url = await serveOn(echo)
        proxy, proxyPort = await startProxy(
            "connect", refuse=b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"
        )
        try:
            with pytest.raises(ProxyError, match="403 Forbidden") as e:
                await within(
                    txws.connect(url, proxy=f"http://127.0.0.1:{proxyPort.getHost().port}")
                )
            assert e.value.httpStatus == 403
        finally:
            await port.stopListening()
            await proxyPort.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_wssThroughAnHTTPSProxy(self, tmp_path):
        """TLS to the proxy, and TLS to the server inside the tunnel."""
        from twisted.internet.ssl import Certificate, PrivateCertificate, optionsForClientTLS

        description, certPEM, keyPEM = tlsServerDescription(tmp_path)
        port = await txws.serve(echo, description)
        serverOptions = PrivateCertificate.loadPEM(certPEM + keyPEM).options()
        proxy, proxyPort = await startProxy("connect", tls=serverOptions)
        trusted = optionsForClientTLS("localhost", trustRoot=Certificate.loadPEM(certPEM))
        try:
            await roundTrip(
                f"wss://localhost:{port.getHost().port}/",
                tlsOptions=trusted,
                proxy=f"https://localhost:{proxyPort.getHost().port}",
                proxyTLSOptions=trusted,
            )
            [(_, target, _)] = proxy.seen
            assert target == f"localhost:{port.getHost().port}"
            # The proxy's certificate is verified too.
            with pytest.raises(txws.WebSocketError):
                await within(
                    txws.connect(
                        f"wss://localhost:{port.getHost().port}/",
                        tlsOptions=trusted,
                        proxy=f"https://localhost:{proxyPort.getHost().port}",
                    )
                )
        finally:
            await port.stopListening()
            await proxyPort.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_redirectGoesThroughTheProxy(self):
        target, targetURL = await serveOn(echo)

        def redirect(protocol, request):
            return Response(302, headers=[("Location", targetURL + "/there")])

        first, firstURL = await serveOn(echo, processRequest=redirect)
        proxy, proxyPort = await startProxy("connect")
        try:
            await roundTrip(firstURL, proxy=f"http://127.0.0.1:{proxyPort.getHost().port}")
            assert [target for _, target, _ in proxy.seen] == [
                f"127.0.0.1:{first.getHost().port}",
                f"127.0.0.1:{target.getHost().port}",
            ]
        finally:
            await first.stopListening()
            await target.stopListening()
            await proxyPort.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_fromTheEnvironment(self, monkeypatch):
        port, url = await serveOn(echo)
        proxy, proxyPort = await startProxy("connect")
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxyPort.getHost().port}")
        try:
            await roundTrip(url)
            assert len(proxy.seen) == 1
            monkeypatch.setenv("no_proxy", "127.0.0.1")
            await roundTrip(url)
            assert len(proxy.seen) == 1
            monkeypatch.delenv("no_proxy")
            await roundTrip(url, proxy=None)
            assert len(proxy.seen) == 1
        finally:
            await port.stopListening()
            await proxyPort.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_reconnectingClient(self):
        from twisted.internet import reactor, task

        port, url = await serveOn(echo)
        proxy, proxyPort = await startProxy("connect")
        received: list = []

        async def handler(ws):
            await ws.send("via proxy")
            received.append(await ws.recv())

        service = txws.reconnectingClient(
            url, handler, proxy=f"http://127.0.0.1:{proxyPort.getHost().port}"
        )
        service.startService()
        try:
            ws = await within(service.whenConnected())
            assert ws.open
            assert len(proxy.seen) == 1
        finally:
            # Not from inside ClientService's own callbacks: it is not reentrant.
            await task.deferLater(reactor, 0, lambda: None)
            await within(service.stopService())
            await port.stopListening()
            await proxyPort.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_unreachableProxy(self):
        from .realnet import freePort

        with pytest.raises(ProxyError, match="cannot connect"):
            await within(txws.connect("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{freePort()}"))


@pytest.mark.sockets
class TestSOCKS5Proxy:
    @pytest_twisted.ensureDeferred
    async def test_remoteResolution(self):
        """socks5h: the proxy gets the name."""
        port, _ = await serveOn(echo)
        proxy, proxyPort = await startProxy("socks5")
        number = port.getHost().port
        try:
            await roundTrip(
                f"ws://localhost:{number}/", proxy=f"socks5h://127.0.0.1:{proxyPort.getHost().port}"
            )
            assert proxy.seen == [("methods", b"\x00"), ("connect", 3, "localhost", number)]
        finally:
            await port.stopListening()
            await proxyPort.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_localResolution(self):
        """socks5: the name is resolved here and the proxy gets an address."""
        port, _ = await serveOn(echo)
        proxy, proxyPort = await startProxy("socks5")
        number = port.getHost().port
        try:
            await roundTrip(
                f"ws://localhost:{number}/", proxy=f"socks5://127.0.0.1:{proxyPort.getHost().port}"
            )
            [_, (_, kind, host, seenPort)] = proxy.seen
            assert kind in (1, 4) and host in ("127.0.0.1", "::1") and seenPort == number
        finally:
            await port.stopListening()
            await proxyPort.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_usernamePassword(self):
        port, url = await serveOn(echo)
        proxy, proxyPort = await startProxy("socks5", credentials=("bob", "pw"))
        where = f"127.0.0.1:{proxyPort.getHost().port}"
        try:
            await roundTrip(url, proxy=f"socks5://bob:pw@{where}")
            assert ("auth", "bob", "pw") in proxy.seen
            with pytest.raises(ProxyError, match="refused the user and password"):
                await within(txws.connect(url, proxy=f"socks5://bob:wrong@{where}"))
            with pytest.raises(ProxyError, match="authentication method"):
                await within(txws.connect(url, proxy=f"socks5://{where}"))
        finally:
            await port.stopListening()
            await proxyPort.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_refusal(self):
        port, url = await serveOn(echo)
        proxy, proxyPort = await startProxy("socks5", refuse=2)
        try:
            with pytest.raises(ProxyError, match="not allowed by ruleset") as e:
                await within(
                    txws.connect(url, proxy=f"socks5://127.0.0.1:{proxyPort.getHost().port}")
                )
            assert e.value.socksReply == 2
        finally:
            await port.stopListening()
            await proxyPort.stopListening()

    @pytest_twisted.ensureDeferred
    async def test_allProxyFromTheEnvironment(self, monkeypatch):
        port, url = await serveOn(echo)
        proxy, proxyPort = await startProxy("socks5")
        monkeypatch.setenv("ALL_PROXY", f"socks5h://127.0.0.1:{proxyPort.getHost().port}")
        try:
            await roundTrip(url)
            assert proxy.seen[-1] == ("connect", 1, "127.0.0.1", port.getHost().port)
        finally:
            await port.stopListening()
            await proxyPort.stopListening()
