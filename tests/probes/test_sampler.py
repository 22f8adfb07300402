from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Sequence

import pytest

from backends.probes import (
    AppleSample,
    GpuSample,
    HostSample,
    Peaks,
    ProbeReading,
    Sampler,
    Snapshot,
    detect_probes,
    to_dict,
)
from backends.probes.host import HostProbe
from tests.probes.fake import FakeClock, FakeProbe, fake_snapshots

GIB = 1 << 30


class Recorder:
    """A probe that records when each pass ran and how many ran at once."""

    name = "recorder"

    def __init__(self, duration_s: float = 0.0, gate: threading.Event | None = None) -> None:
        self.duration_s = duration_s
        self.gate = gate
        self.active = 0
        self.max_active = 0
        self.calls = 0
        self.lock = threading.Lock()

    def sample(self) -> ProbeReading:
        with self.lock:
            self.active += 1
            self.calls += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.gate is not None:
                self.gate.wait(5)
            time.sleep(self.duration_s)
        finally:
            with self.lock:
                self.active -= 1
        return ProbeReading()


async def test_next_tick_waits_for_the_previous() -> None:
    gate = threading.Event()
    probe = Recorder(gate=gate)
    s = Sampler([probe], interval_s=0.0)
    threads_before = threading.active_count()
    await s.start()
    await asyncio.sleep(0.15)
    assert probe.calls == 1  # the first pass is stuck; an interval of 0 must not stack more behind it
    # ... not even as threads queued behind it: one worker thread, however long the pass takes.
    assert threading.active_count() <= threads_before + 1
    gate.set()
    await asyncio.sleep(0.05)
    await s.stop()
    assert probe.calls > 1
    assert probe.max_active == 1


async def test_loop_and_sample_now_never_overlap() -> None:
    probe = Recorder(duration_s=0.005)
    s = Sampler([probe], interval_s=0.0)
    await s.start()
    await asyncio.gather(*(asyncio.to_thread(s.sample_now) for _ in range(8)))
    await s.stop()
    assert probe.max_active == 1
    assert len(s.history) == probe.calls


async def test_runs_off_the_event_loop() -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    class Where:
        name = "where"

        def sample(self) -> ProbeReading:
            seen.append(threading.get_ident())
            return ProbeReading()

    s = Sampler([Where()], interval_s=0.01)
    await s.start()
    await asyncio.sleep(0.05)
    await s.stop()
    assert seen
    assert loop_thread not in seen


async def test_stop_is_clean_and_waits_for_the_pass_in_flight() -> None:
    gate = threading.Event()
    probe = Recorder(gate=gate)
    s = Sampler([probe], interval_s=10.0)
    await s.start()
    await s.start()  # idempotent
    await asyncio.sleep(0.02)
    assert s.running
    stopping = asyncio.create_task(s.stop())
    await asyncio.sleep(0.02)
    assert not stopping.done()  # it waits for the thread rather than abandoning it
    gate.set()
    await asyncio.wait_for(stopping, 2)
    assert not s.running
    assert probe.active == 0
    calls = probe.calls
    await asyncio.sleep(0.05)
    assert probe.calls == calls  # nothing after stop
    await s.stop()  # twice is fine
    assert len(s.history) == 1


async def test_stop_returns_promptly_during_the_wait() -> None:
    s = Sampler([Recorder()], interval_s=30.0)
    await s.start()
    await asyncio.sleep(0.02)
    await asyncio.wait_for(s.stop(), 1.0)


def test_history_is_bounded_and_ordered() -> None:
    clock = FakeClock(start=0.0, step=1.0)
    s = Sampler([FakeProbe()], history=5, clock=clock)
    for _ in range(12):
        s.sample_now()
    h = s.history
    assert len(h) == 5
    assert [x.t for x in h] == [7.0, 8.0, 9.0, 10.0, 11.0]
    assert s.latest is h[-1]


def scripted(values: Sequence[tuple[int | None, int | None, str | None, int | None]]) -> FakeProbe:
    """Tick n gives (vram, ram_used, pressure, swap_used) = values[n]."""

    def script(n: int) -> ProbeReading:
        vram, ram, pressure, swap = values[n]
        gpus = (GpuSample("nvidia", 0, "a", "fake", mem_used_bytes=vram),) if vram is not None else ()
        host = HostSample(mem_used_bytes=ram, pressure=pressure, swap_used_bytes=swap)  # type: ignore[arg-type]
        return ProbeReading(gpus=gpus, host=host)

    return FakeProbe(script=script)


