"""
examples/testing.py, the tests that docs/howto/testing.md shows, run as
part of the suite (pytest collects the test functions imported here).
"""

import subprocess
import sys
from pathlib import Path

import pytest

from examples.testing import (  # noqa: F401
    test_closingEndsTheHandler,
    test_echoKeepsTheType,
    test_echoOnAStringTransport,
    test_echoOverLoopback,
    test_keepalivePingsAnIdlePeer,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.sockets
def test_trialVersionPasses():
    """examples/testing_trial.py, as trial runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "twisted.trial", "examples.testing_trial"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED (successes=2)" in result.stdout
