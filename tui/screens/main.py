"""The one working screen: patterns, live output and throughput, hardware, results.

Runs stream in an exclusive worker on the event loop; tokens land in `LiveRun` buffers and a 10 Hz
timer moves them to the screen, so a fast model never turns into thousands of repaints. Hardware
panels redraw at the sampler's interval; the backend's health is asked every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import ClassVar, TypeVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical
from textual.css.query import NoMatches
from textual.events import Resize
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, OptionList, Static
from textual.worker import Worker, WorkerState

from backends.base import Health, LoadedModel
from backends.runs.patterns import Pattern
from backends.runs.record import RunRecord
from backends.runs.results import export
from backends.runs.session import RunContext, run_pattern
from backends.runs.sweep import Progress, run_sweep
from backends.servers.registry import backend_class
from tui.live import LiveRun
from tui.messages import HealthChecked, RunStatus
from tui.services import Services
from tui.widgets.hardware import HardwarePanel
from tui.widgets.header import HeaderBar
from tui.widgets.output import OutputPanel
from tui.widgets.patterns import PatternList
from tui.widgets.results import ResultsPanel
from tui.widgets.throughput import ThroughputPanel

PanelT = TypeVar("PanelT", HardwarePanel, ResultsPanel)
VIEWS = ("output", "hardware", "results")
EXPORT_FORMATS = ("markdown", "csv", "json")
FLUSH_S = 0.1  # tokens reach the screen at most 10 times a second
WHAT_TO_DO = {
    "server_unreachable": "start the server, or fix `url` in the pattern file; r retries",
    "load_refused": "lower context_length or gpu_layers in the pattern, or free memory; r retries",
    "model_not_found": "check `model` against what the server lists (`gptoss-top probe`)",
    "auth": "set the variable named by api_key_env to the server's key",
    "context_overflow": "raise context_length or shorten the prompt",
    "timeout": "the model may still be loading; r retries",
    "server_start_failed": "install llama-server (pip install 'gptoss-top[demo]') or set LLAMA_SERVER_BIN",
}


def backend_key(p: Pattern) -> str:
    return f"{p.backend} {p.url} {p.model_path or ''}"


class MainScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        # The app's keys again, first, so a narrow footer still shows them.
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("q", "app.quit", "Quit"),
        Binding("1", "select(0)", "Select", key_display="1-9", show=False),
        *[Binding(str(n), f"select({n - 1})", show=False) for n in range(2, 10)],
        Binding("j", "move(1)", "Down", show=False),
        Binding("k", "move(-1)", "Up", show=False),
        Binding("enter", "run", "Run"),
        Binding("a", "sweep", "All"),
        Binding("s", "stop", "Stop"),
        Binding("escape", "stop", "Stop", show=False),
        Binding("r", "rerun", "Rerun"),
        Binding("t", "fold", "Fold"),
        Binding("o", "view('output')", "Views", key_display="o/h/R"),
        Binding("h", "view('hardware')", "Hardware", show=False),
        Binding("R", "view('results')", "Results", show=False),
        Binding("e", "export", "Export"),
        Binding("ctrl+r", "reload", "Reload patterns", show=False),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.live = LiveRun(services.clock)
        self.current: Pattern | None = None
        self.running_pattern: Pattern | None = None
        self.last_request: tuple[list[Pattern], bool] | None = None
        self.run_worker_: Worker[None] | None = None
        self._flush_timer: Timer | None = None
        self._last_snapshot: object = None
        self.view = "output"
        # Backend kinds whose module is imported. Importing one (httpx and all) takes 0.1-0.5 s: it
        # happens in a thread, so the first frame and the keys never wait for it.
        self._imported: set[str] = set()
        self._health: tuple[list[LoadedModel], str | None] | None = None  # what the hardware view shows
        self._last_health: tuple[object, Health] | None = None
        self._first_frame_done = False

    # -- layout -------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                with Vertical(id="patterns-box"):
                    yield PatternList(id="patterns")
                    yield Static(id="patterns-hint")
                yield ThroughputPanel(id="throughput")
            with Container(id="views"):
                # The hardware and results views are mounted after the first frame (_mount_views).
                yield OutputPanel(id="output")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#patterns-box").border_title = "Patterns"
        self.add_class("-view-output")
        self._show_patterns()
        self._flush_timer = self.set_interval(FLUSH_S, self._flush, pause=True)
        s = self.services
        if s.sampler is not None:
            self.set_interval(s.interval, self._refresh_hardware)
        self.call_after_refresh(self._mount_views)
        if s.health_interval > 0:
            self.set_interval(s.health_interval, lambda: self._poll_health(quiet=True))
        self.query_one(PatternList).focus()

    async def _mount_views(self) -> None:
        # Hidden at first in the compact layout, and composing them (a DataTable and all) is a
        # quarter of the time to first frame on a slow machine: they come in right after it.
        hardware, results = HardwarePanel(id="hardware"), ResultsPanel(id="results")
        await self.query_one("#views").mount(hardware, results)
        if self.services.sampler is None:
            hardware.show_snapshot(None)
        else:
            self._last_snapshot = None
            self._refresh_hardware()
        if self._health is not None:
            hardware.show_loaded(*self._health)
        results.show(self.services.records)
        # The first health check imports the backend's module (in a thread, but it holds the GIL
        # most of the time): after the first frame, not racing it.
        self._first_frame_done = True
        self._poll_health()

    def _panel(self, cls: type[PanelT]) -> PanelT | None:
        """A view that may not be mounted yet (see _mount_views): None until it is."""
        try:
            return self.query_one(cls)
        except NoMatches:
            return None

    def on_resize(self, event: Resize) -> None:
        w, h = event.size
        self.set_class(w >= 110 and h >= 34, "-roomy")
        self.set_class(w < 72, "-narrow")
        if self.services.sampler is not None:
            self._refresh_hardware()

    def _show_patterns(self) -> None:
        s = self.services
        plist = self.query_one(PatternList)
        plist.set_patterns(s.patterns)
        hint = self.query_one("#patterns-hint", Static)
        hint.update("" if s.patterns else s.no_patterns_hint())
        hint.display = not s.patterns
        plist.display = bool(s.patterns)
        if s.pattern_error:
            self.query_one(OutputPanel).show_error(f"Bad pattern file:\n{s.pattern_error}\nFix it, then press ctrl+r.")
        if not s.patterns:
            self._set_current(None)
        elif plist.highlighted is not None:
            self._set_current(s.patterns[plist.highlighted])

    # -- pattern selection --------------------------------------------------------------------------

    def _set_current(self, pattern: Pattern | None) -> None:
        changed = pattern is not self.current
        self.current = pattern
        if self.running_pattern is None:
            self.query_one(HeaderBar).set_pattern(pattern, self._url_of(pattern))
        if changed and pattern is not None:
            self._health = None
            if hardware := self._panel(HardwarePanel):
                hardware.show_loaded(None)
            if self._first_frame_done:
                self._poll_health()

    def _url_of(self, pattern: Pattern | None) -> str | None:
        # A managed llama-server's port is known only once it runs: ask the backend, not the file.
        # Until its module is imported (the health check does that off the loop) the file's URL it is.
        if pattern is None:
            return None
        if pattern.backend not in self._imported and self.running_pattern is None:
            return pattern.url
        try:
            return self.services.pool.get(pattern).url
        except Exception:
            return pattern.url

    @on(OptionList.OptionHighlighted, "#patterns")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if 0 <= event.option_index < len(self.services.patterns):
            self._set_current(self.services.patterns[event.option_index])

    @on(OptionList.OptionSelected, "#patterns")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.action_run()

    def action_select(self, index: int) -> None:
        if index < len(self.services.patterns):
            self.query_one(PatternList).highlighted = index
            # Now, not when the highlight message arrives: a palette command selects, then runs.
            self._set_current(self.services.patterns[index])

    def action_move(self, delta: int) -> None:
        plist = self.query_one(PatternList)
        plist.action_cursor_down() if delta > 0 else plist.action_cursor_up()

    def action_reload(self) -> None:
        if self.services.pattern_path is None:
            self.notify("no pattern file to reload", severity="warning")
            return
        self.services.load()
        self.query_one(OutputPanel).show_error(None)
        self._show_patterns()
        if not self.services.pattern_error:
            self.notify(f"reloaded {len(self.services.patterns)} patterns from {self.services.pattern_path}")

    # -- views --------------------------------------------------------------------------------------

    def action_view(self, name: str) -> None:
        self.view = name
        for v in VIEWS:
            self.set_class(v == name, f"-view-{v}")
        if self.services.sampler is not None:
            self._refresh_hardware()

    def action_fold(self) -> None:
        self.query_one(OutputPanel).toggle_fold()

    # -- runs ---------------------------------------------------------------------------------------

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
        s = self.services
        ctx = RunContext(
            clock=s.clock,
            sampler=s.sampler,
            on_event=self.live.on_event,
            on_status=lambda text: self.post_message(RunStatus(text)),
            on_meter=self.live.set_meter,
            on_cancelled=self._cancelled,
        )
        assert self._flush_timer is not None
        self._flush_timer.resume()
        try:
            if not sweep:
                p = patterns[0]
                self._begin(p, p.name)
                rec = await run_pattern(p, s.pool.get(p), 1, ctx)
                self._recorded(rec, s.store.append(rec))
                return

            def progress(pr: Progress) -> None:
                if pr.record is None:
                    self._begin(pr.pattern, f"[{pr.index}/{pr.total}] {pr.pattern.name} run {pr.repeat}")
                else:
                    self._recorded(pr.record, pr.save_error)

            recs = await run_sweep(patterns, pool=s.pool, store=s.store, repeat=s.repeat, ctx=ctx, on_progress=progress)
            failed = sum(not r.ok for r in recs)
            self.query_one(HeaderBar).set_status(f"sweep done: {len(recs)} runs, {failed} failed")
            self.notify(f"sweep done: {len(recs)} runs, {failed} failed — R shows the results, e exports")
        finally:
            self._flush_timer.pause()
            self._flush()
            self.running_pattern = None

    def _begin(self, pattern: Pattern, label: str) -> None:
        self._flush()
        self.live.reset()
        self.running_pattern = pattern
        self.query_one(HeaderBar).set_pattern(pattern, self._url_of(pattern))
        self.query_one(OutputPanel).reset(label)
        self.query_one(ThroughputPanel).reset()
        self._poll_health()

    def _cancelled(self, rec: RunRecord) -> None:
        # run_pattern hands over the partial record before the cancellation goes on: store it.
        self._recorded(rec, self.services.store.append(rec))

    def _recorded(self, rec: RunRecord, save_error: str | None) -> None:
        self._flush()
        s = self.services
        s.records.append(rec)
        self.query_one(ThroughputPanel).show_final(rec, list(self.live.spark))
        self.live.meter = None  # the final figures stay until the next run begins
        if results := self._panel(ResultsPanel):
            results.show(s.records)
        out = self.query_one(OutputPanel)
        header = self.query_one(HeaderBar)
        header.set_pattern(header.pattern, rec.url)
        if rec.error_kind == "cancelled":
            out.show_error(f"Stopped: {rec.pattern} — the partial run is recorded (r reruns).")
            header.set_status(f"{rec.pattern}: stopped")
        elif not rec.ok:
            out.show_error(self.error_text(rec))
            header.set_status(f"{rec.pattern}: failed")
        else:
            header.set_status(f"{rec.pattern}: done")
        if save_error:
            self.notify(save_error, severity="warning", timeout=10)
        self._poll_health()

    @staticmethod
    def error_text(rec: RunRecord) -> str:
        text = f"{rec.pattern} failed: {rec.error}"
        hint = WHAT_TO_DO.get(rec.error_kind or "", "r retries; 1-9 picks another pattern")
        if " — " not in (rec.error or ""):
            text += f"\nWhat to do: {hint}"
        return text

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "run" and event.state == WorkerState.ERROR:
            # A bug, not a server problem (those become failed records): say so, keep the app up.
            err = event.worker.error
            self.query_one(OutputPanel).show_error(f"Internal error: {type(err).__name__}: {err} — please report it.")
            self.query_one(HeaderBar).set_status("internal error")

    def on_run_status(self, message: RunStatus) -> None:
        if self.running:
            self.query_one(HeaderBar).set_status(message.text)

    def _flush(self) -> None:
        reasoning, answer = self.live.take()
        if reasoning or answer:
            self.query_one(OutputPanel).write(reasoning, answer)
        if self.live.meter is not None:
            self.query_one(ThroughputPanel).show_live(self.live.meter, self.live.spark)

    # -- health, hardware ---------------------------------------------------------------------------

    @work(exclusive=True, group="health", exit_on_error=False)
    async def _poll_health(self, quiet: bool = False) -> None:
        """Ask the server how it is. `quiet` (the periodic tick): when nothing changed since the last
        answer, skip the loaded-model requests and the redraw; an idle `top` should cost nothing."""
        p = self.running_pattern or self.current
        if p is None:
            return
        key = backend_key(p)
        try:
            if p.backend not in self._imported:
                await asyncio.to_thread(backend_class, p.backend)
                self._imported.add(p.backend)
            backend = self.services.pool.get(p)
        except Exception as e:
            self.post_message(HealthChecked(key, Health(False, f"cannot set up the backend: {e}"), []))
            return
        if p.backend == "llamacpp" and p.model_path and getattr(backend, "pid", None) is None:
            if not (quiet and self._last_health == (key, Health(False))):
                self._last_health = (key, Health(False))
                self.post_message(HealthChecked(key, Health(False), [], note="llama-server starts on the first run"))
            return
        try:
            health = await asyncio.wait_for(backend.health(), 5.0)
        except Exception as e:
            health = Health(False, f"health check failed ({type(e).__name__})")
        unchanged = self._last_health == (key, health)
        self._last_health = (key, health)
        if quiet and unchanged:
            return
        loaded = []
        if health.ok:
            with contextlib.suppress(Exception):
                loaded = await asyncio.wait_for(backend.loaded(), 5.0)
        self.post_message(HealthChecked(key, health, loaded))

    def on_health_checked(self, message: HealthChecked) -> None:
        p = self.running_pattern or self.current
        if p is None or backend_key(p) != message.backend_key:
            return  # an answer about a pattern no longer shown
        header = self.query_one(HeaderBar)
        if header.pattern is p and header.url != (url := self._url_of(p)):
            header.set_pattern(p, url)
        header.set_health(message.health, message.note)
        note = message.note or (None if message.health.ok else "server not reachable — no model information")
        self._health = (message.loaded, note)
        if hardware := self._panel(HardwarePanel):
            hardware.show_loaded(message.loaded, note)

    def _refresh_hardware(self) -> None:
        if not (self.view == "hardware" or self.has_class("-roomy")):
            return  # hidden: drawn when it is shown (idle CPU is the point of a `top`)
        hardware = self._panel(HardwarePanel)
        snap = getattr(self.services.sampler, "latest", None)
        if hardware is not None and snap is not self._last_snapshot:
            self._last_snapshot = snap
            hardware.show_snapshot(snap)

    # -- export -------------------------------------------------------------------------------------

    def action_export(self) -> None:
        records = self.services.records
        if not records:
            self.notify("nothing to export yet — run a pattern first", severity="warning")
            return
        try:
            paths = [export(records, fmt, self.services.export_dir) for fmt in EXPORT_FORMATS]
        except OSError as e:
            self.notify(f"export failed: {e.strerror or e} — set GPTOSS_TOP_DATA_DIR to a writable folder",
                        severity="error", timeout=10)  # fmt: skip
            return
        self.query_one(ResultsPanel).show_exported(["exported:", *map(str, paths)])
        self.action_view("results")
        # The paths are in the results panel; the toast stays short so it hides little.
        self.notify(f"markdown, csv, json in {paths[0].parent}", title=f"exported {len(records)} runs", timeout=5)
