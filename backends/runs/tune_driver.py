"""`gptoss-top tune` on real servers: the search of `backends.runs.tune` driven through the run pipeline.

Each run is one `run_pattern` of the pattern with the tuned setting changed; a change of setting is a
load (llama.cpp managed: the server is restarted with the new `-ngl` / `--n-cpu-moe`; Ollama: the new
`num_gpu` goes with the request and reloads; LM Studio: `lms load --gpu RATIO`), and the first run
after it is a warm-up (stored with `repeat` 0, not counted). Every run is stored in the results store
as it finishes, tagged with the tune's `tune_id`. The fit prediction (`backends.runs.fit`) gives the
range (the model's blocks), where to start, and the predicted GPU bytes of each setting.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from backends.base import Backend, Capabilities
from backends.runs.patterns import Pattern
from backends.runs.record import RunRecord
from backends.runs.results import ResultsStore
from backends.runs.sweep import yield_to_servers
from backends.runs.tune import Outcome, Run, Sample, Search, StartHint

PARAMS = ("gpu_layers", "n_cpu_moe")


class TuneError(Exception):
    """The tune cannot start: a backend without offload control, an unknown range, bad values."""


@dataclass(frozen=True)
class TuneSpec:
    param: str = "gpu_layers"
    values: tuple[int, ...] | None = None  # None: every value from 0 to the model's block count
    repeat: int = 3
    budget: int | None = None  # None: `tune.default_budget`


@dataclass(frozen=True)
class TunePlan:
    """What the tune will search, before any load: the values, the fit's start hint and predictions."""

    param: str
    values: tuple[int, ...]
    hint: StartHint
    block_count: int | None
    predicted_gpu_bytes: dict[int, int | None] = field(default_factory=dict)
    fit_verdicts: dict[int, str] = field(default_factory=dict)
    fit_source: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TuneStep:
    """One run of the tune, before (record None) and after it."""

    index: int  # 1-based run number
    budget: int
    param: str
    run: Run
    record: RunRecord | None
    search: Search
    save_error: str | None = None


@dataclass(frozen=True)
class TuneReport:
    pattern: Pattern
    plan: TunePlan
    outcome: Outcome
    tune_id: str
    budget: int
    repeat: int


def new_tune_id() -> str:
    return "tune-" + secrets.token_hex(4)


def with_setting(p: Pattern, param: str, value: int) -> Pattern:
    if param == "n_cpu_moe":
        return dataclasses.replace(p, n_cpu_moe=value)
    return dataclasses.replace(p, gpu_layers=value)


def check_param(param: str) -> None:
    """Raise TuneError unless `param` is a setting tune can search."""
    if param not in PARAMS:
        raise TuneError(f"--param must be one of {', '.join(PARAMS)}, not {param!r}")


def check_capabilities(p: Pattern, caps: Capabilities, param: str = "gpu_layers") -> None:
    """Can this pattern's backend apply `param` run by run? Asked of what the backend declares
    (`Backend.capabilities`); the adapter's own words say why not and what to do."""
    check_param(param)
    if caps.offload_blocked is not None:
        raise TuneError(f"pattern {p.name!r}: nothing to tune — {caps.offload_blocked}")
    if param == "n_cpu_moe" and not caps.expert_offload:
        raise TuneError(f"pattern {p.name!r}: n_cpu_moe can be set only on a llama-server gptoss-top runs, not on "
                        f"this {p.backend} server — tune gpu_layers there")  # fmt: skip


async def check_reachable(p: Pattern, backend: Backend) -> None:
    """A server gptoss-top does not start must answer before a tune plans anything around it."""
    if backend.capabilities.owns_process:
        return
    health = await backend.health()
    if not health.ok:
        raise TuneError(f"pattern {p.name!r}: {p.backend} at {p.url} does not answer ({health.detail}) — start it, "
                        "or fix url")  # fmt: skip


def parse_values(text: str) -> tuple[int, ...]:
    """`LO:HI` (inclusive) or `A,B,C`; ValueError with a message for anything else."""
    t = text.strip()
    try:
        if ":" in t:
            lo_s, hi_s = t.split(":", 1)
            lo, hi = int(lo_s), int(hi_s)
            if lo > hi:
                raise ValueError(f"{text!r}: LO must not be above HI")
            vals = tuple(range(lo, hi + 1))
        else:
            vals = tuple(sorted({int(x) for x in t.split(",") if x.strip()}))
    except ValueError as e:
        if "LO must" in str(e):
            raise
        raise ValueError(f"{text!r} is not LO:HI or A,B,C of whole numbers (e.g. 0:24 or 12,16,20,24)") from None
    if any(v < 0 for v in vals):
        raise ValueError(f"{text!r}: the values cannot be negative")
    if len(vals) < 2:
        raise ValueError(f"{text!r}: give at least two different values to compare")
    return vals


def runs_here(p: Pattern) -> bool:
    """Whether this machine's memory is the server's: a managed llama-server or a loopback URL, no other host."""
    from backends.servers.lms_cli import is_loopback

    return p.host is None and (bool(p.model_path) or is_loopback(p.url))


