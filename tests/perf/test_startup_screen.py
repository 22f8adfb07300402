"""`gptoss-top` draws the header and the pattern list first, then the main screen (tui/app.py).

The first frame must not wait for the main screen's modules or its panels; the main screen must
follow it without losing what the user did in between, and the probes must still start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest

from backends.runs.patterns import Pattern
from tui.app import StartScreen, make_app
from tui.screens.main import MainScreen
from tui.widgets.header import HeaderBar
from tui.widgets.patterns import PatternList


def _patterns() -> list[Pattern]:
    # A loopback port nobody listens on: the health poll runs and fails, nothing else is reached.
    return [Pattern(name, "openai", "http://127.0.0.1:9", "m", "hi") for name in ("alpha", "bravo", "charlie")]


class _Sampler:
    latest = None
    interval_s = 1.0
    started = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        pass

    def sample_now(self) -> None:
        return None


async def _until_main(app: object, pilot: object) -> MainScreen:
    for _ in range(250):
        await pilot.pause(0.02)  # type: ignore[attr-defined]
        main = next((s for s in app.screen_stack if isinstance(s, MainScreen)), None)  # type: ignore[attr-defined]
        if main is not None and main._first_frame_done:
            return main
    raise AssertionError("the main screen never came")


async def test_start_screen_shows_header_and_patterns(tmp_path: Path) -> None:
    # The app's own start screen gives way to the main screen after its first frame; this one is pushed
    # on an app that opened its main screen at once, so no switch can take it away mid-test.
    app = make_app(patterns=_patterns(), store=None, health_interval=0, start_screen=False,
                   sampler_factory=lambda: None, export_dir=tmp_path)  # fmt: skip
    start = StartScreen(app.services)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.push_screen(start)
        await pilot.pause()
        plist = start.query_one(PatternList)
        assert plist.option_count == 3 and plist.has_focus
        header = start.query_one(HeaderBar)
        assert header.pattern is app.services.patterns[0] and header.url == "http://127.0.0.1:9"
        assert start.query_one("#patterns-box").border_title == "Patterns"


async def test_main_screen_replaces_it_and_keeps_the_highlight(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(StartScreen, "highlighted", property(lambda self: 2))  # "3" pressed meanwhile
    sampler = _Sampler()
    app = make_app(patterns=_patterns(), health_interval=0, start_screen=True,
                   sampler_factory=lambda: sampler, export_dir=tmp_path)  # type: ignore[arg-type,return-value]  # fmt: skip
    async with app.run_test(size=(120, 40)) as pilot:
        main = await _until_main(app, pilot)
        for _ in range(100):
            if sampler.started:
                break
            await pilot.pause(0.02)
        assert app.screen is main
        assert not any(isinstance(s, StartScreen) for s in app.screen_stack)
        assert main.current is app.services.patterns[2]
        assert sampler.started and app.services.sampler is cast(object, sampler)  # the probes came after the frame
        assert [c.title for c in app.get_system_commands(main)][-1] == "Run pattern charlie"


async def test_no_patterns_opens_the_main_screen_directly(tmp_path: Path) -> None:
    app = make_app(patterns=[], health_interval=0, start_screen=True, sampler_factory=lambda: None,
                   export_dir=tmp_path)  # fmt: skip
    async with app.run_test(size=(100, 30)) as pilot:
        main = await _until_main(app, pilot)
        assert app.screen is main  # its hint says how to write a pattern file


FIRST_FRAME = """
import asyncio, sys
from backends.runs.patterns import Pattern
from tui.app import StartScreen, make_app

seen = []
mount = StartScreen.on_mount

def on_mount(self):
    mount(self)
    seen.extend(sys.modules)

StartScreen.on_mount = on_mount

async def main():
    app = make_app(patterns=[Pattern("a", "openai", "http://127.0.0.1:9", "m", "hi")], health_interval=0,
                   start_screen=True, sampler_factory=lambda: None)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.3)
    print(" ".join(seen))

asyncio.run(main())
"""


def test_first_frame_does_not_load_the_main_screen(tmp_path: Path) -> None:
    env = {**os.environ, "GPTOSS_TOP_DATA_DIR": str(tmp_path), "GPTOSS_TOP_CONFIG_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", FIRST_FRAME], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = set(out.stdout.split())
    assert "tui.app" in seen  # the check is real
    assert not seen & {"tui.screens.main", "tui.widgets.output", "tui.widgets.throughput", "markdown_it"}
    # Nor the samples' classes, the sampler or the meter (~10 ms of dataclasses): they come with the probes
    assert not seen & {"backends.probes.model", "backends.probes.sampler", "backends.runs.stats"}
    # Nor a backend's requests and events (~7 ms), nor the results file and its record (~4 ms): they come
    # with the main screen.
    assert not seen & {"backends.messages", "backends.runs.results", "backends.runs.record"}


CLI_TO_RUN = """
import sys
import textual.app

def run(self, *args, **kwargs):
    print(" ".join(sys.modules))
    return 0

textual.app.App.run = run
from tui.cli import main
main(["--config", sys.argv[1]])
"""


def test_the_command_line_opens_the_app_without_what_the_first_frame_does_not_need(tmp_path: Path) -> None:
    """`gptoss-top --config FILE` as a user types it: the command line (every command's options) and the
    app's start (the sampler comes after the first frame) define no record, no samples, no events."""
    config = tmp_path / "p.toml"
    config.write_text('[[patterns]]\nname = "a"\nbackend = "openai"\nurl = "http://127.0.0.1:9"\nmodel = "m"\n'
                      'prompt = "hi"\n')  # fmt: skip
    env = {**os.environ, "GPTOSS_TOP_DATA_DIR": str(tmp_path), "GPTOSS_TOP_CONFIG_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", CLI_TO_RUN, str(config)], capture_output=True, text=True,
                         env=env, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    seen = set(out.stdout.split())
    assert {"tui.app", "tui.commands.bench", "backends.runs.patterns"} <= seen  # the check is real
    assert not seen & {"backends.probes.model", "backends.probes.sampler", "backends.runs.record",
                       "backends.runs.results", "backends.messages"}  # fmt: skip
