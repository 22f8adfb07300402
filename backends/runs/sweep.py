"""Patterns × repeats: runs them in order and saves each record as it finishes, stopped runs too.

Every run goes through here, a single run being a sweep of one: the sweep is the one writer of the
results store, and the one place that reports a run's start and end (`RunStarted`, `RunFinished`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from backends.runs.patterns import Pattern
from backends.runs.pool import BackendPool
from backends.runs.record import RunRecord
from backends.runs.results import ResultsStore
from backends.runs.session import Run, RunContext, RunFinished, RunStarted
from backends.servers import priority
from backends.servers.registry import launches_server


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
) -> list[RunRecord]:
    """Run every pattern `repeat` times (default: each pattern's own count); the records in run order.

    When the task is cancelled, the run in progress is stored and reported as stopped, then the
    cancellation goes on.
    """
    ctx = ctx or RunContext()
    runs = plan(patterns, repeat)
    yield_to_servers(patterns)
    records: list[RunRecord] = []
    for i, (p, rep) in enumerate(runs, start=1):
        if i > 1 and ctx.between is not None:
            await ctx.between()
        started = RunStarted(i, len(runs), p, rep)
        if ctx.report is not None:
            ctx.report(started)
        run = Run(p, await pool.open(p), rep, ctx)
        try:
            rec = await run.execute()
        except asyncio.CancelledError:
            _keep(started, run.record, store, ctx)
            raise
        records.append(rec)
        _keep(started, rec, store, ctx)
    return records


def yield_to_servers(patterns: Sequence[Pattern]) -> None:
    """Measurements of these patterns start: below a server on this machine while we measure it, if
    the gptoss-top command asked for it (backends.servers.priority). Sweeps and tunes both call it."""
    managed = any(launches_server(p.backend, p.model_path) for p in patterns)
    priority.lower_for([p.url for p in patterns], managed=managed)


def _keep(run: RunStarted, rec: RunRecord, store: ResultsStore | None, ctx: RunContext) -> None:
    err = store.append(rec) if store is not None else None
    if ctx.report is not None:
        ctx.report(RunFinished(run.index, run.total, run.pattern, run.repeat, rec, err))
