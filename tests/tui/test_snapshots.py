"""Snapshot images of the screens, on fakes with a virtual clock so every figure is fixed.

Regenerate with `pytest tests/tui/test_snapshots.py --snapshot-update` and look at the report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from tests.fakes.backend import FakeBackend
from tui.app import GptossTop
from tui.widgets.output import OutputPanel

Snap = Callable[..., bool]


def after(*keys: str) -> Callable[[Pilot[Any]], Any]:
    """Press keys; wait for each run to finish before the next key."""

    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, GptossTop)
        for key in keys:
            await pilot.press(key)
            if app.main.run_worker_ is not None:
                await app.main.run_worker_.wait()
            await app.workers.wait_for_complete()
            await pilot.pause()  # the run's messages (RunFinished, RunsEnded) are handled
        app.main.query_one(OutputPanel).settle()
        await pilot.pause()

    return run_before


def test_main_80x24_after_a_run(snap_compare: Snap, build: Callable[..., GptossTop]) -> None:
    assert snap_compare(build(), terminal_size=(80, 24), run_before=after("2", "enter"))


def seed_rates(clock: object) -> FakeBackend:
    """The seed's table: 24 layers 122.34 tok/s, 23 layers 44.98, 20 layers 17.52."""
    rates = {24: 122.34, 23: 44.98, 20: 17.52}
    return FakeBackend(clock=clock, tps_for=lambda spec: rates.get(spec.gpu_layers, 10.0))  # type: ignore[arg-type]


def test_main_120x40_after_a_sweep(snap_compare: Snap, build: Callable[..., GptossTop], clock: object) -> None:
    app = build(backend=seed_rates(clock))
    assert snap_compare(app, terminal_size=(120, 40), run_before=after("1", "enter", "a"))


def test_hardware_80x24(snap_compare: Snap, build: Callable[..., GptossTop]) -> None:
    assert snap_compare(build(), terminal_size=(80, 24), run_before=after("enter", "h"))


def test_results_80x24(snap_compare: Snap, build: Callable[..., GptossTop], clock: object) -> None:
    app = build(backend=seed_rates(clock))
    assert snap_compare(app, terminal_size=(80, 24), run_before=after("1", "enter", "enter", "3", "enter", "R"))


def test_help(snap_compare: Snap, build: Callable[..., GptossTop]) -> None:
    assert snap_compare(build(), terminal_size=(80, 24), run_before=after("question_mark"))


def test_error_server_down(snap_compare: Snap, build: Callable[..., GptossTop], clock: object) -> None:
    app = build(backend=FakeBackend(clock=clock, fail="unreachable"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=after("enter"))


def test_narrow_60_cols(snap_compare: Snap, build: Callable[..., GptossTop]) -> None:
    assert snap_compare(build(), terminal_size=(60, 24), run_before=after("enter"))


def test_results_80x24_fast_rates(snap_compare: Snap, build: Callable[..., GptossTop], clock: object) -> None:
    """Thousands of tok/s with a spread: the widest figures still leave every column whole."""
    rates = iter([1542.3, 1498.7, 1611.0, 1611.0])
    app = build(backend=FakeBackend(clock=clock, tps_for=lambda spec: next(rates)))
    assert snap_compare(app, terminal_size=(80, 24), run_before=after("1", "enter", "enter", "3", "enter", "R"))
