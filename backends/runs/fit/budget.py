"""The memory a model may use on this machine, from one probe Snapshot.

GPU: free VRAM (NVIDIA, AMD; an APU's GTT pool), or on Apple Silicon the Metal working-set limit
(`iogpu.wired_limit_mb` when set, else the default share of RAM: 2/3 up to 36 GiB, 3/4 above, as
ollama PR #2354 estimated `recommendedMaxWorkingSetSize`), less llama.cpp's fit margin of 1024 MiB
per device (`--fit-target`, common/arg.cpp). Memory the inference server already holds counts as
free, so a loaded model does not crowd out its own estimate. Host: available RAM, and free swap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIB = 1 << 20
GIB = 1 << 30
LLAMA_FIT_MARGIN = 1024 * MIB


@dataclass(frozen=True)
class Budget:
    gpu_bytes: int | None  # usable on the GPU(s) after the margin; None: no GPU (or none that said)
    host_bytes: int | None  # available RAM
    swap_free_bytes: int | None = None
    unified: bool = False  # GPU memory is system memory (Apple, APU)
    margin_bytes: int = LLAMA_FIT_MARGIN
    gpu_source: str = ""  # how the GPU figure was made, for the notes
    no_gpu: bool = False  # the probes saw no GPU at all: every layer runs on the CPU

    @property
    def known(self) -> bool:
        return self.host_bytes is not None or self.gpu_bytes is not None


def _held_by_server(g: Any, pid: int | None) -> int:
    if pid is None:
        return 0
    return sum(p.used_bytes or 0 for p in getattr(g, "processes", ()) if p.pid == pid)


def _gpu_free(g: Any, server_pid: int | None) -> int | None:
    held = _held_by_server(g, server_pid)
    if g.unified and g.gtt_total_bytes:  # AMD APU: the GTT pool is where the model goes
        vram = (g.vram_total_bytes or 0) - (g.vram_used_bytes or 0)
        return int(max(vram, 0) + g.gtt_total_bytes - (g.gtt_used_bytes or 0) + held)
    total = g.vram_total_bytes if g.vram_total_bytes is not None else g.mem_total_bytes
    used = g.vram_used_bytes if g.vram_used_bytes is not None else g.mem_used_bytes
    if total is None or used is None:
        return None
    return int(total - used + held)


def apple_working_set(memsize: int | None, wired_limit_mb: int | None) -> tuple[int | None, str]:
    """Metal's GPU budget on Apple Silicon and how it was found."""
    if wired_limit_mb:
        return wired_limit_mb * MIB, f"iogpu.wired_limit_mb = {wired_limit_mb}"
    if not memsize:
        return None, "RAM size unknown"
    share = 2 / 3 if memsize <= 36 * GIB else 3 / 4
    return int(memsize * share), f"default Metal working set ({share:.0%} of RAM)"


def budget_from_snapshot(snap: Any | None, margin_bytes: int = LLAMA_FIT_MARGIN) -> Budget:
    """The fit budget from a probes Snapshot (None: nothing known)."""
    if snap is None:
        return Budget(None, None, margin_bytes=margin_bytes)
    host = snap.host
    apple = snap.apple
    pid = host.backend_pid if host is not None else None
    ram = host.mem_available_bytes if host is not None else None
    swap_free = None
    if host is not None and host.swap_total_bytes is not None and host.swap_used_bytes is not None:
        swap_free = host.swap_total_bytes - host.swap_used_bytes
    if apple is not None and apple.memsize_bytes:
        limit, how = apple_working_set(apple.memsize_bytes, apple.wired_limit_mb)
        if ram is None and apple.free_bytes is not None:
            ram = apple.free_bytes
        gpu = None if limit is None else max(limit - margin_bytes, 0)
        return Budget(gpu, ram, swap_free, True, margin_bytes, how)
    gpus = [g for g in snap.gpus if g.vendor != "apple"]
    if not gpus:
        return Budget(None, ram, swap_free, False, margin_bytes, "no GPU found", no_gpu=True)
    frees = [_gpu_free(g, pid) for g in gpus]
    known = [f for f in frees if f is not None]
    if not known:
        return Budget(None, ram, swap_free, any(g.unified for g in gpus), margin_bytes, "GPU memory not reported")
    usable = sum(max(f - margin_bytes, 0) for f in known)
    names = ", ".join(g.name or g.vendor for g in gpus)
    return Budget(usable, ram, swap_free, any(g.unified for g in gpus), margin_bytes, f"free memory of {names}")
