"""A `Chart` (backends/runs/charts.py) drawn with textual-plot: results bars, history lines, tuning curves.

The plot takes no focus (its own keys would shadow the app's: arrows, +/-, r), keeps small margins so
a chart still reads in the compact 80×24 layout, and tells series apart by marker shape as well as
colour, so it reads with NO_COLOR too. A bar's value is written under it, beside its name, when
there is room.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Grid
from textual.strip import Strip

from backends.blas import load_numpy
from backends.runs.charts import MARKERS, Chart, date_text, nice_ticks, tick_text, x_range, y_range

load_numpy()  # before the plotting libraries load it: with one OpenBLAS thread, not a spinning one per core

from textual_hires_canvas import Canvas  # noqa: E402
from textual_plot import HiResMode, PlotWidget  # noqa: E402
from textual_plot.axis_formatter import AxisFormatter, CategoricalAxisFormatter, NumericAxisFormatter  # noqa: E402
from textual_plot.plot_widget import Legend  # noqa: E402

STYLES = ("cyan", "magenta", "green", "yellow", "blue", "red")


class TickFormatter(NumericAxisFormatter):
    """Round ticks (1-2-5), printed short enough for a 6-cell margin."""

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        return nice_ticks(min_, max_, min(max_ticks, 5))

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        return [tick_text(t) for t in ticks]


class DateFormatter(AxisFormatter):
    """POSIX seconds as dates (or times, within two days), at most four ticks."""

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        step = (max_ - min_) / 3 if max_ > min_ else 1.0
        return [min_ + step * i for i in range(4)]

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        span = (ticks[-1] - ticks[0]) if len(ticks) > 1 else 0.0
        return [date_text(t, span) for t in ticks]


class _Canvas(Canvas):
    """textual-hires-canvas 0.14 answers a line it has not sized yet with an empty, unstyled strip;
    Textual's NO_COLOR filter (textual/filter.py, Monochrome) fails on a segment without a style, so
    such a line is given the canvas's own blank, styled line instead."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if strip.cell_length == 0:
            return Strip.blank(self.size.width, self.rich_style)
        return strip


class ChartView(PlotWidget):
    DEFAULT_CSS = """
    ChartView { height: 1fr; min-height: 6; }
    ChartView #legend { border: none; background: $surface; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, allow_pan_and_zoom=False)
        self.can_focus = False
        self.chart: Chart | None = None

    def compose(self) -> ComposeResult:
        # PlotWidget.compose (textual-plot 0.10.1), with the canvas above.
        with Grid():
            yield _Canvas(1, 1, id="margin-top")
            yield _Canvas(1, 1, id="margin-left")
            yield _Canvas(1, 1, id="plot")
            yield _Canvas(1, 1, id="margin-bottom")
        yield Legend(id="legend")

    def on_mount(self) -> None:
        self.margin_top, self.margin_bottom, self.margin_left = 1, 1, 6
        if self.chart is not None:  # shown before it was mounted: drawn once the layout has sized it
            self.call_after_refresh(self._redraw)

    def _redraw(self) -> None:
        if self.chart is not None:
            self._draw(self.chart)

    def on_resize(self) -> None:
        if self.chart is not None and self.chart.kind == "bar":
            self._draw(self.chart)  # the labels under the bars depend on the width

    def show(self, chart: Chart) -> None:
        self.chart = chart
        if self.is_mounted:
            self._draw(chart)

    def _draw(self, chart: Chart) -> None:
        self.clear()
        x0, x1 = x_range(chart)
        y0, y1 = y_range(chart)
        self.set_ylimits(y0, y1)
        self.set_y_formatter(TickFormatter())
        self.set_ylabel(chart.y_label)
        if chart.kind == "bar":
            self._bars(chart)
        else:
            self._lines(chart)
        self.set_xlimits(x0, x1)
        for x, label in chart.markers:
            self.add_v_line(x, "bold", label=label)

    def _bars(self, chart: Chart) -> None:
        room = (self.size.width - self.margin_left) // max(len(chart.categories), 1) - 1
        values = chart.series[0].ys if chart.series else ()
        labels = [f"{c} {y:.1f}" for c, y in zip(chart.categories, values, strict=False)]
        fits = bool(labels) and max(len(label) for label in labels) <= room
        self.set_x_formatter(CategoricalAxisFormatter(labels if fits else list(chart.categories)))
        self.set_xticks([float(i) for i in range(1, len(chart.categories) + 1)])
        for s in chart.series:
            self.bar(list(s.xs), list(s.ys), width=0.6, bar_style=STYLES[0], hires_mode=HiResMode.QUADRANT)
            errs = [e if e is not None else float("nan") for e in (s.errs or [None] * len(s.xs))]
            if any(e == e for e in errs):  # NaN != NaN: bars without a spread get no whisker
                self.errorbar(list(s.xs), list(s.ys), yerr=[0.0 if e != e else e for e in errs], marker_style="bold")

    def _lines(self, chart: Chart) -> None:
        self.set_x_formatter(DateFormatter() if chart.x_is_time else TickFormatter())
        self.set_xticks(None)
        for i, s in enumerate(chart.series):
            style, marker = STYLES[i % len(STYLES)], MARKERS[i % len(MARKERS)]
            if len(s.xs) > 1:
                self.plot(list(s.xs), list(s.ys), line_style=style, hires_mode=HiResMode.BRAILLE)
            errs = [e or 0.0 for e in s.errs] if any(s.errs) else None
            if errs is not None:
                self.errorbar(
                    list(s.xs), list(s.ys), yerr=errs, marker=marker, marker_style=f"bold {style}", label=s.name
                )
            else:
                self.scatter(list(s.xs), list(s.ys), marker=marker, marker_style=f"bold {style}", label=s.name)
        if len(chart.series) > 1:
            self.show_legend()
        else:
            self.show_legend(is_visible=False)

    def render_values(self) -> list[str]:
        """The figures drawn, as text: what a screen reader (or a test) can read of the chart."""
        if self.chart is None:
            return []
        c = self.chart
        if c.kind == "bar":
            return [f"{name} {y:.1f}" for s in c.series for name, y in zip(c.categories, s.ys, strict=True)]
        return [f"{s.name}: {len(s.ys)} runs, last {s.ys[-1]:.1f}" for s in c.series if s.ys]
