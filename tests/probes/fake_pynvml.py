"""A stand-in for nvidia-ml-py's `pynvml`, to put in sys.modules: just the names the probe uses.

Shapes follow nvidia-ml-py 13.615.71 `pynvml.py`: errors
are `NVMLError_<Name>` subclasses of `NVMLError`; power in mW; memory in bytes; per-process memory
`usedGpuMemory` (None under WDDM).
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


class NVMLError_LibraryNotFound(NVMLError):
    pass


class NVMLError_DriverNotLoaded(NVMLError):
    pass


class NVMLError_GpuIsLost(NVMLError):
    pass


@dataclass
class FakeGpu:
    name: str = "NVIDIA GeForce RTX 4090"
    util: int = 87
    used: int = 13 * 2**30
    total: int = 24 * 2**30
    power_mw: int = 312_456
    temp: int = 64
    clocks: tuple[int, int, int] = (2520, 2520, 10501)  # graphics, SM, memory
    compute: list[tuple[int, int | None]] = field(default_factory=lambda: [(4242, 12 * 2**30)])
    graphics: list[tuple[int, int | None]] = field(default_factory=list)
    bus_id: str = "00000000:01:00.0"
    not_supported: set[str] = field(default_factory=set)  # function names that raise NotSupported
    lost: bool = False


def make(
    gpus: list[FakeGpu] | None = None,
    init_error: type[NVMLError] | None = None,
    has_temperature_v: bool = True,
) -> types.ModuleType:
    gpus = gpus if gpus is not None else [FakeGpu()]
    m = types.ModuleType("pynvml")
    calls: dict[str, int] = {}
    m.calls = calls  # type: ignore[attr-defined]
    for cls in (NVMLError, NVMLError_NotSupported, NVMLError_LibraryNotFound, NVMLError_DriverNotLoaded,
                NVMLError_GpuIsLost):  # fmt: skip
        setattr(m, cls.__name__, cls)
    m.NVML_CLOCK_GRAPHICS, m.NVML_CLOCK_SM, m.NVML_CLOCK_MEM = 0, 1, 2  # type: ignore[attr-defined]
    m.NVML_TEMPERATURE_GPU = 0  # type: ignore[attr-defined]

    def api(fn: Any) -> Any:
        def wrapper(*args: Any) -> Any:
            calls[fn.__name__] = calls.get(fn.__name__, 0) + 1
            if args and isinstance(args[0], FakeGpu):
                g = args[0]
                if g.lost and fn.__name__ != "nvmlDeviceGetHandleByIndex":
                    raise NVMLError_GpuIsLost("GPU is lost")
                if fn.__name__ in g.not_supported:
                    raise NVMLError_NotSupported("Not Supported")
            return fn(*args)

        wrapper.__name__ = fn.__name__
        setattr(m, fn.__name__, wrapper)
        return wrapper

    @api
    def nvmlInit() -> None:
        if init_error is not None:
            raise init_error("NVML Shared Library Not Found")

    @api
    def nvmlShutdown() -> None:
        pass

    @api
    def nvmlDeviceGetCount() -> int:
        return len(gpus)

    @api
    def nvmlDeviceGetHandleByIndex(i: int) -> FakeGpu:
        return gpus[i]

    @api
    def nvmlDeviceGetName(g: FakeGpu) -> str:
        return g.name

    @api
    def nvmlDeviceGetUtilizationRates(g: FakeGpu) -> Any:
        return types.SimpleNamespace(gpu=g.util, memory=30)

    @api
    def nvmlDeviceGetMemoryInfo(g: FakeGpu) -> Any:
        return types.SimpleNamespace(used=g.used, total=g.total, free=g.total - g.used)

    @api
    def nvmlDeviceGetPowerUsage(g: FakeGpu) -> int:
        return g.power_mw

    @api
    def nvmlDeviceGetTemperature(g: FakeGpu, sensor: int) -> int:
        return g.temp

    if has_temperature_v:

        @api
        def nvmlDeviceGetTemperatureV(g: FakeGpu, sensor: int) -> int:
            return g.temp

    @api
    def nvmlDeviceGetClockInfo(g: FakeGpu, clock: int) -> int:
        return g.clocks[clock]

    @api
    def nvmlDeviceGetPciInfo(g: FakeGpu) -> Any:
        return types.SimpleNamespace(busId=g.bus_id)

    @api
    def nvmlDeviceGetComputeRunningProcesses(g: FakeGpu) -> list[Any]:
        return [types.SimpleNamespace(pid=p, usedGpuMemory=u) for p, u in g.compute]

    @api
    def nvmlDeviceGetGraphicsRunningProcesses(g: FakeGpu) -> list[Any]:
        return [types.SimpleNamespace(pid=p, usedGpuMemory=u) for p, u in g.graphics]

    return m
