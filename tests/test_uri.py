"""L{txws.uri}: WebSocket URIs (RFC 6455, section 3)."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

from txws.exceptions import InvalidURI
from txws.uri import parseURI

_SPACES = st.sampled_from([b"", b" ", b"\t", b" \t "])


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
        """ws:// and wss:// URIs: secure, host, port (default by scheme) and resource name."""
        parsed = parseURI(uri)
        assert (parsed.secure, parsed.host, parsed.port, parsed.resourceName) == (
            secure,
            host,
            port,
            resource,
        )

    def test_host_header(self):
        """The Host header: IPv6 in brackets, the port left out when it is the scheme's default."""
        assert parseURI("ws://[::1]:9000/").hostHeader == "[::1]:9000"
        assert parseURI("wss://h:443/").hostHeader == "h"
        assert parseURI("ws://h:443/").hostHeader == "h:443"

    def test_user_info(self):
        """Credentials in the URI are percent-decoded and never shown when the URI is printed."""
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
