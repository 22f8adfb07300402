"""Pilot tests: each key does what the help says, and the state behind the panels follows."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import Digits

from backends.base import LoadSpec, Prepared
from backends.runs.results import ResultsStore, load_records
from tests.fakes.backend import FakeBackend
from tests.tui.conftest import StaticSampler
from tui.app import GptossTop
from tui.screens.help import KEYS, HelpScreen
from tui.screens.main import MainScreen
from tui.widgets.header import HeaderBar
from tui.widgets.output import OutputPanel
from tui.widgets.patterns import PatternList

SIZE = (100, 30)


async def finish(app: GptossTop) -> None:
    worker = app.main.run_worker_
    assert worker is not None
    await worker.wait()
    await app.workers.wait_for_complete()


async def test_number_keys_and_jk_select(build: Callable[..., GptossTop]) -> None:
    app = build()
    async with app.run_test(size=SIZE) as pilot:
        main = app.main
        assert main.current is not None and main.current.name == "A"
        await pilot.press("3")
        assert main.current.name == "C"
        assert app.main.query_one(HeaderBar).pattern is main.current
        await pilot.press("k")
        assert main.current.name == "B"
        await pilot.press("j")
        assert main.current.name == "C"
        await pilot.press("up")
        assert main.current.name == "B"
        await pilot.press("9")  # no ninth pattern: nothing changes
        assert main.current.name == "B"


async def test_enter_runs_and_the_record_is_stored(
    build: Callable[..., GptossTop], backend: FakeBackend, store: ResultsStore
) -> None:
    app = build()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "enter")
        await finish(app)
        await pilot.pause()
        [rec] = app.services.records
        assert rec.pattern == "B" and rec.ok and rec.gpu_layers == 23
        assert rec.decode_tps == 50.0 and rec.stats_source == "server"
        assert rec.peak_vram_bytes is not None  # from the sampler's snapshots
        assert [r.pattern for r in load_records(store.path)] == ["B"]
        out = app.main.query_one(OutputPanel)
        assert out.answer.text == backend.answer
        assert out.reasoning.text == backend.reasoning
        assert app.main.query_one(Digits).value == "50.0"
        table = app.main.query_one("#results-table")
        assert table.row_count == 1  # type: ignore[attr-defined]


async def test_a_sweeps_with_repeats(build: Callable[..., GptossTop], backend: FakeBackend) -> None:
    app = build(repeat=2)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        await finish(app)
        await pilot.pause()
        assert [(r.pattern, r.repeat) for r in app.services.records] == [
            ("A", 1), ("A", 2), ("B", 1), ("B", 2), ("C", 1), ("C", 2),
        ]  # fmt: skip
        assert backend.streams_started == 6
        assert "sweep done: 6 runs, 0 failed" in app.main.query_one(HeaderBar).status
        # r repeats the sweep
        await pilot.press("r")
        await finish(app)
        assert len(app.services.records) == 12


class PerLoadText(FakeBackend):
    """Each load answers in its own words, so a run's text can be told from the run's before it."""

    async def prepare(self, spec: LoadSpec) -> Prepared:
        self.reasoning = f"thinking about {spec.gpu_layers} layers. "
        self.answer = f"the answer with {spec.gpu_layers} layers."
        return await super().prepare(spec)


async def test_each_run_of_a_sweep_shows_only_its_own_text(build: Callable[..., GptossTop], clock: object) -> None:
    backend = PerLoadText(tps=50.0, clock=clock)
    app = build(backend=backend)
    async with app.run_test(size=SIZE) as pilot:
        out = app.main.query_one(OutputPanel)
        await pilot.press("a")
        await finish(app)
        await pilot.pause()
        assert out.answer.text == "the answer with 20 layers."  # C's, none of A's or B's
        assert out.reasoning.text == "thinking about 20 layers. "
        assert out.border_title == "Output — [3/3] C run 1"
        assert [r.answer for r in app.services.records] == [f"the answer with {n} layers." for n in (24, 23, 20)]
        assert app.main.live.figures() is None  # between runs the panel keeps the final figures


class SeesTheTable(FakeBackend):
    """Notes, as each run loads, how many records the screen's results table already shows."""

    app: GptossTop | None = None
    rows_at_load: list[int]

    async def prepare(self, spec: LoadSpec) -> Prepared:
        assert self.app is not None
        self.rows_at_load.append(self.app.main.query_one("#results-table").row_count)  # type: ignore[attr-defined]
        return await super().prepare(spec)


