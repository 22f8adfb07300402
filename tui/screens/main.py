"""The one working screen: patterns, live output and throughput, hardware, results.

Runs stream in an exclusive worker on the event loop; tokens land in `LiveRun` buffers and a 10 Hz
timer moves them to the screen, so a fast model never turns into thousands of repaints. Hardware
panels redraw at the sampler's interval; the backend's health is asked every few seconds.
"""

from __future__ import annotations

import asyncio
import os
from time import monotonic
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical
from textual.events import Resize
from textual.timer import Timer
from textual.widgets import Footer, OptionList, Static
from textual.worker import Worker

from backends.base import Health, LoadedModel
from backends.runs.patterns import Pattern
from tui.live import LiveRun
from tui.messages import HealthChecked
from tui.screens.runs import RunControl
from tui.services import Services
from tui.widgets.hardware import HardwarePanel
from tui.widgets.header import HeaderBar
from tui.widgets.output import OutputPanel
from tui.widgets.patterns import PatternList
from tui.widgets.throughput import ThroughputPanel

if TYPE_CHECKING:  # what the first frame does not need loads after it (health, remote hosts, export)
    from backends.probes.model import Snapshot
    from backends.runs.pool import BackendKey

VIEWS = ("output", "hardware", "results", "history")
EXPORT_FORMATS = ("markdown", "csv", "json", "svg")  # svg: the results chart, for a blog post
# Tokens reach the screen four times a second while a run streams. Every redraw wakes this process, and
# on a machine whose cores all run the model each wake-up stalls it (benchmarks/observer.py: the
# server's decode rate under the TUI rose from 0.70x to 0.80x of a bare client's going from 10 to 4
# redraws a second on 2 cores); four is as live as `top`'s default and reads as smoothly.
FLUSH_S = 0.25
# ... and once a second while the model runs on this machine's CPU: its server's process uses half of
# the logical cores or more (llama.cpp's default is a thread per physical core, and its threads meet at
# a barrier every layer, so a redraw on any of their cores stalls them all). Then every redraw is
# taken from the model, and a second is `top`'s own pace. The screen says so. A model on a GPU keeps
# one core busy at most, and the screen its four redraws.
CALM_FLUSH_S = 1.0
# While calm the run's tokens are read four times a second (framing.set_read_pace), not twenty: a read
# more often than the screen shows them only wakes the process (the server times itself: the run's
# rates are its own, whenever the client reads).
CALM_READ_PACE_S = CALM_FLUSH_S / 4
CALM_ENV = "GPTOSS_TOP_CALM"  # "0": four redraws a second whatever the model's CPU use


