"""Charts: the results bars and the history lines on screen (textual-plot), and the exported SVG.

The SVG is opened as XML and read back: the bars and points it holds must be the figures of the runs.
"""

from __future__ import annotations

import statistics
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widget import Widget

from backends.runs.charts import history_chart, nice_ticks, results_chart, to_svg, tune_chart
from backends.runs.record import RunRecord
from backends.runs.results import ResultsStore, export
from tui.app import GptossTop
from tui.widgets.charts import ChartView
from tui.widgets.history import HistoryPanel
from tui.widgets.output import OutputPanel
from tui.widgets.results import ResultsPanel

SVG = "{http://www.w3.org/2000/svg}"
Snap = Callable[..., bool]
SEED = {"A": [122.34, 121.9, 122.8], "B": [44.98, 45.3, 44.6], "C": [17.52]}  # the seed's table, with repeats


def rec(pattern: str, tps: float | None, day: str = "2026-06-01", version: str = "b7010", hour: int = 10) -> RunRecord:
    return RunRecord(
        pattern=pattern, backend="llamacpp", url="http://127.0.0.1:8080", model="gpt-oss-20b", context_length=4096,
        gpu_layers={"A": 24, "B": 23, "C": 20}.get(pattern, 24), repeat=1, started_at=f"{day}T{hour:02d}:00:00Z",
        ok=tps is not None, decode_tps=tps, stats_source="server", server_version=version,
        model_size_bytes=12_109_566_720, model_quant="MXFP4 MoE",
    )  # fmt: skip


def seed_records() -> list[RunRecord]:
    return [rec(p, t) for p, ts in SEED.items() for t in ts] + [rec("C", None)]


def history_records() -> list[RunRecord]:
    """Two weeks of runs: A steady, B slower after the llama.cpp update on 06-08."""
    out = []
    for day in range(1, 15):
        version = "b6097" if day < 8 else "b7010"
        for hour, jitter in ((9, -0.4), (18, 0.4)):
            out.append(rec("A", 122.0 + jitter, f"2026-06-{day:02d}", version, hour))
            out.append(rec("B", (45.0 if day < 8 else 37.0) + jitter, f"2026-06-{day:02d}", version, hour))
    return out


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def test_export_writes_the_results_chart_as_svg(tmp_path: Path) -> None:
    path = export(seed_records(), "svg", tmp_path)
    assert path.suffix == ".svg" and path.parent == tmp_path
    root = parse(path.read_text(encoding="utf-8"))
    bars = root.findall(f".//{SVG}rect[@class='bar']")
    assert [b.get("data-series") for b in bars] == ["decode tok/s"] * 3
    heights = {float(b.get("data-x", "0")): float(b.get("data-y", "0")) for b in bars}
    expected = {1.0: statistics.fmean(SEED["A"]), 2.0: statistics.fmean(SEED["B"]), 3.0: 17.52}
    assert heights == pytest.approx(expected, abs=0.001)
    names = [t.text for t in root.findall(f".//{SVG}text[@class='category']")]
    assert names == ["A", "B", "C"]  # C's failed run does not hide its good one
    assert len(root.findall(f".//{SVG}line[@class='err']")) == 2  # A and B have a spread; C ran once
    # Taller bar, higher figure: the picture agrees with the numbers.
    tall = {b.get("data-x"): float(b.get("height", "0")) for b in bars}
    assert tall["1"] > tall["2"] > tall["3"] > 0
    assert root.find(f"{SVG}title") is not None


def test_history_svg_holds_one_line_per_pattern_with_every_run() -> None:
    records = history_records()
    root = parse(to_svg(history_chart(records)))
    lines = root.findall(f".//{SVG}polyline[@class='series']")
    assert [ln.get("data-series") for ln in lines] == ["A", "B"]
    for name in ("A", "B"):
        points = [p for p in root.findall(f".//{SVG}text[@class='point']") if p.get("data-series") == name]
        ys = sorted(float(p.get("data-y", "0")) for p in points)
        assert ys == pytest.approx(sorted(r.decode_tps or 0 for r in records if r.pattern == name), abs=0.01)
    legend = [t.text for t in root.findall(f".//{SVG}text[@class='legend']")]
    assert legend == ["● A", "■ B"]  # shapes, not only colours


