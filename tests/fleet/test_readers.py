"""Each telemetry reader against its real source (node_exporter) or a faithful fake (exo, macmon)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import psutil
import pytest

from backends.probes.remote import RemoteSampler, TelemetryError, parse_source
from backends.probes.remote.prom import parse_metrics
from backends.probes.remote.readers import ExoReader, NodeExporterReader, macmon_reading
from tests.fakes.exo import GIB, FakeExo
from tests.fleet.conftest import Canned, NodeExporter


def test_node_exporter_memory_is_this_machines(node_exporter: NodeExporter) -> None:
    reader = NodeExporterReader(parse_source(f"node-exporter+{node_exporter.url}"))
    try:
        first = reader.read()
        time.sleep(0.5)
        second = reader.read()
    finally:
        reader.close()
    assert first.host is not None and second.host is not None
    # The exporter reads the same /proc/meminfo psutil does.
    assert first.host.mem_total_bytes == psutil.virtual_memory().total
    assert 0 < (first.host.mem_available_bytes or 0) <= first.host.mem_total_bytes
    assert first.host.mem_used_bytes == first.host.mem_total_bytes - (first.host.mem_available_bytes or 0)
    assert first.host.swap_total_bytes == psutil.swap_memory().total
    assert first.host.pressure in ("normal", "warn", "critical")
    # PSI comes as counters: a share of time needs two scrapes.
    assert first.host.psi_some_avg10 is None
    assert second.host.psi_some_avg10 is not None and 0 <= second.host.psi_some_avg10 <= 100
    assert second.gpus == ()  # the drm collector is off (the default)


DRM = """# TYPE node_drm_gpu_busy_percent gauge
node_drm_gpu_busy_percent{card="card0"} 87
# TYPE node_drm_memory_vram_size_bytes gauge
node_drm_memory_vram_size_bytes{card="card0"} 1.7112760320e+10
# TYPE node_drm_memory_vram_used_bytes gauge
node_drm_memory_vram_used_bytes{card="card0"} 1.3421772800e+10
# TYPE node_drm_memory_gtt_used_bytes gauge
node_drm_memory_gtt_used_bytes{card="card0"} 2.68435456e+08
# TYPE node_memory_MemTotal_bytes gauge
node_memory_MemTotal_bytes 1.37438953472e+11
# TYPE node_memory_MemAvailable_bytes gauge
node_memory_MemAvailable_bytes 1.2e+11
"""


def test_node_exporter_drm_collector_gives_the_amd_gpu(canned: Callable[..., Canned]) -> None:
    srv = canned(DRM)
    r = NodeExporterReader(parse_source(f"node-exporter+{srv.url}")).read()
    (gpu,) = r.gpus
    assert (gpu.vendor, gpu.name, gpu.util_percent) == ("amd", "card0", 87)
    assert gpu.mem_used_bytes == 13_421_772_800 and gpu.mem_total_bytes == 17_112_760_320
    assert gpu.gtt_used_bytes == 268_435_456
    assert r.host is not None and r.host.mem_total_bytes == 137_438_953_472
    assert any("no PSI" in n for n in r.notes)


@pytest.mark.parametrize("body", ["this is not an exposition {{{", 'node_memory_MemTotal_bytes{a="1" 5\n'])
def test_malformed_metrics_are_an_error_not_a_crash(canned: Callable[..., Canned], body: str) -> None:
    srv = canned(body)
    sampler = RemoteSampler(parse_source(f"node-exporter+{srv.url}"), interval_s=0.2)
    snap = sampler.sample_now()
    assert "malformed metrics" in str(sampler.freshness().error)
    assert snap.errors and "malformed metrics" in snap.errors[0]
    assert sampler.history == ()


def test_parse_metrics_matches_counter_samples_by_their_total_name() -> None:
    s = parse_metrics("# TYPE node_pressure_memory_waiting_seconds_total counter\n"
                      "node_pressure_memory_waiting_seconds_total 12.5\n")  # fmt: skip
    assert s["node_pressure_memory_waiting_seconds_total"] == [({}, 12.5)]


def test_exo_state_gives_every_node_and_notices_one_that_leaves() -> None:
    with FakeExo() as exo:
        reader = ExoReader(parse_source(f"exo+{exo.url}"))
        r = reader.read()
        names = [g.name for g in r.gpus]
        assert names == ["mac-mini-1 (Apple M4)", "mac-mini-2 (Apple M4)"]
        a, _ = r.gpus
        assert a.mem_total_bytes == 16 * GIB and a.mem_used_bytes == int(11.5 * GIB)
        assert a.util_percent == 62.0 and a.unified and a.source == "exo"
        assert r.host is not None and r.host.mem_total_bytes == 32 * GIB
        assert r.host.mem_used_bytes == 32 * GIB - int(10.5 * GIB)
        assert r.host.pressure == "warn"  # the worse node's level
        exo.remove_node("12D3KooWmini2")
        r2 = reader.read()
        assert [g.name for g in r2.gpus] == ["mac-mini-1 (Apple M4)"]
        assert r2.notes == ("exo node mac-mini-2 is gone from /state",)
        assert r2.host is not None and r2.host.mem_total_bytes == 16 * GIB
        reader.close()


def test_exo_answer_without_node_memory_is_an_error(canned: Callable[..., Canned]) -> None:
    srv = canned(json.dumps({"instances": {}}), ctype="application/json")
    with pytest.raises(TelemetryError, match="nodeMemory"):
        ExoReader(parse_source(f"exo+{srv.url}")).read()


# macmon serve /json (vladkens/macmon v0.8, src/serve.rs + src/metrics.rs field names)
MACMON = {
    "timestamp": "2026-12-02T10:00:00Z",
    "temp": {"cpu_temp_avg": 51.2, "gpu_temp_avg": 47.9},
    "memory": {"ram_total": 17179869184, "ram_usage": 14495514624, "swap_total": 2147483648, "swap_usage": 1196425216},
    "cpu_scaled_ratio": 0.21, "gpu_freq_mhz": 1398, "gpu_scaled_ratio": 0.93, "gpu_active_ratio": 0.97,
    "gpu_power": 11.4, "cpu_power": 2.1, "all_power": 14.0, "sys_power": 19.8,
}  # fmt: skip


def test_macmon_json() -> None:
    r = macmon_reading(MACMON)
    (gpu,) = r.gpus
    assert (gpu.vendor, gpu.source, gpu.util_percent, gpu.power_w, gpu.temperature_c) == (
        "apple",
        "macmon",
        97.0,
        11.4,
        47.9,
    )
    assert r.host is not None and r.host.mem_used_bytes == 14495514624
    assert r.host.mem_available_bytes == 17179869184 - 14495514624
    assert r.host.swap_used_bytes == 1196425216
    old = macmon_reading({**{k: v for k, v in MACMON.items() if "ratio" not in k}, "gpu_usage": [1398, 0.5]})
    assert old.gpus[0].util_percent == 50.0


def test_macmon_before_its_first_sample(canned: Callable[..., Canned]) -> None:
    srv = canned('{"error":"no data yet"}', status=503, ctype="application/json")
    sampler = RemoteSampler(parse_source(f"macmon+{srv.url}"))
    sampler.sample_now()
    assert sampler.freshness().error == f"macmon+{srv.url}: macmon has no sample yet"
