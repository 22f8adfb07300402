"""Host memory, swap and the backend's own process, on every OS (psutil); Linux PSI where present.

A pressure level is derived on Linux too, so `memory_pressure_peak` means the same thing in every
run record: "normal" < "warn" < "critical", as macOS's kern.memorystatus_vm_pressure_level says it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from backends.probes.model import HostSample, PressureLevel, ProbeReading

PSI_MEMORY = Path("/proc/pressure/memory")
# PSI "some avg10": % of the last 10 s in which at least one task waited for memory. Sustained
# double digits means the machine is reclaiming hard (the model is being paged); 40 % and up, or
# any real "full" stall (every task waiting), is thrashing — what macOS would call critical.
PSI_WARN_SOME, PSI_CRITICAL_SOME = 10.0, 40.0
PSI_WARN_FULL, PSI_CRITICAL_FULL = 2.0, 10.0
# Without PSI (older kernels, other OSes) the share of memory still available decides.
AVAIL_WARN, AVAIL_CRITICAL = 0.10, 0.05
# Finding a PID by its port walks every socket and process; once in this many seconds is plenty.
PORT_LOOKUP_EVERY_S = 10.0
_DEFAULT_PSI = PSI_MEMORY if sys.platform.startswith("linux") else None


def pressure_level(
    available: int | None, total: int | None, psi_some10: float | None, psi_full10: float | None
) -> PressureLevel | None:
    if (available is None or not total) and psi_some10 is None:
        return None
    share = available / total if available is not None and total else None
    if (
        (psi_some10 is not None and psi_some10 >= PSI_CRITICAL_SOME)
        or (psi_full10 is not None and psi_full10 >= PSI_CRITICAL_FULL)
        or (share is not None and share < AVAIL_CRITICAL)
    ):
        return "critical"
    if (
        (psi_some10 is not None and psi_some10 >= PSI_WARN_SOME)
        or (psi_full10 is not None and psi_full10 >= PSI_WARN_FULL)
        or (share is not None and share < AVAIL_WARN)
    ):
        return "warn"
    return "normal"


def parse_psi(text: str | None) -> dict[str, dict[str, float]]:
    """`some avg10=0.00 avg60=0.00 avg300=0.00 total=0` lines → {"some": {"avg10": 0.0, ...}}."""
    out: dict[str, dict[str, float]] = {}
    for line in (text or "").splitlines():
        kind, _, rest = line.partition(" ")
        vals: dict[str, float] = {}
        for item in rest.split():
            k, _, v = item.partition("=")
            try:
                vals[k] = float(v)
            except ValueError:
                continue
        if kind in ("some", "full"):
            out[kind] = vals
    return out


class HostProbe:
    name = "host"

    def __init__(
        self,
        psi_path: Path | str | None = _DEFAULT_PSI,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._psi = Path(psi_path) if psi_path is not None else None
        self._psi_missing = False
        self._clock = clock
        self._pid: int | None = None
        self._port: int | None = None
        self._proc: psutil.Process | None = None
        self._last_lookup: float | None = None
        self._proc_seen = False  # has cpu_percent() been primed on this Process object?

    def set_backend(self, pid: int | None, port: int | None) -> None:
        """The server to watch: its PID when known (managed), else the port it listens on."""
        if (pid, port) != (self._pid, self._port):
            self._pid, self._port = pid, port
            self._proc = None
            self._last_lookup = None

    def sample(self) -> ProbeReading:
        try:
            return self._sample()
        except Exception as e:  # the contract: never raise into the sampler
            return ProbeReading(state="error", notes=(f"host: {type(e).__name__}: {e}",))

    def _sample(self) -> ProbeReading:
        notes: list[str] = []
        total = avail = s_total = s_used = s_in = s_out = None
        try:
            vm = psutil.virtual_memory()
            total, avail = int(vm.total), int(vm.available)
        except Exception as e:  # psutil on a macOS beta raised RuntimeError here (psutil #2853)
            notes.append(f"host: memory not readable ({e})")
        try:
            sw = psutil.swap_memory()
            s_total, s_used, s_in, s_out = int(sw.total), int(sw.used), int(sw.sin), int(sw.sout)
        except Exception as e:
            notes.append(f"host: swap not readable ({e})")
        psi = self._read_psi()
        if self._psi is not None and self._psi_missing:
            notes.append("PSI not available (kernel < 4.20 or psi=0)")
        some, full = psi.get("some", {}), psi.get("full", {})
        proc = self._backend_process()
        rss = cpu = None
        name = None
        if proc is not None:
            try:
                with proc.oneshot():
                    rss = int(proc.memory_info().rss)
                    # The first call of a Process object has nothing to compare with and says 0.0.
                    cpu = proc.cpu_percent(None) if self._proc_seen else None
                    name = proc.name()
                self._proc_seen = True
            except (psutil.Error, OSError):
                self._proc = None  # gone or not ours; look again next time
        return ProbeReading(
            host=HostSample(
                mem_total_bytes=total,
                mem_available_bytes=avail,
                mem_used_bytes=None if total is None or avail is None else total - avail,
                swap_total_bytes=s_total,
                swap_used_bytes=s_used,
                swap_in_bytes=s_in,
                swap_out_bytes=s_out,
                psi_some_avg10=some.get("avg10"),
                psi_full_avg10=full.get("avg10"),
                psi_some_avg60=some.get("avg60"),
                pressure=pressure_level(avail, total, some.get("avg10"), full.get("avg10")),
                backend_pid=proc.pid if proc is not None and rss is not None else None,
                backend_name=name,
                backend_rss_bytes=rss,
                backend_cpu_percent=cpu,
            ),
            notes=tuple(notes),
        )

    def _read_psi(self) -> dict[str, dict[str, float]]:
        if self._psi is None or self._psi_missing:
            return {}
        try:
            text = self._psi.read_text()
        except OSError:
            self._psi_missing = True  # it will not appear before a reboot; stop trying
            return {}
        return parse_psi(text)

    def _backend_process(self) -> psutil.Process | None:
        if self._proc is not None:
            return self._proc
        pid = self._pid
        if pid is None and self._port is not None:
            now = self._clock()
            if self._last_lookup is not None and now - self._last_lookup < PORT_LOOKUP_EVERY_S:
                return None
            self._last_lookup = now
            pid = pid_listening_on(self._port)
        if pid is None:
            return None
        try:
            self._proc = psutil.Process(pid)
        except (psutil.Error, OSError):
            return None
        self._proc_seen = False
        return self._proc


def pid_listening_on(port: int) -> int | None:
    """The PID listening on a TCP port, where the OS lets us see it (macOS needs root for others')."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            return int(c.pid)
    return None
