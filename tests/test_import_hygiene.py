"""Guard rails from the design: `backends` never loads textual; the headless CLI starts without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


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
    assert not loaded(mods, HEAVY_BEFORE_FIRST_FRAME)


def loaded(mods: set[str], packages: tuple[str, ...]) -> set[str]:
    return {m for m in mods for p in packages if m == p or m.startswith(p + ".")}


def test_pattern_file_read_is_light() -> None:
    mods = _loaded_after("from backends.runs.patterns import load_patterns")
    assert "httpx" not in mods
    assert "backends.probes.sampler" not in mods  # asyncio, psutil


IDLE_SCREEN = """
import asyncio, socket, sys
from backends.runs.patterns import Pattern
from tui.app import make_app
from tui.screens.main import MainScreen

at_first_frame: list[str] = []
after_first_refresh = MainScreen._mount_views

async def mount_views(self: MainScreen) -> None:  # runs once the first frame is drawn
    at_first_frame.extend(sys.modules)
    await after_first_refresh(self)

MainScreen._mount_views = mount_views

with socket.socket() as s:  # a loopback port nobody listens on: the health poll runs and fails
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
pattern = Pattern("idle", "openai", f"http://127.0.0.1:{port}", "m", "hi")

async def main() -> None:
    app = make_app(patterns=[pattern])
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(200):
            await pilot.pause(0.02)
            if app.main._first_frame_done and app.main.query("#history"):
                break
        await pilot.pause(0.5)  # health polls, the fit marks
        assert app.main._first_frame_done
        print("FIRST", " ".join(at_first_frame), "IDLE", " ".join(sys.modules))

asyncio.run(main())
"""


def test_first_frame_and_idle_screen_leave_heavy_modules_unloaded(tmp_path: Path) -> None:
    # At the first frame: none of the heavy modules (the health check, fit and HTTP client come after
    # it). Idle with every view mounted, nothing run and nothing stored: no chart to draw, so
    # textual-plot and numpy (~16 MB of an idle `top`) stay out, as do gguf and the Prometheus parser.
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}  # no proxy named
    env.update(GPTOSS_TOP_DATA_DIR=str(tmp_path), GPTOSS_TOP_CONFIG_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", IDLE_SCREEN], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    first, idle = (set(part.split()) for part in out.stdout.split("FIRST", 1)[1].split("IDLE"))
    assert "textual" in first and not loaded(first, HEAVY_BEFORE_FIRST_FRAME)
    assert "tui.widgets.results" in idle and "backends.runs.health" in idle  # the views and health ran
    assert not loaded(idle, ("numpy", "textual_plot", "gguf", "prometheus_client"))
    # ~1 MB and ~0.5 MB of an idle RSS: the proxy lookup with no proxy variable set, and the entity
    # table `html` loads, for SVG exports only.
    assert not loaded(idle, ("urllib.request", "html"))


def test_base_names_the_messages_it_loads_on_first_use() -> None:
    """`backends.base` names the requests and events of `backends.messages` without loading it first."""
    out = subprocess.run(
        [sys.executable, "-c",
         "import sys, backends.base as b\n"
         "print('backends.messages' in sys.modules)\n"
         "from backends.base import ChatRequest, StreamEvent\n"
         "import backends.messages as m\n"
         "print(ChatRequest is m.ChatRequest, StreamEvent == m.StreamEvent, 'ChatRequest' in vars(b))\n"
         "try:\n    b.NoSuchName\nexcept AttributeError as e:\n    print(e)"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert out == ["False", "True True True", "module 'backends.base' has no attribute 'NoSuchName'"]
