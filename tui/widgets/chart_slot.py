"""A panel's chart, mounted on the first data: textual-plot and numpy load only when there is a plot."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widget import Widget

if TYPE_CHECKING:
    from backends.runs.charts import Chart
    from tui.widgets.charts import ChartView


def show_chart(panel: Widget, chart: Chart, view_id: str, before: str) -> None:
    """Draw `chart` in the panel's ChartView `#view_id`, mounting it before `#before` the first time."""
    panel.set_class(chart.empty, "-empty")
    if view := panel.query(f"#{view_id}"):
        view.first(_chart_view()).show(chart)
    elif not chart.empty:
        new = _chart_view()(id=view_id)
        new.show(chart)  # drawn when mounted
        panel.mount(new, before=f"#{before}")


def _chart_view() -> type[ChartView]:
    from tui.widgets.charts import ChartView

    return ChartView
