from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from backends.probes.host import HostProbe, parse_psi, pressure_level

GIB = 1 << 30
# /proc/pressure/memory as documented (kernel Documentation/accounting/psi.rst; procfs PressureRecord).
PSI_IDLE = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"


def psi(tmp_path: Path, some10: float, full10: float = 0.0) -> Path:
    p = tmp_path / "memory"
    p.write_text(
        f"some avg10={some10:.2f} avg60=1.50 avg300=0.40 total=123456\n"
        f"full avg10={full10:.2f} avg60=0.00 avg300=0.00 total=789\n"
    )
    return p


def test_real_host_sample() -> None:
    r = HostProbe().sample()
    assert r.state == "ok"
    h = r.host
    assert h is not None
    vm = psutil.virtual_memory()
    assert h.mem_total_bytes == vm.total
    assert h.mem_used_bytes is not None
    assert h.mem_available_bytes is not None
    assert h.mem_used_bytes == h.mem_total_bytes - h.mem_available_bytes
    assert 0 < h.mem_used_bytes < h.mem_total_bytes
    assert h.swap_total_bytes is not None
    assert h.swap_used_bytes is not None
    assert h.pressure in ("normal", "warn", "critical")
    if sys.platform.startswith("linux") and Path("/proc/pressure/memory").exists():
        assert h.psi_some_avg10 is not None
        assert h.psi_full_avg10 is not None
    assert h.backend_pid is None
    assert h.backend_rss_bytes is None


def test_psi_path_is_injectable_and_drives_the_level(tmp_path: Path) -> None:
    h = HostProbe(psi_path=psi(tmp_path, 55.0)).sample().host
    assert h is not None
    assert h.psi_some_avg10 == 55.0
    assert h.psi_some_avg60 == 1.5
    assert h.psi_full_avg10 == 0.0
    assert h.pressure == "critical"


def test_missing_psi_is_a_note_and_not_retried(tmp_path: Path) -> None:
    probe = HostProbe(psi_path=tmp_path / "absent")
    r = probe.sample()
    assert r.host is not None
    assert r.host.psi_some_avg10 is None
    assert any("PSI not available" in n for n in r.notes)
    (tmp_path / "absent").write_text(PSI_IDLE)  # appears later: still not read (kernel config is fixed)
    assert probe.sample().host.psi_some_avg10 is None  # type: ignore[union-attr]


def test_parse_psi() -> None:
    assert parse_psi(PSI_IDLE)["some"]["avg10"] == 0.0
    assert parse_psi("some avg10=12.34 avg60=x total=5\n") == {"some": {"avg10": 12.34, "total": 5.0}}
    assert parse_psi(None) == {}


@pytest.mark.parametrize(
    ("avail", "total", "some", "full", "level"),
    [
        (50 * GIB, 64 * GIB, 0.0, 0.0, "normal"),
        (50 * GIB, 64 * GIB, 12.0, 0.0, "warn"),
        (50 * GIB, 64 * GIB, 3.0, 2.5, "warn"),
        (50 * GIB, 64 * GIB, 45.0, 0.0, "critical"),
        (50 * GIB, 64 * GIB, 0.0, 10.0, "critical"),
        (int(6 * GIB), 64 * GIB, None, None, "warn"),  # < 10 % available, no PSI
        (int(3 * GIB), 64 * GIB, 0.0, 0.0, "critical"),  # < 5 % available wins over quiet PSI
        (None, None, None, None, None),
        (None, None, 0.0, None, "normal"),
    ],
)
def test_pressure_level(
    avail: int | None, total: int | None, some: float | None, full: float | None, level: str | None
) -> None:
    assert pressure_level(avail, total, some, full) == level


def test_backend_by_pid_rss_and_cpu() -> None:
    probe = HostProbe()
    probe.set_backend(os.getpid(), None)
    first = probe.sample().host
    assert first is not None
    assert first.backend_pid == os.getpid()
    assert first.backend_rss_bytes is not None
    assert first.backend_rss_bytes > 0
    assert first.backend_cpu_percent is None  # nothing to compare with yet: unknown, not 0
    second = probe.sample().host
    assert second is not None
    assert second.backend_cpu_percent is not None
    assert second.backend_cpu_percent >= 0


def test_backend_by_listening_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        probe = HostProbe()
        probe.set_backend(None, port)
        h = probe.sample().host
    assert h is not None
    assert h.backend_pid == os.getpid()


def test_backend_gone_is_none_not_an_error() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    probe = HostProbe()
    probe.set_backend(child.pid, None)
    r = probe.sample()
    assert r.state == "ok"
    assert r.host is not None
    assert r.host.backend_rss_bytes is None


def test_nobody_on_the_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening
    probe = HostProbe()
    probe.set_backend(None, port)
    h = probe.sample().host
    assert h is not None
    assert h.backend_pid is None
