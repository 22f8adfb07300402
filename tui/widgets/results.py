"""The runs since the app started, summarised per pattern (the seed's table, with ± and memory),
and a bar chart of decode tok/s per pattern."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from backends.record import RunRecord
from backends.results import Summary, summarize
from tui.widgets.fmt import DASH, gib, num, pressure_text

COLUMNS = ("pattern", "settings", "tok/s", "TTFT s", "runs", "peak VRAM", "pressure", "source")
# Narrower than WIDE_FROM: the settings are in the pattern list beside it, and nothing scrolls sideways
# (the table takes no focus, so a sideways scroll would need a mouse).
NARROW_COLUMNS = ("pattern", "tok/s", "TTFT", "n", "VRAM", "press.")
WIDE_FROM = 80


def chart(summaries: Sequence[Summary], width: int) -> Text:
    """One bar per pattern, scaled to the fastest; the number is printed, so no colour is needed."""
    rated = [s for s in summaries if s.decode_mean is not None]
    if not rated:
        return Text("tok/s per pattern: no successful runs yet", style="dim")
    top = max(s.decode_mean or 0.0 for s in rated) or 1.0
    label_w = min(max(len(s.pattern) for s in rated), 12)
    bar_w = max(width - label_w - 12, 4)
    t = Text()
    for n, s in enumerate(rated):
        if n:
            t.append("\n")
        mean = s.decode_mean or 0.0
        full = max(round(mean / top * bar_w), 1)
        t.append(f"{s.pattern[:label_w]:<{label_w}} ", style="bold")
        t.append("█" * full, style="cyan")
        t.append(f" {mean:.1f}")
    return t


class ResultsPanel(Vertical):
    DEFAULT_CSS = """
    ResultsPanel { border: round $primary-darken-1; height: 1fr; }
    ResultsPanel DataTable { height: auto; max-height: 1fr; }
    ResultsPanel #chart { height: auto; margin-top: 1; }
    ResultsPanel #exported { height: auto; color: $text-muted; }
    """

    _exported = False
    _narrow: bool | None = None
    _records: Sequence[RunRecord] = ()
    _summaries: Sequence[Summary] = ()

    def compose(self) -> ComposeResult:
        table: DataTable[str | Text] = DataTable(id="results-table", cursor_type="row", zebra_stripes=True)
        table.can_focus = False
        yield table
        yield Static(id="chart")
        yield Static(id="exported")

    def on_mount(self) -> None:
        self.border_title = "Results (this session)"
        self.show([])

    def on_resize(self) -> None:
        if self._narrow != (self.size.width < WIDE_FROM):
            self.show(self._records)
        else:
            self._draw_chart()

    def show(self, records: Sequence[RunRecord]) -> None:
        self._records = list(records)
        self._summaries = summarize(records)
        self._narrow = self.size.width < WIDE_FROM
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_columns(*(NARROW_COLUMNS if self._narrow else COLUMNS))
        for s in self._summaries:
            runs = f"{s.runs - s.failed}/{s.runs}" if s.failed else str(s.runs)
            if self._narrow:
                vram = DASH if s.peak_vram_bytes is None else f"{s.peak_vram_bytes / 2**30:.1f}G"
                table.add_row(s.pattern, s.tps_text(), num(s.ttft_mean, ".2f"), runs, vram,
                              pressure_text(s.memory_pressure_peak))  # fmt: skip
                continue
            table.add_row(
                s.pattern, s.settings, s.tps_text(), num(s.ttft_mean, ".2f"), runs,
                gib(s.peak_vram_bytes), pressure_text(s.memory_pressure_peak), s.stats_source or DASH,
            )  # fmt: skip
        if not self._summaries:
            self.query_one("#exported", Static).update("no runs yet — enter runs a pattern, a runs them all")
        elif not self._exported:
            self.query_one("#exported", Static).update("")
        self._draw_chart()

    def show_exported(self, lines: Sequence[str]) -> None:
        self._exported = True
        self.query_one("#exported", Static).update("\n".join(lines))

    def _draw_chart(self) -> None:
        width = self.scrollable_content_region.width or 60
        self.query_one("#chart", Static).update(chart(self._summaries, width))