async def test_a_sweep_draws_each_record_before_the_next_run_starts(
    build: Callable[..., GptossTop], clock: object
) -> None:
    # The last run's record, table and chart were drawn during the next run's first tokens, on the
    # CPU the model was using.
    backend = SeesTheTable(tps=50.0, clock=clock)
    backend.rows_at_load = []
    app = build(backend=backend)
    backend.app = app
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        await finish(app)
        await pilot.pause()
        assert backend.rows_at_load == [0, 1, 2]


async def test_s_stops_and_the_partial_run_is_recorded(
    build: Callable[..., GptossTop], clock: object, store: ResultsStore
) -> None:
    held = FakeBackend(tps=50.0, clock=clock, hold_after=10)
    app = build(backend=held)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        for _ in range(200):
            if held.tokens_sent >= 10:
                break
            await asyncio.sleep(0.01)
        assert app.main.running
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        [rec] = app.services.records
        assert rec.error_kind == "cancelled" and not rec.ok
        assert rec.reasoning  # the text that arrived before the stop is kept
        assert [r.error_kind for r in load_records(store.path)] == ["cancelled"]
        assert "Stopped" in str(app.main.query_one("#error").render())
        assert not app.main.running


async def test_escape_stops_too(build: Callable[..., GptossTop], clock: object) -> None:
    held = FakeBackend(tps=50.0, clock=clock, hold_after=3)
    app = build(backend=held)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        while held.tokens_sent < 3:
            await asyncio.sleep(0.01)
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        assert [r.error_kind for r in app.services.records] == ["cancelled"]


async def test_t_folds_reasoning(build: Callable[..., GptossTop]) -> None:
    app = build()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        await finish(app)
        out = app.main.query_one(OutputPanel)
        assert out.reasoning.display and not out.folded
        await pilot.press("t")
        assert out.folded and not out.reasoning.display
        assert "folded" in str(out.query_one("#reasoning-fold").render())
        await pilot.press("t")
        assert not out.folded and out.reasoning.display


async def test_e_exports_and_shows_paths(build: Callable[..., GptossTop], tmp_path: Path) -> None:
    app = build()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")  # nothing yet: a warning, no files
        assert not (tmp_path / "exports").exists()
        await pilot.press("enter")
        await finish(app)
        await pilot.press("e")
        await pilot.pause()
        files = sorted((tmp_path / "exports").iterdir())
        assert sorted(p.suffix for p in files) == [".csv", ".json", ".md", ".svg"]
        shown = str(app.main.query_one("#exported").render())
        for f in files:
            assert f.name in shown
        assert json.loads((tmp_path / "exports" / files[1].name).read_text())[0]["pattern"] == "A"
        assert "| A |" in next(f for f in files if f.suffix == ".md").read_text()
        svg = ET.fromstring(next(f for f in files if f.suffix == ".svg").read_text())  # the session's chart
        [bar] = svg.findall(".//{http://www.w3.org/2000/svg}rect[@class='bar']")
        assert float(bar.get("data-y", "0")) == pytest.approx(app.services.records[0].decode_tps, abs=0.01)
        assert app.main.has_class("-view-results")


