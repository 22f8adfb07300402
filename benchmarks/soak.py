"""Soak: many runs in one process through the real code path, looking for leaks.

Part 1 runs `--runs` completions (default 1,000) of the tiny generated model on a managed
llama-server, through `run_sweep` (BackendPool + run_pattern + a ResultsStore in a temporary folder)
with a probes `Sampler` ticking, in batches so the records do not pile up in memory the way a
long-lived TUI would not keep them either. Part 2 alternates two context lengths so the managed
server is relaunched `--relaunches` times. Goals:

- RSS growth after a warm-up (`--warmup` runs, to leave out one-time allocations): ≤ 5 MB
- open file descriptors: the same before and after
- asyncio tasks alive after the sampler stopped and the pool closed: none
- child processes after the pool closed: none (no llama-server, no zombie)
- gptoss-top's llama-server log files left in the temp folder: none

    .venv/bin/python -m benchmarks.soak [--runs 1000] [--warmup 50] [--max-tokens 8] [--relaunches 50]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import glob
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from backends.probes import Sampler
from backends.runs.patterns import Pattern
from backends.runs.results import ResultsStore, load_records
from backends.runs.session import BackendPool, RunContext
from backends.runs.sweep import run_sweep

MB = 1024 * 1024
ME = psutil.Process()


def rss() -> int:
    gc.collect()
    return int(ME.memory_info().rss)


def fds() -> int:
    return ME.num_fds()


def children() -> list[str]:
    out = []
    for c in ME.children(recursive=True):
        try:
            out.append(f"{c.pid} {c.name()} ({c.status()})")
        except psutil.Error:
            continue
    return out


def server_logs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "gptoss-top-llama-server-*.log")))


def pattern(name: str, ctx: int, max_tokens: int) -> Pattern:
    return Pattern(
        name=name, backend="llamacpp", url="http://127.0.0.1:1", model="tiny", prompt="Count to ten.",
        max_tokens=max_tokens, model_path="builtin:tiny", context_length=ctx, gpu_layers="off", seed=1,
    )  # fmt: skip


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def check(self, what: str, value: str, ok: bool, goal: str) -> None:
        self.lines.append(f"  {what:<38} {value:>16}   goal {goal:<14} {'OK' if ok else 'MISSED'}")
        if not ok:
            self.failed.append(what)


async def soak(runs: int, warmup: int, max_tokens: int, batch: int, store: ResultsStore, report: Report) -> None:
    p = pattern("soak", 512, max_tokens)
    sampler = Sampler(interval_s=0.5)
    pool = BackendPool()
    logs0 = server_logs()
    fds0 = fds()
    await sampler.start()
    failures = 0
    done = 0
    rss_warm = fds_warm = 0
    rss_points: list[tuple[int, int]] = []
    t0 = time.perf_counter()
    t_warm = t0
    try:
        while done < runs:
            n = min(batch, runs - done, warmup - done if done < warmup else batch)
            records = await run_sweep([p], pool=pool, store=store, repeat=n, ctx=RunContext(sampler=sampler))
            failures += sum(not r.ok for r in records)
            if failures and not records[-1].ok:
                print(f"  run failed: {records[-1].error}", file=sys.stderr)
            done += n
            del records
            if done == warmup:
                rss_warm, fds_warm, t_warm = rss(), fds(), time.perf_counter()
            if done >= warmup:
                rss_points.append((done, rss()))
            print(f"  {done:>5}/{runs} runs, RSS {rss() / MB:7.1f} MB, fds {fds()}", file=sys.stderr, flush=True)
        rss_end, fds_end = rss(), fds()
        pids = {b.pid for b in pool.all() if b.pid is not None}
    finally:
        await sampler.stop()
        await pool.aclose()
    elapsed = time.perf_counter() - t0
    per_run = (time.perf_counter() - t_warm) / max(1, runs - warmup)
    await asyncio.sleep(0)
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    kids = children()
    stored = len(load_records(store.path))
    growth = (rss_end - rss_warm) / MB
    # A straight line through the RSS after each batch: a leak shows as a slope, noise does not.
    slope = statistics.linear_regression([d for d, _ in rss_points], [r for _, r in rss_points]).slope \
        if len(rss_points) > 2 else 0.0  # fmt: skip
    report.lines.append(f"part 1: {runs} runs (tiny model, max_tokens {max_tokens}), {elapsed:.0f} s, "
                        f"{per_run * 1000:.0f} ms a run after the warm-up; managed llama-server pid {pids}")  # fmt: skip
    report.check("runs ok", f"{runs - failures}/{runs}", failures == 0, "all")
    report.check("records in results.jsonl", str(stored), stored == runs, str(runs))
    report.check(f"RSS growth after {warmup} warm-up runs", f"{growth:+.2f} MB", growth <= 5, "<= 5 MB")
    report.check("RSS slope", f"{slope * 1000 / 1024:+.1f} KB/1000 runs", True, "(info)")
    report.check("open fds (start / warm / end)", f"{fds0}/{fds_warm}/{fds()}", fds() == fds0, "same")
    report.check("fds during runs (warm vs end)", f"{fds_warm} -> {fds_end}", fds_end <= fds_warm, "no growth")
    report.check("asyncio tasks left", str(len(tasks)), not tasks, "0")
    report.check("child processes after close", str(len(kids)), not kids, "0")
    report.check("server log files left", str(len(server_logs() - logs0)), not (server_logs() - logs0), "0")
    if kids:
        report.lines.append(f"    children: {kids}")


async def relaunch(relaunches: int, max_tokens: int, store: ResultsStore, report: Report) -> None:
    a, b = pattern("ctx512", 512, max_tokens), pattern("ctx1024", 1024, max_tokens)
    sampler = Sampler(interval_s=0.5)
    pool = BackendPool()
    logs0 = server_logs()
    fds0 = fds()
    rss0 = rss()
    await sampler.start()
    pids: set[int] = set()
    peak_children = 0
    failures = 0
    loaded_ctx: set[tuple[str, int | None]] = set()
    t0 = time.perf_counter()
    try:
        backend = None
        for i in range(relaunches + 1):  # the first run launches, each one after relaunches
            p = a if i % 2 == 0 else b
            records = await run_sweep([p], pool=pool, store=store, repeat=1, ctx=RunContext(sampler=sampler))
            backend = pool.get(p)
            failures += sum(not r.ok for r in records)
            loaded_ctx.update((r.pattern, r.loaded_context_length) for r in records)
            if backend.pid is not None:
                pids.add(backend.pid)
            peak_children = max(peak_children, len(ME.children(recursive=True)))
            if (i + 1) % 10 == 0:
                print(f"  {i + 1:>4} launches, RSS {rss() / MB:7.1f} MB, fds {fds()}", file=sys.stderr, flush=True)
    finally:
        await sampler.stop()
        await pool.aclose()
    elapsed = time.perf_counter() - t0
    await asyncio.sleep(0)
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    kids = children()
    launches = relaunches + 1
    report.lines.append(f"part 2: {launches} launches alternating ctx 512/1024 ({relaunches} relaunches), "
                        f"{elapsed:.0f} s, {elapsed / launches:.2f} s a launch + run")  # fmt: skip
    report.check("runs ok", f"{launches - failures}/{launches}", failures == 0, "all")
    report.check("distinct server PIDs", str(len(pids)), len(pids) == launches, str(launches))
    report.check("loaded ctx as asked", str(sorted(loaded_ctx)), loaded_ctx == {("ctx512", 512), ("ctx1024", 1024)},
                 "512 / 1024")  # fmt: skip
    report.check("most children at once", str(peak_children), peak_children <= 1, "<= 1")
    report.check("RSS growth over the relaunches", f"{(rss() - rss0) / MB:+.2f} MB", True, "(info)")
    report.check("open fds (before / after)", f"{fds0}/{fds()}", fds() == fds0, "same")
    report.check("asyncio tasks left", str(len(tasks)), not tasks, "0")
    report.check("child processes / zombies after close", str(len(kids)), not kids, "0")
    report.check("server log files left", str(len(server_logs() - logs0)), not (server_logs() - logs0), "0")
    if kids:
        report.lines.append(f"    children: {kids}")


async def main_async(args: argparse.Namespace) -> int:
    report = Report()
    with tempfile.TemporaryDirectory(prefix="gptoss-top-soak-") as tmp:
        if args.runs:
            await soak(args.runs, min(args.warmup, args.runs), args.max_tokens, args.batch,
                       ResultsStore(Path(tmp) / "results.jsonl"), report)  # fmt: skip
        if args.relaunches:
            await relaunch(args.relaunches, args.max_tokens, ResultsStore(Path(tmp) / "relaunch.jsonl"), report)
    print("\n".join(report.lines))
    print("soak: " + ("all goals met" if not report.failed else f"MISSED: {', '.join(report.failed)}"))
    return 0 if not report.failed else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=1000, help="runs in part 1 (0 skips it)")
    ap.add_argument("--warmup", type=int, default=50, help="runs before the RSS baseline")
    ap.add_argument("--batch", type=int, default=50, help="runs per sweep (records are dropped after each)")
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--relaunches", type=int, default=50, help="server relaunches in part 2 (0 skips it)")
    args = ap.parse_args()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
