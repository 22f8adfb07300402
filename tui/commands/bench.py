"""`gptoss-top bench`: run patterns headless; results on stdout, progress on stderr."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends.runs.formats import FORMATS
from tui.commands.common import EXIT_OK, EXIT_RUN_FAILED, add_adhoc, patterns_for, positive_int

if TYPE_CHECKING:
    from backends.runs.patterns import Pattern
    from backends.runs.record import RunRecord
    from backends.runs.results import ResultsStore
    from backends.runs.session import RunEvent


def register(sub: Any) -> None:
    b = sub.add_parser("bench", help="run patterns headless; results on stdout, progress on stderr")
    b.add_argument("file", nargs="?", help="pattern file")
    b.add_argument("--pattern", "-p", action="append", default=[], metavar="NAME", help="only these (repeatable)")
    b.add_argument("--repeat", type=positive_int, help="runs per pattern (default: the file's, else 1)")
    b.add_argument("--format", "-f", choices=FORMATS, default="table")
    b.add_argument("--out", "-o", metavar="PATH", help="also write the results here")
    b.add_argument("--no-save", action="store_true", help="do not append to the results store")
    b.add_argument("--interval", type=float, default=1.0, help="hardware sampling interval, seconds")
    add_adhoc(b)


def run_patterns(args: argparse.Namespace, patterns: list[Pattern]) -> int:
    import asyncio

    from backends.probes.remote.registry import with_hosts
    from backends.probes.sampler import make_sampler
    from backends.runs.results import ResultsStore
    from backends.runs.session import BackendPool, RunContext
    from backends.runs.sweep import run_sweep

    store = None if args.no_save else ResultsStore()
    show_repeat = (args.repeat or 1) > 1

    def progress(event: RunEvent) -> None:
        print_progress(event, show_repeat)

    async def go() -> list[RunRecord]:
        # Only the hosts these patterns run on: `-p A -p B` does not reach for the Mac mini.
        hosts = {n: t for n, t in file_hosts(args).items() if any(p.host == n for p in patterns)}
        sampler = with_hosts(make_sampler(args.interval), hosts, args.interval)
        pool = BackendPool(hosts=hosts)
        if sampler is not None:
            await sampler.start()
        try:
            return await run_sweep(patterns, pool=pool, store=store, repeat=args.repeat,
                                   ctx=RunContext(sampler=sampler, report=progress))  # fmt: skip
        finally:
            await pool.aclose()
            if sampler is not None:
                await sampler.stop()

    return write_results(args, asyncio.run(go()), store)


def file_hosts(args: argparse.Namespace) -> dict[str, str]:
    """`{name: telemetry}` of the pattern file's [hosts.NAME] tables (README "Remote hosts")."""
    from backends.runs.patterns import load_patterns

    file = getattr(args, "file", None)
    return {h.name: h.telemetry for h in load_patterns(file).hosts.values()} if file else {}


def print_progress(event: RunEvent, show_repeat: bool) -> None:
    """One line on stderr when a run starts and one when it ends, with its figures or what went wrong."""
    from backends.runs.session import RunFinished, RunStarted

    if not isinstance(event, RunStarted | RunFinished):
        return
    head = f"[{event.index}/{event.total}] {event.pattern.name} ({event.pattern.settings()})"
    if event.pattern.repeat > 1 or show_repeat:
        head += f" run {event.repeat}"
    if isinstance(event, RunStarted):
        print(f"{head} …", file=sys.stderr, flush=True)
        return
    r = event.record
    if r.ok:
        tps = f"{r.decode_tps:.2f} tok/s ({r.stats_source})" if r.decode_tps is not None else "no tok/s"
        ttft = f", TTFT {r.ttft_s:.2f} s" if r.ttft_s is not None else ""
        print(f"{head}: {tps}{ttft}", file=sys.stderr, flush=True)
    else:
        print(f"{head}: FAILED — {r.error}", file=sys.stderr, flush=True)
        if r.error_hint:
            print(f"  what to do: {r.error_hint}", file=sys.stderr, flush=True)
    for w in r.warnings:
        print(f"  warning: {w}", file=sys.stderr, flush=True)
    if event.save_error:
        print(f"  warning: {event.save_error}", file=sys.stderr, flush=True)


def write_results(args: argparse.Namespace, records: list[RunRecord], store: ResultsStore | None) -> int:
    """The results on stdout (and --out), what was stored on stderr; the exit status of the whole bench."""
    from backends.runs.results import render

    out = render(records, args.format)
    sys.stdout.write(out)
    sys.stdout.flush()
    if args.out:
        try:
            Path(args.out).write_text(out, encoding="utf-8")
        except OSError as e:
            print(f"gptoss-top: could not write {args.out}: {e.strerror or e}", file=sys.stderr)
            return EXIT_RUN_FAILED
    if store is not None and store.unsaved:
        print(f"gptoss-top: {len(store.unsaved)} of {len(records)} results were NOT saved: {store.last_error}",
              file=sys.stderr)  # fmt: skip
    elif store is not None:
        print(f"results appended to {store.path}", file=sys.stderr)
    return EXIT_OK if all(r.ok for r in records) else EXIT_RUN_FAILED


def run(args: argparse.Namespace) -> int:
    return run_patterns(args, patterns_for(args.file, args, args.pattern))
