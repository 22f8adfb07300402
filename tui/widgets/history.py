"""Every stored run's decode tok/s over time, one line per pattern, and what changed between server
versions (the last change per pattern, as `gptoss-top results --compare` prints it)."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from backends.runs.charts import history_chart
from backends.runs.compare import change_text, compare
from backends.runs.record import RunRecord
from tui.widgets.chart_slot import show_chart

EMPTY = "no stored runs yet — every run is kept in results.jsonl and shows here"


class HistoryPanel(Vertical):
    DEFAULT_CSS = """
    HistoryPanel { border: round $primary-darken-1; height: 1fr; }
    HistoryPanel #history-chart { height: 1fr; min-height: 6; }
    HistoryPanel #history-changes { height: auto; max-height: 5; color: $text-muted; }
    HistoryPanel.-empty #history-chart { display: none; }
    """

    def compose(self) -> ComposeResult:
        # The chart (textual-plot and numpy, ~16 MB) is mounted with the first run to draw (show).
        yield Static(id="history-changes")

    def on_mount(self) -> None:
        self.border_title = "History (all stored runs)"

    def show(self, records: Sequence[RunRecord], patterns: Sequence[str] = ()) -> None:
        chart = history_chart(records, patterns)
        show_chart(self, chart, "history-chart", before="history-changes")
        self.query_one("#history-changes", Static).update(self.changes_text(records, patterns))
        runs = sum(len(s.ys) for s in chart.series)
        self.border_subtitle = f"{runs} runs, {len(chart.series)} patterns" if runs else ""

    @staticmethod
    def changes_text(records: Sequence[RunRecord], patterns: Sequence[str] = ()) -> str:
        if not records:
            return EMPTY
        last: dict[str, str] = {}
        for c in compare(records, by="version", patterns=patterns):
            last[c.pattern] = change_text(c, "version")
        if not last:
            return "one server version per pattern so far — nothing to compare"
        return "\n".join(last.values())
