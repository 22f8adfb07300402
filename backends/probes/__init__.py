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

_FAKES = ("FakeClock", "FakeProbe", "fake_snapshots")


def __getattr__(name: str) -> object:
    # The fakes serve tests and snapshots; a real start-up should not pay for importing them.
    if name in _FAKES:
        from backends.probes import fake

        return getattr(fake, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PRESSURE_LEVELS",
    "AppleSample",
    "BackendAware",
    "FakeClock",
    "FakeProbe",
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
    "fake_snapshots",
    "merge",
    "to_dict",
    "worse_pressure",
]
