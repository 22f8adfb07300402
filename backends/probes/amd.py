"""AMD GPUs on Linux: sysfs first (no library, no root), pyamdgpuinfo where installed to fill gaps.

sysfs is the primary source because it knows every card the amdgpu driver knows: an RX 9070
(RDNA4) works here even though pyamdgpuinfo's support for it is unverified, and the files are
plain reads, cheaper than the library's ioctls. Roots are injectable so tests lay out trees in tmp
dirs. Per-process VRAM comes from /proc/PID/fdinfo (drm-memory-vram) for the backend's PID only:
scanning every process's descriptors each second would cost more than the rest put together.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.probes.model import GpuProcess, GpuSample, ProbeReading

AMD_VENDOR = "0x1002"
_CARD = re.compile(r"card(\d+)$")  # not card0-DP-1: those are connectors of the same card
# An APU's VRAM is a firmware carve-out (512 MiB typical, a few GiB at most); its GPU lives in GTT.
APU_VRAM_MAX = 4 << 30
_KIB_LINE = re.compile(r"^([\w -]+):\s*(\d+)\s*(\w*)")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _load_pyamdgpuinfo() -> Any:
    import pyamdgpuinfo  # GPL-3.0 optional extra, Linux x86_64 wheels only

    return pyamdgpuinfo


class AmdProbe:
    name = "amd"

    def __init__(
        self,
        sysfs_root: Path | str = "/sys",
        proc_root: Path | str = "/proc",
        *,
        use_library: bool = True,
        library_loader: Callable[[], Any] = _load_pyamdgpuinfo,
    ) -> None:
        self._drm = Path(sysfs_root) / "class" / "drm"
        self._proc = Path(proc_root)
        self._use_library = use_library
        self._loader = library_loader
        self._lib_gpus: dict[str, Any] | None = None  # pci slot → pyamdgpuinfo.GPUInfo
        self._cards: list[tuple[int, Path]] | None = None
        self._pids: tuple[int, ...] = ()

    def set_backend(self, pid: int | None, port: int | None) -> None:
        self._pids = (pid,) if pid is not None else ()

    def cards(self) -> list[tuple[int, Path]]:
        """(index, device dir) of every amdgpu card; listed once, cards do not come and go."""
        if self._cards is None:
            found: list[tuple[int, Path]] = []
            try:
                entries = sorted(self._drm.iterdir())
            except OSError:
                entries = []
            for entry in entries:
                m = _CARD.match(entry.name)
                dev = entry / "device"
                if m and _read(dev / "vendor") == AMD_VENDOR:
                    found.append((int(m.group(1)), dev))
            self._cards = found
        return self._cards

    def available(self) -> bool:
        return bool(self.cards())

    def sample(self) -> ProbeReading:
        try:
            cards = self.cards()
            if not cards:
                return ProbeReading(state="no AMD GPU")
            lib = self._library()
            procs = self._processes()
            gpus = tuple(self._card(i, dev, lib, procs) for i, dev in cards)
            return ProbeReading(gpus=gpus)
        except Exception as e:  # the contract: never raise into the sampler
            return ProbeReading(state="error", notes=(f"amd: {type(e).__name__}: {e}",))

    # ----------------------------------------------------------------------------------------------

    def _card(self, index: int, dev: Path, lib: dict[str, Any], procs: dict[str, list[GpuProcess]]) -> GpuSample:
        slot = _pci_slot(dev)
        f = _read_sysfs(dev)
        g = lib.get(slot or "")
        if g is not None:
            _fill_from_library(f, g)
        if f.name is None:
            did = _read(dev / "device")
            f.name = f"AMD GPU {did}" if did else "AMD GPU"
        return _sample(index, slot, f, tuple(procs.get(slot or "", ())))

    def _library(self) -> dict[str, Any]:
        """pyamdgpuinfo's GPUs by PCI slot, opened once; {} when it is absent or refuses."""
        if self._lib_gpus is None:
            self._lib_gpus = {}
            if self._use_library:
                try:
                    lib = self._loader()
                    for i in range(int(lib.detect_gpus())):
                        g = lib.get_gpu(i)
                        slot = getattr(g, "pci_slot", None)
                        if isinstance(slot, str):
                            self._lib_gpus[slot] = g
                except Exception:  # not installed, no permission on /dev/dri, unknown chip
                    self._lib_gpus = {}
        return self._lib_gpus

    def _processes(self) -> dict[str, list[GpuProcess]]:
        """Per PCI slot, the watched processes' GPU memory from their DRM fdinfo."""
        out: dict[str, list[GpuProcess]] = {}
        for pid in self._pids:
            for slot, (vram, gtt) in read_fdinfo(self._proc / str(pid) / "fdinfo").items():
                out.setdefault(slot, []).append(GpuProcess(pid=pid, used_bytes=vram, gtt_bytes=gtt))
        return out


@dataclass
class _Figures:
    """What one card tells, in sysfs units (bytes, µW, m°C, Hz); None where it does not."""

    name: str | None
    vram_used: int | None
    vram_total: int | None
    gtt_used: int | None
    gtt_total: int | None
    busy: int | None
    power_uw: int | None
    temp_mc: int | None
    sclk: int | None
    mclk: int | None
    source: str = "sysfs"


