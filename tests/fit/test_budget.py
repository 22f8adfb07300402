"""The memory budget read from a probes Snapshot: discrete cards, an APU's GTT pool, Apple's working set."""

from __future__ import annotations

from backends.probes.model import AppleSample, GpuProcess, GpuSample, HostSample, Snapshot
from backends.runs.fit.budget import LLAMA_FIT_MARGIN, apple_working_set, budget_from_snapshot

GIB = 1 << 30
MIB = 1 << 20
HOST = HostSample(mem_total_bytes=64 * GIB, mem_available_bytes=40 * GIB, swap_total_bytes=8 * GIB,
                  swap_used_bytes=GIB, backend_pid=77)  # fmt: skip


def test_two_cards_add_up_each_less_its_margin() -> None:
    gpus = (
        GpuSample("nvidia", 0, "A", "nvml", mem_total_bytes=24 * GIB, mem_used_bytes=2 * GIB),
        GpuSample("nvidia", 1, "B", "nvml", mem_total_bytes=12 * GIB, mem_used_bytes=GIB),
    )
    b = budget_from_snapshot(Snapshot(0.0, gpus=gpus, host=HOST))
    assert b.gpu_bytes == (22 * GIB - LLAMA_FIT_MARGIN) + (11 * GIB - LLAMA_FIT_MARGIN)
    assert (b.host_bytes, b.swap_free_bytes, b.unified, b.no_gpu) == (40 * GIB, 7 * GIB, False, False)


def test_amd_apu_counts_its_gtt_pool() -> None:
    apu = GpuSample("amd", 0, "Radeon 8060S", "sysfs", vram_total_bytes=512 * MIB, vram_used_bytes=256 * MIB,
                    gtt_total_bytes=96 * GIB, gtt_used_bytes=6 * GIB, unified=True)  # fmt: skip
    b = budget_from_snapshot(Snapshot(0.0, gpus=(apu,), host=HOST))
    assert b.gpu_bytes == 256 * MIB + 90 * GIB - LLAMA_FIT_MARGIN and b.unified


def test_the_servers_own_memory_is_free_for_it() -> None:
    g = GpuSample("nvidia", 0, "A", "nvml", mem_total_bytes=16 * GIB, mem_used_bytes=13 * GIB,
                  processes=(GpuProcess(77, 12 * GIB), GpuProcess(5, GIB)))  # fmt: skip
    assert budget_from_snapshot(Snapshot(0.0, gpus=(g,), host=HOST)).gpu_bytes == 15 * GIB - LLAMA_FIT_MARGIN


def test_apple_working_set() -> None:
    assert apple_working_set(16 * GIB, 0)[0] == int(16 * GIB * 2 / 3)
    assert apple_working_set(64 * GIB, None)[0] == 48 * GIB
    limit, how = apple_working_set(16 * GIB, 14_000)
    assert limit == 14_000 * MIB and how == "iogpu.wired_limit_mb = 14000"
    mac = Snapshot(0.0, host=HostSample(mem_available_bytes=9 * GIB),
                   apple=AppleSample(model="Apple M4", memsize_bytes=16 * GIB, wired_limit_mb=0))  # fmt: skip
    b = budget_from_snapshot(mac)
    assert b.unified and b.gpu_bytes == int(16 * GIB * 2 / 3) - LLAMA_FIT_MARGIN and b.host_bytes == 9 * GIB


def test_nothing_known() -> None:
    assert not budget_from_snapshot(None).known
    gpu = GpuSample("nvidia", 0, "A", "nvml")  # no memory figures
    b = budget_from_snapshot(Snapshot(0.0, gpus=(gpu,)))
    assert b.gpu_bytes is None and b.host_bytes is None and not b.no_gpu
