"""Prometheus text exposition in, probe readings out: node_exporter's names (and the agent's own).

Parsed with prometheus_client's parser; match on *sample* names, because for a counter the family
name drops `_total` while the sample keeps it. Metric names: node_exporter's meminfo, pressure and
drm collectors (https://github.com/prometheus/node_exporter, collector/{meminfo,pressure,drm}_linux.go
and meminfo_darwin.go).
"""

from __future__ import annotations

from collections.abc import Callable

from backends.probes.host import pressure_level
from backends.probes.model import GpuSample, HostSample, ProbeReading
from backends.probes.remote.convert import TelemetryError

Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse_metrics(text: str) -> Samples:
    """{sample name: [(labels, value), ...]}; TelemetryError for text that is not an exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    out: Samples = {}
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
    except Exception as e:  # the parser raises ValueError, and IndexError/KeyError on some garbage
        line = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise TelemetryError(f"malformed metrics ({line})") from None
    return out


def one(samples: Samples, name: str) -> float | None:
    vals = samples.get(name)
    return vals[0][1] if vals else None


def _int(v: float | None) -> int | None:
    return None if v is None or v != v else int(v)  # v != v: NaN


class NodeExporterReading:
    """node_exporter → ProbeReading. Keeps the last PSI counters: a rate needs two scrapes."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._last: tuple[float, float | None, float | None] | None = None

    def reading(self, samples: Samples) -> ProbeReading:
        if not any(k.startswith("node_") for k in samples):
            raise TelemetryError("no node_* metrics: is this a node_exporter?")
        notes: list[str] = []
        if "node_memory_MemTotal_bytes" in samples:  # Linux meminfo
            total = _int(one(samples, "node_memory_MemTotal_bytes"))
            avail = _int(one(samples, "node_memory_MemAvailable_bytes"))
            s_total = _int(one(samples, "node_memory_SwapTotal_bytes"))
            s_free = _int(one(samples, "node_memory_SwapFree_bytes"))
            s_used = None if s_total is None or s_free is None else s_total - s_free
        else:  # Darwin: no "available"; free + inactive is what psutil calls it on macOS
            total = _int(one(samples, "node_memory_total_bytes"))
            free, inactive = one(samples, "node_memory_free_bytes"), one(samples, "node_memory_inactive_bytes")
            avail = None if free is None or inactive is None else int(free + inactive)
            s_total = _int(one(samples, "node_memory_swap_total_bytes"))
            s_used = _int(one(samples, "node_memory_swap_used_bytes"))
        some, full = self._psi(samples)
        if "node_pressure_memory_waiting_seconds_total" not in samples:
            notes.append("node_exporter: no PSI (pressure collector off, or not Linux)")
        host = HostSample(
            mem_total_bytes=total,
            mem_available_bytes=avail,
            mem_used_bytes=None if total is None or avail is None else total - avail,
            swap_total_bytes=s_total,
            swap_used_bytes=s_used,
            psi_some_avg10=some,
            psi_full_avg10=full,
            pressure=pressure_level(avail, total, some, full),
        )
        return ProbeReading(gpus=drm_gpus(samples), host=host, notes=tuple(notes))

    def _psi(self, samples: Samples) -> tuple[float | None, float | None]:
        # Counters of seconds stalled; their rate × 100 is the share of wall time, like PSI's avg10.
        now = self._clock()
        waiting = one(samples, "node_pressure_memory_waiting_seconds_total")
        stalled = one(samples, "node_pressure_memory_stalled_seconds_total")
        last, self._last = self._last, (now, waiting, stalled)
        if last is None or now <= last[0]:
            return None, None
        dt = now - last[0]

        def rate(cur: float | None, prev: float | None) -> float | None:
            if cur is None or prev is None or cur < prev:  # a restarted exporter starts from 0
                return None
            return round(min(100.0, (cur - prev) / dt * 100), 2)

        return rate(waiting, last[1]), rate(stalled, last[2])


def drm_gpus(samples: Samples) -> tuple[GpuSample, ...]:
    """node_exporter's drm collector (AMD; `--collector.drm`, off by default)."""
    cards: dict[str, dict[str, float]] = {}
    for name in ("node_drm_gpu_busy_percent", "node_drm_memory_vram_size_bytes", "node_drm_memory_vram_used_bytes",
                 "node_drm_memory_gtt_size_bytes", "node_drm_memory_gtt_used_bytes"):  # fmt: skip
        for labels, value in samples.get(name, []):
            cards.setdefault(labels.get("card", "card0"), {})[name] = value
    gpus = []
    for i, (card, m) in enumerate(sorted(cards.items())):
        vram_used = _int(m.get("node_drm_memory_vram_used_bytes"))
        vram_total = _int(m.get("node_drm_memory_vram_size_bytes"))
        gpus.append(GpuSample(
            vendor="amd", index=i, name=card, source="node-exporter drm",
            util_percent=m.get("node_drm_gpu_busy_percent"),
            mem_used_bytes=vram_used, mem_total_bytes=vram_total,
            vram_used_bytes=vram_used, vram_total_bytes=vram_total,
            gtt_used_bytes=_int(m.get("node_drm_memory_gtt_used_bytes")),
            gtt_total_bytes=_int(m.get("node_drm_memory_gtt_size_bytes")),
        ))  # fmt: skip
    return tuple(gpus)
