"""The fit estimate of one pattern: a breakdown, a verdict and the settings that would fit."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from backends.runs.fit.budget import Budget, budget_from_snapshot
from backends.runs.fit.estimate import Breakdown, Placement, breakdown, cpu_moe_count, ngl_count
from backends.runs.fit.model import FitInputError, ModelDesc
from backends.servers.registry import traits

VERDICTS = ("fits", "spills", "swap", "unknown")
SOURCES = ("gguf", "card", "server", "llama-fit-params", "lms", "ollama-show")
MIB = 1 << 20


@dataclass(frozen=True)
class FitEstimate:
    """One pattern's prediction. Bytes are integers; None = unknown. `source` names where they came from."""

    pattern: str
    model: str
    source: str | None
    verdict: str  # fits | spills | swap | unknown
    context_length: int | None = None
    gpu_layers: int | str | None = None
    n_cpu_moe: int | str | None = None
    model_gpu_bytes: int | None = None
    model_host_bytes: int | None = None
    kv_gpu_bytes: int | None = None
    kv_host_bytes: int | None = None
    compute_gpu_bytes: int | None = None
    compute_host_bytes: int | None = None
    gpu_bytes: int | None = None
    host_bytes: int | None = None
    budget_gpu_bytes: int | None = None
    budget_host_bytes: int | None = None
    max_gpu_layers: int | None = None  # the most pattern layers (n_layer = all) that fit, with its n_cpu_moe
    min_n_cpu_moe: int | None = None  # the fewest expert blocks on the host that fit with every layer on the GPU
    notes: tuple[str, ...] = ()
    block_count: int | None = None
    margin_bytes: int | None = None
    guardrail: str | None = None  # LM Studio's answer to `lms load --estimate-only`, when asked

    def to_json(self) -> dict[str, Any]:
        """The `fit --json` object (contract: README "Will it fit?")."""
        d = asdict(self)
        d["notes"] = list(self.notes)
        return d

    def with_notes(self, *more: str) -> FitEstimate:
        return replace(self, notes=self.notes + tuple(m for m in more if m))


def context_for(pattern: Any, desc: ModelDesc) -> tuple[int, str | None]:
    if pattern.context_length:
        return int(pattern.context_length), None
    if (n := traits(pattern.backend).default_context) is not None:
        return n, f"no context_length: assuming the server's default of {n}"
    n = desc.n_ctx_train or 4096
    return n, f"no context_length: llama.cpp uses the model's training context ({n})"


def _fits_gpu(desc: ModelDesc, ctx: int, place: Placement, budget: Budget) -> bool:
    b = breakdown(desc, ctx, place, True)
    return budget.gpu_bytes is not None and b.gpu <= budget.gpu_bytes


def max_gpu_layers(desc: ModelDesc, ctx: int, n_cpu_moe: int, budget: Budget) -> int | None:
    """The largest pattern gpu_layers (n_layer = all) whose GPU share fits the budget."""
    if budget.gpu_bytes is None:
        return None
    L = desc.n_layer
    for n in range(L, -1, -1):
        if _fits_gpu(desc, ctx, Placement(ngl_count(n, L), n_cpu_moe), budget):
            return n
    return 0


def min_n_cpu_moe(desc: ModelDesc, ctx: int, ngl: int, budget: Budget) -> int | None:
    """The fewest blocks with experts on the host that make the GPU share fit; None when none does."""
    if budget.gpu_bytes is None or not desc.is_moe:
        return None
    for n in range(desc.n_layer + 1):
        if _fits_gpu(desc, ctx, Placement(ngl, n), budget):
            return n
    return None


