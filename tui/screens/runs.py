"""The run side of the main screen: starting and stopping runs, and showing each run's lifecycle.

A run streams in an exclusive worker. Its start, progress and end come back as messages
(`tui.messages`), posted in order with its tokens; the tokens themselves wait in `LiveRun`'s buffers
until the screen drains them (four times a second), and only into the run they belong to.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, TypeVar

from textual import work
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from backends.runs.patterns import Pattern
from tui.live import LiveRun, collector_spared
from tui.messages import RunFinished, RunProgress, RunsEnded, RunStarted
from tui.services import Services
from tui.widgets.header import HeaderBar
from tui.widgets.output import OutputPanel
from tui.widgets.throughput import ThroughputPanel

if TYPE_CHECKING:  # the run pipeline and the views mounted later load after the first frame
    from backends.runs import session
    from backends.runs.record import RunRecord
    from tui.widgets.hardware import HardwarePanel
    from tui.widgets.history import HistoryPanel
    from tui.widgets.results import ResultsPanel

PanelT = TypeVar("PanelT", "HardwarePanel", "ResultsPanel", "HistoryPanel")
WHAT_TO_DO = {
    "server_unreachable": "start the server, or fix `url` in the pattern file; r retries",
    "load_refused": "lower context_length or gpu_layers in the pattern, or free memory; r retries",
    "model_not_found": "check `model` against what the server lists (`gptoss-top probe`)",
    "auth": "set the variable named by api_key_env to the server's key",
    "context_overflow": "raise context_length or shorten the prompt",
    "timeout": "the model may still be loading; r retries",
    "server_start_failed": "install llama-server (pip install 'gptoss-top[demo]') or set LLAMA_SERVER_BIN",
}


class RunControl(Screen[None]):
    """What `MainScreen` does with runs; the screen's state it uses is declared here."""

    services: Services
    live: LiveRun
    view: str
    current: Pattern | None
    running_pattern: Pattern | None
    last_request: tuple[list[Pattern], bool] | None
    run_worker_: Worker[None] | None
    _flush_timer: Timer | None
    _run_seq: int
    _shown_seq: int
    _hardware_due: bool  # a hardware sample came while a run streamed: drawn with the next flush
    calm: bool  # the running model computes on this CPU: one redraw a second (see main.CALM_FLUSH_S)
    _asked_streaming = False  # the health was asked once this run after its tokens began to flow

    if TYPE_CHECKING:  # MainScreen's

        def _url_of(self, pattern: Pattern | None) -> str | None: ...
        def _poll_health(self, quiet: bool = False) -> Worker[None]: ...
        def _show_history(self) -> Worker[None]: ...
        def _show_fit(self, loaded: tuple[int | None, int | None] | None = None) -> None: ...
        def _estimate_fit(self) -> Worker[None]: ...
        def _refresh_hardware(self) -> None: ...
        def _begin_pace(self, pattern: Pattern) -> None: ...
        def _tokens_flow(self) -> None: ...
        def _set_flushing(self, on: bool) -> None: ...
        def action_view(self, name: str) -> None: ...

    def _panel(self, cls: type[PanelT]) -> PanelT | None:
        """A view that may not be mounted yet (see _mount_views): None until it is, and until its own
        children are (a sample can arrive between the two)."""
        try:
            panel = self.query_one(cls)
        except NoMatches:
            return None
        return panel if panel.is_mounted else None

    @property
    def running(self) -> bool:
        return self.run_worker_ is not None and self.run_worker_.is_running

    def action_run(self) -> None:
        if self.current is None:
            self.notify("no pattern to run — load a pattern file", severity="warning")
            return
        self._start([self.current], sweep=False)

    def action_sweep(self) -> None:
        if not self.services.patterns:
            self.notify("no patterns to run", severity="warning")
            return
        self._start(list(self.services.patterns), sweep=True)

    def action_rerun(self) -> None:
        if self.last_request is None:
            self.action_run()
            return
        self._start(*self.last_request)

    def action_stop(self) -> None:
        if self.running and self.run_worker_ is not None:
            self.run_worker_.cancel()
            self.query_one(HeaderBar).set_status("stopping…")

    def _start(self, patterns: list[Pattern], sweep: bool) -> None:
        if self.running:
            self.notify("a run is in progress — s stops it", severity="warning")
            return
        self.last_request = (patterns, sweep)
        if not self.has_class("-roomy"):
            self.action_view("output")
        self.run_worker_ = self._run(patterns, sweep)

    @work(exclusive=True, group="run", exit_on_error=False)
    async def _run(self, patterns: list[Pattern], sweep: bool) -> None:
        from backends.runs.session import RunContext
        from backends.runs.sweep import run_sweep

        s = self.services
        ctx = RunContext(clock=s.clock, sampler=s.sampler, live=self.live, report=self._reporter(sweep),
                         between=self._drawn)  # fmt: skip
        self._set_flushing(True)
        self.query_one(OutputPanel).build_view()
        records = None
        try:
            with collector_spared():
                records = await run_sweep(patterns, pool=s.pool, store=s.store, repeat=s.repeat if sweep else 1,
                                          ctx=ctx)  # fmt: skip
        finally:
            self.post_message(RunsEnded(records if sweep else None))

    DRAWN_WAIT_S = 2.0  # the most a sweep waits for the screen between runs (a screen above this one)

    async def _drawn(self) -> None:
        """Between a sweep's runs: the run that ended is drawn before the next one's request goes out.
        Its record, the results table and chart (the first chart loads its plotting libraries: ~0.3 s
        of a core on a slow machine) and the last of its answer were drawn during the next run's prompt
        processing and first tokens, taken from the model being measured."""
        with contextlib.suppress(TimeoutError):  # after RunFinished: this screen's queue is in order
            await asyncio.wait_for(self.wait_for_refresh(), self.DRAWN_WAIT_S)

    def _reporter(self, sweep: bool) -> session.Report:
        """The run's lifecycle as messages. Called in the worker, in order with the tokens, so the
        live buffers are switched here and the messages carry what they need of them."""
        from backends.runs import session

        def report(event: session.RunEvent) -> None:
            if isinstance(event, session.RunStarted):
                self._run_seq += 1
                self.live.reset()
                p = event.pattern
                label = f"[{event.index}/{event.total}] {p.name} run {event.repeat}" if sweep else p.name
                self.post_message(RunStarted(self._run_seq, p, label))
            elif isinstance(event, session.RunProgress):
                self.post_message(RunProgress(event.text))
            else:
                tail, spark = self.live.take(), tuple(self.live.spark)
                self.live.stop()
                self.post_message(RunFinished(self._run_seq, event.record, event.save_error, tail, spark))

        return report

    async def on_run_started(self, message: RunStarted) -> None:
        self._shown_seq = message.seq
        pattern = message.pattern
        self.running_pattern = pattern
        self._begin_pace(pattern)
        self._asked_streaming = False
        self.query_one(HeaderBar).set_pattern(pattern, self._url_of(pattern))
        self.query_one(OutputPanel).reset(message.label)
        self.query_one(ThroughputPanel).reset()
        await self._flush()  # tokens that came before this message was handled

    def _ask_once_streaming(self) -> None:
        """The server is not asked about its health while a run streams (its tokens say it is up, and
        each request lands on a server busy with the run; the run's end asks). Except once, when tokens
        flow but the header still has it down or not started (a managed server's first run starts it),
        so the header and the loaded model are right for the run."""
        if self._asked_streaming:
            return
        header = self.query_one(HeaderBar)
        if header.health is None or not header.health.ok:
            self._asked_streaming = True
            self._poll_health()

    def on_run_progress(self, message: RunProgress) -> None:
        if self.running:
            self.query_one(HeaderBar).set_status(message.text)

    def on_run_finished(self, message: RunFinished) -> None:
        rec = message.record
        reasoning, answer = message.tail
        out = self.query_one(OutputPanel)
        if reasoning or answer:
            out.write(reasoning, answer)
        out.finish()
        s = self.services
        s.records.append(rec)
        self.query_one(ThroughputPanel).show_final(rec, message.spark)
        from tui.widgets.results import ResultsPanel

        if results := self._panel(ResultsPanel):
            results.show(s.records)
        if self.view == "history":
            self._show_history()
        header = self.query_one(HeaderBar)
        header.set_pattern(header.pattern, rec.url)
        self._show_outcome(rec)
        if self.current is not None and rec.pattern == self.current.name:
            loaded = (rec.loaded_gpu_bytes, rec.loaded_host_bytes)
            self._show_fit(loaded if loaded != (None, None) else None)
        if message.save_error:
            self.notify(message.save_error, severity="warning", timeout=10)
        self._poll_health()

    def _show_outcome(self, rec: RunRecord) -> None:
        out, header = self.query_one(OutputPanel), self.query_one(HeaderBar)
        if rec.error_kind == "cancelled":
            out.show_error(f"Stopped: {rec.pattern} — the partial run is recorded (r reruns).")
            header.set_status(f"{rec.pattern}: stopped")
        elif not rec.ok:
            out.show_error(self.error_text(rec))
            header.set_status(f"{rec.pattern}: failed")
        else:
            header.set_status(f"{rec.pattern}: done")

    async def on_runs_ended(self, message: RunsEnded) -> None:
        self._estimate_fit()  # free memory changed: the marks again, now that nothing runs
        self._set_flushing(False)
        await self._flush()
        self.query_one(OutputPanel).finish()
        self.running_pattern = None
        if message.records is not None:
            recs = message.records
            failed = sum(not r.ok for r in recs)
            self.query_one(HeaderBar).set_status(f"sweep done: {len(recs)} runs, {failed} failed")
            self.notify(f"sweep done: {len(recs)} runs, {failed} failed — R shows the results, e exports")

    @staticmethod
    def error_text(rec: RunRecord) -> str:
        hint = rec.error_hint or WHAT_TO_DO.get(rec.error_kind or "", "r retries; 1-9 picks another pattern")
        return f"{rec.pattern} failed: {rec.error}\nWhat to do: {hint}"

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "run" and event.state == WorkerState.ERROR:
            # A bug, not a server problem (those become failed records): say so, keep the app up.
            err = event.worker.error
            self.query_one(OutputPanel).show_error(f"Internal error: {type(err).__name__}: {err} — please report it.")
            self.query_one(HeaderBar).set_status("internal error")

    async def _flush(self) -> None:
        """Tokens, figures and (when due) the hardware view to the screen, as one frame.

        Everything a run changes is drawn here and only here while it streams: one compositor pass a
        tick rather than one per panel (each pass costs the model a few milliseconds of a core)."""
        if self._shown_seq != self._run_seq:
            return  # the run's RunStarted is not handled yet: its tokens wait in the buffers
        out = self.query_one(OutputPanel)
        with self.app.batch_update():
            reasoning, answer = self.live.take()
            if reasoning or answer:
                self._tokens_flow()
                out.write(reasoning, answer, live=True)
            figures = self.live.figures()
            if figures is not None:
                self.query_one(ThroughputPanel).show_live(figures, self.live.spark, calm=self.calm)
                self._ask_once_streaming()
            if self._hardware_due:
                self._hardware_due = False
                self._refresh_hardware()
            out.pump(calm=self.calm)
