"""The fit in the run record and in lists: the prediction beside what the server says it loaded.

`fill_record` is the one call a run makes: predicted_gpu_bytes, predicted_host_bytes, fit_verdict,
fit_source from the estimate. What the server says it loaded beside it (loaded_gpu_bytes,
loaded_host_bytes) comes with the backend's `LoadedModel`: a managed llama-server's buffer lines (its
log, `-lv 4`), Ollama's `/api/ps` `size_vram` and `size`.
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


async def fill_record(rec: Any, pattern: Any, sampler: Any = None) -> FitEstimate:
    """Put the prediction into a run record. Never raises."""
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
    rec.predicted_gpu_bytes = est.gpu_bytes
    rec.predicted_host_bytes = est.host_bytes
    rec.fit_verdict = est.verdict
    rec.fit_source = est.source
    return est
