"""The fit in the run record and in lists: the prediction beside what the server says it loaded.

`fill_record` is the one call a run makes: predicted_gpu_bytes, predicted_host_bytes, fit_verdict,
fit_source from the estimate; loaded_gpu_bytes, loaded_host_bytes from the server's own figures —
a managed llama-server's buffer lines (its log, `-lv 4`), Ollama's `/api/ps` `size_vram` and `size`.
`estimate_many` estimates a list of patterns, describing each model once (the TUI's marks).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from backends.runs.fit.api import FitEstimate, estimate, unknown
from backends.runs.fit.budget import budget_from_snapshot
from backends.runs.fit.describe import describe
from backends.runs.fit.model import FitInputError, ModelDesc


def _model_key(p: Any) -> tuple[Any, ...]:
    return (p.backend, p.url, p.model, p.model_path)


def estimate_many(
    patterns: list[Any],
    snapshot: Any | None = None,
    *,
    snapshot_for: Callable[[Any], Any] | None = None,
    timeout_s: float = 2.0,
) -> dict[str, FitEstimate]:
    """Estimates by pattern name; each model is read (or asked about) once. Never raises.

    `snapshot_for(pattern)` gives the memory of the machine a pattern runs on (its `host`); without
    it `snapshot` is every pattern's.
    """
    descs: dict[tuple[Any, ...], ModelDesc | str] = {}
    out: dict[str, FitEstimate] = {}
    for p in patterns:
        key = _model_key(p)
        if key not in descs:
            try:
                descs[key] = describe(p, timeout_s=timeout_s)
            except FitInputError as e:
                descs[key] = str(e)
            except Exception as e:  # a marks pass must never take the screen down
                descs[key] = f"{p.model}: cannot describe the model ({type(e).__name__}: {e})"
        d = descs[key]
        snap = snapshot_for(p) if snapshot_for is not None else snapshot
        out[p.name] = unknown(p, d) if isinstance(d, str) else estimate(p, desc=d, budget=budget_from_snapshot(snap))
    return out


def server_loaded(backend: Any, rec: Any) -> tuple[int | None, int | None]:
    """(GPU, host) bytes the server says it holds: buffer lines of a managed llama-server, Ollama's /api/ps."""
    log = getattr(backend, "log_path", None) or getattr(getattr(backend, "server", None), "log_path", None)
    if isinstance(log, str):
        from backends.servers.llamaserver_log import read_log

        mem = read_log(log)
        if mem is not None:
            return mem.gpu_bytes, mem.host_bytes(rec.model_size_bytes)
    if rec.backend == "ollama" and rec.loaded_size_bytes is not None and rec.loaded_vram_bytes is not None:
        return rec.loaded_vram_bytes, rec.loaded_size_bytes - rec.loaded_vram_bytes
    return None, None


async def fill_record(rec: Any, pattern: Any, backend: Any = None, sampler: Any = None) -> FitEstimate:
    """Put the prediction and the server's loaded figures into a run record. Never raises."""
    snap = None
    if sampler is not None:
        try:
            snap = sampler.latest
        except Exception:
            snap = None
    try:
        est = await asyncio.to_thread(estimate, pattern, snap)
    except Exception as e:  # the record matters more than the prediction
        est = unknown(pattern, f"no estimate: {type(e).__name__}: {e}")
    rec.n_cpu_moe = pattern.n_cpu_moe
    rec.predicted_gpu_bytes = est.gpu_bytes
    rec.predicted_host_bytes = est.host_bytes
    rec.fit_verdict = est.verdict
    rec.fit_source = est.source
    if backend is not None:
        try:
            rec.loaded_gpu_bytes, rec.loaded_host_bytes = server_loaded(backend, rec)
        except Exception:
            pass
    return est
