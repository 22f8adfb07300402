"""Chart data for the results, history and tuning views, and the same chart as a static SVG file.

The TUI draws a `Chart` with textual-plot (tui/widgets/charts.py); `to_svg` writes it for a blog post.
Both read the same `Chart`, so the exported picture holds exactly the figures the screen showed.
Plotting libraries for the terminal have no SVG output (textual-plot 0.10 has none), hence the
small writer here: axes with rounded ticks, bars or lines with markers, error bars, a legend.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from backends.runs.record import RunRecord
from backends.runs.results import summarize

Kind = Literal["bar", "line"]
# Told apart by shape as well as colour, so a chart reads in black and white (NO_COLOR, print).
MARKERS = ("●", "■", "▲", "◆", "✚", "✖")
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf")


def escape(text: str) -> str:
    """html.escape, quotes too: names go into attribute values (data-series="..."). Imported when an
    SVG is written: `html` loads its entity table (~0.5 MB), and the TUI shows charts as text."""
    import html

    return html.escape(text)


@dataclass(frozen=True)
class Series:
    name: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    errs: tuple[float | None, ...] = ()  # ± per point (e.g. the sd of repeats); empty = none


@dataclass(frozen=True)
class Chart:
    title: str
    kind: Kind
    y_label: str
    x_label: str = ""
    series: tuple[Series, ...] = ()
    categories: tuple[str, ...] = ()  # bar charts: the label of x = 1, 2, ...
    x_is_time: bool = False  # xs are POSIX seconds; ticks are dates
    markers: tuple[tuple[float, str], ...] = field(default=())  # vertical lines (e.g. a fit boundary)

    @property
    def empty(self) -> bool:
        return not any(s.ys for s in self.series)


def results_chart(records: Iterable[RunRecord]) -> Chart:
    """Mean decode tok/s per pattern (± sd of its repeats): the results table at a glance."""
    rated = [s for s in summarize(records) if s.decode_mean is not None]
    xs = tuple(float(i) for i in range(1, len(rated) + 1))
    ys = tuple(s.decode_mean or 0.0 for s in rated)
    errs = tuple(s.decode_sd for s in rated)
    series = (Series("decode tok/s", xs, ys, errs),) if rated else ()
    return Chart("decode tok/s per pattern", "bar", "tok/s", series=series, categories=tuple(s.pattern for s in rated))


def _seconds(iso: str) -> float | None:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def history_chart(records: Iterable[RunRecord], patterns: Sequence[str] = ()) -> Chart:
    """Decode tok/s of every successful run over time, one line per pattern."""
    per: dict[str, list[tuple[float, float]]] = {}
    for r in records:
        if not r.ok or r.warmup or r.decode_tps is None or (patterns and r.pattern not in patterns):
            continue
        t = _seconds(r.started_at)
        if t is not None:
            per.setdefault(r.pattern, []).append((t, r.decode_tps))
    series = []
    for name, points in per.items():
        points.sort()
        series.append(Series(name, tuple(p[0] for p in points), tuple(p[1] for p in points)))
    return Chart("decode tok/s over time", "line", "tok/s", "run date (UTC)", tuple(series), x_is_time=True)


def tune_chart(
    settings: Iterable[Any], name: str = "gpu_layers", fit_max: int | None = None, best: int | None = None
) -> Chart:
    """A tuning curve: mean decode tok/s (± sd) per value of the tuned setting, the fit boundary as a
    vertical marker, the winner in the title. `settings` are backends.runs.tune.Setting (value, mean, sd)."""
    rated = sorted((s for s in settings if s.mean is not None), key=lambda s: s.value)
    series = Series(
        "decode tok/s",
        tuple(float(s.value) for s in rated),
        tuple(float(s.mean) for s in rated),
        tuple(s.sd for s in rated),
    )
    # The boundary sits between the last value that fits and the first that does not, clear of both points.
    markers = ((fit_max + 0.5, f"fits ≤ {fit_max}"),) if fit_max is not None else ()
    title = f"decode tok/s by {name}" + (f" (best {best})" if best is not None else "")
    return Chart(title, "line", "tok/s", name, (series,) if rated else (), markers=markers)


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round tick values (1, 2, 5 × 10^n apart) covering lo..hi."""
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(most - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    return ticks


def tick_text(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.1f}"


def date_text(t: float, span: float) -> str:
    d = datetime.fromtimestamp(t, UTC)  # run records keep UTC; so does the chart, on every machine
    return d.strftime("%H:%M") if span < 2 * 86400 else d.strftime("%m-%d")


def y_range(chart: Chart) -> tuple[float, float]:
    """0 up to the highest point (error bars included), with a little headroom (and the legend's)."""
    tops = [y + (e or 0.0) for s in chart.series for y, e in zip(s.ys, s.errs or [None] * len(s.ys), strict=True)]
    top = max(tops, default=1.0) or 1.0
    legend = len(chart.series) if chart.kind == "line" and len(chart.series) > 1 else 0
    return 0.0, top * (1.08 + 0.1 * legend)  # room above the lines for the legend's rows


def x_range(chart: Chart) -> tuple[float, float]:
    if chart.kind == "bar":
        n = len(chart.categories)
        pad = max(3 - n, 0) / 2  # one or two bars stay bar-sized, in the middle
        return 0.4 - pad, n + 0.6 + pad
    xs = [x for s in chart.series for x in s.xs] + [m[0] for m in chart.markers]
    lo, hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    pad = (hi - lo) * 0.04 or (3600.0 if chart.x_is_time else 0.5)
    return lo - pad, hi + pad


# -- SVG -------------------------------------------------------------------------------------------


class _Frame:
    def __init__(self, chart: Chart, width: int, height: int) -> None:
        self.left, self.right, self.top, self.bottom = 64, width - 16, 44, height - 56
        self.x0, self.x1 = x_range(chart)
        self.y0, self.y1 = y_range(chart)

    def x(self, v: float) -> float:
        return self.left + (v - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def y(self, v: float) -> float:
        return self.bottom - (v - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)


def _text(x: float, y: float, s: str, anchor: str = "middle", size: int = 12, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"{c}>{escape(s)}</text>'


def _axes(chart: Chart, f: _Frame) -> list[str]:
    out = [f'<rect x="{f.left}" y="{f.top}" width="{f.right - f.left}" height="{f.bottom - f.top}" '
           'fill="none" stroke="#444"/>']  # fmt: skip
    for t in nice_ticks(f.y0, f.y1):
        y = f.y(t)
        out.append(f'<line x1="{f.left}" x2="{f.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(_text(f.left - 6, y + 4, tick_text(t), "end"))
    if chart.kind == "bar":
        for i, name in enumerate(chart.categories, 1):
            out.append(_text(f.x(i), f.bottom + 18, name, cls="category"))
    else:
        span = f.x1 - f.x0
        for t in nice_ticks(f.x0, f.x1, 6) if not chart.x_is_time else _time_ticks(f.x0, f.x1):
            text = date_text(t, span) if chart.x_is_time else tick_text(t)
            out.append(_text(f.x(t), f.bottom + 18, text))
    out.append(_text((f.left + f.right) / 2, 26, chart.title, size=16, cls="title"))
    out.append(_text(16, (f.top + f.bottom) / 2, chart.y_label, size=12, cls="y-label").replace(
        "<text ", f'<text transform="rotate(-90 16 {(f.top + f.bottom) / 2:.1f})" '))  # fmt: skip
    if chart.x_label:
        out.append(_text((f.left + f.right) / 2, f.bottom + 40, chart.x_label, cls="x-label"))
    return out


def _time_ticks(lo: float, hi: float) -> list[float]:
    day = 86400.0
    step = day if hi - lo >= 2 * day else 3600.0
    steps = max(int((hi - lo) / step / 6), 1)
    t = math.ceil(lo / step) * step
    out = []
    while t <= hi:
        out.append(t)
        t += step * steps
    return out


def _data(s: Series, x: float, y: float) -> str:
    return f'data-series="{escape(s.name)}" data-x="{x:g}" data-y="{y:.6g}"'


def _bars(s: Series, f: _Frame, colour: str) -> list[str]:
    out = []
    w = (f.x(1.0) - f.x(0.0)) * 0.6
    for x, y, e in zip(s.xs, s.ys, s.errs or [None] * len(s.xs), strict=True):
        cx, top = f.x(x), f.y(y)
        box = f'x="{cx - w / 2:.1f}" y="{top:.1f}" width="{w:.1f}" height="{f.bottom - top:.1f}"'
        out.append(f'<rect class="bar" {_data(s, x, y)} {box} fill="{colour}"/>')
        if e:
            ends = f'x1="{cx:.1f}" x2="{cx:.1f}" y1="{f.y(y - e):.1f}" y2="{f.y(y + e):.1f}"'
            out.append(f'<line class="err" {ends} stroke="#000"/>')
        out.append(_text(cx, top - 6, f"{y:.1f}", cls="value"))
    return out


def _line(s: Series, f: _Frame, colour: str, marker: str) -> list[str]:
    pts = " ".join(f"{f.x(x):.1f},{f.y(y):.1f}" for x, y in zip(s.xs, s.ys, strict=True))
    out = [f'<polyline class="series" data-series="{escape(s.name)}" points="{pts}" fill="none" '
           f'stroke="{colour}" stroke-width="2"/>']  # fmt: skip
    for x, y, e in zip(s.xs, s.ys, s.errs or [None] * len(s.xs), strict=True):
        at = f'x="{f.x(x):.1f}" y="{f.y(y) + 4:.1f}" text-anchor="middle" font-size="11"'
        out.append(f'<text class="point" {_data(s, x, y)} {at} fill="{colour}">{marker}</text>')
        if e:
            ends = f'x1="{f.x(x):.1f}" x2="{f.x(x):.1f}" y1="{f.y(y - e):.1f}" y2="{f.y(y + e):.1f}"'
            out.append(f'<line class="err" {ends} stroke="{colour}"/>')
    return out


def to_svg(chart: Chart, width: int = 720, height: int = 400) -> str:
    """A standalone SVG of the chart: every bar and point carries data-series, data-x and data-y."""
    f = _Frame(chart, width, height)
    body = _axes(chart, f)
    if chart.empty:
        body.append(_text((f.left + f.right) / 2, (f.top + f.bottom) / 2, "no successful runs yet"))
    for i, s in enumerate(chart.series):
        colour, marker = COLOURS[i % len(COLOURS)], MARKERS[i % len(MARKERS)]
        body += _bars(s, f, colour) if chart.kind == "bar" else _line(s, f, colour, marker)
    for x, label in chart.markers:
        body.append(f'<line class="marker" x1="{f.x(x):.1f}" x2="{f.x(x):.1f}" y1="{f.top}" y2="{f.bottom}" '
                    'stroke="#000" stroke-dasharray="4 3"/>')  # fmt: skip
        body.append(_text(f.x(x) + 4, f.top + 14, label, "start", cls="marker-label"))
    if chart.kind == "line" and len(chart.series) > 1:
        for i, s in enumerate(chart.series):
            colour, marker = COLOURS[i % len(COLOURS)], MARKERS[i % len(MARKERS)]
            body.append(f'<text class="legend" x="{f.right - 150}" y="{f.top + 16 + 16 * i}" font-size="12" '
                        f'fill="{colour}">{marker} {escape(s.name)}</text>')  # fmt: skip
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif">')  # fmt: skip
    return "\n".join([head, f"<title>{escape(chart.title)}</title>",
                      f'<rect width="{width}" height="{height}" fill="#fff"/>', *body, "</svg>"]) + "\n"  # fmt: skip
