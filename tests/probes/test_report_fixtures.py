"""The `probe` report with each fixture set injected: the figures a user reads come out right."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from backends.probes.amd import AmdProbe
from backends.probes.apple import AppleProbe
from backends.probes.host import HostProbe
from backends.probes.model import Probe
from backends.probes.nvidia import NvidiaProbe
from backends.probes.report import collect, render_text
from tests.probes import fake_pynvml
from tests.probes.sysfs_trees import APU_780M, GIB, MIB, RX9070, lay_out
from tests.probes.test_apple import fixture_runner
from tui.cli import main


def no_library() -> Any:
    raise ImportError("pyamdgpuinfo")


def report(probes: list[Probe]) -> tuple[dict[str, Any], str]:
    d = collect(timeout_s=0.2, probes=[*probes, HostProbe()])
    d = json.loads(json.dumps(d))  # what `probe --json` prints must survive JSON
    return d, render_text(d)


def test_nvidia(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml.make())
    probe = NvidiaProbe()
    try:
        d, text = report([probe])
    finally:
        probe.close()
    (g,) = d["snapshot"]["gpus"]
    assert g["name"] == "NVIDIA GeForce RTX 4090"
    assert g["mem_used_bytes"] == 13 * GIB and g["mem_total_bytes"] == 24 * GIB
    assert d["snapshot"]["vram_used_bytes"] == 13 * GIB
    assert d["snapshot"]["pressure"] in ("normal", "warn", "critical")  # the real host probe
    assert "NVIDIA GeForce RTX 4090" in text and "no GPU detected" not in text


def test_amd_discrete_rx9070(tmp_path: Path) -> None:
    root = lay_out(tmp_path / "sys", {"card1": RX9070})
    d, text = report([AmdProbe(sysfs_root=root, proc_root=tmp_path / "proc", library_loader=no_library)])
    (g,) = d["snapshot"]["gpus"]
    assert g["vendor"] == "amd" and g["util_percent"] == 97.0
    assert d["snapshot"]["vram_used_bytes"] == 13 * GIB + 200 * MIB
    assert "AMD GPU 0x7550" in text


def test_amd_apu_counts_gtt(tmp_path: Path) -> None:
    root = lay_out(tmp_path / "sys", {"card0": APU_780M})
    d, text = report([AmdProbe(sysfs_root=root, proc_root=tmp_path / "proc", library_loader=no_library)])
    assert d["snapshot"]["vram_used_bytes"] == 480 * MIB + 11 * GIB
    assert "AMD Radeon 780M" in text


@pytest.mark.parametrize(
    ("files", "gpu_bytes", "pressure"),
    [
        (("m1pro_ioreg.txt", "m1_sysctl.txt", "m1_vm_stat.txt"), 340983808, "normal"),
        (("m4_ioreg.txt", "m4_sysctl.txt", "m4_vm_stat.txt"), 3153936384, "warn"),
    ],
    ids=["m1pro-16gb", "m4-16gb"],
)
def test_apple_silicon(files: tuple[str, str, str], gpu_bytes: int, pressure: str) -> None:
    d, text = report([AppleProbe(runner=fixture_runner(*files))])
    assert d["snapshot"]["vram_used_bytes"] == gpu_bytes
    # The snapshot's level is the worse of the macOS one and this Linux host's own.
    if pressure == "warn":
        assert d["snapshot"]["pressure"] in ("warn", "critical")
    assert d["snapshot"]["apple"]["pressure"] == pressure
    assert "macOS pressure level" in text


def test_probe_json_on_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    host = d["snapshot"]["host"]
    assert host["mem_total_bytes"] > 0 and host["mem_used_bytes"] > 0
    assert host["psi_some_avg10"] is not None  # Linux PSI is read here
    assert d["snapshot"]["pressure"] in ("normal", "warn", "critical")
    assert d["snapshot"]["gpus"] == []  # no GPU here
    assert "nvidia" in d["absent"]
    assert {b["name"] for b in d["backends"]} >= {"lmstudio", "ollama", "llamacpp"}
