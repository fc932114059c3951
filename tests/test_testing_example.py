"""
examples/testing.py, the tests that docs/howto/testing.md shows, run as
part of the suite (pytest collects the test functions imported here).
"""

from examples.testing import (  # noqa: F401
    test_closingEndsTheHandler,
    test_echoKeepsTheType,
    test_echoOnAStringTransport,
    test_echoOverLoopback,
    test_keepalivePingsAnIdlePeer,
)
