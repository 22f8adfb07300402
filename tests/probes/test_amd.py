from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

from backends.probes.amd import AmdProbe, read_fdinfo
from tests.probes.sysfs_trees import APU_780M, GIB, INTEL_IGPU, MIB, RX9070, fdinfo, lay_out, write_proc


def no_library() -> Any:
    raise ImportError("pyamdgpuinfo")


def test_rx9070_through_sysfs_alone(tmp_path: Path) -> None:
    root = lay_out(tmp_path / "sys", {"card1": RX9070, "card0": INTEL_IGPU})
    probe = AmdProbe(sysfs_root=root, proc_root=tmp_path / "proc", library_loader=no_library)
    assert probe.available()
    r = probe.sample()
    assert r.state == "ok"
    (g,) = r.gpus  # the Intel iGPU and the connector dir are not AMD cards
    assert g.vendor == "amd"
    assert g.index == 1
    assert g.source == "sysfs"
    assert g.name == "AMD GPU 0x7550"  # no product_name file on this board
    assert g.util_percent == 97.0
    assert g.unified is False
    assert g.mem_used_bytes == g.vram_used_bytes == 13 * GIB + 200 * MIB
    assert g.mem_total_bytes == 16 * GIB
    assert g.gtt_used_bytes == 900 * MIB
    assert g.gtt_total_bytes == 31 * GIB
    assert g.power_w == pytest.approx(268.0)  # power1_input, µW
    assert g.temperature_c == pytest.approx(61.0)  # temp1 = edge, m°C
    assert (g.clock_graphics_mhz, g.clock_mem_mhz) == (2970, 1258)
    assert g.pci_slot == "0000:03:00.0"


def test_apu_counts_vram_and_gtt(tmp_path: Path) -> None:
    root = lay_out(tmp_path / "sys", {"card0": APU_780M})
    (g,) = AmdProbe(sysfs_root=root, proc_root=tmp_path / "proc", library_loader=no_library).sample().gpus
    assert g.name == "AMD Radeon 780M"
    assert g.unified is True
    assert g.vram_used_bytes == 480 * MIB
    assert g.mem_used_bytes == 480 * MIB + 11 * GIB  # the model lives in GTT on an APU
    assert g.mem_total_bytes == 512 * MIB + 15 * GIB
    assert g.power_w == pytest.approx(42.0)  # power1_average
    assert g.temperature_c == pytest.approx(70.5)
    assert g.clock_mem_mhz is None


def test_missing_files_are_none_not_errors(tmp_path: Path) -> None:
    root = lay_out(tmp_path / "sys", {"card0": {"vendor": "0x1002", "uevent": "PCI_SLOT_NAME=0000:01:00.0"}})
    (g,) = AmdProbe(sysfs_root=root, proc_root=tmp_path / "proc", library_loader=no_library).sample().gpus
    assert g.util_percent is None
    assert g.mem_used_bytes is None
    assert g.power_w is None
    assert g.temperature_c is None
    assert g.name == "AMD GPU"


def test_no_amd_card(tmp_path: Path) -> None:
    probe = AmdProbe(sysfs_root=tmp_path / "nothing", proc_root=tmp_path, library_loader=no_library)
    assert not probe.available()
    r = probe.sample()
    assert r.gpus == ()
    assert r.state == "no AMD GPU"


def test_backend_vram_from_fdinfo(tmp_path: Path) -> None:
    root = lay_out(tmp_path / "sys", {"card1": RX9070, "card2": APU_780M})
    proc = write_proc(
        tmp_path / "proc",
        4242,
        {
            "5": fdinfo("0000:03:00.0", 59, vram_kib=12 * 1024 * 1024, gtt_kib=2048),
            "6": fdinfo("0000:03:00.0", 59, vram_kib=12 * 1024 * 1024, gtt_kib=2048),  # dup of client 59
            "7": fdinfo("0000:03:00.0", 60, vram_kib=1024),
            "8": fdinfo("0000:c4:00.0", 61, vram_kib=0, gtt_kib=4 * 1024 * 1024),
            "9": fdinfo("0000:00:02.0", 62, vram_kib=999, driver="i915"),
            "1": "pos:\t0\nflags:\t02\n",  # not a DRM fd
        },
    )
    probe = AmdProbe(sysfs_root=root, proc_root=proc, library_loader=no_library)
    probe.set_backend(4242, None)
    dgpu, apu = probe.sample().gpus
    (p,) = dgpu.processes
    assert p.pid == 4242
    assert p.used_bytes == 12 * GIB + 1024 * 1024  # clients 59 + 60, the dup counted once
    assert p.gtt_bytes == 2048 * 1024
    (q,) = apu.processes
    assert q.used_bytes == 0
    assert q.gtt_bytes == 4 * GIB


def test_unreadable_fdinfo_is_empty(tmp_path: Path) -> None:
    assert read_fdinfo(tmp_path / "404" / "fdinfo") == {}


def test_legacy_fdinfo_keys(tmp_path: Path) -> None:
    write_proc(tmp_path, 7, {"3": "drm-driver:\tamdgpu\ndrm-pdev:\t0000:03:00.0\nvram mem:\t2048 KiB\n"})
    assert read_fdinfo(tmp_path / "7" / "fdinfo") == {"0000:03:00.0": (2048 * 1024, None)}


def test_pyamdgpuinfo_fills_only_what_sysfs_lacks(tmp_path: Path) -> None:
    sparse = {k: v for k, v in RX9070.items() if k not in ("gpu_busy_percent", "hwmon/hwmon3/temp1_input")}
    root = lay_out(tmp_path / "sys", {"card1": sparse})

    class Gpu:
        pci_slot = "0000:03:00.0"
        name = "AMD Radeon RX 9070 XT"

        def query_load(self) -> float:
            return 0.5

        def query_temperature(self) -> float:
            return 55.5

        def query_vram_usage(self) -> int:
            raise AssertionError("sysfs already had VRAM; the library must not be asked")

    lib = types.SimpleNamespace(detect_gpus=lambda: 1, get_gpu=lambda i: Gpu())
    (g,) = AmdProbe(sysfs_root=root, proc_root=tmp_path, library_loader=lambda: lib).sample().gpus
    assert g.source == "sysfs+pyamdgpuinfo"
    assert g.name == "AMD Radeon RX 9070 XT"
    assert g.util_percent == 50.0
    assert g.temperature_c == pytest.approx(55.5)
    assert g.mem_used_bytes == 13 * GIB + 200 * MIB


def test_library_that_refuses_is_ignored(tmp_path: Path) -> None:
    root = lay_out(tmp_path / "sys", {"card1": RX9070})

    def refuse() -> Any:
        raise OSError("Can't initialize AMDGPU driver (this is usually a permission error)")

    (g,) = AmdProbe(sysfs_root=root, proc_root=tmp_path, library_loader=refuse).sample().gpus
    assert g.source == "sysfs"
    assert g.util_percent == 97.0


def test_this_machine_has_no_amd_gpu_and_the_probe_says_so() -> None:
    # Runs against the real /sys: must not raise, whatever is there.
    r = AmdProbe().sample()
    assert r.state in ("ok", "no AMD GPU")


@pytest.mark.gpu
def test_real_amd_card_when_there_is_one() -> None:
    probe = AmdProbe()
    if not probe.available():
        pytest.skip("no amdgpu card in /sys/class/drm")
    g = probe.sample().gpus[0]
    assert g.vram_total_bytes is None or g.vram_total_bytes > 0