def plan_tune(p: Pattern, spec: TuneSpec, snapshot: Any | None = None, *, budget: Any | None = None) -> TunePlan:
    """The values and the fit's start hint. Reads the model (and may ask its server): call it off the UI thread.

    `snapshot` is this machine's hardware; it is the fit's budget only where the server runs here
    (`budget`, a `backends.runs.fit.Budget`, replaces it).
    """
    from backends.runs.fit import FitInputError, budget_from_snapshot, describe, estimate

    notes: list[str] = []
    if snapshot is not None and not runs_here(p):
        snapshot = None
        notes.append("the server runs on another machine: its free memory is unknown here, so the fit gives no start")
    try:
        desc: Any = describe(p)
        blocks: int | None = desc.n_layer
    except FitInputError as e:
        desc, blocks = None, None
        notes.append(f"no fit prediction: {e}")
    if spec.values is not None:
        values = spec.values
        if blocks is not None and max(values) > blocks:
            raise TuneError(f"{spec.param} goes up to {blocks} for {p.model} ({blocks} blocks); "
                            f"{max(values)} is past the end")  # fmt: skip
    elif blocks is None:
        raise TuneError(f"the number of layers of {p.model!r} is unknown, so the range to search is too — "
                        "give it with --values LO:HI (e.g. 0:24 for gpt-oss-20b)")  # fmt: skip
    else:
        values = tuple(range(blocks + 1))
    if desc is None:
        return TunePlan(spec.param, values, StartHint(None, "none"), blocks, notes=tuple(notes))
    budget = budget if budget is not None else budget_from_snapshot(snapshot)
    base = estimate(p, desc=desc, budget=budget)
    max_fit = base.max_gpu_layers if spec.param == "gpu_layers" else base.min_n_cpu_moe
    predicted: dict[int, int | None] = {}
    verdicts: dict[int, str] = {}
    for v in values:
        est = estimate(with_setting(p, spec.param, v), desc=desc, budget=budget)
        predicted[v], verdicts[v] = est.gpu_bytes, est.verdict
    if max_fit is None:
        notes.append("the fit gives no boundary (no GPU seen, or its memory unknown): starting across the range")
    hint = StartHint(max_fit, f"fit: {base.source}" if max_fit is not None else "none")
    return TunePlan(spec.param, values, hint, blocks, predicted, verdicts, base.source, tuple(notes))


async def run_tune(
    p: Pattern,
    spec: TuneSpec,
    plan: TunePlan,
    *,
    run_one: Callable[[Pattern, int], Any],
    store: ResultsStore | None = None,
    on_step: Callable[[TuneStep], None] | None = None,
    tune_id: str | None = None,
) -> TuneReport:
    """Search, running each step with `await run_one(pattern, repeat)` (repeat 0: a warm-up)."""
    tune_id = tune_id or new_tune_id()
    yield_to_servers([p])  # the tuner measures decode rates: as a sweep, below a server on this machine
    search = Search(plan.values, gpu_ascending=spec.param == "gpu_layers", hint=plan.hint,
                    repeat=spec.repeat, budget=spec.budget)  # fmt: skip
    counted: dict[int, int] = {}
    while (run := search.next_run()) is not None:
        index = search.spent + 1
        if on_step:
            on_step(TuneStep(index, search.budget, spec.param, run, None, search))
        variant = with_setting(p, spec.param, run.value)
        repeat = 0 if run.warmup else counted.get(run.value, 0) + 1
        rec: RunRecord = await run_one(variant, repeat)
        _tag(rec, plan, spec.param, run.value, tune_id)
        err = store.append(rec) if store is not None else None
        ok = rec.ok and rec.decode_tps is not None
        if ok and not run.warmup:
            counted[run.value] = repeat
        placement = None
        if rec.loaded_gpu_bytes is not None and rec.loaded_host_bytes is not None:
            placement = (rec.loaded_gpu_bytes, rec.loaded_host_bytes)
        search.observe(run, Sample(rec.decode_tps if ok else None, ok=ok, record=rec, error=rec.error,
                                   placement=placement))  # fmt: skip
        if on_step:
            on_step(TuneStep(index, search.budget, spec.param, run, rec, search, err))
    return TuneReport(p, plan, search.outcome(), tune_id, search.budget, spec.repeat)


def _tag(rec: RunRecord, plan: TunePlan, param: str, value: int, tune_id: str) -> None:
    rec.tune_id = tune_id
    if param == "n_cpu_moe":
        rec.n_cpu_moe = value
    if rec.predicted_gpu_bytes is None:
        rec.predicted_gpu_bytes = plan.predicted_gpu_bytes.get(value)
    if rec.fit_verdict is None:
        rec.fit_verdict = plan.fit_verdicts.get(value)
    if rec.fit_source is None and rec.fit_verdict is not None:
        rec.fit_source = plan.fit_source


def values_text(values: Sequence[int]) -> str:
    v = list(values)
    return f"{v[0]}:{v[-1]}" if v == list(range(v[0], v[-1] + 1)) else ",".join(map(str, v))
