"""
The rules of docs/design.md that code can check: the codec and the pure
collaborators never import Twisted, and no class or module grows past the
sizes that keep it readable.
"""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import txws
from txws.protocol import WebSocketProtocol

ROOT = Path(txws.__file__).parent

PURE = [
    "frames",
    "wire",
    "speedups",
    "handshake",
    "http",
    "uri",
    "exceptions",
    "grammar",
    "closing",
    "assembly",
    "readgate",
    "metrics",
    "tunnel",
    "extensions",
    "extensions.permessage_deflate",
]


def sourceOf(module: str) -> Path:
    path = ROOT.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


@pytest.mark.parametrize("module", PURE)
def test_pureModulesImportNoTwisted(module: str) -> None:
    """Neither in the source nor at run time, through another module."""
    tree = ast.parse(sourceOf(module).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("twisted") for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert not node.module.startswith("twisted")
    # txws/__init__ imports everything: load the module alone.
    code = (
        "import importlib.util, sys, types\n"
        f"package = types.ModuleType('txws'); package.__path__ = [{str(ROOT)!r}]\n"
        "sys.modules['txws'] = package\n"
        f"importlib.import_module('txws.{module}')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('twisted', 'zope')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_protocolClassUnder400Lines() -> None:
    lines, _ = inspect.getsourcelines(WebSocketProtocol)
    assert len(lines) < 400


def test_noModuleOver700Lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in ROOT.rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n > 700} == {}


def test_everyModuleNamesItsTests() -> None:
    """As Twisted does: a test-case-name line that names test modules that exist."""
    tests = ROOT.parent / "tests"
    for path in ROOT.rglob("*.py"):
        if path.name == "_version.py":
            continue
        first = path.read_text().splitlines()[0]
        assert first.startswith("# -*- test-case-name: "), path
        names = first.removeprefix("# -*- test-case-name: ").removesuffix(" -*-").split(",")
        for name in names:
            assert (tests / (name.removeprefix("tests.") + ".py")).exists(), (path, name)
