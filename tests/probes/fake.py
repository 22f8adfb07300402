"""Deterministic probe stand-ins for the tests and snapshot images: same figures on every machine.

`FakeProbe` plays a scripted load: memory climbs while a "model" loads, utilisation follows a fixed
pattern, pressure rises to "warn" near the top. Tick n always gives the same reading.
"""

from __future__ import annotations

from collections.abc import Callable

from backends.probes.model import (
    AppleSample,
    GpuProcess,
    GpuSample,
    GpuVendor,
    HostSample,
    PressureLevel,
    ProbeReading,
    Snapshot,
)
from backends.probes.sampler import merge

GIB = 1 << 30
_UTIL = (3.0, 12.0, 47.0, 88.0, 96.0, 99.0, 97.0, 91.0)  # a decode: ramps up, holds, eases off


class FakeClock:
    """A monotonic clock a test moves by hand (`advance`) or that steps on every call (`step`)."""

    def __init__(self, start: float = 1000.0, step: float = 0.0) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> float:
        t = self.now
        self.now += self.step
        return t

    def advance(self, dt: float) -> None:
        self.now += dt


class FakeProbe:
    """A scripted probe. `script(n)` replaces the built-in load for tick n when given."""

    def __init__(
        self,
        vendor: GpuVendor | None = "nvidia",
        *,
        gpu_name: str = "Fake RTX 4090",
        vram_total: int = 24 * GIB,
        ram_total: int = 64 * GIB,
        backend_pid: int | None = 4242,
        script: Callable[[int], ProbeReading] | None = None,
    ) -> None:
        self.name = "fake"
        self.vendor = vendor
        self.gpu_name = gpu_name
        self.vram_total = vram_total
        self.ram_total = ram_total
        self.backend_pid = backend_pid
        self.script = script
        self.calls = 0
        self.backend: tuple[int | None, int | None] = (None, None)

    def set_backend(self, pid: int | None, port: int | None) -> None:
        self.backend = (pid, port)

    def sample(self) -> ProbeReading:
        n = self.calls
        self.calls += 1
        if self.script is not None:
            return self.script(n)
        return self.reading(n)

    def reading(self, n: int) -> ProbeReading:
        # Model weights arrive over the first 5 ticks (12 GiB), then KV cache grows slowly.
        model = min(n, 5) * 12 * GIB // 5 + max(0, n - 5) * 64 * (1 << 20)
        vram = min(model, self.vram_total)
        ram_used = 8 * GIB + (model if self.vendor in (None, "apple") else model // 8)
        ram_used = min(ram_used, self.ram_total)
        share = 1 - ram_used / self.ram_total
        pressure: PressureLevel = "critical" if share < 0.05 else "warn" if share < 0.15 else "normal"
        swap = 256 * (1 << 20) + max(0, n - 8) * 32 * (1 << 20)
        host = HostSample(
            mem_total_bytes=self.ram_total,
            mem_available_bytes=self.ram_total - ram_used,
            mem_used_bytes=ram_used,
            swap_total_bytes=4 * GIB,
            swap_used_bytes=swap,
            psi_some_avg10=None if self.vendor == "apple" else float(min(n, 20)),
            psi_full_avg10=None if self.vendor == "apple" else 0.0,
            pressure=pressure,
            backend_pid=self.backend_pid,
            backend_name="llama-server" if self.backend_pid else None,
            backend_rss_bytes=model // 10 if self.backend_pid else None,
            backend_cpu_percent=float(_UTIL[n % len(_UTIL)]) if self.backend_pid else None,
        )
        util = _UTIL[n % len(_UTIL)]
        if self.vendor is None:
            return ProbeReading(host=host, state="no GPU detected")
        if self.vendor == "apple":
            apple = AppleSample(
                model=self.gpu_name,
                gpu_util_percent=util,
                gpu_renderer_percent=1.0,
                gpu_in_use_bytes=vram,
                gpu_alloc_bytes=vram + 512 * (1 << 20),
                pressure_raw={"normal": 1, "warn": 2, "critical": 4}[pressure],
                pressure=pressure,
                memory_free_percent=round(share * 100),
                memsize_bytes=self.ram_total,
                wired_limit_mb=0,
                swap_total_bytes=4 * GIB,
                swap_used_bytes=swap,
                page_size=16384,
            )
            return ProbeReading(host=host, apple=apple)
        procs = (GpuProcess(pid=self.backend_pid, used_bytes=vram),) if self.backend_pid else ()
        gpu = GpuSample(
            vendor=self.vendor,
            index=0,
            name=self.gpu_name,
            source="fake",
            util_percent=util,
            mem_used_bytes=vram,
            mem_total_bytes=self.vram_total,
            vram_used_bytes=vram,
            vram_total_bytes=self.vram_total,
            power_w=round(30 + util * 3.5, 1),
            temperature_c=40 + util // 4,
            clock_graphics_mhz=int(800 + util * 18),
            clock_mem_mhz=10501,
            processes=procs,
        )
        return ProbeReading(gpus=(gpu,), host=host)


def fake_snapshots(
    n: int, *, vendor: GpuVendor | None = "nvidia", start: float = 1000.0, interval_s: float = 1.0
) -> list[Snapshot]:
    """n snapshots of the scripted load, one interval apart, as a Sampler would have taken them."""
    probe = FakeProbe(vendor)
    return [merge(start + i * interval_s, [probe]) for i in range(n)]
