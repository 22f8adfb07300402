"""One reader per telemetry source. `read()` blocks (call it off the event loop), is bounded by
`timeout_s`, and returns a ProbeReading or raises TelemetryError with a message a user can act on.

Formats: the agent's /json (this project), node_exporter's /metrics, macmon serve's /json
(https://github.com/vladkens/macmon, src/serve.rs), exo's /state (https://github.com/exo-explore/exo,
src/exo/shared/types/state.py and profiling.py; camelCase, memory as {"inBytes": N}).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from backends.fields import number, obj
from backends.probes.host import pressure_level
from backends.probes.model import GpuSample, HostSample, PressureLevel, ProbeReading, worse_pressure
from backends.probes.remote.convert import TelemetryError, reading_from_dict
from backends.probes.remote.prom import NodeExporterReading, parse_metrics
from backends.probes.remote.source import TelemetrySource

DEFAULT_TIMEOUT_S = 2.0
_EXO_PRESSURE: dict[int, PressureLevel] = {1: "normal", 2: "warn", 4: "critical"}


class Reader(Protocol):
    source: TelemetrySource

    def read(self) -> ProbeReading: ...

    def close(self) -> None: ...


class HttpReader:
    """GET one path of a source; connection and status errors become TelemetryError."""

    path = "/"

    def __init__(self, source: TelemetrySource, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.source = source
        self.timeout_s = timeout_s
        # trust_env=False: a proxy set for the internet must not swallow a LAN scrape.
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), trust_env=False, follow_redirects=False)

    def headers(self) -> dict[str, str]:
        return {}

    def get(self) -> httpx.Response:
        url = f"{self.source.url}{self.path}"
        try:
            r = self._client.get(url, headers=self.headers())
        except httpx.ConnectError:
            raise TelemetryError(f"{self.source.text}: connection refused (is it running?)") from None
        except httpx.TimeoutException:
            raise TelemetryError(f"{self.source.text}: no answer within {self.timeout_s:g} s") from None
        except httpx.HTTPError as e:
            raise TelemetryError(f"{self.source.text}: {type(e).__name__}") from None
        if r.status_code in (401, 403):
            raise TelemetryError(self.refused(r.status_code))
        if r.status_code != 200:
            raise TelemetryError(f"{self.source.text}: HTTP {r.status_code} {' '.join(r.text.split())[:80]}")
        return r

    def refused(self, status: int) -> str:
        return f"{self.source.text}: HTTP {status} (access refused)"

    def json(self) -> Any:
        r = self.get()
        try:
            return r.json()
        except ValueError:
            raise TelemetryError(f"{self.source.text}: the answer is not JSON") from None

    def close(self) -> None:
        self._client.close()


class AgentReader(HttpReader):
    path = "/json"

    def headers(self) -> dict[str, str]:
        token = os.environ.get(self.source.token_env)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def refused(self, status: int) -> str:
        var = self.source.token_env
        if not os.environ.get(var):
            return f"{self.source.text}: the agent wants a token (HTTP {status}): set {var} to the agent's token"
        return f"{self.source.text}: the agent refused the token (HTTP {status}): set {var} to the agent's token"

    def read(self) -> ProbeReading:
        return reading_from_dict(self.json())


class NodeExporterReader(HttpReader):
    path = "/metrics"

    def __init__(self, source: TelemetrySource, timeout_s: float = DEFAULT_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        super().__init__(source, timeout_s)
        self._reading = NodeExporterReading(clock)

    def read(self) -> ProbeReading:
        return self._reading.reading(parse_metrics(self.get().text))


class MacmonReader(HttpReader):
    path = "/json"

    def get(self) -> httpx.Response:
        try:
            return super().get()
        except TelemetryError as e:
            if "HTTP 503" in str(e):  # before its first sample: {"error":"no data yet"}
                raise TelemetryError(f"{self.source.text}: macmon has no sample yet") from None
            raise

    def read(self) -> ProbeReading:
        return macmon_reading(self.json())


def _bytes(v: Any) -> int | None:
    if isinstance(v, dict):
        v = v.get("inBytes", v.get("in_bytes"))
    n = number(v)
    return None if n is None else int(n)


def _ratio_pct(v: Any) -> float | None:
    n = number(v)
    if n is None or n < 0:
        return None
    return round(n * 100, 1) if n <= 1.0 else min(n, 100.0)  # a ratio (macmon, exo) or a percentage


def macmon_reading(d: Any) -> ProbeReading:
    if not isinstance(d, dict) or not isinstance(d.get("memory"), dict):
        raise TelemetryError("macmon: the answer has no memory section")
    mem = d["memory"]
    total, used = _bytes(mem.get("ram_total")), _bytes(mem.get("ram_usage"))
    util = d.get("gpu_active_ratio", d.get("gpu_scaled_ratio"))
    if util is None and isinstance(d.get("gpu_usage"), list) and len(d["gpu_usage"]) == 2:
        util = d["gpu_usage"][1]  # older macmon: [MHz, ratio]
    temp = obj(d.get("temp"))
    gpu = GpuSample(vendor="apple", index=0, name=None, source="macmon", util_percent=_ratio_pct(util),
                    mem_total_bytes=total, power_w=number(d.get("gpu_power")),
                    temperature_c=number(temp.get("gpu_temp_avg")), unified=True)  # fmt: skip
    host = HostSample(
        mem_total_bytes=total,
        mem_used_bytes=used,
        mem_available_bytes=None if total is None or used is None else total - used,
        swap_total_bytes=_bytes(mem.get("swap_total")),
        swap_used_bytes=_bytes(mem.get("swap_usage")),
    )
    return ProbeReading(gpus=(gpu,), host=host, notes=("macmon gives no pressure level",))


class ExoReader(HttpReader):
    """Every node of an exo cluster: one unified-memory GPU each; the host figures are the sum."""

    path = "/state"

    def __init__(self, source: TelemetrySource, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(source, timeout_s)
        self.seen: dict[str, str] = {}  # node id → name, of every node ever seen

    def read(self) -> ProbeReading:
        return exo_reading(self.json(), self.seen)


def exo_reading(state: Any, seen: dict[str, str]) -> ProbeReading:
    if not isinstance(state, dict) or not isinstance(state.get("nodeMemory"), dict):
        raise TelemetryError("exo: /state has no nodeMemory")
    memory, system = state["nodeMemory"], state.get("nodeSystem") or {}
    idents = state.get("nodeIdentities") or {}
    gpus: list[GpuSample] = []
    total = avail = s_total = s_avail = 0
    pressure: PressureLevel | None = None
    for i, node in enumerate(sorted(memory)):
        m, ident, sysp = obj(memory[node]), obj(idents.get(node)), obj(system.get(node))
        name = ident.get("friendlyName") or node[:12]
        seen[node] = str(name)
        t, a = _bytes(m.get("ramTotal")), _bytes(m.get("ramAvailable"))
        total, avail = total + (t or 0), avail + (a or 0)
        s_total += _bytes(m.get("swapTotal")) or 0
        s_avail += _bytes(m.get("swapAvailable")) or 0
        level = m.get("pressureLevel")
        pressure = worse_pressure(pressure, _EXO_PRESSURE.get(level) if isinstance(level, int) else None)
        chip = ident.get("chipId")
        gpus.append(GpuSample(
            vendor="apple", index=i, name=f"{name} ({chip})" if chip else str(name), source="exo",
            util_percent=_ratio_pct(sysp.get("gpuUsage")),
            mem_used_bytes=None if t is None or a is None else t - a, mem_total_bytes=t,
            temperature_c=number(sysp.get("temp")), unified=True,
        ))  # fmt: skip
    gone = [name for node, name in seen.items() if node not in memory]
    notes = tuple(f"exo node {name} is gone from /state" for name in gone)
    host = HostSample(
        mem_total_bytes=total or None,
        mem_available_bytes=avail if total else None,
        mem_used_bytes=total - avail if total else None,
        swap_total_bytes=s_total if total else None,
        swap_used_bytes=s_total - s_avail if total else None,
        pressure=pressure or pressure_level(avail, total, None, None),
    )
    return ProbeReading(gpus=tuple(gpus), host=host, notes=notes)


def make_reader(source: TelemetrySource, timeout_s: float = DEFAULT_TIMEOUT_S) -> Reader:
    """The reader for a remote source (not "local": the local Sampler's probes read this machine)."""
    if source.kind == "agent":
        return AgentReader(source, timeout_s)
    if source.kind == "node-exporter":
        return NodeExporterReader(source, timeout_s)
    if source.kind == "macmon":
        return MacmonReader(source, timeout_s)
    if source.kind == "exo":
        return ExoReader(source, timeout_s)
    if source.kind == "ssh":
        from backends.probes.remote.ssh import SshReader

        return SshReader(source, timeout_s=max(timeout_s, 5.0))
    raise ValueError(f"no remote reader for {source.kind!r}")
