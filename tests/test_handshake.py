"""L{txws.handshake}: RFC 6455, section 4, the opening handshake's headers."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

from txws.exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidOrigin,
    InvalidStatus,
    InvalidUpgrade,
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
from txws.http import Headers, Response, parseRequest
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


class TestServerSide:
    """4.2.1. Reading the Client's Opening Handshake"""

    def check(self, raw: bytes):
        return checkRequest(parseRequest(raw))

    def test_valid(self):
        """A valid request gives back its key."""
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
        """
        Origins: any when none are configured, only the listed ones otherwise (403), and
        None allowing a request without Origin.
        """
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

    def test_originPatternsMatchTheWholeOrigin(self):
        import re

        allowed = [re.compile(r"https://[a-z]+\.example\.com"), "http://localhost:8000"]
        for origin in ("https://app.example.com", "http://localhost:8000"):
            assert checkOrigin(Headers([("Origin", origin)]), allowed) == origin
        for origin in ("https://app.example.com.evil.net", "https://example.com", "http://x"):
            with pytest.raises(InvalidOrigin):
                checkOrigin(Headers([("Origin", origin)]), allowed)
        with pytest.raises(InvalidOrigin):
            checkOrigin(Headers(), allowed)  # none: only None in origins allows it

    def test_response(self):
        """The 101 response carries the accept key, the chosen subprotocol and the Server header."""
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
        """
        The client's request carries every option, with the URI's credentials as Basic
        authorization, and passes the server's checks.
        """
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
        """A valid 101 response for our key passes."""
        assert checkResponse(self.response(), KEY) is None

    def test_status(self):
        """A status other than 101 is InvalidStatus, with the response attached."""
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
        """Token lists: split on commas, empty items skipped, anything not a token refused."""
        assert parseTokens(["a, b", " ,c"], "X") == ["a", "b", "c"]
        with pytest.raises(InvalidHeader):
            parseTokens(["a b"], "X")

    def test_extensions(self):
        """
        Extension headers parse into names and parameters (quoted values unquoted) and
        serialize back to the same.
        """
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