class MainScreen(RunControl):
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
        Binding("m", "raw", "Raw/Markdown", show=False),
        Binding("o", "view('output')", "Views", key_display="o/h/R"),
        Binding("h", "view('hardware')", "Hardware", show=False),
        Binding("R", "view('results')", "Results", show=False),
        Binding("H", "view('history')", "History", show=False),
        Binding("e", "export", "Export"),
        Binding("f", "fleet", "Fleet", show=False),
        Binding("T", "tune", "Tune", show=False),
        Binding("ctrl+r", "reload", "Reload patterns", show=False),
    ]

    def __init__(self, services: Services, hardware_pending: bool = False) -> None:
        super().__init__()
        self.services = services
        self._hardware_pending = hardware_pending  # the app starts the sampler after the first frame
        self.live = LiveRun(services.clock)
        self.current: Pattern | None = None
        self.running_pattern: Pattern | None = None
        self.last_request: tuple[list[Pattern], bool] | None = None
        self.run_worker_: Worker[None] | None = None
        self._flush_timer: Timer | None = None
        self._last_snapshot: Snapshot | None = None
        self.view = "output"
        self._health: tuple[list[LoadedModel], str | None] | None = None  # what the hardware view shows
        self._last_health: tuple[BackendKey, Health] | None = None
        self._first_frame_done = False
        # Runs begun by the worker, and the one whose RunStarted the screen has handled: tokens are
        # drained into the output panel only while the two agree (see _flush).
        self._run_seq = 0
        self._shown_seq = 0
        self._hardware_due = False
        self._calm = False  # the running model computes on this CPU: the screen redraws once a second
        self._flushing = False  # a run streams: the flush timer runs
        self._tokens_began: float | None = None  # when the running run's first tokens were drawn
        self._calm_seen: dict[str | None, bool] = {}  # server URL → the pace its last run had

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
        self._show_patterns(fit=False)  # the fit marks come after the first frame (_mount_views)
        self._pace_timer()
        s = self.services
        if s.sampler is not None:
            self.set_interval(s.interval, self._hardware_tick)
        self.call_after_refresh(self._mount_views)
        if s.health_interval > 0:
            self.set_interval(s.health_interval, self._health_tick)
        self.query_one(PatternList).focus()

    async def _mount_views(self) -> None:
        # Hidden at first in the compact layout, and composing them (a DataTable and all) is a
        # quarter of the time to first frame on a slow machine: they come in right after it.
        from tui.widgets.history import HistoryPanel
        from tui.widgets.results import ResultsPanel

        hardware, results = HardwarePanel(id="hardware"), ResultsPanel(id="results")
        await self.query_one("#views").mount(hardware, results, HistoryPanel(id="history"))
        if self.services.sampler is None and not self._hardware_pending:
            hardware.show_snapshot(None)
        elif self.services.sampler is not None:
            self._last_snapshot = None
            self._refresh_hardware()
        if self._health is not None:
            hardware.show_loaded(*self._health)
        results.show(self.services.records)
        self._show_fit()
        if not self._hardware_pending:  # the marks need free memory: then with the sampler (hardware_started)
            self._estimate_fit()  # reads model files (GGUF headers) in a thread: not while the first frame draws
        # The first health check imports the server kind's module (in a thread, but it holds the
        # GIL most of the time): after the first frame, not racing it.
        self._first_frame_done = True
        self._poll_health()

    def hardware_started(self) -> None:
        """The app's sampler after the first frame (or None: no probe could start)."""
        self._hardware_pending = False
        self._estimate_fit()
        s = self.services
        if s.sampler is not None:
            self.set_interval(s.interval, self._hardware_tick)
            self._last_snapshot = None
            self._refresh_hardware()
        elif hardware := self._panel(HardwarePanel):
            hardware.show_snapshot(None)

    def on_resize(self, event: Resize) -> None:
        w, h = event.size
        self.set_class(w >= 110 and h >= 34, "-roomy")
        self.set_class(w < 72, "-narrow")
        if self.services.sampler is not None:
            self._refresh_hardware()

    def _show_patterns(self, fit: bool = True) -> None:
        s = self.services
        plist = self.query_one(PatternList)
        plist.set_patterns(s.patterns)
        if fit:
            self._estimate_fit()
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

    @work(thread=True, exclusive=True, group="fit", exit_on_error=False)
    def _estimate_fit(self) -> None:
        """The fit marks of the pattern list, off the UI thread: it reads model files and may ask servers."""
        from backends.probes.remote.registry import sampler_for
        from backends.runs.fit.record import estimate_many

        s = self.services

        def memory_of(p: Pattern) -> Any:  # the machine the pattern runs on (its host)
            sampler = sampler_for(s.sampler, p.host) if s.sampler is not None else None
            if sampler is None:
                return None
            return sampler.latest or (sampler.sample_now() if p.host is None else None)

        marks = estimate_many(list(s.patterns), snapshot_for=memory_of)
        self.app.call_from_thread(self._show_marks, marks)

    def _show_marks(self, marks: dict[str, Any]) -> None:
        self.query_one(PatternList).set_marks(marks)
        self._show_fit()

    def _show_fit(self, loaded: tuple[int | None, int | None] | None = None) -> None:
        """The selected pattern's fit in the hardware view; after its run, what the server loaded beside it."""
        hardware = self._panel(HardwarePanel)
        if hardware is None or self.current is None:
            return
        name = self.current.name
        if loaded is None:  # the last run of this pattern in the session, if the server said
            last = next((r for r in reversed(self.services.records) if r.pattern == name), None)
            pair = (last.loaded_gpu_bytes, last.loaded_host_bytes) if last is not None else (None, None)
            loaded = pair if pair != (None, None) else None
        hardware.show_fit(self.query_one(PatternList).mark_of(name), loaded)

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
            self._show_fit()
            if self._first_frame_done:
                self._poll_health()

    def _url_of(self, pattern: Pattern | None) -> str | None:
        # A managed llama-server's port is known only once it runs: ask the backend, not the file.
        if pattern is None:
            return None
        backend = self.services.pool.peek(pattern)
        return backend.url if backend is not None else pattern.url

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
        from tui.screens.fleet import apply_hosts

        self.services.load()
        self.run_worker(apply_hosts(self.services), group="hosts")
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
        if name == "history":
            self._show_history()

    def action_fleet(self) -> None:
        """Every host of the pattern file side by side (README "Remote hosts")."""
        from tui.screens.fleet import FleetScreen

        self.app.push_screen(FleetScreen(self.services, lambda: self.running_pattern))

    def action_fold(self) -> None:
        self.query_one(OutputPanel).toggle_fold()

    def action_raw(self) -> None:
        self.query_one(OutputPanel).toggle_raw()

    @work(exclusive=True, group="history", exit_on_error=False)
    async def _show_history(self) -> None:
        """Every stored run, read off the event loop (the file grows with every run ever made)."""
        from tui.widgets.history import HistoryPanel

        records = await asyncio.to_thread(self.services.store.load)
        if history := self._panel(HistoryPanel):
            history.show(records)

    # -- runs (the rest is RunControl's) -----------------------------------------------------------

    def action_tune(self) -> None:
        """Find the fastest gpu_layers for the selected pattern by measurement, on its own screen."""
        if self.current is None or self.running:
            why = "a run is in progress — s stops it" if self.running else "no pattern to tune"
            self.notify(why, severity="warning")
            return
        self._open_tune(self.current)

    @work(exclusive=True, group="tune-open", exit_on_error=False)
    async def _open_tune(self, pattern: Pattern) -> None:
        """Whether the server can take the setting is the backend's to say (its declared capabilities)."""
        from backends.runs.tune_driver import TuneError, check_capabilities
        from tui.screens.tune import TuneScreen

        backend = await self.services.pool.open(pattern)
        try:
            check_capabilities(pattern, backend.capabilities)
        except TuneError as e:
            self.notify(str(e), severity="warning", timeout=10)
            return
        self.app.push_screen(TuneScreen(self.services, pattern))

    # -- health, hardware ---------------------------------------------------------------------------

    def _health_tick(self) -> None:
        # Not while a run streams: its tokens say the server is up, and each request would land on a
        # server busy with the run (llama-server answers /props and the model list between tokens).
        if not self.running:
            self._poll_health(quiet=True)

    def _hardware_tick(self) -> None:
        if self.running:
            self._hardware_due = True  # drawn by the next flush, in the same frame as the tokens
            # The server's CPU over a sampling interval that lies within the decode decides the pace.
            # A sample gives the CPU since the one before it, and the latest may be up to an interval
            # old: two intervals after the first tokens, its interval began after they did. (After one
            # and a half, it could cover half a second of the idle server before the run; counted
            # from the run's start, a managed server's loading: either way calm flipped off and on
            # again at the start of a CPU-bound run, four redraws a second in between.)
            began = self._tokens_began
            if began is not None and monotonic() - began >= 2 * self.services.interval:
                self.calm = self._model_on_cpu()
                if self.running_pattern is not None:
                    self._calm_seen[self._url_of(self.running_pattern)] = self.calm
        else:
            self.calm = False
            self._refresh_hardware()

    def _begin_pace(self, pattern: Pattern) -> None:
        """A run starts: its pace until the sampler has seen the server during it. What the last run
        on the same server showed, or (a first run) once a second for a server on this machine, which
        may well be computing on its CPU, so that the run's first seconds are not taken from it."""
        from backends.servers.priority import on_this_machine

        self._tokens_began = None
        url = self._url_of(pattern)
        if url in self._calm_seen:
            self.calm = self._calm_seen[url]
        else:
            self.calm = on_this_machine(url, pattern.host) and self._calm_allowed()
        if self.calm:  # the run's first tokens a quarter of a second in, not a second
            self.set_timer(FLUSH_S, self._flush)

    def _tokens_flow(self) -> None:
        """A flush drew tokens: the first of the run start the clock of the pace's decision."""
        if self._tokens_began is None:
            self._tokens_began = monotonic()

    def _calm_allowed(self) -> bool:
        return self.services.sampler is not None and os.environ.get(CALM_ENV, "").strip() != "0"

    @property
    def calm(self) -> bool:
        return self._calm

    @calm.setter
    def calm(self, on: bool) -> None:
        if on == self._calm:
            return
        from backends.wire.framing import set_read_pace

        self._calm = on
        set_read_pace(CALM_READ_PACE_S if on else None)
        self._pace_timer()

    def _set_flushing(self, on: bool) -> None:
        self._flushing = on
        if self._flush_timer is not None:
            self._flush_timer.resume() if on else self._flush_timer.pause()

    def _pace_timer(self) -> None:
        """A flush timer at the pace of now, every FLUSH_S or (calm) every CALM_FLUSH_S, paused between
        runs. A timer that ticked four times a second to draw once would wake the process three times
        for nothing."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
        interval = CALM_FLUSH_S if self._calm else FLUSH_S
        self._flush_timer = self.set_interval(interval, self._flush, pause=not self._flushing)

    def on_unmount(self) -> None:
        from backends.wire.framing import set_read_pace

        set_read_pace(None)  # the read pace is the process's: back to its default with the screen gone

    def _model_on_cpu(self) -> bool:
        """Does the running model compute on this machine's CPU (its server uses half of the logical
        cores or more, by the sampler)? A pattern on another host never does."""
        p = self.running_pattern
        sampler = self.services.sampler
        if p is None or p.host is not None or sampler is None or not self._calm_allowed():
            return False
        from backends.probes.remote.registry import sampler_for

        local = sampler_for(sampler, None)
        snap = local.latest if local is not None else None
        cpu = snap.host.backend_cpu_percent if snap is not None and snap.host is not None else None
        return cpu is not None and cpu >= (os.cpu_count() or 1) * 50

    @work(exclusive=True, group="health", exit_on_error=False)
    async def _poll_health(self, quiet: bool = False) -> None:
        """Ask the server how it is. `quiet` (the periodic tick): when nothing changed since the last
        answer, skip the loaded-model requests and the redraw; an idle `top` should cost nothing."""
        from backends.runs import health
        from backends.runs.health import HealthReport

        p = self.running_pattern or self.current
        if p is None:
            return
        pool = self.services.pool
        key = pool.key(p)
        try:
            backend = await pool.open(p)
        except Exception as e:
            self.post_message(HealthChecked(key, HealthReport(Health(False, f"cannot set up the backend: {e}"))))
            return
        answer = await health.check(backend)
        unchanged = self._last_health == (key, answer)
        self._last_health = (key, answer)
        if quiet and unchanged:
            return
        self.post_message(HealthChecked(key, await health.report(backend, answer)))

    def on_health_checked(self, message: HealthChecked) -> None:
        p = self.running_pattern or self.current
        if p is None or self.services.pool.key(p) != message.backend_key:
            return  # an answer about a pattern no longer shown
        header = self.query_one(HeaderBar)
        if header.pattern is p and header.url != (url := self._url_of(p)):
            header.set_pattern(p, url)
        rep = message.report
        header.set_health(rep.health, rep.note)
        if rep.health.ok and not self.running:
            self._watch_server(p)
        note = rep.note or (None if rep.health.ok else "server not reachable — no model information")
        self._health = (rep.loaded, note)
        if hardware := self._panel(HardwarePanel):
            hardware.show_loaded(rep.loaded, note)

    def _watch_server(self, p: Pattern) -> None:
        """The hardware view follows the selected pattern's server process (its RSS and CPU) from its
        first answer, not only while a run goes: a `top` shows the server at rest too. And the memory
        panel keeps its shape when a run starts; its server line appearing then was a layout pass of
        the screen taken from the model as it began to decode."""
        from backends.probes.remote.registry import sampler_for
        from backends.servers.priority import on_this_machine, port_of

        url = self._url_of(p)
        sampler = sampler_for(self.services.sampler, None)
        if sampler is None or not on_this_machine(url, p.host):
            return  # another machine's server: its host's telemetry has no process of it
        backend = self.services.pool.peek(p)
        sampler.set_backend(backend.pid if backend is not None else None, port_of(url))

    def _refresh_hardware(self) -> None:
        if not (self.view == "hardware" or self.has_class("-roomy")):
            return  # hidden: drawn when it is shown (idle CPU is the point of a `top`)
        from backends.probes.remote.registry import host_title, sampler_for

        hardware = self._panel(HardwarePanel)
        # The hardware of the selected pattern's host; its name in the titles when the file has hosts.
        pattern = self.running_pattern or self.current
        host = pattern.host if pattern is not None else None
        sampler = sampler_for(self.services.sampler, host)
        snap = sampler.latest if sampler is not None else None
        if hardware is not None:
            hardware.set_host(host_title(self.services.sampler, host))
        if hardware is not None and snap is not self._last_snapshot:
            self._last_snapshot = snap
            hardware.show_snapshot(snap)

    # -- export -------------------------------------------------------------------------------------

    def action_export(self) -> None:
        records = self.services.records
        if not records:
            self.notify("nothing to export yet — run a pattern first", severity="warning")
            return
        from backends.runs.results import export
        from tui.widgets.results import ResultsPanel

        try:
            paths = [export(records, fmt, self.services.export_dir) for fmt in EXPORT_FORMATS]
        except OSError as e:
            self.notify(f"export failed: {e.strerror or e} — set GPTOSS_TOP_DATA_DIR to a writable folder",
                        severity="error", timeout=10)  # fmt: skip
            return
        self.query_one(ResultsPanel).show_exported(["exported:", *map(str, paths)])
        self.action_view("results")
        # The paths are in the results panel; the toast stays short so it hides little.
        self.notify(f"markdown, csv, json, svg in {paths[0].parent}", title=f"exported {len(records)} runs", timeout=5)
