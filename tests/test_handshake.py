"""RFC 6455, section 4 (opening handshake), with the HTTP and URI parts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txws.exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidMessage,
    InvalidOrigin,
    InvalidStatus,
    InvalidUpgrade,
    InvalidURI,
    InvalidVersion,
    NegotiationError,
)
from txws.handshake import (
    acceptKey,
    buildRequest,
    buildResponse,
    buildResponseHead,
    checkOrigin,
    checkRequest,
    checkResponse,
    generateKey,
    parseExtensions,
    parseTokens,
    rejectResponse,
    selectSubprotocol,
    serializeExtensions,
)
from txws.http import (
    MAX_HEAD,
    MAX_LINE,
    Headers,
    Response,
    checkIncomplete,
    findHeadEnd,
    parseRequest,
    parseResponse,
)
from txws.uri import parseURI

from .helpers import KEY, request

_SPACES = st.sampled_from([b"", b" ", b"\t", b" \t "])


class TestKeys:
    def test_rfc_example(self):
        # 1.3: the sample nonce and its accept value.
        assert acceptKey("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    def test_generated_keys_are_valid_and_fresh(self):
        keys = {generateKey() for _ in range(50)}
        assert len(keys) == 50
        for key in keys:
            assert checkRequest(parseRequest(request(key=key))) == key


class TestHTTP:
    def test_parse_request(self):
        req = parseRequest(request("/chat?x=1", headers={"X-A": "b"}))
        assert req.method == "GET"
        assert req.path == "/chat?x=1"
        assert req.headers.get("x-a") == "b"
        assert req.headers.get("HOST") == "example.com"

    def test_serialize_round_trip(self):
        req = parseRequest(request())
        assert parseRequest(req.serialize()) == req

    def test_headers_multiple(self):
        h = Headers([("A", "1"), ("a", "2")])
        assert h.getAll("A") == ["1", "2"]
        with pytest.raises(ValueError):
            h.get("a")
        h.set("A", "3")
        assert list(h) == [("A", "3")]

    @pytest.mark.parametrize(
        "head,status",
        [
            (b"GET / HTTP/1.0\r\nHost: x\r\n\r\n", 505),
            (b"GET / HTTP/2.0\r\n\r\n", 505),
            (b"GET / FTP/1.1\r\n\r\n", 400),
            (b"GET /\r\n\r\n", 400),
            (b"GET  / HTTP/1.1\r\n\r\n", 400),
            (b"G@T / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nBad name: x\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nA: b\r\n continued\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nA: \x00\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 200 + b"\r\n", 431),
            (b"GET / HTTP/1.1\r\nA: " + b"b" * (MAX_LINE + 1) + b"\r\n\r\n", 431),
        ],
    )
    def test_bad_requests(self, head, status):
        with pytest.raises(InvalidMessage) as e:
            parseRequest(head)
        assert e.value.status == status

    def test_incomplete_head_limits(self):
        with pytest.raises(InvalidMessage) as e:
            checkIncomplete(b"GET /" + b"a" * (MAX_LINE + 10))
        assert e.value.status == 414
        with pytest.raises(InvalidMessage) as e:
            checkIncomplete(b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * (MAX_HEAD // 6))
        assert e.value.status == 431
        checkIncomplete(b"GET / HTTP/1.1\r\nA: b\r\n")

    def test_find_head_end_resumes(self):
        buf = b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest"
        assert findHeadEnd(buf) == len(buf) - 4
        assert findHeadEnd(buf, 20) == len(buf) - 4
        assert findHeadEnd(b"GET / HTTP/1.1\r\n") == -1

    def test_parse_response(self):
        r = parseResponse(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        assert (r.status, r.reason, r.headers.get("content-length")) == (404, "Not Found", "0")

    @pytest.mark.parametrize(
        "head", [b"HTTP/1.0 101 OK\r\n\r\n", b"HTTP/1.1 1O1 OK\r\n\r\n", b"junk\r\n\r\n"]
    )
    def test_bad_responses(self, head):
        with pytest.raises(InvalidMessage):
            parseResponse(head)

    @given(
        st.sampled_from([b"GET", b"POST", b"G@T", b""]),
        st.sampled_from([b"/", b"/chat?x=1", b"/a b", b"/\xe9"]),
        st.lists(
            st.tuples(
                st.sampled_from(
                    [b"Host", b"Upgrade", b"x-A", b"Bad name", b"", b" A", b"\tA", b"A\xe9"]
                ),
                st.builds(
                    lambda a, b, c: a + b + c,
                    _SPACES,
                    st.lists(st.sampled_from(list(b" \tab:\x00\x7f\x80\xe9\r")), max_size=6).map(
                        bytes
                    ),
                    _SPACES,
                ),
            ),
            max_size=6,
        ),
        st.booleans(),
    )
    @settings(max_examples=400, deadline=None)
    def test_fast_and_line_parsers_agree(self, method, target, fields, response):
        """The one-regex fast path returns what the line-by-line parser does."""
        from txws.http import _parseRequestLines, _parseResponseLines

        first = (
            b"HTTP/1.1 101 Switching Protocols"
            if response
            else method + b" " + target + b" HTTP/1.1"
        )
        head = first + b"\r\n" + b"".join(n + b":" + v + b"\r\n" for n, v in fields) + b"\r\n"
        fast, slow = (
            (parseResponse, _parseResponseLines) if response else (parseRequest, _parseRequestLines)
        )
        try:
            expected = slow(head)
        except InvalidMessage as e:
            with pytest.raises(InvalidMessage) as raised:
                fast(head)
            assert (raised.value.status, str(raised.value)) == (e.status, str(e))
        else:
            assert fast(head) == expected

    @given(st.binary(max_size=500))
    @settings(max_examples=200, deadline=None)
    def test_random_heads_raise_only_invalid_message(self, data):
        for parse in (parseRequest, parseResponse):
            try:
                parse(data + b"\r\n\r\n")
            except InvalidMessage:
                pass


class TestServerSide:
    """4.2.1. Reading the Client's Opening Handshake"""

    def check(self, raw: bytes):
        return checkRequest(parseRequest(raw))

    def test_valid(self):
        assert self.check(request()) == KEY

    def test_case_and_lists_in_tokens(self):
        raw = request(headers={"Connection": "keep-alive, UPGRADE", "Upgrade": "WebSocket"})
        assert self.check(raw) == KEY

    def test_wrong_method(self):
        with pytest.raises(InvalidHandshake) as e:
            self.check(request(method="POST"))
        assert e.value.status == 405
        assert rejectResponse(e.value).headers.get("Allow") == "GET"

    @pytest.mark.parametrize("field", ["Upgrade", "Connection"])
    def test_missing_upgrade(self, field):
        with pytest.raises(InvalidUpgrade) as e:
            self.check(request(drop=(field,)))
        assert e.value.status == 426

    def test_wrong_upgrade(self):
        with pytest.raises(InvalidUpgrade):
            self.check(request(headers={"Upgrade": "h2c"}))

    @pytest.mark.parametrize(
        "key", ["", "short", "dGhlIHNhbXBsZSBub25jZQ", "!!!!", "dGhlIHNhbXBsZSBub25jZSE="]
    )
    def test_bad_key(self, key):
        with pytest.raises(InvalidHeader) as e:
            self.check(request(key=key))
        assert e.value.status == 400

    def test_missing_key(self):
        with pytest.raises(InvalidHeader):
            self.check(request(drop=("Sec-WebSocket-Key",)))

    def test_two_keys(self):
        raw = request().replace(b"\r\n\r\n", f"\r\nSec-WebSocket-Key: {KEY}\r\n\r\n".encode())
        with pytest.raises(InvalidHeader):
            self.check(raw)

    @pytest.mark.parametrize("version", ["8", "12", "14", "13, 8"])
    def test_wrong_version(self, version):
        with pytest.raises(InvalidVersion) as e:
            self.check(request(headers={"Sec-WebSocket-Version": version}))
        response = rejectResponse(e.value)
        assert response.status == 426
        assert response.headers.get("Sec-WebSocket-Version") == "13"

    def test_missing_version(self):
        with pytest.raises(InvalidVersion) as e:
            self.check(request(drop=("Sec-WebSocket-Version",)))
        assert rejectResponse(e.value).status == 426

    def test_reject_response_is_one_line(self):
        response = rejectResponse(InvalidHeader("Sec-WebSocket-Key"))
        assert response.status == 400
        assert response.body.count(b"\n") == 1
        assert response.headers.get("Content-Length") == str(len(response.body))

    def test_origin(self):
        h = Headers([("Origin", "https://good")])
        assert checkOrigin(h, None) == "https://good"
        assert checkOrigin(h, ["https://good"]) == "https://good"
        with pytest.raises(InvalidOrigin) as e:
            checkOrigin(h, ["https://other"])
        assert e.value.status == 403
        assert checkOrigin(Headers(), [None]) is None
        with pytest.raises(InvalidOrigin):
            checkOrigin(Headers(), ["https://good"])

    def test_subprotocol_preference_is_the_servers(self):
        assert selectSubprotocol(["b", "a"], ["a", "b"]) == "a"
        assert selectSubprotocol(["c"], ["a"]) is None

    def test_response(self):
        response = buildResponse(KEY, "chat", "ext", "srv")
        assert response.status == 101
        assert response.headers.get("Sec-WebSocket-Accept") == acceptKey(KEY)
        assert response.headers.get("Sec-WebSocket-Protocol") == "chat"
        assert response.headers.get("Server") == "srv"

    @pytest.mark.parametrize("subprotocol", [None, "chat"])
    @pytest.mark.parametrize("extensions", [None, "", "permessage-deflate"])
    @pytest.mark.parametrize("server", [None, "", "srv/1"])
    def test_response_head_is_the_serialized_response(self, subprotocol, extensions, server):
        assert (
            buildResponseHead(KEY, subprotocol, extensions, server)
            == buildResponse(KEY, subprotocol, extensions, server).serialize()
        )

    @pytest.mark.parametrize(
        "connection,upgrade",
        [
            ("Upgrade, Upgrade", "websocket"),
            ("upgrade", "websocket, h2c"),
            ("close,\tupgrade", "h2c, WEBSOCKET"),
        ],
    )
    def test_token_lists_beyond_the_usual_case(self, connection, upgrade):
        raw = request(headers={"Connection": connection, "Upgrade": upgrade})
        assert self.check(raw) == KEY

    @pytest.mark.parametrize(
        "field,value",
        [
            ("Connection", "upgrade/1"),
            ("Connection", "up grade"),
            ("Upgrade", "websocket/13"),
            ("Upgrade", "web socket"),
        ],
    )
    def test_malformed_or_other_tokens(self, field, value):
        with pytest.raises(InvalidHandshake) as e:
            self.check(request(headers={field: value}))
        assert e.value.status in (400, 426)


