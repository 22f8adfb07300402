"""sysfs and procfs trees of AMD GPUs, laid out in a tmp dir the way the amdgpu driver lays them out.

File names and units: the kernel docs (Documentation/gpu/amdgpu/driver-misc.rst, thermal.rst;
power1_input vs power1_average: amdgpu-sysfs-rs PR #5; APU VRAM carve-out + GTT: nvtop PR #428,
btop PR #1740; fdinfo keys: kernel drm-usage-stats.rst, nvtop extract_gpuinfo_amdgpu.c / PR #492).
The figures are a plausible RX 9070 XT (Navi 48, PCI id 0x7550, 16 GiB) and a Radeon 780M APU
(Phoenix, 0x15bf, 512 MiB carve-out) — composed, not captured.
"""

from __future__ import annotations

from pathlib import Path

GIB = 1 << 30
MIB = 1 << 20

RX9070 = {
    "vendor": "0x1002",
    "device": "0x7550",
    "uevent": "DRIVER=amdgpu\nPCI_CLASS=30000\nPCI_ID=1002:7550\nPCI_SLOT_NAME=0000:03:00.0\n",
    "gpu_busy_percent": "97",
    "mem_busy_percent": "41",
    "mem_info_vram_total": str(16 * GIB),
    "mem_info_vram_used": str(13 * GIB + 200 * MIB),
    "mem_info_vis_vram_total": str(16 * GIB),
    "mem_info_gtt_total": str(31 * GIB),
    "mem_info_gtt_used": str(900 * MIB),  # a model that did not fit spills into GTT
    # RDNA4 on kernel >= 6.6: power1_input only, no power1_average.
    "hwmon/hwmon3/name": "amdgpu",
    "hwmon/hwmon3/power1_input": "268000000",
    "hwmon/hwmon3/power1_cap": "304000000",
    "hwmon/hwmon3/temp1_input": "61000",
    "hwmon/hwmon3/temp1_label": "edge",
    "hwmon/hwmon3/temp2_input": "78000",
    "hwmon/hwmon3/freq1_input": "2970000000",
    "hwmon/hwmon3/freq2_input": "1258000000",
}

APU_780M = {
    "vendor": "0x1002",
    "device": "0x15bf",
    "product_name": "AMD Radeon 780M",
    "uevent": "DRIVER=amdgpu\nPCI_SLOT_NAME=0000:c4:00.0\n",
    "gpu_busy_percent": "88",
    "mem_info_vram_total": str(512 * MIB),
    "mem_info_vram_used": str(480 * MIB),
    "mem_info_gtt_total": str(15 * GIB),
    "mem_info_gtt_used": str(11 * GIB),
    "hwmon/hwmon5/name": "amdgpu",
    "hwmon/hwmon5/power1_average": "42000000",  # µW; on an APU this includes the CPU
    "hwmon/hwmon5/temp1_input": "70500",
    "hwmon/hwmon5/freq1_input": "2700000000",
}

INTEL_IGPU = {"vendor": "0x8086", "device": "0xa7a0", "uevent": "DRIVER=i915\nPCI_SLOT_NAME=0000:00:02.0\n"}


def fdinfo(slot: str, client: int, vram_kib: int, gtt_kib: int = 0, driver: str = "amdgpu") -> str:
    return (
        f"pos:\t0\nflags:\t02100002\nmnt_id:\t24\nino:\t1261\ndrm-driver:\t{driver}\n"
        f"drm-client-id:\t{client}\ndrm-pdev:\t{slot}\ndrm-memory-vram:\t{vram_kib} KiB\n"
        f"drm-memory-gtt:\t{gtt_kib} KiB\ndrm-memory-cpu:\t0 KiB\ndrm-engine-gfx:\t123456789 ns\n"
    )


def lay_out(root: Path, cards: dict[str, dict[str, str]]) -> Path:
    """root/class/drm/<card>/device/<file> for each card; plus a connector dir that is not a card."""
    drm = root / "class" / "drm"
    for card, files in cards.items():
        for rel, text in files.items():
            p = drm / card / "device" / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text + "\n")
    (drm / "card0-DP-1").mkdir(parents=True, exist_ok=True)
    (drm / "renderD128").mkdir(parents=True, exist_ok=True)
    return root


def write_proc(root: Path, pid: int, fds: dict[str, str]) -> Path:
    d = root / str(pid) / "fdinfo"
    d.mkdir(parents=True, exist_ok=True)
    for fd, text in fds.items():
        (d / fd).write_text(text)
    return root
