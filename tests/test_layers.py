"""The one-way import order `tui → runs → servers → wire → base/paths/probes`, read from the source.

Every `import` and `from … import` counts, those inside functions and under TYPE_CHECKING too: a lazy
import is still a dependency. A module may import its own layer or any layer below it, never above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Lower number = lower layer. Modules not listed here inherit the layer of their package prefix.
LAYERS: dict[str, int] = {
    "backends.base": 0,
    "backends.messages": 0,
    "backends.lazy": 0,
    "backends.paths": 0,
    "backends.units": 0,
    "backends.fields": 0,
    "backends.gguf_read": 0,
    "backends.blas": 0,
    "backends.probes": 0,
    "backends.wire": 1,
    "backends.servers": 2,
    "backends.runs": 3,
    "tui": 4,
}
NAMES = {0: "base/paths/probes", 1: "wire", 2: "servers", 3: "runs", 4: "tui"}


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for prefix, layer in LAYERS.items():
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), layer)
    return None if best is None else best[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) for every absolute import in the tree, `from a import b` counted as a.b when b is a module."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            out.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return out


def wrong_way_imports(source: str, module: str) -> list[str]:
    """Each import of `source` (the text of `module`) that reaches a higher layer, or textual from backends."""
    own = layer_of(module)
    if own is None:
        return []
    problems = []
    for line, target in imported_modules(ast.parse(source)):
        if module.startswith("backends") and (target == "textual" or target.startswith("textual.")):
            problems.append(f"{module}:{line} imports {target}: backends never imports textual")
            continue
        theirs = layer_of(target)
        if theirs is not None and theirs > own:
            problems.append(
                f"{module}:{line} imports {target}: {NAMES[own]} may not import {NAMES[theirs]} "
                f"(order: tui → runs → servers → wire → base/paths/probes)"
            )
    return sorted(set(problems))


def product_modules() -> list[Path]:
    paths = (p for pkg in ("backends", "tui") for p in (ROOT / pkg).rglob("*.py"))
    return sorted(p for p in paths if p != ROOT / "backends" / "__init__.py")


def test_every_product_module_has_a_layer() -> None:
    missing = [module_name(p) for p in product_modules() if layer_of(module_name(p)) is None]
    assert missing == [], f"add these to LAYERS: {missing}"


def test_imports_go_one_way() -> None:
    problems: list[str] = []
    for path in product_modules():
        problems += wrong_way_imports(path.read_text(encoding="utf-8"), module_name(path))
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("backends.wire.http", "from backends.servers.registry import default_url\n"),
        ("backends.servers.ollama", "def f() -> None:\n    import backends.runs.session\n"),
        ("backends.probes.host", "from backends.wire import http\n"),
        ("backends.runs.session", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tui.app import App\n"),
        ("backends.runs.results", "import textual.app\n"),
    ],
)
def test_a_wrong_way_import_is_caught(module: str, source: str) -> None:
    assert len(wrong_way_imports(source, module)) >= 1


def test_the_right_way_is_allowed() -> None:
    src = (
        "from backends.base import Backend\nfrom backends.wire.http import Http\nfrom backends.probes import Sampler\n"
    )
    assert wrong_way_imports(src, "backends.servers.ollama") == []
