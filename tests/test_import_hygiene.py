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


# What the TUI's first frame must not wait for: the HTTP client, the fit (and the GGUF reader with
# numpy), the charts and the Prometheus parser load after it, when something uses them.
HEAVY_BEFORE_FIRST_FRAME = ("httpx", "backends.runs.fit", "numpy", "textual_plot", "prometheus_client", "gguf")


def test_tui_start_does_not_load_heavy_modules() -> None:
    # What `gptoss-top` runs before the first frame: the CLI, the pattern file's read, the app's modules.
    mods = _loaded_after(
        "import tui.cli\n"
        "from backends.runs.patterns import load_patterns\n"
        "import tui.app, tui.screens.main, tui.widgets.hardware, tui.widgets.output, tui.widgets.throughput"
    )
    assert "textual" in mods  # the check itself is real: the TUI was loaded
    assert not {m for m in mods for h in HEAVY_BEFORE_FIRST_FRAME if m == h or m.startswith(h + ".")}


def test_pattern_file_read_is_light() -> None:
    mods = _loaded_after("from backends.runs.patterns import load_patterns")
    assert "httpx" not in mods
    assert "backends.probes.sampler" not in mods  # asyncio, psutil