async def test_unreachable_server_is_shown_and_the_app_stays(build: Callable[..., GptossTop], clock: object) -> None:
    down = FakeBackend(clock=clock, fail="unreachable")
    app = build(backend=down, health_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        await finish(app)
        await pilot.pause(0.2)
        [rec] = app.services.records
        assert not rec.ok and rec.error_kind == "server_unreachable"
        banner = str(app.main.query_one("#error").render())
        assert "cannot reach" in banner and "start the server" in banner
        header = app.main.query_one(HeaderBar)
        assert header.health is not None and not header.health.ok
        assert app.is_running
        # it comes back: the next run works
        down.fail = None
        await pilot.press("r")
        await finish(app)
        assert app.services.records[-1].ok
        assert not app.main.query_one(OutputPanel).has_class("-error")


async def test_load_refused_and_mid_stream_error(build: Callable[..., GptossTop], clock: object) -> None:
    refused = FakeBackend(clock=clock, fail="load_refused")
    app = build(backend=refused)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        await finish(app)
        assert "insufficient system resources" in str(app.main.query_one("#error").render())
        refused.fail = "mid_stream"
        await pilot.press("enter")
        await finish(app)
        rec = app.services.records[-1]
        assert rec.error_kind == "stream_broken" and rec.reasoning  # text before the break is kept
        assert app.is_running


async def test_bad_pattern_file_is_shown_and_reloads(build: Callable[..., GptossTop], tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text(
        '[defaults]\nbackend = "llamacpp"\nmodel = "m"\nprompt = "p"\n[[patterns]]\nname = "A"\ngpu_layers = "lots"\n'
    )
    app = build(patterns=None, config=str(bad))
    async with app.run_test(size=SIZE) as pilot:
        assert app.services.pattern_error and "p.toml:7" in app.services.pattern_error
        assert "p.toml:7" in str(app.main.query_one("#patterns-hint").render())
        await pilot.press("enter")  # nothing to run: a warning, not a crash
        assert app.is_running and not app.services.records
        bad.write_text(bad.read_text().replace('"lots"', "24"))
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert [p.name for p in app.services.patterns] == ["A"]
        assert app.main.query_one(PatternList).display


async def test_q_closes_the_pool_and_stops_the_sampler(
    build: Callable[..., GptossTop], backend: FakeBackend, sampler: StaticSampler
) -> None:
    app = build()
    async with app.run_test(size=SIZE) as pilot:
        assert sampler.started
        await pilot.press("enter")
        await finish(app)
        await pilot.press("q")
        await pilot.pause()
        assert backend.closed and sampler.stopped
    assert app.return_value == 0


async def test_quit_mid_run_records_the_stopped_run(build: Callable[..., GptossTop], clock: object) -> None:
    held = FakeBackend(clock=clock, hold_after=2)
    app = build(backend=held)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        while held.tokens_sent < 2:
            await asyncio.sleep(0.01)
        await pilot.press("q")
        await pilot.pause()
    assert held.closed
    assert [r.error_kind for r in app.services.records] == ["cancelled"]


async def test_help_lists_every_key(build: Callable[..., GptossTop]) -> None:
    app = build()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
    documented = " ".join(k for k, _ in KEYS).replace("esc", "escape").replace("?", "question_mark").split()
    for binding in [*MainScreen.BINDINGS, *GptossTop.BINDINGS, *PatternList.BINDINGS]:
        key = binding.key  # type: ignore[union-attr]
        assert key in documented or key.isdigit(), key


async def test_views_switch_in_the_compact_layout(build: Callable[..., GptossTop]) -> None:
    app = build()
    async with app.run_test(size=(80, 24)) as pilot:
        main = app.main
        assert not main.has_class("-roomy")
        await pilot.press("h")
        assert main.query_one("#hardware").display and not main.query_one("#output").display
        await pilot.press("R")
        assert main.query_one("#results").display
        await pilot.press("o")
        assert main.query_one("#output").display
    async with build().run_test(size=(120, 40)) as pilot:
        assert pilot.app.screen.has_class("-roomy")


async def test_command_palette_runs_a_pattern(build: Callable[..., GptossTop]) -> None:
    app = build()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Run pattern C")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        await finish(app)
        assert [r.pattern for r in app.services.records] == ["C"]


async def test_no_gpu_and_no_sampler(build: Callable[..., GptossTop]) -> None:
    from tests.probes.fake import fake_snapshots

    app = build(sampler=StaticSampler(fake_snapshots(3, vendor=None)))
    async with app.run_test(size=(120, 40)):
        assert "no GPU detected" in str(app.main.query_one("#gpu").render())
    app = build(sampler=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await finish(app)
        assert app.services.records[-1].ok and app.services.records[-1].peak_vram_bytes is None
