"""The app: wires the services to the main screen; `make_app` for tests, `run_app` for the CLI.

`run_app` first shows a start screen with the header and the pattern list, laid out as the main
screen lays them out, and replaces it with the main screen right after the first frame: importing,
composing and styling the main screen's panels (streamed Markdown, throughput digits, footer) took
about as long as Textual's own start on a 2-core machine (benchmarks/startup.py), and a user's first
look is at the patterns.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.screen import Screen

from backends.runs.pool import BackendPool
from tui.services import Services, file_hosts, find_default_file
from tui.widgets.header import HeaderBar
from tui.widgets.patterns import PatternList

if TYPE_CHECKING:  # annotations only; the screens load when they open
    from backends.base import Backend
    from backends.probes.sampler import HardwareSampler
    from backends.runs.patterns import Pattern
    from backends.runs.results import ResultsStore
    from backends.runs.stats import Clock
    from tui.screens.main import MainScreen


class StartScreen(Screen[None]):
    """The first frame: the header and the pattern list where the main screen has them (app.tcss)."""

    DEFAULT_CSS = """
    StartScreen #start-body { height: 1fr; }
    StartScreen #start-left { width: 30; height: 1fr; }
    StartScreen.-narrow #start-left { width: 24; }
    StartScreen #patterns-box { border: round $primary-darken-1; height: auto; max-height: 1fr; }
    StartScreen #patterns {
        border: none; height: auto; max-height: 11; padding: 0; text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        with Horizontal(id="start-body"), Vertical(id="start-left"), Vertical(id="patterns-box"):
            yield PatternList(id="patterns")

    def on_mount(self) -> None:
        self.query_one("#patterns-box").border_title = "Patterns"
        plist = self.query_one(PatternList)
        plist.set_patterns(self.services.patterns)
        plist.focus()
        first = self.services.patterns[0]
        self.query_one(HeaderBar).set_pattern(first, first.url)

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < 72, "-narrow")

    @property
    def highlighted(self) -> int:
        """The pattern a key pressed before the main screen came moved to."""
        return self.query_one(PatternList).highlighted or 0


