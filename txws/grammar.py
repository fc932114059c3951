# -*- test-case-name: tests.test_http,tests.test_handshake -*-
"""
The RFC 9110 grammar the handshake uses, written once: each rule as pattern
text (to build larger patterns from) and compiled for C{str} and C{bytes}.

Pure codec: no I/O and no Twisted.
"""

from __future__ import annotations

import re

__all__ = [
    "TOKEN",
    "FIELD_VALUE",
    "REQUEST_TARGET",
    "token",
    "fieldValue",
    "requestTarget",
    "tokenBytes",
    "fieldValueBytes",
    "requestTargetBytes",
]

TOKEN = r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
"""RFC 9110, 5.6.2: a token (header names, methods, subprotocols)."""

FIELD_VALUE = r"[\x09\x20-\x7e\x80-\xff]*"
"""RFC 9110, 5.5: a field value: visible ASCII, space, tab and obs-text
(accepted as Latin-1); no CR, LF, NUL or other control character."""

REQUEST_TARGET = r"[\x21-\x7e]+"
"""RFC 9112, 3.2: what a request target may hold (visible ASCII)."""

token = re.compile(TOKEN)
fieldValue = re.compile(FIELD_VALUE)
requestTarget = re.compile(REQUEST_TARGET)
tokenBytes = re.compile(TOKEN.encode("ascii"))
fieldValueBytes = re.compile(FIELD_VALUE.encode("latin-1"))
requestTargetBytes = re.compile(REQUEST_TARGET.encode("ascii"))