class TestClientSide:
    """4.1. Client Requirements"""

    def test_request(self):
        uri = parseURI("ws://user:pa%20ss@example.com:8000/chat?a=b")
        req = buildRequest(
            uri,
            KEY,
            origin="http://o",
            subprotocols=["a", "b"],
            additionalHeaders={"X-Y": "z"},
            userAgentHeader="ua",
        )
        assert req.path == "/chat?a=b"
        h = req.headers
        assert h.get("Host") == "example.com:8000"
        assert h.get("Authorization") == "Basic dXNlcjpwYSBzcw=="
        assert h.get("Sec-WebSocket-Protocol") == "a, b"
        assert (h.get("Origin"), h.get("X-Y"), h.get("User-Agent")) == ("http://o", "z", "ua")
        assert checkRequest(req) == KEY

    def response(self, **fields):
        r = buildResponse(KEY)
        for k, v in fields.items():
            if v is None:
                r.headers.remove(k.replace("_", "-"))
            else:
                r.headers.set(k.replace("_", "-"), v)
        return r

    def test_valid(self):
        assert checkResponse(self.response(), KEY) is None

    def test_status(self):
        with pytest.raises(InvalidStatus) as e:
            checkResponse(Response(403), KEY)
        assert e.value.response.status == 403

    def test_wrong_accept(self):
        with pytest.raises(InvalidHeader):
            checkResponse(self.response(**{"Sec_WebSocket_Accept": acceptKey("x")}), KEY)

    def test_missing_accept(self):
        with pytest.raises(InvalidHeader):
            checkResponse(self.response(**{"Sec_WebSocket_Accept": None}), KEY)

    def test_missing_upgrade(self):
        with pytest.raises(InvalidUpgrade):
            checkResponse(self.response(Upgrade=None), KEY)

    def test_subprotocol(self):
        ok = self.response(**{"Sec_WebSocket_Protocol": "b"})
        assert checkResponse(ok, KEY, ["a", "b"]) == "b"
        with pytest.raises(NegotiationError):
            checkResponse(ok, KEY, ["a"])
        with pytest.raises(NegotiationError):
            checkResponse(ok, KEY)
        both = self.response(**{"Sec_WebSocket_Protocol": "a, b"})
        with pytest.raises(NegotiationError):
            checkResponse(both, KEY, ["a", "b"])


