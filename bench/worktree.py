"""
Another revision of txws beside this one, for paired benchmarks
(C{--against REV} in bench/run.py and bench/inprocess.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shareSpeedups(root: Path, other: Path) -> None:
    """
    Give the other tree this tree's compiled C accelerator when its C source
    is the same, or build its own as a wheel would, so that both sides run
    compiled code; say so when this tree has none.
    """
    mine, theirs = root / "txws" / "_speedups.c", other / "txws" / "_speedups.c"
    built = sorted((root / "txws").glob("_speedups*.so"))
    if not built:
        print("note: no compiled accelerator here; both trees run pure Python", file=sys.stderr)
        return
    if not theirs.exists():
        print("note: the other tree has no C accelerator", file=sys.stderr)
        return
    if theirs.read_bytes() != mine.read_bytes():
        sys.path.insert(0, str(root))
        from hatch_build import compileCommand

        command, _ = compileCommand(other)
        subprocess.run(command, check=True)
        return
    for path in built:
        shutil.copy2(path, other / "txws" / path.name)


@contextmanager
def otherTree(revision: str) -> Iterator[Path]:
    """Revision C{revision} checked out in a temporary git worktree, while in use."""
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "other"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(other), revision],
            check=True,
        )
        try:
            shareSpeedups(ROOT, other)
            yield other
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)], check=True
            )
