"""While the running model computes on this machine's CPU (its server uses half of the logical cores
or more), the screen redraws once a second (every redraw is taken from the model); otherwise four
times a second. Real clock, paced fake stream."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from textual.pilot import Pilot

from backends.base import ContentDelta
from backends.probes.model import HostSample, Snapshot
from backends.runs.stats import LiveFigures
from backends.wire.framing import READ_PACE_S, read_pace
from tests.tui.conftest import StaticSampler
from tests.tui.test_markdown_answer import ReplayBackend
from tui.app import GptossTop
from tui.screens.main import CALM_READ_PACE_S
from tui.widgets.throughput import ThroughputPanel


def machine(cpu_percent: float | None) -> StaticSampler:
    """The server's process at `cpu_percent` of one core (None: the probe could not tell)."""
    host = HostSample(mem_total_bytes=8 << 30, mem_available_bytes=4 << 30, backend_pid=4242,
                      backend_name="llama-server", backend_cpu_percent=cpu_percent)  # fmt: skip
    return StaticSampler([Snapshot(t=0.0, host=host)])


def long_replay(tps: float, copies: int) -> ReplayBackend:
    """The recorded reply with its answer `copies` times over, in real time, the first token at once."""
    backend = ReplayBackend(clock=None, tps=tps)
    answer = [e for e in backend.events if isinstance(e, ContentDelta)]
    backend.events[-1:-1] = answer * (copies - 1)
    backend.ttft_s = 0.0
    return backend


async def run_one(app: GptossTop, pilot: Pilot[Any]) -> None:
    """Enter on the first pattern once the app has settled, and wait for the run's end."""
    await pilot.pause(0.3)
    await pilot.press("enter")
    worker = app.main.run_worker_
    assert worker is not None
    await worker.wait()


async def until(pilot: Pilot[Any], ready: Callable[[], bool], tries: int = 100) -> None:
    for _ in range(tries):
        if ready():
            return
        await pilot.pause(0.02)


async def start_run(app: GptossTop, pilot: Pilot[Any]) -> Any:
    """Enter on the first pattern once the app has settled; the main screen once its run is going."""
    await pilot.pause(0.3)
    await pilot.press("enter")
    main = app.main
    await until(pilot, lambda: main.running)
    return main


CORES = os.cpu_count() or 1


