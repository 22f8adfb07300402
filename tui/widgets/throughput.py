"""Live tok/s in large digits with its recent history, and the run's figures as they settle."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Digits, Sparkline, Static

from backends.runs.record import RunRecord
from backends.runs.stats import LiveFigures
from tui.widgets.fmt import DASH, num


def _tps(v: float | None, unknown: str = "0") -> str:
    if v is None:
        return unknown
    return f"{v:.0f}" if v >= 1000 else f"{v:.1f}"


class RateDigits(Digits):
    """The big tok/s figure. The panel gives it its whole width (CSS), so a new value never changes its
    size and a repaint is enough. Digits itself asks for a layout pass of the screen whenever the text's
    length changes: 99.9 → 100.0, or 9.9 → 10.0 where gpt-oss on a CPU hovers. A live rate crosses
    such a line again and again, and each pass cost the model ~9 ms of a core at 120×40."""

    def update(self, value: str) -> None:
        if value != self.value:
            self._value = value  # where Digits keeps its text (Textual 6–8)
            self.refresh()


class ThroughputPanel(Vertical):
    DEFAULT_CSS = """
    ThroughputPanel {
        border: round $primary-darken-1;
        height: auto;
    }
    ThroughputPanel #tps-label { color: $text-muted; height: 1; }
    ThroughputPanel RateDigits { width: 1fr; }
    ThroughputPanel Sparkline { height: 2; margin: 0 0; }
    ThroughputPanel #figures { height: auto; }
    """

    # What each part shows now: a flush that changes nothing redraws nothing, and one that changes
    # only figures repaints them in place (no layout pass: the rows keep their count and fit).
    _label = ""
    _rows: tuple[str, ...] = ()
    _fits = 0

    def compose(self) -> ComposeResult:
        yield Static("tok/s", id="tps-label")
        yield RateDigits("0", id="tps")
        yield Sparkline([], id="spark")
        yield Static(id="figures")

    def on_mount(self) -> None:
        self.border_title = "Throughput"
        self._label_w = self.query_one("#tps-label", Static)
        self._digits = self.query_one(RateDigits)
        self._spark = self.query_one(Sparkline)
        self._figures_w = self.query_one("#figures", Static)
        self.reset()

    def reset(self) -> None:
        self._set("tok/s · waiting", "0", [])
        self._figures(None, None, None, None, None, None)

    def _set(self, label: str, digits: str, spark: Sequence[float] | None) -> None:
        if label != self._label:
            self._label = label
            self._label_w.update(label, layout=False)  # one row, always
        # Same text, no redraw: over SSH every repaint costs bandwidth.
        if self._digits.value != digits:
            self._digits.update(digits)
        if spark is not None:
            data = list(spark)
            if self._spark.data != data:
                self._spark.data = data

    def show_live(self, f: LiveFigures, spark: Sequence[float], calm: bool = False) -> None:
        # calm: the model computes on this machine's CPU; the screen redraws once a second to leave it them.
        label = "tok/s · live · 1 redraw/s" if calm else "tok/s · live (2 s window)"
        self._set(label, _tps(f.tps), spark if len(spark) > 1 else [])
        self._figures(f.ttft_s, f.prompt_tps, f.completion_tokens, f.reasoning_tokens, None, f.elapsed_s)

    def show_final(self, rec: RunRecord, spark: Sequence[float]) -> None:
        if rec.decode_tps is None:
            label = (
                "tok/s · none measured"
                if rec.ok
                else "tok/s · stopped"
                if rec.error_kind == "cancelled"
                else "tok/s · run failed"
            )
        else:
            label = f"tok/s · final ({rec.stats_source or 'client'})"
        # Unknown is a dash, never 0 (the record's rule); a lone 0 seed is no history worth drawing.
        self._set(label, _tps(rec.decode_tps, "-"), spark if len(spark) > 1 else [])
        client = rec.decode_tps_client if rec.stats_source == "server" else None
        self._figures(rec.ttft_s, rec.prompt_tps, rec.completion_tokens, rec.reasoning_tokens, client, rec.total_s)

    def _figures(
        self,
        ttft: float | None,
        prompt_tps: float | None,
        tokens: int | None,
        reasoning: int | None,
        client_tps: float | None,
        elapsed: float | None,
    ) -> None:
        rows = [
            ("TTFT", num(ttft, ".2f", " s")),
            ("prompt", num(prompt_tps, ".0f", " tok/s")),
            (
                "tokens",
                (DASH if tokens is None else str(tokens)) + ("" if reasoning is None else f" ({reasoning} think)"),
            ),
            ("time", num(elapsed, ".1f", " s")),
        ]
        if client_tps is not None:
            rows.append(("client", num(client_tps, ".1f", " tok/s")))
        lines = tuple(f"{label:<7}{value}" for label, value in rows)
        if lines == self._rows:
            return
        t = Text()
        for n, (label, value) in enumerate(rows):
            if n:
                t.append("\n")
            t.append(f"{label:<7}", style="dim")
            t.append(value)
        width = self._figures_w.content_region.width
        widest = max(map(cell_len, lines))
        # A layout pass only when the height may change: another row count, or a row that may wrap.
        layout = len(lines) != len(self._rows) or widest > width or self._fits != width
        self._rows, self._fits = lines, width if widest <= width else 0
        self._figures_w.update(t, layout=layout)