def test_svg_keeps_a_pattern_name_with_quotes_and_markup() -> None:
    name = "20b \"fast\" <ngl 24> & 'q'"
    records = [rec(p, tps, hour=h) for p in (name, "B") for h, tps in ((9, 120.0), (18, 121.0))]
    root = parse(to_svg(history_chart(records)))  # an unescaped quote in data-series="..." does not parse
    assert [ln.get("data-series") for ln in root.findall(f".//{SVG}polyline[@class='series']")] == [name, "B"]
    legend = [t.text for t in root.findall(f".//{SVG}text[@class='legend']")]
    assert legend == [f"● {name}", "■ B"]


def test_empty_chart_says_so() -> None:
    root = parse(to_svg(results_chart([rec("A", None)])))
    assert root.findall(f".//{SVG}rect[@class='bar']") == []
    assert any(t.text == "no successful runs yet" for t in root.iter(f"{SVG}text"))


def test_nice_ticks() -> None:
    assert nice_ticks(0, 132) == [0, 50, 100]
    assert nice_ticks(0, 9.7) == [0, 2, 4, 6, 8]
    assert nice_ticks(3, 3) == [3]


class One(App[None]):
    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        yield self.widget


async def test_results_panel_draws_its_chart_with_textual_plot() -> None:
    panel = ResultsPanel()
    app = One(panel)
    async with app.run_test(size=(80, 24)) as pilot:
        panel.show(seed_records())
        await pilot.pause()
        chart = panel.query_one(ChartView)
        assert chart.display and chart.size.height >= 6
        assert chart.render_values() == ["A 122.3", "B 45.0", "C 17.5"]
        panel.show([])
        await pilot.pause()
        assert not chart.display  # no bars to draw: the hint alone


async def test_history_panel_lists_the_version_change() -> None:
    panel = HistoryPanel()
    app = One(panel)
    async with app.run_test(size=(100, 30)) as pilot:
        panel.show(history_records())
        await pilot.pause()
        changes = str(panel.query_one("#history-changes").render())
        assert "B: llamacpp b6097 → b7010  −8.0 ± 0.2 tok/s (45.0 → 37.0), 14 vs 14 runs" in changes
        assert "A: llamacpp b6097 → b7010  +0.0 ± 0.2 tok/s" in changes and "within the noise" in changes
        assert panel.border_subtitle == "56 runs, 2 patterns"
        panel.show(history_records(), patterns=["A"])
        await pilot.pause()
        assert panel.query_one(ChartView).render_values() == ["A: 28 runs, last 122.4"]


async def chart_drawn(pilot: Pilot[None], panel: Widget) -> None:
    """The panels mount their chart with the first figures to draw (textual-plot and numpy stay out of an
    idle screen's memory): wait until it is mounted and sized, then a frame for its drawing."""
    for _ in range(100):
        views = panel.query(ChartView)
        if views and views.first().is_mounted and views.first().size.height:
            break
        await pilot.pause()
    else:
        raise AssertionError("the chart was never mounted")
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_history_snapshot(snap_compare: Snap, size: tuple[int, int]) -> None:
    panel = HistoryPanel()

    async def show(pilot: Pilot[None]) -> None:
        panel.show(history_records())
        await chart_drawn(pilot, panel)

    assert snap_compare(One(panel), terminal_size=size, run_before=show)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_results_chart_snapshot(snap_compare: Snap, size: tuple[int, int]) -> None:
    panel = ResultsPanel()

    async def show(pilot: Pilot[None]) -> None:
        panel.show(seed_records())
        await chart_drawn(pilot, panel)

    assert snap_compare(One(panel), terminal_size=size, run_before=show)


