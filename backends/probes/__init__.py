"""Hardware probes: NVIDIA (NVML), AMD (sysfs, pyamdgpuinfo), Apple (ioreg, sysctl, vm_stat), host.

Every probe's `sample()` returns frozen dataclasses with None for what is unknown and never raises;
vendor libraries are imported lazily so a missing one only disables its probe. `Sampler` runs them
off the event loop and answers the run record's memory peaks. Nothing here imports textual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backends.lazy import lazy_names

if TYPE_CHECKING:
    from backends.probes.model import (
        PRESSURE_LEVELS,
        AppleSample,
        BackendAware,
        GpuProcess,
        GpuSample,
        HostSample,
        Peaks,
        PressureLevel,
        Probe,
        ProbeReading,
        Snapshot,
        worse_pressure,
    )
    from backends.probes.sampler import Sampler, compute_peaks, detect_probes, merge, to_dict

# The sampler (asyncio, psutil) and the samples' classes (a dozen dataclasses: ~7 ms to define) load on
# first use: a pattern file's `[hosts]` check imports this package, and the TUI's first frame should
# not wait for them (PEP 562 module __getattr__).
_SAMPLER = ("Sampler", "compute_peaks", "detect_probes", "merge", "to_dict")
_MODEL = ("PRESSURE_LEVELS", "AppleSample", "BackendAware", "GpuProcess", "GpuSample", "HostSample", "Peaks",
          "PressureLevel", "Probe", "ProbeReading", "Snapshot", "worse_pressure")  # fmt: skip
__getattr__ = lazy_names(
    __name__, dict.fromkeys(_SAMPLER, "backends.probes.sampler") | dict.fromkeys(_MODEL, "backends.probes.model")
)


__all__ = [
    "PRESSURE_LEVELS",
    "AppleSample",
    "BackendAware",
    "GpuProcess",
    "GpuSample",
    "HostSample",
    "Peaks",
    "PressureLevel",
    "Probe",
    "ProbeReading",
    "Sampler",
    "Snapshot",
    "compute_peaks",
    "detect_probes",
    "merge",
    "to_dict",
    "worse_pressure",
]
