"""Patterns × repeats: runs them in order, saves each record as it finishes, reports progress."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from backends.runs.patterns import Pattern
from backends.runs.record import RunRecord
from backends.runs.results import ResultsStore
from backends.runs.session import BackendPool, RunContext, run_pattern


@dataclass(frozen=True)
class Progress:
    index: int  # 1-based position of this run in the sweep
    total: int
    pattern: Pattern
    repeat: int  # 1-based repeat of this pattern
    record: RunRecord | None  # None when the run is starting
    save_error: str | None = None


def plan(patterns: Sequence[Pattern], repeat: int | None = None) -> list[tuple[Pattern, int]]:
    """(pattern, repeat number) in run order: every repeat of A, then of B, ...

    A pattern whose load settings match the previous one's keeps the loaded model, so grouping the
    repeats of a pattern together means a model is loaded once per pattern, not once per run.
    """
    out: list[tuple[Pattern, int]] = []
    for p in patterns:
        n = repeat if repeat is not None else p.repeat
        out.extend((p, i) for i in range(1, n + 1))
    return out


async def run_sweep(
    patterns: Sequence[Pattern],
    *,
    pool: BackendPool,
    store: ResultsStore | None = None,
    repeat: int | None = None,
    ctx: RunContext | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> list[RunRecord]:
    runs = plan(patterns, repeat)
    records: list[RunRecord] = []
    for i, (p, rep) in enumerate(runs, start=1):
        if on_progress:
            on_progress(Progress(i, len(runs), p, rep, None))
        rec = await run_pattern(p, pool.get(p), rep, ctx)
        records.append(rec)
        err = store.append(rec) if store is not None else None
        if on_progress:
            on_progress(Progress(i, len(runs), p, rep, rec, err))
    return records
