from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from backends.probes.apple import (
    IOREG,
    SYSCTL,
    VM_STAT,
    AppleProbe,
    parse_ioreg,
    parse_swapusage,
    parse_vm_stat,
    run_command,
)

DATA = Path(__file__).parent / "data" / "apple"
MIB = 1 << 20


def fixture_runner(ioreg: str | None, sysctl: str | None, vm_stat: str | None):  # type: ignore[no-untyped-def]
    """A runner that replays fixture files; records what it was asked to run."""
    files = {IOREG: ioreg, SYSCTL: sysctl, VM_STAT: vm_stat}
    calls: list[tuple[tuple[str, ...], float]] = []

    def run(argv: Sequence[str], timeout_s: float) -> str | None:
        calls.append((tuple(argv), timeout_s))
        name = files[tuple(argv)]
        return None if name is None else (DATA / name).read_text()

    run.calls = calls  # type: ignore[attr-defined]
    return run


def test_m1pro_16gb() -> None:
    run = fixture_runner("m1pro_ioreg.txt", "m1_sysctl.txt", "m1_vm_stat.txt")
    a = AppleProbe(runner=run).read()
    assert a.model is None  # the quoted ioreg block has no "model" line
    assert a.gpu_util_percent == 2.0
    assert a.gpu_renderer_percent == 2.0
    assert a.gpu_in_use_bytes == 340983808
    assert a.gpu_alloc_bytes == 1214005248
    assert a.pressure_raw == 1
    assert a.pressure == "normal"
    assert a.memory_free_percent == 78
    assert a.memsize_bytes == 16 * 1024 * MIB
    assert a.wired_limit_mb is None  # macOS 12: no iogpu.wired_limit_mb
    assert a.swap_total_bytes == 2048 * MIB
    assert a.swap_used_bytes == round(1141.31 * MIB)
    assert a.page_size == 16384
    assert a.free_bytes == 61996 * 16384
    assert a.wired_bytes == 131467 * 16384
    assert a.compressed_bytes == 83622 * 16384
    assert (a.swapins, a.swapouts) == (22144, 71552)
    # One pass: three commands, each under the probe's time-out.
    assert [c[0][0] for c in run.calls] == ["ioreg", "sysctl", "vm_stat"]
    assert all(t == 1.0 for _, t in run.calls)


def test_m4_16gb_warn_and_decimal_comma_swap() -> None:
    a = AppleProbe(runner=fixture_runner("m4_ioreg.txt", "m4_sysctl.txt", "m4_vm_stat.txt")).read()
    assert a.model == "Apple M4"
    assert a.gpu_util_percent == 10.0
    # "In use system memory", not the "(driver)" key beside it that reads 0.
    assert a.gpu_in_use_bytes == 3153936384
    assert a.pressure_raw == 2
    assert a.pressure == "warn"
    assert a.wired_limit_mb == 0
    assert a.swap_total_bytes == 1024 * MIB
    assert a.swap_used_bytes == round(512.25 * MIB)
    assert a.compressed_bytes == 153447 * 16384
    g = a.gpu
    assert g is not None
    assert g.vendor == "apple"
    assert g.unified
    assert g.mem_used_bytes == 3153936384
    assert g.mem_total_bytes == 16 * 1024 * MIB


def test_busy_llm_reads_device_not_renderer_nor_recovery_time() -> None:
    stats = parse_ioreg((DATA / "busy_llm_ioreg.txt").read_text())
    assert stats.model == "Apple M5 Pro"
    assert stats.stats["Device Utilization %"] == 99
    assert stats.stats["In use system memory"] == 28367667200
    assert stats.stats["lastRecoveryTime"] == 1029878500420  # parsed as its own key, not as util


def test_missing_or_hanging_commands_leave_fields_none() -> None:
    a = AppleProbe(runner=fixture_runner(None, None, None)).read()
    assert a.gpu_util_percent is None
    assert a.pressure is None
    assert a.swap_used_bytes is None
    assert a.page_size is None
    assert a.compressed_bytes is None
    assert a.gpu is None


def test_a_runner_that_raises_is_a_missing_command() -> None:
    def run(argv: Sequence[str], timeout_s: float) -> str | None:
        raise RuntimeError("boom")

    r = AppleProbe(runner=run).sample()
    assert r.state == "ok"
    assert r.apple is not None
    assert r.apple.gpu_in_use_bytes is None


def test_unknown_pressure_value_is_none() -> None:
    sysctl = "kern.memorystatus_vm_pressure_level: 3\n"
    probe = AppleProbe(runner=lambda argv, t: sysctl if argv[0] == "sysctl" else None)
    a = probe.read()
    assert a.pressure_raw == 3
    assert a.pressure is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("total = 2048.00M  used = 1141.31M  free = 906.69M  (encrypted)", (2048 * MIB, round(1141.31 * MIB))),
        ("total = 1024,00M  used = 0,00M  free = 1024,00M  (encrypted)", (1024 * MIB, 0)),
        ("total = 3.00G  used = 512.00K  free = 2.99G", (3 << 30, 512 << 10)),
        ("", (None, None)),
        ("garbage", (None, None)),
    ],
)
def test_swapusage_units(line: str, expected: tuple[int | None, int | None]) -> None:
    assert parse_swapusage(line) == expected


def test_vm_stat_page_size_comes_from_the_header() -> None:
    intel = parse_vm_stat((DATA / "intel_vm_stat.txt").read_text())
    assert intel["page size"] == 4096
    assert intel["Pages free"] == 6127229
    assert intel["Translation faults"] == 11477162  # the one quoted label


def test_real_runner_missing_binary_and_timeout() -> None:
    assert run_command(["/nonexistent/ioreg"], 1.0) is None
    assert run_command(["sleep", "5"], 0.05) is None
    assert run_command(["echo", "kern.memorystatus_level: 5"], 1.0) == "kern.memorystatus_level: 5\n"


def test_real_runner_keeps_stdout_of_a_failing_command() -> None:
    # sysctl exits 1 on an unknown name but prints the names it knows.
    out = run_command(["sh", "-c", "echo 'hw.memsize: 1'; echo 'unknown oid' >&2; exit 1"], 1.0)
    assert out == "hw.memsize: 1\n"