def test_peaks_over_a_window() -> None:
    clock = FakeClock(start=100.0, step=1.0)
    values = [
        (1 * GIB, 10 * GIB, "normal", 100),  # t=100, before the run
        (9 * GIB, 11 * GIB, "normal", 200),  # t=101, run starts
        (5 * GIB, 15 * GIB, "critical", 250),  # t=102
        (6 * GIB, 12 * GIB, "warn", 700),  # t=103, run ends
        (20 * GIB, 30 * GIB, "critical", 9000),  # t=104, after the run
    ]
    s = Sampler([scripted(values)], clock=clock)
    for _ in values:
        s.sample_now()
    assert s.peaks(101.0, 103.0) == Peaks(
        peak_vram_bytes=9 * GIB, peak_ram_used_bytes=15 * GIB, memory_pressure_peak="critical", swap_delta_bytes=500
    )
    assert s.peaks(103.0) == Peaks(20 * GIB, 30 * GIB, "critical", 8300)
    assert s.peaks(100.0, 100.0) == Peaks(1 * GIB, 10 * GIB, "normal", 0)
    assert s.peaks(500.0) == Peaks(None, None, None, None)  # no samples: unknown, never 0


def test_peaks_unknowns_stay_none_and_gpus_add_up() -> None:
    clock = FakeClock(start=0.0, step=1.0)

    def script(n: int) -> ProbeReading:
        gpus = (
            GpuSample("nvidia", 0, "a", "fake", mem_used_bytes=3 * GIB),
            GpuSample("nvidia", 1, "b", "fake", mem_used_bytes=None),
            GpuSample("amd", 0, "c", "fake", mem_used_bytes=2 * GIB),
        )
        return ProbeReading(gpus=gpus, host=HostSample(pressure=None))

    s = Sampler([FakeProbe(script=script)], clock=clock)
    s.sample_now()
    assert s.peaks(0.0) == Peaks(5 * GIB, None, None, None)


def test_apple_in_use_memory_is_the_vram_peak_and_its_pressure_wins() -> None:
    def script(n: int) -> ProbeReading:
        apple = AppleSample(gpu_in_use_bytes=(n + 1) * GIB, pressure="warn" if n == 1 else "normal", model="M4")
        return ProbeReading(apple=apple, host=HostSample(pressure="normal", swap_used_bytes=n * 1000))

    s = Sampler([FakeProbe(script=script)], clock=FakeClock(step=1.0))
    for _ in range(3):
        s.sample_now()
    p = s.peaks(0.0)
    assert p.peak_vram_bytes == 3 * GIB
    assert p.memory_pressure_peak == "warn"
    assert p.swap_delta_bytes == 2000
    assert s.latest is not None
    assert s.latest.gpus[0].vendor == "apple"


def test_a_probe_that_raises_becomes_an_error_line() -> None:
    class Broken:
        name = "broken"

        def sample(self) -> ProbeReading:
            raise RuntimeError("nope")

    class Absent:
        name = "absent"

        def sample(self) -> ProbeReading:
            return ProbeReading(state="no NVIDIA driver")

    snap = Sampler([Broken(), Absent(), HostProbe()]).sample_now()
    assert snap.errors == ("broken: RuntimeError: nope",)
    assert "no NVIDIA driver" in snap.notes
    assert snap.host is not None


def test_set_backend_reaches_the_probes_that_want_it() -> None:
    fake = FakeProbe()
    s = Sampler([fake, Recorder()])
    s.set_backend(1234, 8080)
    assert fake.backend == (1234, 8080)


def test_detect_probes_here() -> None:
    probes = detect_probes()
    assert isinstance(probes[0], HostProbe)
    assert {p.name for p in probes} <= {"host", "nvidia", "amd", "apple"}
    # Whatever was detected can be sampled without raising.
    snap = Sampler(probes).sample_now()
    assert snap.host is not None
    assert not snap.errors


def test_to_dict_is_json_ready() -> None:
    snap = fake_snapshots(7)[-1]
    d = to_dict(snap)
    assert json.loads(json.dumps(d)) == d
    assert d["gpus"][0]["processes"][0]["pid"] == 4242
    assert d["vram_used_bytes"] == snap.vram_used_bytes
    assert d["pressure"] == snap.pressure


@pytest.mark.parametrize("vendor", ["nvidia", "amd", "apple", None])
def test_fake_snapshots_are_deterministic(vendor: str | None) -> None:
    a = fake_snapshots(20, vendor=vendor)  # type: ignore[arg-type]
    b = fake_snapshots(20, vendor=vendor)  # type: ignore[arg-type]
    assert a == b
    assert [s.t for s in a[:3]] == [1000.0, 1001.0, 1002.0]
    assert all(isinstance(s, Snapshot) for s in a)
    if vendor is None:
        assert a[0].gpus == ()
        assert "no GPU detected" in a[0].notes
    else:
        first, last = a[0].vram_used_bytes, a[-1].vram_used_bytes
        assert first is not None
        assert last is not None
        assert last > first
