"""
The documentation cannot rot: what docs/ says about the code is checked
against the code. Every Python sample compiles and uses only names, calls
and options that exist; the twistd flags and the exception tree are the
code's own; the API reference documents every public name. (The site
itself is built with warnings as errors by .ci/run.)
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import txws
from txws import tap
from txws.interfaces import IWebSocket
from txws.options import checkOptionNames

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)

CLIENT_SIDE = {txws.connect, txws.reconnectingClient, txws.WebSocketClientFactory}


def pythonBlocks() -> list[tuple[str, int, str]]:
    """Every ```python block of the docs: (page, line, code)."""
    blocks = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
            line = text.count("\n", 0, match.start()) + 1
            blocks.append((str(page.relative_to(ROOT)), line, match.group(1)))
    return blocks


BLOCKS = pythonBlocks()


def test_thereAreSamplesToCheck() -> None:
    assert len(BLOCKS) >= 15


def txwsObject(node: ast.expr) -> object | None:
    """What C{txws.X} (or C{txws.X.Y}) in a sample refers to, if it is one."""
    if isinstance(node, ast.Attribute):
        owner = txwsObject(node.value)
        if owner is None:
            return None
        assert hasattr(owner, node.attr), f"txws has no {ast.unparse(node)}"
        return getattr(owner, node.attr)
    if isinstance(node, ast.Name) and node.id == "txws":
        return txws
    return None


@pytest.mark.parametrize(("page", "line", "code"), BLOCKS, ids=[f"{p}:{n}" for p, n, _ in BLOCKS])
def test_sampleUsesOnlyWhatExists(page: str, line: int, code: str) -> None:
    tree = ast.parse(code, filename=page)
    # Samples may show the body of a handler: await and async for at the top.
    compile(tree, page, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    webSocketNames = set(IWebSocket.names(all=True))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("txws"):
            module = __import__(node.module, fromlist=["*"])
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"
        elif isinstance(node, ast.Attribute):
            txwsObject(node)
            # A handler's connection: only what IWebSocket documents.
            if isinstance(node.value, ast.Name) and node.value.id == "websocket":
                assert node.attr in webSocketNames, f"IWebSocket has no {node.attr}"
        if isinstance(node, ast.Call):
            target = txwsObject(node.func)
            if target is None or not callable(target):
                continue
            keywords = {k.arg for k in node.keywords if k.arg is not None}
            signature = inspect.signature(target)
            signature.bind_partial(*node.args, **dict.fromkeys(keywords))
            named = set(signature.parameters)
            extra = {k: None for k in keywords - named}
            if extra:
                side = txws.ClientOptions if target in CLIENT_SIDE else txws.ServerOptions
                checkOptionNames(getattr(target, "__name__", "call"), extra, side)


def test_twistdHelpIsTheCode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    help = str(tap.Options())
    page = (DOCS / "reference" / "twistd.md").read_text(encoding="utf-8")
    shown = page[page.index("```text\n") + 8 : page.rindex("```")]
    assert shown.rstrip() == help[help.index("Options:") :].rstrip()


def exceptionTree(cls: type = txws.WebSocketError, depth: int = 0) -> list[str]:
    doc = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
    doc = re.sub(r"C\{([^}]*)\}", r"`\1`", doc).replace("``", "`")
    lines = [f"{'    ' * depth}- `{cls.__name__}`: {doc}"]
    for sub in sorted(cls.__subclasses__(), key=lambda c: c.__name__):
        if not sub.__name__.startswith("_"):
            lines += exceptionTree(sub, depth + 1)
    return lines


def test_exceptionTreeIsTheCode() -> None:
    page = (DOCS / "reference" / "exceptions.md").read_text(encoding="utf-8")
    shown = page[page.index("- `WebSocketError`") :].strip()
    assert shown == "\n".join(exceptionTree())


def test_everyPageIsInTheSite() -> None:
    """A page left out of every toctree would not be found (Sphinx warns too)."""
    named = set()
    for page in PAGES:
        for block in re.findall(r"```\{toctree\}\n(.*?)```", page.read_text(), re.S):
            for entry in block.splitlines():
                entry = entry.strip()
                if entry and not entry.startswith(":"):
                    target = re.sub(r".*<(.*)>$", r"\1", entry)
                    named.add((page.parent / target).resolve())
    missing = [
        str(p.relative_to(ROOT))
        for p in PAGES
        if p.with_suffix("").resolve() not in named and p != DOCS / "index.md"
    ]
    assert missing == []


def test_apiReferenceDocumentsEveryPublicName(tmp_path: Path) -> None:
    """pydoctor, as the site runs it: no warning, and a page for every public name."""
    pytest.importorskip("pydoctor")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pydoctor",
            "--make-html",
            "--quiet",
            "--docformat=epytext",
            f"--html-output={tmp_path}",
            f"--project-base-dir={ROOT}",
            str(ROOT / "txws"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0 and out.stdout.strip() == "", out.stdout + out.stderr
    documented = {p.stem for p in tmp_path.glob("txws*.html")}
    for page in tmp_path.glob("txws*.html"):
        documented |= set(re.findall(r'<a name="(txws[^"]*)"', page.read_text(encoding="utf-8")))
    modules = ["frames", "handshake", "http", "uri", "extensions", "exceptions"]
    for module in [txws, *(__import__(f"txws.{m}", fromlist=["*"]) for m in modules)]:
        for name in module.__all__:
            if name.startswith("__"):
                continue
            obj = getattr(module, name)
            candidates = {f"{module.__name__}.{name}"}
            home = getattr(obj, "__module__", None)
            own = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
            if isinstance(home, str) and isinstance(own, str):
                candidates.add(f"{home}.{own}")
            # Or where it is re-exported from (a C function's home is _speedups).
            candidates |= {
                f"{other.__name__}.{name}"
                for other in list(sys.modules.values())
                if getattr(other, "__name__", "").startswith("txws.")
                and getattr(other, name, None) is obj
            }
            assert candidates & documented, f"the API reference does not document {name}"
