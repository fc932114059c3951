"""
The short soak: bench/soak.py with 1,000 concurrent connections for 20 s
and 2,000 sequential ones, against a server in its own process. It fails on
a lost or changed message, an unexpected close, a warning or error logged by
the server, memory not given back, or memory growing over the sequential
connections (see bench/soak.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.sockets, pytest.mark.slow]


def test_short_soak(tmp_path):
    """
    bench/soak.py, shortened: 1,000 concurrent and 2,000 sequential connections, with memory
    back to flat after.
    """
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "soak.py"),
            "--connections",
            "1000",
            "--duration",
            "20",
            "--sequential",
            "2000",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1000 concurrent connections" in result.stdout
