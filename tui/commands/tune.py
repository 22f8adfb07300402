"""`gptoss-top tune`: find the fastest offload setting for a pattern by measurement.

Progress on stderr, the answer on stdout (table with a chart, markdown, csv or json); every run goes
to the results store tagged with the tune's id; `--write PATH` saves the winner as a pattern file.
Exit status: 0 answered (a winner, or "no difference"); 1 every load or run failed; 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from backends.runs.formats import FORMATS
from tui.commands.common import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    UsageError,
    add_adhoc,
    patterns_for,
    positive_int,
)

if TYPE_CHECKING:
    from backends.runs.patterns import Pattern
    from backends.runs.tune_driver import TuneReport, TuneStep


def register(sub: Any) -> None:
    t = sub.add_parser("tune", help="find the fastest GPU-offload setting for a pattern by measurement")
    t.add_argument("file", nargs="?", help="pattern file")
    t.add_argument("--pattern", "-p", metavar="NAME", help="the pattern to tune (needed when the file has several)")
    t.add_argument("--param", choices=("gpu_layers", "n_cpu_moe"), default="gpu_layers",
                   help="the setting to tune (default gpu_layers)")  # fmt: skip
    t.add_argument("--values", metavar="LO:HI|A,B,C", help="the values to try (default: 0 to the model's layers)")
    t.add_argument("--budget", type=positive_int, metavar="RUNS",
                   help="most runs, warm-ups and failed loads included (default: 3/8 of a full grid)")  # fmt: skip
    t.add_argument("--repeat", type=positive_int, default=3, metavar="N",
                   help="counted runs per visit of a setting (default 3); each load adds a warm-up")  # fmt: skip
    t.add_argument("--write", metavar="PATH", help="save the winner as a pattern file")
    t.add_argument("--format", "-f", choices=FORMATS, default="table")
    t.add_argument("--no-save", action="store_true", help="do not append the runs to the results store")
    t.add_argument("--interval", type=float, default=1.0, help="hardware sampling interval, seconds")
    add_adhoc(t)


def pick_pattern(args: argparse.Namespace) -> Pattern:
    pats = patterns_for(args.file, args, [args.pattern] if args.pattern else [])
    if len(pats) > 1:
        names = ", ".join(p.name for p in pats)
        raise UsageError(f"{args.file} has several patterns ({names}): choose one with --pattern NAME")
    return pats[0]


def progress(step: TuneStep) -> None:
    run = step.run
    head = f"[tune {step.index}/{step.budget}] {step.param}={run.value}"
    head += " warm-up" if run.warmup else ""
    if step.record is None:
        print(f"{head} …", file=sys.stderr, flush=True)
        return
    r = step.record
    if r.ok and r.decode_tps is not None:
        print(f"{head}: {r.decode_tps:.2f} tok/s", file=sys.stderr, flush=True)
    else:
        print(f"{head}: FAILED — {r.error}", file=sys.stderr, flush=True)
        if r.error_hint:
            print(f"  what to do: {r.error_hint}", file=sys.stderr, flush=True)
    if step.save_error:
        print(f"  warning: {step.save_error}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from backends.runs.tune_driver import TuneError, TuneSpec, check_param, parse_values

    pattern = pick_pattern(args)
    try:
        values = parse_values(args.values) if args.values else None
        check_param(args.param)
    except (TuneError, ValueError) as e:
        raise UsageError(f"tune: {e}") from None
    spec = TuneSpec(args.param, values, args.repeat, args.budget)
    try:
        report = _go(pattern, spec, args)
    except TuneError as e:
        raise UsageError(f"tune: {e}") from None
    return _answer(report, args)


def _go(pattern: Pattern, spec: Any, args: argparse.Namespace) -> TuneReport:
    import asyncio

    from backends.probes.sampler import make_sampler
    from backends.runs.results import ResultsStore
    from backends.runs.session import BackendPool, RunContext, run_pattern
    from backends.runs.tune_driver import check_capabilities, check_reachable, plan_tune, run_tune

    store = None if args.no_save else ResultsStore()

    async def go() -> TuneReport:
        sampler = make_sampler(args.interval)
        pool = BackendPool()
        if sampler is not None:
            await sampler.start()
        try:
            backend = await pool.open(pattern)
            check_capabilities(pattern, backend.capabilities, spec.param)
            await check_reachable(pattern, backend)
            snap = await asyncio.to_thread(sampler.sample_now) if sampler is not None else None
            plan = await asyncio.to_thread(plan_tune, pattern, spec, snap)
            where = f"from the fit ({plan.hint.source})" if plan.hint.max_fit is not None else "across the range"
            print(f"tune {pattern.name}: {spec.param} over {len(plan.values)} values, starting {where}",
                  file=sys.stderr, flush=True)  # fmt: skip
            for note in plan.notes:
                print(f"  note: {note}", file=sys.stderr, flush=True)
            ctx = RunContext(sampler=sampler)

            async def run_one(p: Pattern, repeat: int) -> Any:
                return await run_pattern(p, pool.get(p), repeat, ctx)

            return await run_tune(pattern, spec, plan, run_one=run_one, store=store, on_step=progress)
        finally:
            await pool.aclose()
            if sampler is not None:
                await sampler.stop()

    report = asyncio.run(go())
    if store is not None and store.unsaved:
        print(f"gptoss-top: {len(store.unsaved)} runs were NOT saved: {store.last_error}", file=sys.stderr)
    elif store is not None:
        print(f"runs appended to {store.path} (tune_id {report.tune_id})", file=sys.stderr)
    return report


def _answer(report: TuneReport, args: argparse.Namespace) -> int:
    from backends.runs.tune_render import render, summary

    sys.stdout.write(render(report, args.format))
    sys.stdout.flush()
    if args.format != "table":
        print(summary(report), file=sys.stderr)
    o = report.outcome
    if args.write:
        if o.best is None:
            print(f"gptoss-top: nothing written to {args.write}: there is no winner", file=sys.stderr)
        else:
            write_winner(report, args.write)
            print(f"the winner is saved as pattern {report.pattern.name!r} in {args.write}", file=sys.stderr)
    if o.best is None and o.stopped != "no_difference":
        return EXIT_RUN_FAILED
    return EXIT_OK


def write_winner(report: TuneReport, path: str) -> None:
    import dataclasses

    from backends.runs.patterns import write_patterns
    from backends.runs.tune_driver import with_setting

    o = report.outcome
    assert o.best is not None
    best = next(s for s in o.settings if s.value == o.best)
    note = f"tuned ({report.tune_id}): {report.plan.param} {o.best}, {best.mean or 0:.2f} tok/s over {best.n} runs"
    winner = dataclasses.replace(with_setting(report.pattern, report.plan.param, o.best), description=note)
    try:
        write_patterns(path, [winner])
    except OSError as e:
        raise UsageError(f"could not write {path}: {e.strerror or e}") from None
