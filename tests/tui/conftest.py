"""Fixtures for the TUI tests: patterns, a fake backend on a virtual clock, fixed hardware snapshots."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backends.probes import Peaks, Snapshot, compute_peaks
from backends.runs.patterns import Pattern, parse_patterns
from backends.runs.results import ResultsStore
from tests.fakes.backend import FakeBackend
from tests.probes.fake import FakeClock, fake_snapshots
from tui.app import GptossTop, make_app

PATTERNS_TOML = {
    "defaults": {"backend": "llamacpp", "url": "http://127.0.0.1:8080", "model": "gpt-oss-20b",
                 "prompt": "Why is the sky blue?", "max_tokens": 256},
    "patterns": [
        {"name": "A", "context_length": 4096, "gpu_layers": 24},
        {"name": "B", "context_length": 4096, "gpu_layers": 23},
        {"name": "C", "context_length": 8192, "gpu_layers": 20},
    ],
}  # fmt: skip


def awaiting(coro: Any) -> list[Any]:
    """The frames of a suspended coroutine and of what it awaits, outermost first (a task's own stack
    shows only the outermost)."""
    frames = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            frames.append(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None) or getattr(coro, "gi_yieldfrom", None)
    return frames


@pytest.fixture(autouse=True)
def say_where_a_screen_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    """When Textual's pilot gives up waiting for the screen's widgets to take their messages (30 s), print
    every asyncio task's stack and each widget with messages left before the test fails: a hang that
    shows once in many runs says where it was."""
    from textual import pilot

    wait = pilot.Pilot._wait_for_screen

    async def waiting(self: pilot.Pilot[Any], timeout: float = 30.0) -> bool:
        try:
            return await wait(self, timeout)
        except pilot.WaitForScreenTimeout:
            out = sys.stderr
            print("\n=== the screen did not take its messages: asyncio tasks ===", file=out)
            for task in asyncio.all_tasks():
                print(f"--- {task.get_name()}", file=out)
                for frame in awaiting(task.get_coro()):
                    print(f"    {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}", file=out)
            app = self.app
            for node in [app, *app.screen.walk_children(with_self=True)]:
                left: int = node._message_queue.qsize()
                if left:
                    print(f"{node!r}: {left} messages left", file=out)
            raise

    monkeypatch.setattr(pilot.Pilot, "_wait_for_screen", waiting)


class StaticSampler:
    """The Sampler's interface over fixed snapshots: the same panels on every machine and run."""

    interval_s = 1.0

    def __init__(self, snapshots: list[Snapshot]) -> None:
        self._history = tuple(snapshots)
        self.backend: tuple[int | None, int | None] = (None, None)
        self.started = self.stopped = False

    @property
    def latest(self) -> Snapshot | None:
        return self._history[-1] if self._history else None

    @property
    def history(self) -> tuple[Snapshot, ...]:
        return self._history

    def set_backend(self, pid: int | None, port: int | None) -> None:
        self.backend = (pid, port)

    def sample_now(self) -> Snapshot:
        return self._history[-1]

    def peaks(self, since: float, until: float | None = None) -> Peaks:
        return compute_peaks(self._history)

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def patterns() -> list[Pattern]:
    return parse_patterns(PATTERNS_TOML, "test.toml").patterns


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=100.0)


@pytest.fixture
def backend(clock: FakeClock) -> FakeBackend:
    return FakeBackend(tps=50.0, clock=clock)


@pytest.fixture
def sampler() -> StaticSampler:
    return StaticSampler(fake_snapshots(8))


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    return ResultsStore(tmp_path / "results.jsonl")


@pytest.fixture
def build(
    patterns: list[Pattern],
    backend: FakeBackend,
    sampler: StaticSampler,
    clock: FakeClock,
    store: ResultsStore,
    tmp_path: Path,
) -> Callable[..., GptossTop]:
    """make_app with the fakes; any keyword overrides one of them."""

    def _build(**kw: Any) -> GptossTop:
        be = kw.pop("backend", backend)
        args: dict[str, Any] = dict(
            patterns=patterns, pool_factory=lambda p: be, sampler=sampler, clock=clock, store=store,
            health_interval=0, export_dir=tmp_path / "exports",
        )  # fmt: skip
        args.update(kw)
        return make_app(**args)

    return _build
