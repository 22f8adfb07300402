"""NVIDIA GPUs through NVML (`import pynvml`, provided by nvidia-ml-py), imported lazily.

No library or no driver is a state ("no NVIDIA driver"), not an error; a field a card does not
support (NVMLError_NotSupported, unified-memory GB10/Jetson) is None and the rest still shows.
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

from backends.probes.model import GpuProcess, GpuSample, ProbeReading

NO_DRIVER = "no NVIDIA driver"
NO_LIBRARY = "nvidia-ml-py not installed"


def _load_pynvml() -> Any:
    # The deprecated `pynvml` wheel adds an import hook that warns on every `import pynvml`, even
    # when nvidia-ml-py supplies the module; a warning here must not become an error in the app.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pynvml

    return pynvml


def _library_missing() -> str | None:
    """Why NVML cannot load here, found without importing pynvml; None when it may load.

    The module is ~2 MB of RSS (measured from /proc/self/status around the import) that a machine
    without an NVIDIA driver would keep for nothing. pynvml itself loads `libnvidia-ml.so.1` outside
    Windows and reports a failure as "NVML Shared Library Not Found"; the same load is tried first.
    A pynvml already imported (or stubbed in `sys.modules`) is left to decide.
    """
    import ctypes
    import importlib.util

    if sys.platform.startswith("win") or "pynvml" in sys.modules:
        return None
    if importlib.util.find_spec("pynvml") is None:
        return NO_LIBRARY
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return f"{NO_DRIVER} (NVML Shared Library Not Found)"
    return None


class NvidiaProbe:
    name = "nvidia"

    def __init__(self, loader: Callable[[], Any] = _load_pynvml) -> None:
        self._loader = loader
        self._nvml: Any = None
        self._state: str | None = None  # set once init has been tried: "ok" or why not
        self._lock = threading.Lock()

    # ----------------------------------------------------------------------------------------------

    def _init(self) -> str:
        """Load and initialise NVML once; later calls return the remembered outcome.

        Retrying a missing driver every second would cost a dlopen per tick for nothing.
        """
        with self._lock:
            if self._state is not None:
                return self._state
            if self._loader is _load_pynvml and (missing := _library_missing()) is not None:
                self._state = missing
                return self._state
            try:
                nvml = self._loader()
            except Exception:  # ImportError, or whatever a broken install raises on import
                self._state = NO_LIBRARY
                return self._state
            try:
                nvml.nvmlInit()
            except nvml.NVMLError as e:
                # LibraryNotFound, DriverNotLoaded, LibRmVersionMismatch, NoPermission ... the user
                # can do the same about all of them: there is no usable NVIDIA driver here.
                self._state = f"{NO_DRIVER} ({e})"
                return self._state
            except Exception as e:
                self._state = f"{NO_DRIVER} ({type(e).__name__}: {e})"
                return self._state
            self._nvml = nvml
            self._state = "ok"
            return self._state

    def state(self) -> str:
        """ "ok", or why this machine has no usable NVML ("no NVIDIA driver (...)")."""
        return self._init()

    def available(self) -> bool:
        """Is there at least one NVIDIA GPU this probe can read?"""
        if self._init() != "ok":
            return False
        try:
            return int(self._nvml.nvmlDeviceGetCount()) > 0
        except Exception:
            return False

    def close(self) -> None:
        with self._lock:
            if self._nvml is not None:
                try:
                    self._nvml.nvmlShutdown()
                except Exception:  # shutting down a lost GPU must not stop the app closing
                    pass
            self._nvml = None
            self._state = None

    # ----------------------------------------------------------------------------------------------

    def sample(self) -> ProbeReading:
        try:
            state = self._init()
            if state != "ok":
                return ProbeReading(state=state)
            return self._sample()
        except Exception as e:  # the contract: a probe never raises into the sampler
            return ProbeReading(state="error", notes=(f"nvidia: {type(e).__name__}: {e}",))

    def _q(self, fn: Callable[..., Any], *args: Any) -> Any:
        """One NVML query; any NVMLError (NotSupported, FunctionNotFound, NoPermission) → None."""
        try:
            return fn(*args)
        except self._nvml.NVMLError:
            return None

    def _sample(self) -> ProbeReading:
        n = self._nvml
        count = self._q(n.nvmlDeviceGetCount)
        if count is None:
            return ProbeReading(state="error", notes=("nvidia: device count not readable",))
        gpus: list[GpuSample] = []
        notes: list[str] = []
        for i in range(int(count)):
            h = self._q(n.nvmlDeviceGetHandleByIndex, i)
            if h is None:
                notes.append(f"nvidia: GPU {i} not readable (lost or no permission)")
                continue
            gpus.append(self._device(i, h))
        return ProbeReading(gpus=tuple(gpus), notes=tuple(notes))

    def _device(self, i: int, h: Any) -> GpuSample:
        n = self._nvml
        name = self._q(n.nvmlDeviceGetName, h)
        if isinstance(name, bytes):  # older bindings returned bytes
            name = name.decode(errors="replace")
        util = self._q(n.nvmlDeviceGetUtilizationRates, h)
        mem = self._q(n.nvmlDeviceGetMemoryInfo, h)
        power_mw = self._q(n.nvmlDeviceGetPowerUsage, h)
        temp = self._temperature(h)
        used = _nvml_int(getattr(mem, "used", None))
        total = _nvml_int(getattr(mem, "total", None))
        return GpuSample(
            vendor="nvidia",
            index=i,
            name=name if isinstance(name, str) else None,
            source="nvml",
            util_percent=_float(getattr(util, "gpu", None)),
            mem_used_bytes=used,
            mem_total_bytes=total,
            vram_used_bytes=used,
            vram_total_bytes=total,
            power_w=None if power_mw is None else float(power_mw) / 1000.0,
            temperature_c=temp,
            clock_graphics_mhz=_nvml_int(self._q(n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_GRAPHICS)),
            clock_sm_mhz=_nvml_int(self._q(n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_SM)),
            clock_mem_mhz=_nvml_int(self._q(n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_MEM)),
            pci_slot=self._pci(h),
            processes=self._processes(h),
        )

    def _temperature(self, h: Any) -> float | None:
        n = self._nvml
        # TemperatureV is the successor (the old call "will be removed in CUDA 14.0"); older drivers
        # lack it (FunctionNotFound) and older bindings lack the Python function.
        getv = getattr(n, "nvmlDeviceGetTemperatureV", None)
        if getv is not None:
            t = self._q(getv, h, n.NVML_TEMPERATURE_GPU)
            if t is not None:
                return _float(t)
        return _float(self._q(n.nvmlDeviceGetTemperature, h, n.NVML_TEMPERATURE_GPU))

    def _pci(self, h: Any) -> str | None:
        info = self._q(self._nvml.nvmlDeviceGetPciInfo, h)
        bus = getattr(info, "busId", None)
        if isinstance(bus, bytes):
            bus = bus.decode(errors="replace")
        return bus if isinstance(bus, str) else None

    def _processes(self, h: Any) -> tuple[GpuProcess, ...]:
        n = self._nvml
        seen: dict[int, GpuProcess] = {}
        # A CUDA server is a compute process; a Vulkan llama.cpp build shows up as graphics.
        for fn_name in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            fn = getattr(n, fn_name, None)
            procs = self._q(fn, h) if fn is not None else None
            for p in procs or ():
                pid = _nvml_int(getattr(p, "pid", None))
                if pid is None or pid in seen:
                    continue
                seen[pid] = GpuProcess(pid=pid, used_bytes=_nvml_int(getattr(p, "usedGpuMemory", None)))
        return tuple(sorted(seen.values(), key=lambda p: p.pid))


def _nvml_int(v: object) -> int | None:
    # NVML reports "not available" per-process memory as None (WDDM) or as a huge sentinel.
    if isinstance(v, bool) or not isinstance(v, int):
        return None
    return v if 0 <= v < (1 << 63) else None


def _float(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)
