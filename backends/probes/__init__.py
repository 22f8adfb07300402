"""Hardware probes: NVIDIA (NVML), AMD (sysfs, pyamdgpuinfo), Apple (ioreg, sysctl, vm_stat), host.

Every probe's `sample()` returns frozen dataclasses with None for what is unknown and never raises;
vendor libraries are imported lazily so a missing one only disables its probe. `Sampler` runs them
off the event loop and answers the run record's memory peaks. Nothing here imports textual.
"""

from __future__ import annotations

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
