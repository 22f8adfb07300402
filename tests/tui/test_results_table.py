"""The results table fits its panel: columns are dropped or shortened, never cut off at the edge."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import pytest
from rich.cells import cell_len
from textual.geometry import Region
from textual.widgets import DataTable

from backends.runs.results import Summary
from tests.fakes.backend import FakeBackend
from tui.app import GptossTop
from tui.widgets.results import ResultsPanel, fit


def summary(name: str, mean: float | None, sd: float | None, pressure: str | None = "normal") -> Summary:
    return Summary(pattern=name, settings="ctx 131072, gpu 24, effort high", runs=3, failed=1, decode_mean=mean,
                   decode_sd=sd, ttft_mean=0.31, prompt_tps_mean=410.0, peak_vram_bytes=13 << 30,
                   memory_pressure_peak=pressure, stats_source="server")  # fmt: skip


SUMMARIES = [
    summary("A", 1520.5012, 30.8311),
    summary("long-pattern-name", 17.52, None, "critical"),
    summary("C", None, None, None),
]


def table_width(heads: list[str], rows: Sequence[Sequence[object]]) -> int:
    widths = [max([cell_len(h)] + [cell_len(str(r[i])) for r in rows]) for i, h in enumerate(heads)]
    return sum(w + 2 for w in widths)


@pytest.mark.parametrize("width", range(24, 130, 3))
def test_fit_never_exceeds_the_width(width: int) -> None:
    keys, heads, rows = fit(SUMMARIES, width)
    assert keys[0] == "pattern" and "tps" in keys  # the figure this is all about is never dropped
    assert table_width(heads, rows) <= width, (width, heads, rows)


def test_fit_keeps_everything_when_there_is_room() -> None:
    keys, heads, rows = fit(SUMMARIES, 200)
    assert keys == ["pattern", "settings", "tps", "ttft", "runs", "vram", "pressure", "source"]
    assert heads[2] == "tok/s" and rows[0][2] == "1520.50 ± 30.83"


def test_fit_drops_least_useful_columns_first() -> None:
    keys, _, rows = fit(SUMMARIES, 48)  # an 80-column terminal's results panel
    assert "settings" not in keys and "source" not in keys
    assert "pressure" in keys
    assert [str(r[keys.index("pressure")]) for r in rows] == ["normal", "critical", "—"]


def test_fit_shortens_names_before_figures() -> None:
    keys, _, rows = fit(SUMMARIES, 26)
    assert keys == ["pattern", "tps"]
    assert rows[0][1] == "1520.5 ± 30.8"
    assert str(rows[1][0]).endswith("…")


async def test_results_panel_at_80x24_shows_every_column_whole(build: Callable[..., GptossTop], clock: object) -> None:
    # Rates in the thousands with a spread: the table that used to end in "norma" at 80 columns.
    rates = itertools.cycle([1542.3, 1498.7, 1611.0])
    app = build(backend=FakeBackend(clock=clock, tps_for=lambda spec: next(rates)))
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("1", "enter", "enter", "3", "enter"):
            await pilot.press(key)
            if app.main.run_worker_ is not None:
                await app.main.run_worker_.wait()
        await pilot.press("R")
        await pilot.pause()
        panel = app.main.query_one(ResultsPanel)
        table = panel.query_one(DataTable)
        used = sum(c.get_render_width(table) for c in table.columns.values())
        assert 0 < used <= table.scrollable_content_region.width
        assert table.max_scroll_x == 0
        assert [str(c.label) for c in table.columns.values()][-1] == "press."
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert "settings" in [str(c.label) for c in table.columns.values()]
        assert table.max_scroll_x == 0


async def test_the_header_keeps_its_columns_when_a_frame_comes_before_the_table_measures(
    build: Callable[..., GptossTop], clock: object
) -> None:
    """DataTable measures new rows when it is next idle and keeps the cells it drew before: a frame drawn
    in between (a busy machine) left the header at its labels' widths above the wider row."""
    app = build(backend=FakeBackend(clock=clock))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        assert app.main.run_worker_ is not None
        await app.main.run_worker_.wait()
        await pilot.pause()
        panel = app.main.query_one(ResultsPanel)
        table = panel.query_one(DataTable)
        records = panel._records
        assert records
        panel.show([])
        await pilot.pause()
        panel.show(records)
        table.render_lines(Region(0, 0, table.size.width, table.size.height))  # a frame before the table's idle
        await pilot.pause()
        # What the screen shows: the lines through the widget's cache, as the compositor reads them.
        head, row = (strip.text for strip in table.render_lines(Region(0, 0, table.size.width, 2)))
        settings, tps = (str(c) for c in table.get_row_at(0)[1:3])
        assert "settings" in head and settings in row  # the widest column of the two lines
        assert head.index("tok/s") == row.index(tps), (head, row)
