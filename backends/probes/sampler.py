"""Runs the probes once a tick, off the event loop, never overlapping; keeps a bounded history.

The TUI's panels read `latest` and `history`; a run asks `peaks(started, ended)` for the run
record's memory fields. A probe runs in a worker thread (asyncio.to_thread) because ioreg or a slow
sysfs read must not stall token streaming on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any, Protocol

from backends.probes.model import (
    AppleSample,
    BackendAware,
    GpuSample,
    HostSample,
    Peaks,
    PressureLevel,
    Probe,
    Snapshot,
    worse_pressure,
)


class HardwareSampler(Protocol):
    """What the app and a run use of a sampler: `Sampler` here, fixed snapshots in tests."""

    interval_s: float

    @property
    def latest(self) -> Snapshot | None: ...

    @property
    def history(self) -> tuple[Snapshot, ...]: ...

    def set_backend(self, pid: int | None, port: int | None) -> None:
        """Watch this server process (found by its pid, or by the port it listens on)."""
        ...

    def sample_now(self) -> Snapshot: ...

    def peaks(self, since: float, until: float | None = None) -> Peaks: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def make_sampler(interval_s: float = 1.0) -> HardwareSampler | None:
    """The sampler the TUI and `bench` run: every probe that applies here; None if none can start."""
    try:
        return Sampler(interval_s=interval_s)
    except Exception:  # a probe library that breaks at import must not stop a benchmark
        return None


def detect_probes() -> list[Probe]:
    """The probes that apply on this machine: host always, a GPU vendor where one answers."""
    from backends.probes.host import HostProbe

    probes: list[Probe] = [HostProbe()]
    if sys.platform == "darwin":
        from backends.probes.apple import AppleProbe

        probes.append(AppleProbe())
    else:
        from backends.probes.nvidia import NvidiaProbe

        nv = NvidiaProbe()
        if nv.available():
            probes.append(nv)
        else:
            nv.close()
        if sys.platform.startswith("linux"):
            from backends.probes.amd import AmdProbe

            amd = AmdProbe()
            if amd.available():
                probes.append(amd)
    return probes


def merge(t: float, probes: Iterable[Probe]) -> Snapshot:
    """One pass over the probes, merged. A probe that raises anyway becomes an error line."""
    gpus: list[GpuSample] = []
    host: HostSample | None = None
    apple: AppleSample | None = None
    errors: list[str] = []
    notes: list[str] = []
    for probe in probes:
        try:
            r = probe.sample()
        except Exception as e:
            errors.append(f"{getattr(probe, 'name', type(probe).__name__)}: {type(e).__name__}: {e}")
            continue
        gpus.extend(r.gpus)
        host = r.host or host
        if r.apple is not None:
            apple = r.apple
            if r.apple.gpu is not None:
                gpus.append(r.apple.gpu)
        if r.state != "ok":
            (errors if r.state == "error" else notes).append(r.state)
        notes.extend(r.notes)
    return Snapshot(t=t, gpus=tuple(gpus), host=host, apple=apple, errors=tuple(errors), notes=tuple(notes))


class Sampler:
    def __init__(
        self,
        probes: Iterable[Probe] | None = None,
        interval_s: float = 1.0,
        history: int = 600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probes: list[Probe] = list(probes) if probes is not None else detect_probes()
        self.interval_s = interval_s
        self._clock = clock
        self._history: deque[Snapshot] = deque(maxlen=history)
        self._latest: Snapshot | None = None
        # One pass at a time, whoever asks: the loop's tick and a direct sample_now() alike.
        self._pass_lock = threading.Lock()
        # Separate, short-held lock for the history, so a panel reading it never waits on a slow pass.
        self._hist_lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None

    @property
    def probes(self) -> tuple[Probe, ...]:
        return tuple(self._probes)

    @property
    def latest(self) -> Snapshot | None:
        return self._latest

    @property
    def history(self) -> tuple[Snapshot, ...]:
        """Oldest first. A copy: the sampler thread appends while a panel reads."""
        with self._hist_lock:
            return tuple(self._history)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def set_backend(self, pid: int | None, port: int | None) -> None:
        for p in self._probes:
            if isinstance(p, BackendAware):
                p.set_backend(pid, port)

    def sample_now(self) -> Snapshot:
        """One pass now, in the calling thread; recorded in the history like a tick."""
        with self._pass_lock:
            snap = merge(self._clock(), self._probes)
            with self._hist_lock:
                self._history.append(snap)
                self._latest = snap
            return snap

    async def start(self) -> None:
        if self.running:
            return
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._loop(self._stop), name="gptoss-top probe sampler")

    async def stop(self) -> None:
        """Stop after the pass in flight (if any) finishes; returns when the loop has ended."""
        task, stop = self._task, self._stop
        self._task = self._stop = None
        if task is None or stop is None:
            return
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = self._clock()
            # Awaiting the thread before scheduling the next tick is what keeps passes apart: a
            # slow ioreg delays the next sample instead of stacking threads behind it.
            await asyncio.to_thread(self.sample_now)
            delay = max(0.0, self.interval_s - (self._clock() - started))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):  # not wait_for: it can lose a stop (wire.light)
                    await stop.wait()

    def peaks(self, since: float, until: float | None = None) -> Peaks:
        """Memory peaks over the samples taken in [since, until] (sampler clock)."""
        window = [s for s in self.history if s.t >= since and (until is None or s.t <= until)]
        return compute_peaks(window)


def compute_peaks(window: Iterable[Snapshot]) -> Peaks:
    vram: int | None = None
    ram: int | None = None
    pressure: PressureLevel | None = None
    first_swap: int | None = None
    last_swap: int | None = None
    for s in window:
        v = s.vram_used_bytes
        if v is not None and (vram is None or v > vram):
            vram = v
        r = s.ram_used_bytes
        if r is not None and (ram is None or r > ram):
            ram = r
        pressure = worse_pressure(pressure, s.pressure)
        sw = s.swap_used_bytes
        if sw is not None:
            first_swap = sw if first_swap is None else first_swap
            last_swap = sw
    delta = None if first_swap is None or last_swap is None else last_swap - first_swap
    return Peaks(vram, ram, pressure, delta)


def to_dict(snapshot: Snapshot) -> dict[str, Any]:
    """A JSON-ready dict of a snapshot, with the derived figures the panels and reports use."""
    d = asdict(snapshot)
    d["vram_used_bytes"] = snapshot.vram_used_bytes
    d["ram_used_bytes"] = snapshot.ram_used_bytes
    d["swap_used_bytes"] = snapshot.swap_used_bytes
    d["pressure"] = snapshot.pressure
    return _lists(d)  # type: ignore[no-any-return]


def _lists(v: Any) -> Any:
    # asdict keeps tuples; json would write them as lists anyway, but a dict that round-trips
    # through json unchanged is easier to compare in tests and scripts.
    if isinstance(v, dict):
        return {k: _lists(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_lists(x) for x in v]
    return v
