"""While tokens stream the screen is redrawn at the flush rate, never per token, and the throughput
panel and header repaint in place: a layout pass costs a CPU-bound model its cycles (issue 14).

Real llama-server with the tiny generated model (thousands of tok/s on a quiet machine): many tokens
arrive between two flushes, so per-token work would show as updates beyond what the time allows.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from textual.widget import Widget
from textual.widgets import Static

from backends.runs.patterns import Pattern
from backends.runs.results import ResultsStore
from tests.conftest import RunningServer
from tui.app import make_app
from tui.screens.runs import RunControl
from tui.widgets.header import HeaderBar
from tui.widgets.output import OutputPanel
from tui.widgets.throughput import RateDigits, ThroughputPanel

TOKENS = 600


@pytest.fixture
def updates(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[str, bool]]:
    """(panel, with a layout pass?) for every update of the throughput panel's and the header's
    text (Static.update's `layout`); ("Digits", False) for each new value of the big digits (those
    have their panel's width and never ask for a layout pass, tests/tui/test_calm.py)."""
    seen: Counter[tuple[str, bool]] = Counter()
    static_update, digits_update = Static.update, RateDigits.update

    def owner(widget: Widget) -> str | None:
        for cls in (ThroughputPanel, HeaderBar):
            if isinstance(widget, cls) or any(isinstance(a, cls) for a in widget.ancestors):
                return cls.__name__
        return None

    def spy_static(self: Static, *args: Any, layout: bool = True, **kwargs: Any) -> None:
        if (name := owner(self)) is not None:
            seen[(name, layout)] += 1
        static_update(self, *args, layout=layout, **kwargs)

    def spy_digits(self: RateDigits, value: str) -> None:
        if owner(self) is not None:
            seen[("Digits", False)] += 1
        digits_update(self, value)

    monkeypatch.setattr(Static, "update", spy_static)
    monkeypatch.setattr(RateDigits, "update", spy_digits)
    return seen


async def test_a_fast_stream_is_drawn_per_flush_not_per_token(
    llama_server: RunningServer, tmp_path: Path, updates: Counter[tuple[str, bool]]
) -> None:
    pattern = Pattern(name="fast", backend="llamacpp", url=llama_server.url, model="tiny", prompt="Count.",
                      max_tokens=TOKENS, seed=1)  # fmt: skip
    app = make_app(patterns=[pattern], store=ResultsStore(tmp_path / "r.jsonl"), health_interval=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        updates.clear()
        t0 = time.perf_counter()
        await pilot.press("enter")
        worker = app.main.run_worker_
        assert worker is not None
        await worker.wait()
        elapsed = time.perf_counter() - t0
        await pilot.pause(0.2)
    rec = app.services.records[-1]
    assert rec.ok, rec.error
    assert rec.completion_tokens == TOKENS
    flushes = elapsed / 0.1 + 5  # the 10 Hz flush, the run's start and its end
    drawn = updates[("ThroughputPanel", False)] + updates[("ThroughputPanel", True)] + updates[("Digits", False)]
    # Label, digits and figures at most once each per flush; never once per token.
    assert drawn <= 3 * flushes, (drawn, elapsed, updates)
    # In place: a layout pass only when the panel changes shape (the run's start, a row more at its end).
    assert updates[("ThroughputPanel", True)] <= 4, updates
    assert updates[("HeaderBar", True)] == 0, updates


async def test_while_a_run_streams_hidden_views_ask_for_no_layout_and_nobody_polls_the_server(
    llama_server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hidden view (the raw answer behind the Markdown, the hardware view at 100x30) that asks for a
    layout pass costs a pass of the whole screen; a health request lands on the server mid-run."""
    from backends.runs import health

    hidden: Counter[str] = Counter()
    checks: list[float] = []
    refresh, check = Widget.refresh, health.check

    def spy_refresh(self: Widget, *regions: Any, layout: bool = False, **kwargs: Any) -> Widget:
        if (
            layout
            and streaming[0]
            and self.is_mounted
            and not all(n.display for n in (self, *self.ancestors) if isinstance(n, Widget))
        ):
            hidden[f"{type(self).__name__}#{self.id}"] += 1
        return refresh(self, *regions, layout=layout, **kwargs)

    async def spy_check(*args: Any, **kwargs: Any) -> Any:
        checks.append(time.perf_counter())
        return await check(*args, **kwargs)

    streaming = [False]
    finished = RunControl.on_run_finished

    def spy_finished(self: RunControl, message: Any) -> None:
        streaming[0] = False  # what the run's end redraws (results, charts) is not the stream's
        finished(self, message)

    monkeypatch.setattr(Widget, "refresh", spy_refresh)
    monkeypatch.setattr(health, "check", spy_check)
    monkeypatch.setattr(RunControl, "on_run_finished", spy_finished)
    pattern = Pattern(name="quiet", backend="llamacpp", url=llama_server.url, model="tiny", prompt="Count.",
                      max_tokens=TOKENS, seed=1)  # fmt: skip
    # A health tick every 0.1 s: it would land inside the run if it were not held back.
    app = make_app(patterns=[pattern], store=ResultsStore(tmp_path / "r.jsonl"), health_interval=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.5)
        assert checks, "the startup health check"
        streaming[0] = True
        await pilot.press("enter")
        worker = app.main.run_worker_
        assert worker is not None
        started = time.perf_counter()
        checks.clear()
        await worker.wait()
        ended = time.perf_counter()
        during = [t for t in checks if t < ended]
        await pilot.pause(0.3)
        out = app.main.query_one(OutputPanel)
        out.toggle_raw()  # the raw answer, kept while hidden, is all there when shown
        await pilot.pause()
        assert out.answer.text == app.services.records[-1].answer
        assert out.answer.scroll_y == out.answer.max_scroll_y > 0 or out.answer.max_scroll_y == 0
    assert app.services.records[-1].ok
    assert not hidden, hidden
    assert not during, f"{len(during)} health checks in a {ended - started:.2f} s run"
    assert len(checks) > len(during), "asked again once the run ended"