class TestHeaderSyntax:
    def test_tokens(self):
        assert parseTokens(["a, b", " ,c"], "X") == ["a", "b", "c"]
        with pytest.raises(InvalidHeader):
            parseTokens(["a b"], "X")

    def test_extensions(self):
        value = (
            "permessage-deflate; client_max_window_bits, "
            'permessage-deflate; server_max_window_bits="10", x-foo'
        )
        parsed = parseExtensions([value])
        assert parsed == [
            ("permessage-deflate", [("client_max_window_bits", None)]),
            ("permessage-deflate", [("server_max_window_bits", "10")]),
            ("x-foo", []),
        ]
        assert parseExtensions([serializeExtensions(parsed)]) == parsed

    @pytest.mark.parametrize("value", ["a;", "a; b=", 'a; b="c d"', "a b", "a; =c"])
    def test_bad_extensions(self, value):
        with pytest.raises(InvalidHeader):
            parseExtensions([value])


class TestURI:
    """3. WebSocket URIs"""

    @pytest.mark.parametrize(
        "uri,secure,host,port,resource",
        [
            ("ws://example.com", False, "example.com", 80, "/"),
            ("wss://example.com/", True, "example.com", 443, "/"),
            ("ws://EXAMPLE.com:8080/a/b?c=d&e", False, "example.com", 8080, "/a/b?c=d&e"),
            ("ws://[::1]:9000/x", False, "::1", 9000, "/x"),
            ("wss://[2001:db8::1]/", True, "2001:db8::1", 443, "/"),
            ("ws://127.0.0.1/a b", False, "127.0.0.1", 80, "/a%20b"),
            ("ws://bücher.example/ü", False, "xn--bcher-kva.example", 80, "/%C3%BC"),
        ],
    )
    def test_valid(self, uri, secure, host, port, resource):
        parsed = parseURI(uri)
        assert (parsed.secure, parsed.host, parsed.port, parsed.resourceName) == (
            secure,
            host,
            port,
            resource,
        )

    def test_host_header(self):
        assert parseURI("ws://[::1]:9000/").hostHeader == "[::1]:9000"
        assert parseURI("wss://h:443/").hostHeader == "h"
        assert parseURI("ws://h:443/").hostHeader == "h:443"

    def test_user_info(self):
        parsed = parseURI("wss://al%40ice:s3cret@h/")
        assert (parsed.user, parsed.password) == ("al@ice", "s3cret")
        assert "s3cret" not in str(parsed)

    @pytest.mark.parametrize(
        "uri",
        [
            "http://h/",
            "h/",
            "ws://",
            "ws://h/#frag",
            "ws://h:0/",
            "ws://h:70000/",
            "ws://user@h/",
            "ws://[::1/",
        ],
    )
    def test_invalid(self, uri):
        with pytest.raises(InvalidURI):
            parseURI(uri)
