"""Guard rails from the design: `backends` never loads textual; the headless CLI starts without it."""

from __future__ import annotations

import subprocess
import sys


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return set(out.split())


def test_backends_import_without_textual() -> None:
    mods = _loaded_after(
        "import backends.base, backends.servers.llamacpp, backends.servers.ollama, backends.servers.lmstudio, backends.servers.openai_compat, "
        "backends.runs.session, backends.runs.sweep, backends.runs.results, backends.runs.patterns, backends.probes"
    )
    assert "textual" not in mods
    assert "tui" not in mods


def test_headless_cli_does_not_load_textual() -> None:
    mods = _loaded_after("import tui.cli")
    assert "textual" not in mods