@pytest.mark.parametrize(
    ("cpu", "calm"),
    [(CORES * 50.0, True), (CORES * 50.0 - 10, False), (None, False)],
    ids=["half-the-cores", "less", "unknown"],
)
async def test_redraws_once_a_second_only_while_the_model_runs_on_the_cpu(
    build: Callable[..., GptossTop], monkeypatch: pytest.MonkeyPatch, cpu: float | None, calm: bool
) -> None:
    draws: list[tuple[float, str]] = []
    show_live = ThroughputPanel.show_live

    paces: list[float] = []

    def spy(self: ThroughputPanel, f: LiveFigures, spark: Sequence[float], calm: bool = False) -> None:
        show_live(self, f, spark, calm)
        draws.append((time.perf_counter(), self._label))
        paces.append(read_pace())

    monkeypatch.setattr(ThroughputPanel, "show_live", spy)
    backend = ReplayBackend(clock=None, tps=40.0)  # ~185 tokens: 4.6 s, three or more calm redraws after the first
    backend.ttft_s = 0.0
    app = build(backend=backend, sampler=machine(cpu), clock=time.perf_counter, interval=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("enter")
        worker = app.main.run_worker_
        assert worker is not None
        await worker.wait()
        await pilot.pause(0.1)
        record: Any = app.services.records[-1]
    assert record.ok
    # After the first hardware tick (0.2 s) the pace is set; the flushes of the run's start and end
    # come on top of the timer's.
    steady = [t for t, _ in draws if t - draws[0][0] > 0.5]
    span = steady[-1] - steady[0] if len(steady) > 1 else 0.0
    assert span > 1.5, draws
    if calm:
        assert len(steady) <= span / 1.0 + 3, (len(steady), span)
        assert all(label == "tok/s · live · 1 redraw/s" for _, label in draws)
        # Tokens read four times a second, not twenty: the screen shows them once a second
        assert set(paces) == {CALM_READ_PACE_S}, paces
    else:
        assert len(steady) >= span / 0.25 * 0.6, (len(steady), span)  # 4 Hz, a loaded machine allowed for
        assert all(label == "tok/s · live (2 s window)" for t, label in draws if t - draws[0][0] > 0.5)
        assert paces[-1] == READ_PACE_S, paces
    assert read_pace() == READ_PACE_S  # the process's pace again once the app is gone


async def test_a_run_starts_at_the_pace_the_last_run_on_its_server_ended_with(
    build: Callable[..., GptossTop], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first run on a server on this machine starts calm (it may be computing on the CPU) until a
    sample taken within the run says; the next run on the same server starts where that one ended."""
    labels: list[str] = []
    show_live = ThroughputPanel.show_live

    def spy(self: ThroughputPanel, f: LiveFigures, spark: Sequence[float], calm: bool = False) -> None:
        show_live(self, f, spark, calm)
        labels.append(self._label)

    monkeypatch.setattr(ThroughputPanel, "show_live", spy)
    backend = ReplayBackend(clock=None, tps=120.0)  # ~1.5 s a run
    backend.ttft_s = 0.0
    app = build(backend=backend, sampler=machine(10.0), clock=time.perf_counter, interval=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.3)
        for _ in range(2):
            labels.clear()
            await pilot.press("enter")
            worker = app.main.run_worker_
            assert worker is not None
            await worker.wait()
            await pilot.pause(0.1)
            if _ == 0:
                first = list(labels)
    assert first[0] == "tok/s · live · 1 redraw/s" and first[-1] == "tok/s · live (2 s window)", first
    assert set(labels) == {"tok/s · live (2 s window)"}, labels


async def test_a_header_that_has_the_server_down_asks_again_once_tokens_flow(
    build: Callable[..., GptossTop], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No health requests mid-run, except one when the header still says the server is down (a
    managed server's first run starts it): the header is right while the run streams."""
    from tui.widgets.header import HeaderBar

    backend = ReplayBackend(clock=None, tps=80.0)  # ~2.3 s
    backend.ttft_s = 0.0
    down = [True]  # until the run's first tokens: what a managed server's first run looks like
    health, stream = type(backend).health, type(backend).stream

    async def flaky(self: ReplayBackend) -> Any:
        h = await health(self)
        return type(h)(False, "unreachable (ConnectError)") if down[0] else h

    async def streaming(self: ReplayBackend, request: Any) -> Any:
        async for event in stream(self, request):
            down[0] = False
            yield event

    monkeypatch.setattr(type(backend), "health", flaky)
    monkeypatch.setattr(type(backend), "stream", streaming)
    app = build(backend=backend, clock=time.perf_counter, interval=0.2, health_interval=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.3)
        header = app.main.query_one(HeaderBar)
        assert header.health is not None and not header.health.ok
        await pilot.press("enter")
        worker = app.main.run_worker_
        assert worker is not None
        while worker.is_running and not (header.health is not None and header.health.ok):
            await pilot.pause(0.05)
        assert worker.is_running, "the header was still 'down' when the run ended"
        asked = sum(1 for call, _ in backend.calls if call == "health")
        await worker.wait()
        during = sum(1 for call, _ in backend.calls if call == "health") - asked
    assert during == 0, "asked again while the run streamed, though the header knew the server up"


@pytest.mark.parametrize("cpu", [CORES * 50.0, 10.0], ids=["calm", "busy"])
async def test_every_flush_of_a_run_reaches_the_terminal(
    build: Callable[..., GptossTop], monkeypatch: pytest.MonkeyPatch, cpu: float
) -> None:
    """A flush's Markdown append lets the screen take in the frame's changes, and go idle, inside the
    flush's batch; the screen must still draw them. Before the fix the screen stopped drawing once the
    answer overflowed its box (after ~4 s of a 1,024-token demo run) and stayed frozen until the run
    ended. Each flush that showed new figures is followed by a frame before the next flush."""
    from textual.app import App

    events: list[tuple[float, str]] = []
    show_live, display = ThroughputPanel.show_live, App._display

    def spy(self: ThroughputPanel, f: LiveFigures, spark: Sequence[float], calm: bool = False) -> None:
        show_live(self, f, spark, calm)
        events.append((time.perf_counter(), "flush"))

    def drawn(self: App[Any], screen: Any, update: Any) -> None:
        display(self, screen, update)
        events.append((time.perf_counter(), "frame"))

    monkeypatch.setattr(ThroughputPanel, "show_live", spy)
    monkeypatch.setattr(App, "_display", drawn)
    # The recorded answer four times over (~640 tokens, ~4 s): it overflows its box after a second.
    app = build(backend=long_replay(150.0, 4), sampler=machine(cpu), clock=time.perf_counter, interval=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        await run_one(app, pilot)
        await pilot.pause(0.3)
    kinds = [k for _, k in events]
    flushes = [i for i, k in enumerate(kinds) if k == "flush"]
    assert len(flushes) >= 4, kinds
    undrawn = [i for n, i in enumerate(flushes) if "frame" not in kinds[i + 1 : [*flushes, len(kinds)][n + 1]]]
    assert not undrawn, f"flushes {undrawn} of {flushes} were never drawn: {kinds}"


async def test_the_cycle_collector_spares_the_app_while_a_run_streams(
    build: Callable[..., GptossTop], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full collection walks every widget and module of the app (~25 ms of a core on 2 cores);
    while a run streams it looks only at what the run made. Afterwards everything is collectable again."""
    import gc

    frozen: list[int] = []
    show_live = ThroughputPanel.show_live

    def spy(self: ThroughputPanel, f: LiveFigures, spark: Sequence[float], calm: bool = False) -> None:
        show_live(self, f, spark, calm)
        frozen.append(gc.get_freeze_count())

    monkeypatch.setattr(ThroughputPanel, "show_live", spy)
    app = build(backend=long_replay(400.0, 1), sampler=machine(10.0), clock=time.perf_counter, interval=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        assert gc.get_freeze_count() == 0
        await run_one(app, pilot)
        await pilot.pause(0.1)
        assert gc.get_freeze_count() == 0
    assert frozen and min(frozen) > 10_000, frozen  # the app's objects, set aside during the run


@pytest.mark.parametrize("cpu", [CORES * 50.0, 10.0], ids=["calm", "busy"])
async def test_a_calm_screen_renders_the_answer_less_often(
    build: Callable[..., GptossTop], monkeypatch: pytest.MonkeyPatch, cpu: float
) -> None:
    """Each append renders the answer's last block again (a few milliseconds of a core): while the
    model computes on this CPU the rendered answer grows every CALM_GAP_S, otherwise with the flushes,
    and all of it is there as soon as the run ends."""
    from tui.widgets.output import OutputPanel

    appends: list[float] = []
    append = OutputPanel._append

    def spy(self: OutputPanel) -> None:
        if self._pending:
            appends.append(time.perf_counter())
        append(self)

    monkeypatch.setattr(OutputPanel, "_append", spy)
    # The recorded answer five times over (~830 tokens at 60 tok/s: ~13 s; answer text from ~3 s on)
    app = build(backend=long_replay(60.0, 5), sampler=machine(cpu), clock=time.perf_counter, interval=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        await run_one(app, pilot)
        ended = time.perf_counter()
        out = app.main.query_one(OutputPanel)
        for _ in range(80):  # the rest of the answer, on the busy pace now (not after a calm gap)
            await pilot.pause(0.05)
            if out.rendered == out.answer.text:
                break
        assert out.rendered == out.answer.text
    during = [t for t in appends if t < ended]
    gaps = [b - a for a, b in itertools.pairwise(during)]
    assert len(during) >= 3, during
    if cpu >= CORES * 50:
        assert min(gaps) >= OutputPanel.CALM_GAP_S - 0.1, gaps
    else:
        assert min(gaps) <= OutputPanel.MIN_GAP_S + 0.2 < OutputPanel.CALM_GAP_S, gaps


async def test_the_end_of_a_run_lifts_the_calm_gap() -> None:
    """What a calm run left unrendered goes on the busy pace once it ends, not three seconds later."""
    from textual.app import App

    from tui.widgets.output import OutputPanel

    class Host(App[None]):
        def compose(self) -> Any:
            yield OutputPanel(id="output")

    async with Host().run_test(size=(80, 24)) as pilot:
        out = pilot.app.query_one(OutputPanel)
        out.write("", "# Title\n\nfirst words", live=True)
        out.pump(calm=True)
        now = time.monotonic()
        assert out._due(OutputPanel.CALM_GAP_S) >= now + OutputPanel.CALM_GAP_S - 0.5  # calm: the next one waits
        out.write("", " and the rest", live=True)
        out.pump(calm=True)
        assert out.rendered == "# Title\n\nfirst words"
        out.finish()
        assert out._due(OutputPanel.MIN_GAP_S) <= now + OutputPanel.MIN_GAP_S + 0.5
        await pilot.pause(OutputPanel.MIN_GAP_S + 0.5)
        assert out.rendered == "# Title\n\nfirst words and the rest"


async def test_a_rate_that_crosses_a_digit_repaints_without_a_layout_pass(
    build: Callable[..., GptossTop], monkeypatch: pytest.MonkeyPatch
) -> None:
    """gpt-oss on a CPU hovers around 10 tok/s (9.9, 10.0, ...) and the demo's model around 100: each new
    length of the big figure was a layout pass of the whole screen (~9 ms of the model's core at 120×40).
    The figure has its panel's width, so a repaint is enough, and it reads right."""
    from textual.widget import Widget

    from tui.widgets.throughput import RateDigits

    app = build(backend=long_replay(60.0, 1))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        panel = app.main.query_one(ThroughputPanel)
        digits = panel.query_one(RateDigits)
        width = digits.region.width
        layouts: list[str] = []
        refresh = Widget.refresh

        def spy(self: Widget, *regions: Any, layout: bool = False, **kwargs: Any) -> Widget:
            if layout and (self is digits or digits in self.ancestors_with_self):
                layouts.append(str(digits.value))
            return refresh(self, *regions, layout=layout, **kwargs)

        monkeypatch.setattr(Widget, "refresh", spy)
        for tps in (9.9, 10.0, 9.8, 99.9, 100.0, 1234.0, 9.9):
            panel.show_live(LiveFigures(tps, 0.2, 400.0, 100, 20, 2.0), [tps, tps], calm=True)
            await pilot.pause()
            assert digits.value == f"{tps:.0f}" if tps >= 1000 else f"{tps:.1f}"
            assert digits.region.width == width
            rendered = "".join(s.text for s in digits.render_lines(digits.region.reset_offset))
            assert "•" in rendered if tps < 1000 else "•" not in rendered  # the decimal point is drawn
        assert layouts == []


async def test_the_pace_is_decided_by_a_sample_taken_wholly_within_the_run(
    build: Callable[..., GptossTop], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sample gives the server's CPU since the sample before it, and the newest may be an interval
    old: one and a half intervals into a run, its interval may have begun before the run, with the
    server idle, and a CPU-bound run lost its calm pace for a second at its start. The clock starts
    with the first tokens drawn: before them a managed server may still be loading the model."""
    import tui.screens.main as main_screen

    app = build(backend=long_replay(60.0, 5), sampler=machine(10.0), clock=time.perf_counter, interval=1.0)
    async with app.run_test(size=(100, 30)) as pilot:
        main = await start_run(app, pilot)
        assert main.running and main.calm  # a first run on this machine starts calm
        await until(pilot, lambda: main._tokens_began is not None)
        began = main._tokens_began
        assert began is not None
        now = [began + 1.6]
        monkeypatch.setattr(main_screen, "monotonic", lambda: now[0])
        main._hardware_tick()
        assert main.calm  # the newest sample's second may have begun before the tokens: not decided yet
        now[0] = began + 2.0
        main._hardware_tick()
        assert not main.calm  # a sample within the run: 10 % of a core, the model is not on this CPU
        await pilot.press("s")  # stop the run
        await until(pilot, lambda: not main.running)


async def test_the_pace_waits_for_the_first_tokens(
    build: Callable[..., GptossTop], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before its first token a run's server may still be loading its model, or reading the prompt:
    its CPU then says nothing about the decode. The first run on this machine stays calm until then."""
    import tui.screens.main as main_screen

    backend = long_replay(60.0, 1)
    backend.ttft_s = 1.5  # the model loading, the prompt read
    app = build(backend=backend, sampler=machine(10.0), clock=time.perf_counter, interval=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        main = await start_run(app, pilot)
        real = time.monotonic
        monkeypatch.setattr(main_screen, "monotonic", lambda: real() + 60.0)  # long after the run began
        main._hardware_tick()
        assert main.running and main._tokens_began is None
        assert main.calm  # the idle server's CPU did not decide it
        monkeypatch.setattr(main_screen, "monotonic", real)
        worker = main.run_worker_
        assert worker is not None
        await worker.wait()
        await pilot.pause(0.1)
    assert app.services.records[-1].ok
