"""The tuning curve as it grows: mean decode tok/s (± sd) per value of the tuned setting, the fit
boundary as a vertical line, drawn with textual-plot through `ChartView` (the same chart the
results and history views use)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from backends.runs.charts import Chart, tune_chart
from tui.widgets.charts import ChartView


def curve(settings: Iterable[Any], param: str, fit_max: int | None, best: int | None) -> Chart:
    """`tune_chart`, with the boundary on the right side for n_cpu_moe (fewer blocks on the CPU spill)."""
    chart = tune_chart(settings, param, fit_max if param == "gpu_layers" else None, best)
    if param == "n_cpu_moe" and fit_max is not None:
        chart = dataclasses.replace(chart, markers=((fit_max - 0.5, f"fits ≥ {fit_max}"),))
    return chart


class TuneCurve(ChartView):
    DEFAULT_CSS = "TuneCurve { height: 1fr; min-height: 8; }"

    def update_curve(self, settings: Iterable[Any], param: str, fit_max: int | None, best: int | None) -> None:
        self.show(curve(list(settings), param, fit_max, best))
