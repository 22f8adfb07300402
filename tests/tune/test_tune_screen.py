"""`T` in the TUI: the selected pattern is tuned on its own screen, the curve drawn as it grows."""

from __future__ import annotations

import asyncio
from pathlib import Path

from backends.runs.patterns import parse_patterns
from backends.runs.results import ResultsStore
from tests.fakes.ollama import FakeOllama
from tests.fakes.speed import SpeedModel
from tui.app import make_app
from tui.screens.tune import TuneScreen
from tui.widgets.tunecurve import TuneCurve


def status_of(screen: TuneScreen) -> str:
    return str(screen.query_one("#tune-status").render())


async def test_t_tunes_the_selected_pattern_and_draws_the_curve(tmp_path: Path) -> None:
    speed = SpeedModel(fit=20, peak=16, decline=0.08, noise=0.02, seed=7)
    with FakeOllama(reasoning="tok " * 60, answer="done.", load_s=0.0, speed=speed) as fake:
        pats = parse_patterns({"patterns": [{"name": "O", "backend": "ollama", "url": fake.url,
                                             "model": "gpt-oss:20b"}]}, "test").patterns  # fmt: skip
        store = ResultsStore(tmp_path / "results.jsonl")
        app = make_app(patterns=pats, store=store, health_interval=0, export_dir=tmp_path / "exports")
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("T")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, TuneScreen)
            for _ in range(2400):  # up to two minutes on a loaded machine
                if screen.report is not None:
                    break
                await asyncio.sleep(0.05)
            assert screen.report is not None, status_of(screen)
            assert screen.report.outcome.best == 16
            assert "best gpu_layers = 16" in status_of(screen)
            chart = screen.query_one(TuneCurve).chart
            assert chart is not None and len(chart.series[0].xs) >= 5
            assert "best 16" in chart.title
            await pilot.press("e")  # the answer as JSON and the curve as SVG
            stem = tmp_path / "exports" / f"gptoss-top-{screen.report.tune_id}"
            assert '"best": 16' in stem.with_suffix(".json").read_text()
            assert "<svg" in stem.with_suffix(".svg").read_text()
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, TuneScreen)
    recs = store.load()
    assert recs and {r.tune_id for r in recs} == {screen.report.tune_id}


async def test_t_on_a_server_without_offload_control_says_so(tmp_path: Path) -> None:
    pats = parse_patterns({"patterns": [{"name": "X", "backend": "openai", "model": "m"}]}, "test").patterns
    app = make_app(patterns=pats, store=ResultsStore(tmp_path / "r.jsonl"), health_interval=0)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("T")
        await pilot.pause()
        assert not isinstance(app.screen, TuneScreen)
        assert any("no offload control" in str(n.message) for n in app._notifications)


async def test_s_stops_the_tune_and_keeps_the_runs_made(tmp_path: Path) -> None:
    speed = SpeedModel(fit=20, peak=16, noise=0.02, seed=2)
    with FakeOllama(reasoning="tok " * 200, answer="done.", load_s=0.0, speed=speed) as fake:
        pats = parse_patterns({"patterns": [{"name": "O", "backend": "ollama", "url": fake.url,
                                             "model": "gpt-oss:20b"}]}, "test").patterns  # fmt: skip
        store = ResultsStore(tmp_path / "results.jsonl")
        app = make_app(patterns=pats, store=store, health_interval=0)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("T")
            screen = app.screen
            assert isinstance(screen, TuneScreen)
            for _ in range(600):
                if len(store.load()) >= 2:
                    break
                await asyncio.sleep(0.05)
            await pilot.press("s")
            await pilot.pause(0.2)
            assert not screen.running
            assert "stopped" in status_of(screen)
    recs = store.load()
    assert len(recs) >= 3 and len({r.tune_id for r in recs}) == 1
    assert recs[-1].error_kind == "cancelled"
