"""Tuning the selected pattern (`T` on the main screen): the curve drawn as it grows, run by run.

The tune runs in an exclusive worker on the event loop (the fit prediction in a thread), through
the same backends pool, sampler and results store as the main screen; `s` stops it (the runs made
so far stay stored), `escape` goes back. The answer is the one `gptoss-top tune` prints.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from backends.runs.patterns import Pattern
from backends.runs.record import RunRecord
from backends.runs.session import Run, RunContext
from backends.runs.tune import Setting
from backends.runs.tune_driver import (
    TunePlan,
    TuneReport,
    TuneSpec,
    TuneStep,
    check_capabilities,
    check_reachable,
    new_tune_id,
    plan_tune,
    run_tune,
)
from backends.runs.tune_render import summary
from tui.live import collector_spared
from tui.services import Services
from tui.widgets.tunecurve import TuneCurve


class TuneScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("s", "stop", "Stop"),
        Binding("e", "export", "Export"),
    ]
    DEFAULT_CSS = """
    TuneScreen > Vertical { border: round $accent; }
    TuneScreen #tune-status { height: auto; padding: 0 1; }
    TuneScreen #tune-table { height: auto; max-height: 40%; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, services: Services, pattern: Pattern, spec: TuneSpec | None = None) -> None:
        super().__init__()
        self.services = services
        self.pattern = pattern
        self.spec = spec or TuneSpec()
        self.plan: TunePlan | None = None
        self.report: TuneReport | None = None
        self.worker_: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Tune {self.pattern.name}: {self.spec.param}"
            yield Static("reading the model and the fit prediction…", id="tune-status")
            yield TuneCurve(id="tune-curve")
            yield Static("", id="tune-table")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.worker_ = self._tune()

    @property
    def running(self) -> bool:
        return self.worker_ is not None and self.worker_.is_running

    def action_stop(self) -> None:
        if self.running and self.worker_ is not None:
            self.worker_.cancel()
            self._status("stopped — the runs made so far are in the results store")

    def action_back(self) -> None:
        if self.running and self.worker_ is not None:
            self.worker_.cancel()
        self.dismiss()

    def action_export(self) -> None:
        """The answer as JSON (the CLI's `--format json`) and the curve as SVG, beside the other exports."""
        if self.report is None:
            self.notify("the tune has not finished — export when it has", severity="warning")
            return
        try:
            paths = export_tune(self.report, self.services.export_dir)
        except OSError as e:
            self.notify(f"export failed: {e.strerror or e}", severity="error", timeout=10)
            return
        self.notify("\n".join(map(str, paths)), title="exported the tune", timeout=8)

    def _status(self, text: str) -> None:
        self.query_one("#tune-status", Static).update(text)

    @work(exclusive=True, group="tune", exit_on_error=False)
    async def _tune(self) -> None:
        s = self.services
        backend = await s.pool.open(self.pattern)
        check_capabilities(self.pattern, backend.capabilities, self.spec.param)
        await check_reachable(self.pattern, backend)
        snap = s.sampler.latest if s.sampler is not None else None
        self.plan = plan = await asyncio.to_thread(plan_tune, self.pattern, self.spec, snap)
        where = f"from the fit ({plan.hint.source})" if plan.hint.max_fit is not None else "across the range"
        self._status(f"{len(plan.values)} values, starting {where}")
        ctx = RunContext(clock=s.clock, sampler=s.sampler)

        tune_id = new_tune_id()

        async def run_one(p: Pattern, repeat: int) -> RunRecord:
            run = Run(p, await s.pool.open(p), repeat, ctx)
            try:
                return await run.execute()
            except asyncio.CancelledError:  # stopped: the partial run is stored too, as on the main screen
                run.record.tune_id = tune_id
                s.store.append(run.record)
                s.records.append(run.record)
                raise

        with collector_spared():
            self.report = await run_tune(self.pattern, self.spec, plan, run_one=run_one, store=s.store,
                                         on_step=self._on_step, tune_id=tune_id)  # fmt: skip
        self._status(summary(self.report))
        self._draw(self.report.outcome.settings, self.report.outcome.best)

    def _on_step(self, step: TuneStep) -> None:
        head = f"[{step.index}/{step.budget}] {step.param}={step.run.value}" + (" warm-up" if step.run.warmup else "")
        rec = step.record
        if rec is None:
            self._status(f"{head} …")
            return
        self.services.records.append(rec)
        if rec.ok and rec.decode_tps is not None:
            self._status(f"{head}: {rec.decode_tps:.1f} tok/s")
        else:
            self._status(f"{head}: failed — {rec.error}")
        self._draw(list(step.search.settings.values()), None)

    def _draw(self, settings: list[Setting], best: int | None) -> None:
        assert self.plan is not None
        self.query_one(TuneCurve).update_curve(settings, self.spec.param, self.plan.hint.max_fit, best)
        rows = sorted((s for s in settings if s.n or s.failures), key=lambda s: -(s.mean or 0.0))
        lines = [f"{s.value:>4}  {_row(s)}" for s in rows[:6]]
        self.query_one("#tune-table", Static).update("\n".join(lines))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "tune" or event.state != WorkerState.ERROR:
            return
        err = event.worker.error
        # plan_tune's TuneError (an unknown range, values past the end) says what to do; others are bugs.
        self._status(f"cannot tune: {err}" if type(err).__name__ == "TuneError" else f"internal error: {err!r}")


def _row(s: Setting) -> str:
    if s.mean is None:
        return "failed to load"
    spread = f" ± {s.sd:5.1f}" if s.sd is not None else " " * 8
    runs = f"{s.n} run" + ("s" if s.n != 1 else "") + (f", {len(s.slow)} slow set apart" if s.slow else "")
    return f"{s.mean:8.1f}{spread} tok/s  {runs}"


def export_tune(report: TuneReport, directory: str | None = None) -> list[Path]:
    from backends.paths import data_dir
    from backends.runs.charts import to_svg
    from backends.runs.tune_render import to_json
    from tui.widgets.tunecurve import curve

    d = Path(directory) if directory is not None else data_dir() / "exports"
    d.mkdir(parents=True, exist_ok=True)
    o = report.outcome
    chart = curve(o.settings, report.plan.param, report.plan.hint.max_fit, o.best)
    stem = d / f"gptoss-top-{report.tune_id}"
    out = [stem.with_suffix(".json"), stem.with_suffix(".svg")]
    out[0].write_text(to_json(report), encoding="utf-8")
    out[1].write_text(to_svg(chart), encoding="utf-8")
    return out
