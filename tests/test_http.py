"""L{txws.http}: the strict, size-limited HTTP/1.1 heads of the upgrade."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txws.exceptions import InvalidMessage
from txws.http import (
    MAX_HEAD,
    MAX_LINE,
    Headers,
    checkIncomplete,
    findHeadEnd,
    parseRequest,
    parseResponse,
)

from .helpers import request

_SPACES = st.sampled_from([b"", b" ", b"\t", b" \t "])


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
        """
        Header names are case-insensitive; get() refuses a repeated header, set() replaces
        every value.
        """
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
        """
        An incomplete head is refused as soon as its request line (414) or the whole head
        (431) is over the limit.
        """
        with pytest.raises(InvalidMessage) as e:
            checkIncomplete(b"GET /" + b"a" * (MAX_LINE + 10))
        assert e.value.status == 414
        with pytest.raises(InvalidMessage) as e:
            checkIncomplete(b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * (MAX_HEAD // 6))
        assert e.value.status == 431
        checkIncomplete(b"GET / HTTP/1.1\r\nA: b\r\n")

    def test_incomplete_head_that_cannot_be_http(self):
        """Bytes that no request or response starts with are refused at once."""
        with pytest.raises(InvalidMessage, match="a TLS handshake, not an HTTP request"):
            checkIncomplete(b"\x16\x03\x01")
        with pytest.raises(InvalidMessage, match="not an HTTP request"):
            checkIncomplete(b" GET")
        with pytest.raises(InvalidMessage, match="not an HTTP response"):
            checkIncomplete(b"\x15\x03\x03\x00\x02", request=False)
        with pytest.raises(InvalidMessage, match="not an HTTP response"):
            checkIncomplete(b"HTTX", request=False)
        for start in (b"", b"G", b"GET / HT"):
            checkIncomplete(start)
        for start in (b"", b"H", b"HTTP/", b"HTTP/1.1 101"):
            checkIncomplete(start, request=False)

    def test_headers_from_a_list_take_it_over(self):
        items = [("Upgrade", "websocket"), ("X-A", "1"), ("x-a", "2")]
        headers = Headers.fromList(items)
        assert headers.getAll("X-A") == ["1", "2"]
        assert headers.get("upgrade") == "websocket"
        assert list(headers) == items and len(headers) == 3

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
