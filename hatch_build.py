"""
Hatchling build hook: compile the optional C accelerator txws/_speedups.c.

When no compiler works, or TXWS_NO_EXTENSIONS is set, the build goes on and
txws uses its pure-Python code instead (same results, slower masking).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # bench/worktree.py imports this file for compileCommand alone
    BuildHookInterface = object  # type: ignore[assignment,misc]


def compileCommand(root: Path) -> tuple[list[str], Path]:
    """The compiler command that builds C{root}'s accelerator, and what it builds."""
    source = root / "txws" / "_speedups.c"
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    target = root / "txws" / f"_speedups{suffix}"
    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")
    command = [
        *compiler,
        "-shared",
        "-fPIC",
        "-O3",
        "-Wall",
        f"-I{sysconfig.get_paths()['include']}",
        str(source),
        "-o",
        str(target),
    ]
    if sys.platform == "darwin":
        command[len(compiler) : len(compiler)] = ["-undefined", "dynamic_lookup"]
    return command, target


class SpeedupsBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel" or os.environ.get("TXWS_NO_EXTENSIONS"):
            return
        command, target = compileCommand(Path(self.root))
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as e:
            detail = getattr(e, "stderr", b"") or b""
            self.app.display_warning(
                f"txws: C accelerator not built ({e}); using pure Python. "
                + detail.decode(errors="replace")[:500]
            )
            return
        if version != "editable":
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
            build_data["force_include"][str(target)] = f"txws/{target.name}"
