"""The runs since the app started, summarised per pattern (the seed's table, with ± and memory),
and a bar chart of decode tok/s per pattern (textual-plot, through ChartView)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from backends.runs.charts import results_chart
from backends.runs.record import RunRecord
from backends.runs.results import Summary, summarize
from tui.widgets.chart_slot import show_chart
from tui.widgets.fmt import DASH, gib, num, pressure_text

# (header, header when short). Nothing scrolls sideways (the table takes no focus, so that would need
# a mouse): columns that do not fit are dropped instead, least useful first, and the rest use their
# short forms. The settings are in the pattern list beside the table, so they go early.
COLUMNS = {
    "pattern": ("pattern", "pattern"),
    "settings": ("settings", "settings"),
    "tps": ("tok/s", "tok/s"),
    "ttft": ("TTFT s", "TTFT"),
    "runs": ("runs", "n"),
    "vram": ("peak VRAM", "VRAM"),
    "pressure": ("pressure", "press."),
    "source": ("source", "source"),
}
# Each step is tried in turn until the table fits: (how short, columns dropped). Short 1: short
# headers and VRAM; 2: tok/s to one decimal as well.
FIT_STEPS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (0, ()),
    (0, ("source",)),
    (0, ("source", "settings")),
    (1, ("source", "settings")),
    (2, ("source", "settings")),
    (2, ("source", "settings", "vram")),
    (2, ("source", "settings", "vram", "runs")),
    (2, ("source", "settings", "vram", "runs", "ttft")),
    (2, ("source", "settings", "vram", "runs", "ttft", "pressure")),
)
Cell = str | Text


def cells(s: Summary, short: int) -> dict[str, Cell]:
    runs = f"{s.runs - s.failed}/{s.runs}" if s.failed else str(s.runs)
    tps, vram = s.tps_text(), gib(s.peak_vram_bytes)
    if short:
        vram = gib(s.peak_vram_bytes, unit="G")
    if short > 1 and s.decode_mean is not None:
        tps = f"{s.decode_mean:.1f}" + ("" if s.decode_sd is None else f" ± {s.decode_sd:.1f}")
    return {
        "pattern": s.pattern, "settings": s.settings, "tps": tps, "ttft": num(s.ttft_mean, ".2f"), "runs": runs,
        "vram": vram, "pressure": pressure_text(s.memory_pressure_peak), "source": s.stats_source or DASH,
    }  # fmt: skip


def widths(heads: Sequence[str], rows: Sequence[Sequence[Cell]]) -> list[int]:
    """Each column's width in cells: its header's or its widest cell's, whichever is wider."""
    return [max([cell_len(h)] + [cell_len(str(r[i])) for r in rows]) for i, h in enumerate(heads)]


def fit(summaries: Sequence[Summary], width: int, padding: int = 1) -> tuple[list[str], list[str], list[list[Cell]]]:
    """The columns (keys, headers) and rows that fit in `width` cells; with no width known, all of them."""
    for short, dropped in FIT_STEPS:
        keys = [k for k in COLUMNS if k not in dropped]
        rows = [cells(s, short) for s in summaries]
        heads = [COLUMNS[k][min(short, 1)] for k in keys]
        sizes = widths(heads, [[r[k] for k in keys] for r in rows])
        used = sum(w + 2 * padding for w in sizes)
        if width <= 0 or used <= width:
            return keys, heads, [[r[k] for k in keys] for r in rows]
    # Even pattern and tok/s alone are too wide: shorten the names, never the figures.
    room = width - (used - sizes[0])
    names = max(room - 2 * padding, 4)
    for r in rows:
        name = str(r["pattern"])
        if cell_len(name) > names:
            r["pattern"] = name[: names - 1] + "…"
    return keys, heads, [[r[k] for k in keys] for r in rows]


class ResultsPanel(Vertical):
    DEFAULT_CSS = """
    ResultsPanel { border: round $primary-darken-1; height: 1fr; }
    ResultsPanel DataTable { height: auto; max-height: 1fr; }
    ResultsPanel #chart { height: 1fr; min-height: 7; margin-top: 1; }
    ResultsPanel.-empty #chart { display: none; }
    ResultsPanel #exported { height: auto; color: $text-muted; }
    """

    _exported = False
    _fitted_to: tuple[int, int] | None = None
    _records: Sequence[RunRecord] = ()
    _summaries: Sequence[Summary] = ()

    def compose(self) -> ComposeResult:
        table: DataTable[str | Text] = DataTable(id="results-table", cursor_type="row", zebra_stripes=True)
        table.can_focus = False
        yield table
        # The chart (textual-plot and numpy, ~16 MB) is mounted with the first result to draw (_draw_chart).
        yield Static(id="exported")

    def on_mount(self) -> None:
        self.border_title = "Results (this session)"
        self.show([])

    def on_resize(self) -> None:
        if self._fitted_to != self._room():
            self.show(self._records)

    def _room(self) -> tuple[int, int]:
        region = self.scrollable_content_region
        return region.width, region.height

    def _table_width(self, rows: int) -> int:
        """Cells the table may use: the panel's width, less a scrollbar when its rows cannot all show."""
        width, height = self._room()
        exported = self.query_one("#exported", Static)
        chart = 8 if self._summaries else 0  # the chart's least height and the row above it
        below = chart + (str(exported.render()).count("\n") + 1 if self._exported else 1)
        if width and rows + 1 > height - below:
            width -= self.query_one(DataTable).styles.scrollbar_size_vertical
        return width

    def show(self, records: Sequence[RunRecord]) -> None:
        self._records = list(records)
        self._summaries = summarize(records)
        self._fitted_to = self._room()
        table = self.query_one(DataTable)
        keys, heads, rows = fit(self._summaries, self._table_width(len(self._summaries)), table.cell_padding)
        table.clear(columns=True)
        # Each column's width is given, not measured: DataTable measures new rows when it is next idle,
        # and (Textual 8.2) keeps the cells it drew before that, so a frame drawn in between left the
        # header at its labels' widths above wider rows. The widths are the ones `fit` counted.
        # Text, not str: DataTable reads a str as markup, so a model called "[x]" would lose its name,
        # and the first str loads rich's emoji table (~1 MB for an idle TUI) to replace ":codes:".
        for key, head, width in zip(keys, heads, widths(heads, rows), strict=True):
            table.add_column(Text(head), key=key, width=width)
        for row in rows:
            table.add_row(*(Text(cell) if isinstance(cell, str) else cell for cell in row))
        if not self._summaries:
            self.query_one("#exported", Static).update("no runs yet — enter runs a pattern, a runs them all")
        elif not self._exported:
            self.query_one("#exported", Static).update("")
        self._draw_chart()

    def show_exported(self, lines: Sequence[str]) -> None:
        self._exported = True
        self.query_one("#exported", Static).update("\n".join(lines))

    def _draw_chart(self) -> None:
        show_chart(self, results_chart(self._records), "chart", before="exported")