class GptossTop(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "gptoss-top"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    def __init__(
        self,
        services: Services,
        sampler_factory: Callable[[], HardwareSampler | None] | None = None,
        start_screen: bool = False,
    ) -> None:
        super().__init__()
        self.services = services
        self._closed = False
        self._sampler_factory = sampler_factory  # the probes, detected after the first frame
        self._start_screen = start_screen  # the header and patterns first, the main screen after them

    def get_key_display(self, binding: Binding) -> str:
        """A one-character key shows as itself (`q`, `R`, `^p`), as Textual would show it.

        Textual first looks the character up in the Unicode name database (`unicodedata.lookup("Q")`,
        which fails), and a failed lookup touches up to ~80 KB of that database's pages in an idle
        TUI's RSS (/proc/self/smaps). Longer names (`enter`) go to Textual."""
        if binding.key_display:
            return binding.key_display
        modifiers, key = binding.parse_key()
        if len(key) != 1 or not key.isprintable():
            return super().get_key_display(binding)
        if "ctrl" in modifiers:
            modifiers.remove("ctrl")
            key = f"^{key}"
        return "+".join([*modifiers, key])

    async def on_mount(self) -> None:
        self.services.pool.hosts = dict(self.services.hosts)  # `lms` runs on an ssh:// host
        if self._start_screen and self.services.patterns:
            await self.push_screen(StartScreen(self.services))
            # After its first refresh, on the app's queue: the start screen's own (where the callback
            # runs) cannot wait for the switch that closes it.
            self.call_after_refresh(self.call_later, self._open_main)
            return
        await self._open_main()

    async def _open_main(self) -> None:
        from tui.screens.main import MainScreen

        if self._closed:
            return
        if self._sampler_factory is None:
            await self._start_sampler()
            await self.push_screen(MainScreen(self.services))
            return
        # Detecting the probes (NVML, sysfs) takes a while on a slow machine: after the first frame.
        main = MainScreen(self.services, hardware_pending=True)
        start = self.screen if isinstance(self.screen, StartScreen) else None
        if start is None:
            await self.push_screen(main)
        else:
            index = start.highlighted
            await self.switch_screen(main)
            if index:
                main.action_select(index)
        self.call_after_refresh(self._start_late, self._sampler_factory)

    async def _start_late(self, factory: Callable[[], HardwareSampler | None]) -> None:
        sampler = await asyncio.to_thread(factory)
        if self._closed:
            return
        self.services.sampler = sampler
        await self._start_sampler()
        self.main.hardware_started()

    async def _start_sampler(self) -> None:
        if self.services.hosts:
            from backends.probes.remote.registry import with_hosts

            s = self.services
            s.sampler = with_hosts(s.sampler, s.hosts, s.interval)
        sampler = self.services.sampler
        if sampler is not None:
            try:
                await sampler.start()
            except Exception as e:
                self.services.sampler = None
                self.notify(f"hardware probes failed to start: {e}", severity="warning")

    @property
    def main(self) -> MainScreen:
        from tui.screens.main import MainScreen

        return next(s for s in self.screen_stack if isinstance(s, MainScreen))

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        await self.close_services()
        self.exit(0)

    async def close_services(self) -> None:
        """Stop the run (its partial record is stored), close backends and stop a managed server."""
        if self._closed:
            return
        self._closed = True
        for worker in list(self.workers):
            worker.cancel()
        with contextlib.suppress(Exception):
            await self.workers.wait_for_complete()
        with contextlib.suppress(Exception):
            await self.services.pool.aclose()
        if self.services.sampler is not None:
            with contextlib.suppress(Exception):
                await self.services.sampler.stop()

    async def on_unmount(self) -> None:
        # ctrl+c or a closed SSH session: still stop a server we started.
        await self.close_services()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(self.screen, StartScreen):
            return  # the main screen's commands come with it, a moment later
        main = self.main
        yield SystemCommand("Run the selected pattern", "Stream it and record the result", main.action_run)
        yield SystemCommand("Run all patterns", "A sweep with the repeat count", main.action_sweep)
        yield SystemCommand("Stop the run", "The partial run is recorded", main.action_stop)
        yield SystemCommand("Rerun", "The last run or sweep again", main.action_rerun)
        yield SystemCommand("Fold reasoning", "Show or hide the reasoning text", main.action_fold)
        yield SystemCommand("Show output", "Streamed reasoning and answer", lambda: main.action_view("output"))
        yield SystemCommand("Show hardware", "GPU, memory, loaded model", lambda: main.action_view("hardware"))
        yield SystemCommand("Show results", "This session's runs", lambda: main.action_view("results"))
        yield SystemCommand("Export results", "Markdown, csv and json files", main.action_export)
        yield SystemCommand("Reload patterns", "Read the pattern file again", main.action_reload)
        yield SystemCommand("Keys", "Every key", self.action_help)
        for i, p in enumerate(self.services.patterns):
            yield SystemCommand(f"Run pattern {p.name}", f"{p.model} · {p.settings()}", _runner(main, i))


def _runner(main: MainScreen, index: int) -> Callable[[], None]:
    def run() -> None:
        main.action_select(index)
        main.action_run()

    return run


def make_app(
    *,
    patterns: list[Pattern] | None = None,
    config: str | None = None,
    pool_factory: Callable[[Pattern], Backend] | None = None,
    sampler: HardwareSampler | None = None,
    clock: Clock = time.perf_counter,
    store: ResultsStore | None = None,
    repeat: int | None = None,
    interval: float = 1.0,
    health_interval: float = 3.0,
    export_dir: str | Path | None = None,
    sampler_factory: Callable[[], HardwareSampler | None] | None = None,
    start_screen: bool = False,
) -> GptossTop:
    """The app with everything injectable; a bad pattern file is shown in the UI, not raised."""
    services = Services(
        pool=BackendPool(pool_factory),
        store_=store,
        sampler=sampler,
        clock=clock,
        patterns=list(patterns or []),
        pattern_path=config,
        repeat=repeat,
        interval=interval,
        health_interval=health_interval,
        export_dir=str(export_dir) if export_dir is not None else None,
    )
    if patterns is None:
        services.load()
    elif config is not None:
        services.hosts = file_hosts(config)
    return GptossTop(services, sampler_factory, start_screen)


def run_app(config: str | None, patterns: list[Pattern] | None, interval: float, repeat: int | None) -> int:
    """What `gptoss-top` (and `gptoss-top demo`) open."""
    if config is None and patterns is None:
        config = find_default_file()
    import backends.gguf_read

    # A `top` stays open for hours: model files are read by a child process, not with numpy in this one.
    backends.gguf_read.ISOLATE = True

    def sampler() -> HardwareSampler | None:  # after the first frame, with the samples' classes
        from backends.probes.sampler import make_sampler

        return make_sampler(interval)

    app = make_app(config=config, patterns=patterns, repeat=repeat, interval=interval,
                   sampler_factory=sampler, start_screen=True)  # fmt: skip
    return app.run() or 0
