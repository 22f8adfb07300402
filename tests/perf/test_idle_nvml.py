"""Without an NVIDIA driver the probe says so without importing pynvml (~2 MB of RSS kept for nothing)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from backends.probes import nvidia


def test_no_library_is_found_without_importing_pynvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "pynvml", raising=False)

    def no_lib(name: str) -> None:
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr("ctypes.CDLL", no_lib)
    probe = nvidia.NvidiaProbe()
    assert probe.state() == f"{nvidia.NO_DRIVER} (NVML Shared Library Not Found)"
    assert not probe.available()
    assert "pynvml" not in sys.modules


def test_a_stubbed_pynvml_still_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # as the fault tests stub it
    assert nvidia.NvidiaProbe().state() == nvidia.NO_LIBRARY


def test_same_answer_as_pynvml_on_this_machine() -> None:
    """The shortcut and pynvml's own load agree (the test machine may or may not have a driver)."""
    code = textwrap.dedent(
        """
        import sys
        from backends.probes.nvidia import NvidiaProbe, _load_pynvml
        print(NvidiaProbe().state())
        print(NvidiaProbe(loader=lambda: _load_pynvml()).state())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    fast, full = out.stdout.splitlines()
    assert fast == full
