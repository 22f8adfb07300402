"""What the hardware probes report: frozen dataclasses where None means "this machine did not say".

Every probe returns a `ProbeReading`; the sampler merges one reading per probe into a `Snapshot`.
Unknown figures are None, never 0, so a panel can tell "idle" from "not reported" (the run record's
rule: unknown is null).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

PressureLevel = Literal["normal", "warn", "critical"]
PRESSURE_LEVELS: tuple[PressureLevel, ...] = ("normal", "warn", "critical")
GpuVendor = Literal["nvidia", "amd", "apple"]


def worse_pressure(a: PressureLevel | None, b: PressureLevel | None) -> PressureLevel | None:
    """The higher of two levels; None only when both are unknown."""
    if a is None:
        return b
    if b is None:
        return a
    return a if PRESSURE_LEVELS.index(a) >= PRESSURE_LEVELS.index(b) else b


@dataclass(frozen=True, slots=True)
class GpuProcess:
    """A process holding memory on a GPU, so the backend's own share can be shown."""

    pid: int
    used_bytes: int | None  # VRAM; None where the driver hides it (NVML on WDDM)
    gtt_bytes: int | None = None  # AMD: system memory mapped for the GPU
    name: str | None = None


@dataclass(frozen=True, slots=True)
class GpuSample:
    vendor: GpuVendor
    index: int
    name: str | None
    source: str  # "nvml", "sysfs", "sysfs+pyamdgpuinfo", "ioreg": which numbers to trust how much
    util_percent: float | None = None
    mem_used_bytes: int | None = None  # what counts as "VRAM used" for peaks (see `unified`)
    mem_total_bytes: int | None = None
    vram_used_bytes: int | None = None  # the dedicated memory alone (AMD/NVIDIA)
    vram_total_bytes: int | None = None
    gtt_used_bytes: int | None = None  # AMD GTT: APU memory, or a dGPU spilling into system RAM
    gtt_total_bytes: int | None = None
    power_w: float | None = None
    temperature_c: float | None = None
    clock_graphics_mhz: int | None = None
    clock_sm_mhz: int | None = None
    clock_mem_mhz: int | None = None
    unified: bool = False  # memory is system memory (APU, Apple): VRAM and RAM are the same pool
    pci_slot: str | None = None
    processes: tuple[GpuProcess, ...] = ()


@dataclass(frozen=True, slots=True)
class HostSample:
    mem_total_bytes: int | None = None
    mem_available_bytes: int | None = None
    # total - available: what the OS could not hand out now. psutil's own `used` excludes caches
    # differently per OS; this one means the same on Linux and macOS.
    mem_used_bytes: int | None = None
    swap_total_bytes: int | None = None
    swap_used_bytes: int | None = None
    swap_in_bytes: int | None = None  # cumulative since boot
    swap_out_bytes: int | None = None
    psi_some_avg10: float | None = None  # Linux PSI, % of wall time stalled on memory
    psi_full_avg10: float | None = None
    psi_some_avg60: float | None = None
    pressure: PressureLevel | None = None
    backend_pid: int | None = None
    backend_name: str | None = None
    backend_rss_bytes: int | None = None
    backend_cpu_percent: float | None = None  # of one core; None on the first sample of a process


@dataclass(frozen=True, slots=True)
class AppleSample:
    """One pass of ioreg + sysctl + vm_stat on an Apple Silicon Mac (no sudo)."""

    model: str | None = None  # "Apple M4"
    gpu_util_percent: float | None = None  # "Device Utilization %" (LLMs pin it; Renderer stays low)
    gpu_renderer_percent: float | None = None
    gpu_in_use_bytes: int | None = None  # "In use system memory": the GPU's share of unified memory
    gpu_alloc_bytes: int | None = None  # "Alloc system memory"
    pressure_raw: int | None = None  # kern.memorystatus_vm_pressure_level: 1 / 2 / 4
    pressure: PressureLevel | None = None
    memory_free_percent: int | None = None  # kern.memorystatus_level
    memsize_bytes: int | None = None
    wired_limit_mb: int | None = None  # iogpu.wired_limit_mb; 0 = the system's default policy
    swap_total_bytes: int | None = None
    swap_used_bytes: int | None = None
    page_size: int | None = None
    free_bytes: int | None = None
    wired_bytes: int | None = None
    compressed_bytes: int | None = None  # "Pages occupied by compressor"
    swapins: int | None = None  # pages, cumulative
    swapouts: int | None = None

    @property
    def gpu(self) -> GpuSample | None:
        """The GPU as the other vendors show it, so panels and peaks need no Apple branch."""
        if self.gpu_util_percent is None and self.gpu_in_use_bytes is None and self.model is None:
            return None
        return GpuSample(
            vendor="apple",
            index=0,
            name=self.model,
            source="ioreg",
            util_percent=self.gpu_util_percent,
            mem_used_bytes=self.gpu_in_use_bytes,
            mem_total_bytes=self.memsize_bytes,
            unified=True,
        )


@dataclass(frozen=True, slots=True)
class ProbeReading:
    """What one probe saw in one pass. `state` is shown to the user ("no NVIDIA driver")."""

    gpus: tuple[GpuSample, ...] = ()
    host: HostSample | None = None
    apple: AppleSample | None = None
    state: str = "ok"
    notes: tuple[str, ...] = ()


@runtime_checkable
class Probe(Protocol):
    """A source of hardware figures. `sample()` never raises and is cheap enough for every second."""

    name: str

    def sample(self) -> ProbeReading: ...


@runtime_checkable
class BackendAware(Protocol):
    """A probe that wants to know which process is the inference server."""

    def set_backend(self, pid: int | None, port: int | None) -> None: ...


@dataclass(frozen=True, slots=True)
class Snapshot:
    t: float  # the sampler's clock (monotonic), not wall time
    gpus: tuple[GpuSample, ...] = ()
    host: HostSample | None = None
    apple: AppleSample | None = None
    errors: tuple[str, ...] = ()  # a probe misbehaved (it raised despite its contract)
    notes: tuple[str, ...] = ()  # states worth showing: "no NVIDIA driver", "PSI not available"

    @property
    def vram_used_bytes(self) -> int | None:
        """Total GPU memory in use across GPUs; None when no GPU reported it."""
        used = [g.mem_used_bytes for g in self.gpus if g.mem_used_bytes is not None]
        return sum(used) if used else None

    @property
    def pressure(self) -> PressureLevel | None:
        # macOS says its own level; elsewhere the host probe derives one from PSI and free memory.
        if self.apple is not None and self.apple.pressure is not None:
            return self.apple.pressure
        return self.host.pressure if self.host is not None else None

    @property
    def swap_used_bytes(self) -> int | None:
        if self.host is not None and self.host.swap_used_bytes is not None:
            return self.host.swap_used_bytes
        return self.apple.swap_used_bytes if self.apple is not None else None

    @property
    def ram_used_bytes(self) -> int | None:
        return self.host.mem_used_bytes if self.host is not None else None


@dataclass(frozen=True, slots=True)
class Peaks:
    """The run record's memory fields over one run (contract: README "Run record")."""

    peak_vram_bytes: int | None
    peak_ram_used_bytes: int | None
    memory_pressure_peak: PressureLevel | None
    swap_delta_bytes: int | None
