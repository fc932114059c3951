"""
L{txws.tunnel}: the client side of HTTP CONNECT and SOCKS5, on plain bytes.
"""

from __future__ import annotations

import base64

import pytest

from txws.exceptions import ProxyError
from txws.tunnel import SOCKS5, HTTPConnect, authority


def feedBytewise(tunnel, data: bytes):
    """Feed C{data} a byte at a time: the answer may come in any pieces."""
    out = b""
    for i in range(len(data)):
        sent, done, leftover = tunnel.receive(data[i : i + 1])
        out += sent
        if done:
            return out, True, leftover + data[i + 1 :]
    return out, False, b""


class TestHTTPConnect:
    def test_request(self):
        tunnel = HTTPConnect("example.com", 443)
        assert (
            tunnel.start() == b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        )

    def test_ipv6Target(self):
        assert HTTPConnect("::1", 8080).start().startswith(b"CONNECT [::1]:8080 HTTP/1.1\r\n")

    def test_credentials(self):
        request = HTTPConnect("h", 1, user="ünï", password="p:w").start()
        token = base64.b64encode("ünï:p:w".encode()).decode()
        assert f"Proxy-Authorization: Basic {token}\r\n".encode() in request

    @pytest.mark.parametrize("head", [b"HTTP/1.1 200 Connection established", b"HTTP/1.0 200 OK"])
    def test_openWithLeftover(self, head):
        tunnel = HTTPConnect("h", 1)
        sent, done, leftover = feedBytewise(tunnel, head + b"\r\nVia: x\r\n\r\n\x81\x02hi")
        assert (sent, done, leftover) == (b"", True, b"\x81\x02hi")

    def test_notYet(self):
        assert HTTPConnect("h", 1).receive(b"HTTP/1.1 200 OK\r\n") == (b"", False, b"")

    @pytest.mark.parametrize(
        ("answer", "status", "words"),
        [
            (b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", 407, "no credentials"),
            (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno!", 403, "403 Forbidden"),
            (b"HTTP/1.1 502 Bad Gateway\r\n\r\n", 502, "refused CONNECT h:1"),
        ],
    )
    def test_refused(self, answer, status, words):
        with pytest.raises(ProxyError, match=words) as e:
            HTTPConnect("h", 1, proxy="http://p:3128").receive(answer)
        assert e.value.httpStatus == status
        assert e.value.proxy == "http://p:3128"
        assert str(e.value).startswith("proxy http://p:3128: ")

    def test_wrongCredentials(self):
        with pytest.raises(ProxyError, match="wrong credentials"):
            HTTPConnect("h", 1, user="u", password="p").receive(b"HTTP/1.1 407 No\r\n\r\n")

    @pytest.mark.parametrize(
        "answer", [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 2000 OK\r\n\r\n", b"x" * 70000]
    )
    def test_notHTTP(self, answer):
        with pytest.raises(ProxyError, match="invalid answer to CONNECT"):
            HTTPConnect("h", 1).receive(answer)

    @pytest.mark.parametrize(
        ("host", "port"), [("a\r\nX: y", 1), ("a b", 1), ("", 1), ("h", 0), ("h", 70000)]
    )
    def test_badTarget(self, host, port):
        with pytest.raises(ValueError):
            HTTPConnect(host, port)


class TestSOCKS5:
    def test_noAuthByName(self):
        tunnel = SOCKS5("example.com", 443)
        assert tunnel.start() == b"\x05\x01\x00"
        sent, done, _ = tunnel.receive(b"\x05\x00")
        assert sent == b"\x05\x01\x00\x03\x0bexample.com\x01\xbb"
        assert not done
        sent, done, leftover = tunnel.receive(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38data")
        assert (sent, done, leftover) == (b"", True, b"data")

    @pytest.mark.parametrize(
        ("host", "destination"),
        [("127.0.0.1", b"\x01\x7f\x00\x00\x01"), ("::1", b"\x04" + b"\x00" * 15 + b"\x01")],
    )
    def test_addresses(self, host, destination):
        tunnel = SOCKS5(host, 80)
        sent, _, _ = tunnel.receive(b"\x05\x00")
        assert sent == b"\x05\x01\x00" + destination + b"\x00\x50"

    def test_usernamePassword(self):
        tunnel = SOCKS5("h", 80, user="user", password="secret")
        assert tunnel.start() == b"\x05\x02\x00\x02"
        sent, done, _ = tunnel.receive(b"\x05\x02")
        assert sent == b"\x01\x04user\x06secret"
        sent, done, _ = tunnel.receive(b"\x01\x00")
        assert sent == b"\x05\x01\x00\x03\x01h\x00\x50"
        # A reply with a domain name as the bound address, a byte at a time.
        sent, done, leftover = feedBytewise(tunnel, b"\x05\x00\x00\x03\x04host\x00\x50")
        assert done and leftover == b""

    def test_passwordRefused(self):
        tunnel = SOCKS5("h", 80, user="user", password="wrong")
        tunnel.receive(b"\x05\x02")
        with pytest.raises(ProxyError, match="refused the user and password"):
            tunnel.receive(b"\x01\x01")

    def test_noAcceptableMethod(self):
        with pytest.raises(ProxyError, match="may want a user and password"):
            SOCKS5("h", 80).receive(b"\x05\xff")

    def test_methodNotOffered(self):
        with pytest.raises(ProxyError, match="not offered"):
            SOCKS5("h", 80).receive(b"\x05\x02")

    @pytest.mark.parametrize(
        ("code", "words"),
        [(2, "not allowed by ruleset"), (5, "connection refused"), (9, "reply 9")],
    )
    def test_refused(self, code, words):
        tunnel = SOCKS5("h", 80)
        tunnel.receive(b"\x05\x00")
        with pytest.raises(ProxyError, match=words) as e:
            tunnel.receive(bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0]))
        assert e.value.socksReply == code

    @pytest.mark.parametrize("answer", [b"\x04\x00", b"HTTP/1.1 400 Bad\r\n\r\n"])
    def test_notSOCKS5(self, answer):
        with pytest.raises(ProxyError, match="not a SOCKS5 proxy"):
            SOCKS5("h", 80).receive(answer)

    def test_badAddressType(self):
        tunnel = SOCKS5("h", 80)
        tunnel.receive(b"\x05\x00")
        with pytest.raises(ProxyError, match="address type"):
            tunnel.receive(b"\x05\x00\x00\x07\x00\x00")

    def test_credentialsTooLong(self):
        with pytest.raises(ValueError, match="SOCKS5 user"):
            SOCKS5("h", 80, user="u" * 256, password="p")


def test_authority():
    assert authority("h", 80) == "h:80"
    assert authority("2001:db8::1", 443) == "[2001:db8::1]:443"
