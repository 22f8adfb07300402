"""A remote host's sampler: the local Sampler's surface (latest, history, peaks, sample_now, start,
stop) over one telemetry reader, with staleness.

Each host reads in its own worker thread, so a slow or dead host never holds up the screen, a run,
the local probes or another host. A failed read keeps the last good snapshot and marks it stale
with its age and the error; only good readings enter the history, so peaks are real figures and a
run whose window has none says so (`missing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from backends.probes.model import Peaks, Snapshot
from backends.probes.remote.convert import TelemetryError
from backends.probes.remote.source import TelemetrySource
from backends.probes.sampler import compute_peaks

if TYPE_CHECKING:
    from backends.probes.remote.readers import Reader


@dataclass(frozen=True)
class Freshness:
    """How current a host's figures are, for the fleet view."""

    snapshot: Snapshot | None  # the last good reading (not annotated)
    age_s: float | None  # since that reading; None before the first
    error: str | None  # the last read's error, None when it worked
    stale: bool


class RemoteSampler:
    def __init__(
        self,
        source: TelemetrySource,
        reader: Reader | None = None,
        interval_s: float = 1.0,
        history: int = 600,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float | None = None,
    ) -> None:
        self.source = source
        self.interval_s = interval_s
        self.timeout_s = timeout_s if timeout_s is not None else max(1.0, min(5.0, 2 * interval_s))
        if reader is None:  # the readers bring httpx: loaded only when a pattern file names a host
            from backends.probes.remote.readers import make_reader

            reader = make_reader(source, self.timeout_s)
        self._reader = reader
        self._clock = clock
        self._history: deque[Snapshot] = deque(maxlen=history)
        self._failures: deque[tuple[float, str]] = deque(maxlen=history)
        self._good: Snapshot | None = None
        self._error: str | None = None
        self._lock = threading.Lock()
        self._pass_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None

    @property
    def probes(self) -> tuple[()]:
        return ()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def stale_after_s(self) -> float:
        return max(3 * self.interval_s, self.interval_s + self.timeout_s)

    @property
    def history(self) -> tuple[Snapshot, ...]:
        with self._lock:
            return tuple(self._history)

    def freshness(self) -> Freshness:
        with self._lock:
            good, err = self._good, self._error
        age = None if good is None else max(0.0, self._clock() - good.t)
        stale = err is not None or age is None or age > self.stale_after_s
        return Freshness(good, age, err, stale)

    @property
    def latest(self) -> Snapshot | None:
        """The last good snapshot; when stale, with a line saying how old and why."""
        f = self.freshness()
        if f.snapshot is None:
            return None if f.error is None else Snapshot(t=self._clock(), errors=(f.error,))
        if not f.stale:
            return f.snapshot
        why = f": {f.error}" if f.error else ""
        return replace(f.snapshot, errors=(*f.snapshot.errors, f"stale, {f.age_s:.0f} s old{why}"))

    def set_backend(self, pid: int | None, port: int | None = None) -> None:
        """The server's process is on the other machine: nothing to watch from here."""

    def sample_now(self) -> Snapshot:
        """One read now, unless the background loop is reading (then its latest): a run never waits."""
        if not self.running and self._pass_lock.acquire(blocking=False):
            try:
                self._pass()
            finally:
                self._pass_lock.release()
        return self.latest or Snapshot(t=self._clock(), notes=(f"{self.source.text}: no reading yet",))

    def _pass(self) -> None:
        try:
            r = self._reader.read()
        except TelemetryError as e:
            self._failed(str(e))
            return
        except Exception as e:  # a reader bug must not end the loop
            self._failed(f"{self.source.text}: {type(e).__name__}: {e}")
            return
        gpus = r.gpus + ((r.apple.gpu,) if r.apple is not None and r.apple.gpu is not None else ())
        snap = Snapshot(t=self._clock(), gpus=gpus, host=r.host, apple=r.apple, notes=r.notes)
        with self._lock:
            self._history.append(snap)
            self._good, self._error = snap, None

    def _failed(self, message: str) -> None:
        with self._lock:
            self._error = message
            self._failures.append((self._clock(), message))

    def _window(self, since: float, until: float | None) -> list[Snapshot]:
        """Readings in [since, until], and the last one before `since` while it was still fresh: the
        state a run started in, so a run shorter than the interval still has figures."""
        hist = self.history
        inside = [s for s in hist if s.t >= since and (until is None or s.t <= until)]
        before = [s for s in hist if s.t < since]
        if before and since - before[-1].t <= self.stale_after_s:
            inside.insert(0, before[-1])
        return inside

    def peaks(self, since: float, until: float | None = None) -> Peaks:
        return compute_peaks(self._window(since, until))

    def missing(self, since: float, until: float | None = None) -> str | None:
        """What the run record should say when this host's telemetry was missing in [since, until]."""
        hist = self.history
        inside = [s for s in hist if s.t >= since and (until is None or s.t <= until)]
        carried = self._window(since, until)[:1] if not inside else []
        with self._lock:
            failed = [m for t, m in self._failures if t >= since and (until is None or t <= until)]
            last_err = self._error
        if inside:
            if not failed:
                return None
            return (f"telemetry from {self.source.text} missing for part of the run ({len(failed)} failed "
                    f"reads, last: {failed[-1]}); peaks are from the {len(inside)} readings that arrived")  # fmt: skip
        if carried and not failed and last_err is None:
            return None  # a run shorter than the interval: the reading just before it stands for it
        why = failed[-1] if failed else (last_err or "no reading arrived in time")
        peaks = (f"peaks are from its last reading, {since - carried[0].t:.1f} s before the run" if carried
                 else "its memory peaks are null")  # fmt: skip
        return f"no telemetry from {self.source.text} during the run ({why}); {peaks}"

    async def start(self) -> None:
        if self.running:
            return
        self._pool = self._pool or ThreadPoolExecutor(1, thread_name_prefix=f"gptoss-top {self.source.kind}")
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._loop(self._stop, self._pool), name=f"telemetry {self.source.text}")

    async def stop(self) -> None:
        """Returns at once: a read in flight finishes in its thread, bounded by its time-out."""
        task, stop, pool = self._task, self._stop, self._pool
        self._task = self._stop = self._pool = None
        if stop is not None:
            stop.set()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def _loop(self, stop: asyncio.Event, pool: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = self._clock()
            await loop.run_in_executor(pool, self._locked_pass)
            delay = max(0.0, self.interval_s - (self._clock() - started))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):  # not wait_for: it can lose a stop (wire.light)
                    await stop.wait()

    def _locked_pass(self) -> None:
        with self._pass_lock:
            self._pass()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._reader.close()