def verdict(b: Breakdown, place: Placement, desc: ModelDesc, budget: Budget) -> tuple[str, list[str]]:
    notes: list[str] = []
    if not budget.known:
        return "unknown", ["no memory figures from the hardware probes"]
    gpu_used = b.gpu > 0
    need_ram = b.host + (b.gpu if budget.unified else 0)
    if budget.host_bytes is not None and need_ram > budget.host_bytes:
        swap = budget.swap_free_bytes
        more = "" if swap is None or need_ram <= budget.host_bytes + swap else ", and more than RAM and swap together"
        return "swap", [f"needs {need_ram / MIB:,.0f} MiB of RAM, {budget.host_bytes / MIB:,.0f} MiB available{more}"]
    if budget.no_gpu or not gpu_used:
        why = "no GPU found" if budget.no_gpu else "gpu_layers off"
        return "fits", [f"{why}: every layer runs on the CPU"]
    if budget.gpu_bytes is None:
        return "unknown", [f"the GPU's free memory is unknown ({budget.gpu_source})"]
    if b.gpu > budget.gpu_bytes:
        notes.append(f"the GPU share ({b.gpu / MIB:,.0f} MiB) exceeds the GPU budget ({budget.gpu_bytes / MIB:,.0f} "
                     "MiB after llama.cpp's margin): the server moves layers to the CPU or refuses")  # fmt: skip
        return "spills", notes
    L = desc.n_layer
    if place.ngl < L + 1 or (place.n_cpu_moe and desc.is_moe):
        on_gpu = max(place.ngl - 1, 0)
        what = f"{on_gpu} of {L} blocks on the GPU" if place.ngl < L + 1 else f"experts of {place.n_cpu_moe} blocks"
        return "spills", [f"{what} by the pattern's setting: those run on the CPU"]
    return "fits", notes


def estimate_desc(pattern: Any, desc: ModelDesc, budget: Budget) -> FitEstimate:
    """The estimate for a pattern whose model is described."""
    ctx, ctx_note = context_for(pattern, desc)
    L = desc.n_layer
    place = Placement(ngl_count(pattern.gpu_layers, L), cpu_moe_count(pattern.n_cpu_moe, L))
    has_gpu = not budget.no_gpu
    b = breakdown(desc, ctx, place, has_gpu)
    v, notes = verdict(b, place, desc, budget)
    if ctx_note:
        notes.insert(0, ctx_note)
    if budget.gpu_source and budget.gpu_bytes is not None:
        notes.append(f"GPU budget: {budget.gpu_source}, less {budget.margin_bytes // MIB} MiB margin")
    if pattern.n_cpu_moe and not desc.is_moe:
        notes.append("n_cpu_moe has no effect: the model has no expert tensors")
    if desc.source == "card":
        notes.append(f"model from the built-in {desc.name} card ({desc.quant or 'MXFP4'})")
    max_layers = max_gpu_layers(desc, ctx, place.n_cpu_moe, budget) if has_gpu else None
    # The usual recipe: every layer on the GPU (-ngl 99), experts of the first N blocks on the host.
    min_moe = min_n_cpu_moe(desc, ctx, L + 1, budget) if has_gpu else None
    return FitEstimate(
        pattern=pattern.name, model=pattern.model or desc.name, source=desc.source, verdict=v,
        context_length=ctx, gpu_layers=pattern.gpu_layers, n_cpu_moe=pattern.n_cpu_moe,
        model_gpu_bytes=b.model_gpu, model_host_bytes=b.model_host, kv_gpu_bytes=b.kv_gpu,
        kv_host_bytes=b.kv_host, compute_gpu_bytes=b.compute_gpu, compute_host_bytes=b.compute_host,
        gpu_bytes=b.gpu, host_bytes=b.host, budget_gpu_bytes=budget.gpu_bytes,
        budget_host_bytes=budget.host_bytes, max_gpu_layers=max_layers, min_n_cpu_moe=min_moe,
        notes=tuple(notes), block_count=L, margin_bytes=budget.margin_bytes if b.gpu else None,
    )  # fmt: skip


def unknown(pattern: Any, reason: str) -> FitEstimate:
    return FitEstimate(pattern=pattern.name, model=pattern.model, source=None, verdict="unknown",
                       context_length=pattern.context_length, gpu_layers=pattern.gpu_layers,
                       n_cpu_moe=pattern.n_cpu_moe, notes=(reason,))  # fmt: skip


def estimate(
    pattern: Any,
    snapshot: Any | None = None,
    *,
    desc: ModelDesc | None = None,
    budget: Budget | None = None,
    network: bool = True,
    timeout_s: float = 2.0,
) -> FitEstimate:
    """Predict where `pattern`'s bytes go and whether they fit. Never raises for bad input."""
    if budget is None:
        budget = budget_from_snapshot(snapshot)
    if desc is None:
        from backends.runs.fit.describe import describe

        try:
            desc = describe(pattern, timeout_s=timeout_s, network=network)
        except FitInputError as e:
            return unknown(pattern, str(e))
    try:
        return estimate_desc(pattern, desc, budget)
    except (ValueError, ZeroDivisionError, IndexError) as e:  # a description with impossible numbers
        return unknown(pattern, f"{desc.path or desc.name}: the model's numbers do not add up ({e})")