@pytest.mark.parametrize("which", ["history", "results"])
def test_no_color_snapshot(snap_compare: Snap, monkeypatch: pytest.MonkeyPatch, which: str) -> None:
    """NO_COLOR: Textual's monochrome filter over the plot (which once crashed on the canvas's blank lines)."""
    monkeypatch.setenv("NO_COLOR", "1")
    panel: HistoryPanel | ResultsPanel = HistoryPanel() if which == "history" else ResultsPanel()

    async def show(pilot: Pilot[None]) -> None:
        panel.show(history_records() if isinstance(panel, HistoryPanel) else seed_records())
        await chart_drawn(pilot, panel)

    app = One(panel)
    assert snap_compare(app, terminal_size=(80, 24), run_before=show)
    assert app.no_color


def test_tune_curve_chart_and_svg() -> None:
    """The tuning curve: a point per setting with its spread, the fit boundary and the winner marked."""
    from dataclasses import dataclass

    @dataclass
    class Setting:
        value: int
        mean: float | None
        sd: float | None

    settings = [Setting(20, 17.5, 0.4), Setting(24, 122.3, 0.9), Setting(22, 30.1, None), Setting(25, None, None)]
    chart = tune_chart(settings, "gpu_layers", fit_max=24, best=24)
    [s] = chart.series
    assert s.xs == (20.0, 22.0, 24.0) and s.ys == (17.5, 30.1, 122.3) and s.errs == (0.4, None, 0.9)
    root = parse(to_svg(chart))
    assert [t.text for t in root.findall(f".//{SVG}text[@class='marker-label']")] == ["fits ≤ 24"]
    assert root.findtext(f"{SVG}title") == "decode tok/s by gpu_layers (best 24)"
    assert len(root.findall(f".//{SVG}line[@class='err']")) == 2


async def test_tune_curve_in_a_chart_view() -> None:
    from dataclasses import dataclass

    @dataclass
    class Setting:
        value: int
        mean: float | None
        sd: float | None

    view = ChartView()
    app = One(view)
    async with app.run_test(size=(80, 20)) as pilot:
        view.show(tune_chart([Setting(22, 30.0, 1.0), Setting(24, 120.0, 2.0)], fit_max=24))
        await pilot.pause()
        assert view.render_values() == ["decode tok/s: 2 runs, last 120.0"]


async def test_charts_draw_under_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    """textual-hires-canvas hands Textual's monochrome filter an unstyled blank line before its first
    layout; unpatched, that raised AttributeError and took the app down (run_test re-raises it)."""
    monkeypatch.setenv("NO_COLOR", "1")
    panel = HistoryPanel()
    app = One(panel)
    async with app.run_test(size=(80, 24)) as pilot:
        panel.show(history_records())
        await pilot.pause()
        assert app.no_color and panel.query_one(ChartView).render_values()


async def test_h_shows_the_history_of_the_store_and_it_follows_new_runs(
    build: Callable[..., GptossTop], store: ResultsStore
) -> None:
    for r in history_records():
        assert store.append(r) is None
    app = build()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("H")
        await app.workers.wait_for_complete()
        await pilot.pause()
        main = app.main
        history = main.query_one(HistoryPanel)
        assert main.has_class("-view-history") and history.display
        assert not main.query_one(ResultsPanel).display and not main.query_one(OutputPanel).display
        assert history.border_subtitle == "56 runs, 2 patterns"
        await pilot.press("enter")  # pattern A of the test file runs; the view comes back to the output
        assert main.run_worker_ is not None
        await main.run_worker_.wait()
        await app.workers.wait_for_complete()
        await pilot.press("H")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert history.border_subtitle == "57 runs, 2 patterns"


async def test_roomy_history_takes_the_results_place(build: Callable[..., GptossTop], store: ResultsStore) -> None:
    for r in history_records():
        store.append(r)
    app = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        main = app.main
        assert main.query_one(ResultsPanel).display and not main.query_one(HistoryPanel).display
        await pilot.press("H")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert main.query_one(HistoryPanel).display and not main.query_one(ResultsPanel).display
        assert main.query_one(OutputPanel).display  # the rest of the roomy screen stays
        await pilot.press("R")
        await pilot.pause()
        assert main.query_one(ResultsPanel).display and not main.query_one(HistoryPanel).display
