"""Will it fit? Where a pattern's weights, KV cache and compute buffers go, before anything loads.

How to call it: `estimate(pattern, snapshot)` takes a `backends.runs.patterns.Pattern` and an
optional probes `Snapshot` (the budget: free VRAM, Apple's working set, available RAM; pass
`budget=Budget(...)` instead to inject one) and returns a frozen `FitEstimate` with `verdict`
("fits" | "spills" | "swap" | "unknown"), `gpu_bytes`, `host_bytes`, the per-kind breakdown
(`model_/kv_/compute_` × `gpu_/host_bytes`), `max_gpu_layers`, `min_n_cpu_moe`, `source` (gguf, card,
ollama-show, llama-fit-params, lms, server) and `notes`. It never raises for bad input: a model it
cannot describe gives verdict "unknown" with the reason in `notes`. It may read the model file and
ask the pattern's own server (2 s time-out), so call it off the UI thread. `block_count(pattern)`
gives the model's repeating blocks (None when unknown); `describe(pattern)` the `ModelDesc`, and
`estimate(pattern, desc=d, budget=b)` re-plans one model for many settings without re-reading it.
`ask_*` in `backends.runs.fit.ask` get the servers' own answers (llama-fit-params, `lms load
--estimate-only`).
"""

from __future__ import annotations

from backends.runs.fit.api import SOURCES, VERDICTS, FitEstimate, estimate
from backends.runs.fit.budget import Budget, budget_from_snapshot
from backends.runs.fit.describe import block_count, describe
from backends.runs.fit.model import FitInputError, ModelDesc, read_gguf

__all__ = [
    "SOURCES",
    "VERDICTS",
    "Budget",
    "FitEstimate",
    "FitInputError",
    "ModelDesc",
    "block_count",
    "budget_from_snapshot",
    "describe",
    "estimate",
    "read_gguf",
]