def _read_sysfs(dev: Path) -> _Figures:
    hw = _hwmon(dev)

    def hwmon(name: str) -> int | None:
        return _read_int(hw / name) if hw else None

    # power1_average on most cards, power1_input (kernel 6.6+) on the others: never both (µW).
    power_uw = hwmon("power1_average")
    if power_uw is None:
        power_uw = hwmon("power1_input")
    return _Figures(
        name=_read(dev / "product_name") or None,
        vram_used=_read_int(dev / "mem_info_vram_used"),
        vram_total=_read_int(dev / "mem_info_vram_total"),
        gtt_used=_read_int(dev / "mem_info_gtt_used"),
        gtt_total=_read_int(dev / "mem_info_gtt_total"),
        busy=_read_int(dev / "gpu_busy_percent"),
        power_uw=power_uw,
        temp_mc=hwmon("temp1_input"),
        sclk=hwmon("freq1_input"),
        mclk=hwmon("freq2_input"),
    )


def _fill_from_library(f: _Figures, g: Any) -> None:
    """Fill only what sysfs did not say, from pyamdgpuinfo's GPU for the same PCI slot."""
    f.source = "sysfs+pyamdgpuinfo"
    f.name = f.name or _lib_attr(g, "name")
    if f.vram_used is None:
        f.vram_used = _lib_call(g, "query_vram_usage")
    if f.gtt_used is None:
        f.gtt_used = _lib_call(g, "query_gtt_usage")
    if f.busy is None:
        load = _lib_call(g, "query_load")
        f.busy = None if load is None else round(float(load) * 100)
    if f.temp_mc is None:
        t = _lib_call(g, "query_temperature")
        f.temp_mc = None if t is None else round(float(t) * 1000)


def _sample(index: int, slot: str | None, f: _Figures, procs: tuple[GpuProcess, ...]) -> GpuSample:
    unified = f.vram_total is not None and f.vram_total <= APU_VRAM_MAX and f.gtt_total is not None
    if unified:
        # On an APU the model lives in GTT; VRAM alone would show a few hundred MiB.
        mem_used = _sum(f.vram_used, f.gtt_used)
        mem_total = _sum(f.vram_total, f.gtt_total)
    else:
        mem_used, mem_total = f.vram_used, f.vram_total
    return GpuSample(
        vendor="amd",
        index=index,
        name=f.name,
        source=f.source,
        util_percent=None if f.busy is None else float(f.busy),
        mem_used_bytes=mem_used,
        mem_total_bytes=mem_total,
        vram_used_bytes=f.vram_used,
        vram_total_bytes=f.vram_total,
        gtt_used_bytes=f.gtt_used,
        gtt_total_bytes=f.gtt_total,
        power_w=None if f.power_uw is None else f.power_uw / 1e6,
        temperature_c=None if f.temp_mc is None else f.temp_mc / 1000.0,
        clock_graphics_mhz=None if f.sclk is None else f.sclk // 1_000_000,
        clock_mem_mhz=None if f.mclk is None else f.mclk // 1_000_000,
        unified=unified,
        pci_slot=slot,
        processes=procs,
    )


def read_fdinfo(fdinfo_dir: Path) -> dict[str, tuple[int | None, int | None]]:
    """{pci slot: (vram bytes, gtt bytes)} for one process; {} where unreadable (another user)."""
    try:
        names = os.listdir(fdinfo_dir)
    except OSError:
        return {}
    # Several fds can share one DRM client (dup, fork): count each drm-client-id once.
    clients: dict[tuple[str, str], tuple[int | None, int | None]] = {}
    for fd in names:
        text = _read(fdinfo_dir / fd)
        if not text or "drm-driver" not in text:
            continue
        fields: dict[str, str] = {}
        for line in text.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        if fields.get("drm-driver") != "amdgpu":
            continue
        slot = fields.get("drm-pdev", "")
        client = fields.get("drm-client-id", f"fd{fd}")
        # "drm-memory-vram" since kernel 6.x; "vram mem" before (nvtop PR #492).
        vram = _kib(fields.get("drm-memory-vram") or fields.get("vram mem"))
        gtt = _kib(fields.get("drm-memory-gtt") or fields.get("gtt mem"))
        clients[(slot, client)] = (vram, gtt)
    out: dict[str, tuple[int | None, int | None]] = {}
    for (slot, _client), (vram, gtt) in clients.items():
        v0, g0 = out.get(slot, (None, None))
        out[slot] = (_sum(v0, vram), _sum(g0, gtt))
    return out


def _kib(value: str | None) -> int | None:
    if not value:
        return None
    parts = value.split()
    try:
        n = int(parts[0])
    except (ValueError, IndexError):
        return None
    unit = parts[1] if len(parts) > 1 else ""
    return n * {"": 1, "KiB": 1024, "MiB": 1 << 20, "GiB": 1 << 30, "kB": 1024}.get(unit, 1)


def _hwmon(dev: Path) -> Path | None:
    try:
        for h in sorted((dev / "hwmon").iterdir()):
            return h
    except OSError:
        pass
    return None


def _pci_slot(dev: Path) -> str | None:
    uevent = _read(dev / "uevent") or ""
    for line in uevent.splitlines():
        if line.startswith("PCI_SLOT_NAME="):
            return line.split("=", 1)[1]
    # On a real system `device` is a symlink into the PCI tree whose name is the slot.
    try:
        return dev.resolve().name or None
    except OSError:
        return None


def _sum(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else a + b


def _lib_attr(g: Any, name: str) -> str | None:
    v = getattr(g, name, None)
    return v if isinstance(v, str) and v else None


def _lib_call(g: Any, method: str) -> Any:
    # Every pyamdgpuinfo query raises RuntimeError when the sensor is not supported on this GPU.
    try:
        return getattr(g, method)()
    except Exception:
        return None
