"""The live side of a run: token buffers the screen drains four times a second, and the tok/s history.

The run calls `on_event` for every token (this is its `LiveSink`); it only appends to lists, so the
stream is never held up by drawing. Sparkline points are taken on the run's own clock every `step_s`
of stream time, so the same stream (a fake with a virtual clock in tests) always draws the same line.
The panels get `figures()`, a frozen copy of what the meter knows, never the meter itself.
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from backends.base import ContentDelta, ReasoningDelta, StreamEvent
from backends.runs.stats import Clock, LiveFigures, Meter


class LiveRun:
    def __init__(self, clock: Clock, step_s: float = 0.25, points: int = 120) -> None:
        self.clock = clock
        self.step_s = step_s
        self._meter: Meter | None = None
        self.spark: deque[float] = deque(maxlen=points)
        self._last_point: float | None = None
        self._reasoning: list[str] = []
        self._answer: list[str] = []

    def reset(self) -> None:
        """A new run begins: drop the last one's meter, text and history."""
        self._meter = None
        self.spark.clear()
        # Every run starts from 0 tok/s; it also anchors the sparkline's scale at 0, so a steady
        # rate draws as a high line rather than the flat floor of a min-to-max scale.
        self.spark.append(0.0)
        self._last_point = None
        self._reasoning.clear()
        self._answer.clear()

    def start(self, meter: Meter) -> None:
        self._meter = meter

    def stop(self) -> None:
        """The run ended: its final figures replace the live ones until the next run begins."""
        self._meter = None

    def on_event(self, event: StreamEvent) -> None:
        if isinstance(event, ReasoningDelta):
            self._reasoning.append(event.text)
        elif isinstance(event, ContentDelta):
            self._answer.append(event.text)
        else:
            return
        now = self.clock()
        meter = self._meter
        if meter is not None and (self._last_point is None or now - self._last_point >= self.step_s):
            rate = meter.live_tps()
            if rate is not None:
                self.spark.append(rate)
                self._last_point = now

    def figures(self) -> LiveFigures | None:
        """The running run's figures now; None between runs."""
        return self._meter.live() if self._meter is not None else None

    def take(self) -> tuple[str, str]:
        """The text that arrived since the last call: (reasoning, answer)."""
        r, a = "".join(self._reasoning), "".join(self._answer)
        self._reasoning.clear()
        self._answer.clear()
        return r, a


@contextmanager
def collector_spared() -> Iterator[None]:
    """While runs stream, Python's cycle collector leaves alone the objects that existed before them.

    The app's widgets, styles and imported modules are a few hundred thousand objects that live as long
    as the app. A full collection walks them all, about 25-30 ms of one core on a 2-core machine, and
    the allocations of a run's start trigger one early in its decode; every millisecond of it is taken
    from a model that computes on the CPU. `gc.freeze` moves them where the collector does not look
    until `gc.unfreeze` (both only move lists: no walk). The run's own objects are collected as ever."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
