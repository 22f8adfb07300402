from __future__ import annotations

import sys

import pytest

from backends.probes.nvidia import NO_DRIVER, NO_LIBRARY, NvidiaProbe
from tests.probes import fake_pynvml
from tests.probes.fake_pynvml import FakeGpu


def probe_with(monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> tuple[NvidiaProbe, object]:
    mod = fake_pynvml.make(**kwargs)  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "pynvml", mod)
    return NvidiaProbe(), mod


def test_reads_every_field_of_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    probe, _ = probe_with(monkeypatch)
    r = probe.sample()
    assert r.state == "ok"
    (g,) = r.gpus
    assert g.vendor == "nvidia"
    assert g.name == "NVIDIA GeForce RTX 4090"
    assert g.source == "nvml"
    assert g.util_percent == 87.0
    assert g.mem_used_bytes == g.vram_used_bytes == 13 * 2**30
    assert g.mem_total_bytes == 24 * 2**30
    assert g.power_w == pytest.approx(312.456)  # milliwatts → W
    assert g.temperature_c == 64.0
    assert (g.clock_graphics_mhz, g.clock_sm_mhz, g.clock_mem_mhz) == (2520, 2520, 10501)
    assert g.pci_slot == "00000000:01:00.0"
    assert [(p.pid, p.used_bytes) for p in g.processes] == [(4242, 12 * 2**30)]


def test_not_supported_field_is_none_and_the_rest_still_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    # A unified-memory NVIDIA (GB10, Jetson) says NotSupported to the memory query (NVML_ERROR_NOT_SUPPORTED).
    gpu = FakeGpu(not_supported={"nvmlDeviceGetMemoryInfo", "nvmlDeviceGetPowerUsage", "nvmlDeviceGetClockInfo"})
    probe, _ = probe_with(monkeypatch, gpus=[gpu])
    (g,) = probe.sample().gpus
    assert g.mem_used_bytes is None
    assert g.mem_total_bytes is None
    assert g.power_w is None
    assert g.clock_sm_mhz is None
    assert g.util_percent == 87.0
    assert g.temperature_c == 64.0
    assert g.processes[0].used_bytes == 12 * 2**30  # per-process memory still works there


@pytest.mark.parametrize("error", [fake_pynvml.NVMLError_LibraryNotFound, fake_pynvml.NVMLError_DriverNotLoaded])
def test_no_driver_is_a_state_not_an_error(monkeypatch: pytest.MonkeyPatch, error: type[Exception]) -> None:
    probe, mod = probe_with(monkeypatch, init_error=error)
    r = probe.sample()
    assert r.gpus == ()
    assert r.state.startswith(NO_DRIVER)
    assert not probe.available()
    # Tried once, remembered: no dlopen per tick on a machine without a driver.
    probe.sample()
    assert mod.calls["nvmlInit"] == 1  # type: ignore[attr-defined]


def test_library_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    r = NvidiaProbe().sample()
    assert r.state == NO_LIBRARY
    assert r.gpus == ()


def test_processes_from_compute_and_graphics_deduplicated(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = FakeGpu(compute=[(10, 1000), (20, None)], graphics=[(10, 1000), (30, 5)])
    probe, _ = probe_with(monkeypatch, gpus=[gpu])
    (g,) = probe.sample().gpus
    assert [(p.pid, p.used_bytes) for p in g.processes] == [(10, 1000), (20, None), (30, 5)]


def test_falls_back_to_old_temperature_call(monkeypatch: pytest.MonkeyPatch) -> None:
    probe, mod = probe_with(monkeypatch, has_temperature_v=False)
    assert probe.sample().gpus[0].temperature_c == 64.0
    assert mod.calls["nvmlDeviceGetTemperature"] == 1  # type: ignore[attr-defined]


def test_a_lost_gpu_does_not_hide_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    probe, _ = probe_with(monkeypatch, gpus=[FakeGpu(lost=True), FakeGpu(name="second")])
    r = probe.sample()
    assert [g.name for g in r.gpus] == [None, "second"]
    assert r.gpus[0].mem_used_bytes is None


def test_unexpected_exception_does_not_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    probe, mod = probe_with(monkeypatch)

    def boom() -> int:
        raise ValueError("driver returned garbage")

    monkeypatch.setattr(mod, "nvmlDeviceGetCount", boom)
    r = probe.sample()
    assert r.state == "error"
    assert "garbage" in r.notes[0]


def test_close_shuts_down_and_allows_reinit(monkeypatch: pytest.MonkeyPatch) -> None:
    probe, mod = probe_with(monkeypatch)
    assert probe.available()
    probe.close()
    assert mod.calls["nvmlShutdown"] == 1  # type: ignore[attr-defined]
    assert probe.sample().gpus


@pytest.mark.gpu
def test_real_nvml_when_there_is_an_nvidia_gpu() -> None:
    # Runs on a machine with a driver (select with `-m gpu`); elsewhere it says why it skipped.
    probe = NvidiaProbe()
    if not probe.available():
        pytest.skip(f"no NVIDIA GPU here: {probe.state()}")
    try:
        r = probe.sample()
        assert r.state == "ok"
        assert r.gpus
        g = r.gpus[0]
        assert g.name
        assert g.mem_total_bytes is None or g.mem_total_bytes > 0
        assert g.util_percent is None or 0 <= g.util_percent <= 100
    finally:
        probe.close()
