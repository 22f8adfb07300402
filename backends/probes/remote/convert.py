"""A probe snapshot back from JSON: what `probe --json` and the agent's `/json` print (`to_dict`).

Another machine may run another version of gptoss-top: unknown keys are dropped, a field of the
wrong type becomes None, and nothing here raises on odd input beyond TelemetryError for a body that
is not a snapshot at all.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from backends.probes.model import PRESSURE_LEVELS, AppleSample, GpuProcess, GpuSample, HostSample, ProbeReading


class TelemetryError(Exception):
    """A source did not give a reading; the message is shown beside the stale figures."""


T = TypeVar("T", GpuSample, HostSample, AppleSample, GpuProcess)
_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "PressureLevel": (str,)}


def _build(cls: type[T], raw: Any, **fixed: Any) -> T:
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in fixed or f.name not in raw:
            continue
        v = raw[f.name]
        want = str(f.type)
        ok = v is None or any(
            isinstance(v, t) and not (t is int and isinstance(v, bool) and "bool" not in want)
            for name, types in _TYPES.items()
            if name in want
            for t in types
        )
        if ok:
            kwargs[f.name] = v
    return cls(**kwargs, **fixed)


def _gpu(raw: Any) -> GpuSample | None:
    if not isinstance(raw, dict) or raw.get("vendor") not in ("nvidia", "amd", "apple"):
        return None
    raw_procs = raw.get("processes") or []
    procs = tuple(_build(GpuProcess, p) for p in raw_procs if isinstance(p, dict) and isinstance(p.get("pid"), int))
    index = raw.get("index") if isinstance(raw.get("index"), int) else 0
    return _build(GpuSample, raw, vendor=raw["vendor"], index=index, name=_str(raw.get("name")),
                  source=_str(raw.get("source")) or "remote", processes=procs)  # fmt: skip


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def reading_from_dict(d: Any) -> ProbeReading:
    """A `to_dict(snapshot)` dict (or a whole `probe --json` report holding one) → ProbeReading."""
    if isinstance(d, dict) and isinstance(d.get("snapshot"), dict):
        d = d["snapshot"]
    if not isinstance(d, dict) or not any(k in d for k in ("gpus", "host", "apple")):
        raise TelemetryError("the answer is not a gptoss-top snapshot (no gpus/host/apple)")
    gpus = [g for g in (_gpu(x) for x in d.get("gpus") or []) if g is not None]
    host = _build(HostSample, d["host"]) if isinstance(d.get("host"), dict) else None
    if host is not None and host.pressure not in (None, *PRESSURE_LEVELS):
        host = _build(HostSample, {**d["host"], "pressure": None})
    apple = _build(AppleSample, d["apple"]) if isinstance(d.get("apple"), dict) else None
    if apple is not None and apple.pressure not in (None, *PRESSURE_LEVELS):
        apple = _build(AppleSample, {**d["apple"], "pressure": None})
    # The Apple GPU is both in `gpus` and derived from `apple`; keep one (the sampler re-derives it).
    if apple is not None and apple.gpu is not None:
        gpus = [g for g in gpus if g.vendor != "apple"]
    notes = tuple(str(n) for n in [*(d.get("notes") or []), *(d.get("errors") or [])] if isinstance(n, str))
    return ProbeReading(gpus=tuple(gpus), host=host, apple=apple, notes=notes)
