"""Idle CPU and RSS of the TUI, beside a minimal Textual app with one Sparkline, in the same run.

Both run at the same time in their own tmux sessions (a real terminal that keeps reading them), so
they see the same machine load. After they have drawn and settled, each process's CPU time is read
at the start and end of the window, and its RSS every interval. Goals: ≤ 0.5 % of one core and
≤ 50 MB with every panel shown (`--size 120x40`; issue 14). The minimal app measures about 0.5 % / 35 MB.

    .venv/bin/python -m benchmarks.tui_idle [--seconds 30] [--interval 1] [--config FILE] [--size 120x40]

`--config` defaults to a small attach-mode file whose server is down (the health poll still runs);
`--config configs/demo.toml` opens the demo's patterns (their servers start only on a run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

from benchmarks.startup import first_frame
from benchmarks.tui_common import GPTOSS_TOP, TmuxSession, bench_env, load_note, small_config, with_bytecode_cache


def minimal_app() -> int:
    """The yardstick: a Textual app with one Sparkline that gets a new point every second."""
    import random

    from textual.app import App, ComposeResult
    from textual.widgets import Sparkline

    class Minimal(App[None]):
        BINDINGS = [("q", "quit", "Quit")]  # noqa: RUF012

        def compose(self) -> ComposeResult:
            yield Sparkline([0.0], id="spark")

        def on_mount(self) -> None:
            self.set_interval(1.0, self.tick)

        def tick(self) -> None:
            s = self.query_one(Sparkline)
            s.data = [*list(s.data or [])[-59:], random.random()]

    Minimal().run()
    return 0


def measure(pids: dict[str, int], seconds: float, interval: float) -> dict[str, dict[str, float]]:
    procs = {k: psutil.Process(pid) for k, pid in pids.items()}
    cpu0 = {k: p.cpu_times() for k, p in procs.items()}
    rss: dict[str, list[int]] = {k: [] for k in procs}
    t0 = time.perf_counter()
    end = t0 + seconds
    while True:
        for k, p in procs.items():
            rss[k].append(p.memory_info().rss)
        now = time.perf_counter()
        if now >= end:
            break
        time.sleep(min(interval, end - now))
    wall = time.perf_counter() - t0
    out = {}
    for k, p in procs.items():
        c1, c0 = p.cpu_times(), cpu0[k]
        cpu = (c1.user - c0.user) + (c1.system - c0.system)
        out[k] = {
            "cpu_pct": cpu / wall * 100,
            "rss_mb_median": statistics.median(rss[k]) / 1e6,
            "rss_mb_max": max(rss[k]) / 1e6,
            "threads": p.num_threads(),
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--interval", type=float, default=1.0, help="RSS sampling interval (and the TUI's --interval)")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds to wait after the first frame")
    ap.add_argument("--config", help="pattern file for the TUI (default: a small file, server down)")
    ap.add_argument("--size", default="100x30", help="terminal COLSxROWS; 120x40 shows every panel at once")
    ap.add_argument("--minimal-app", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.minimal_app:
        return minimal_app()

    with tempfile.TemporaryDirectory(prefix="tui-idle-") as tmp:
        folder = Path(tmp)
        config = a.config or str(small_config(folder))
        env = with_bytecode_cache(bench_env(folder))
        # tmux hands the sessions its server's environment, which is ours: no PYTHONDONTWRITEBYTECODE.
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        tag = uuid.uuid4().hex[:6]
        cols, rows = (int(n) for n in a.size.lower().split("x"))
        argv = [GPTOSS_TOP, "--config", config, "--interval", str(a.interval)]
        minimal = [sys.executable, "-m", "benchmarks.tui_idle", "--minimal-app"]
        # Both read .pyc files, as installed copies do (see benchmarks.tui_common.with_bytecode_cache).
        first_frame(config, "Patterns", env, argv)
        first_frame(config, "█", env, minimal)
        tui = TmuxSession(f"bench-idle-tui-{tag}", argv, env, size=(cols, rows))
        mini = TmuxSession(f"bench-idle-min-{tag}", minimal, env, size=(cols, rows))
        try:
            if not tui.wait_for("Patterns", 30):
                print(f"the TUI did not draw in 30 s:\n{tui.screen()}", file=sys.stderr)
                return 1
            if not mini.wait_for("▁", 30) and not mini.screen().strip():
                print("the minimal app did not draw in 30 s", file=sys.stderr)
                return 1
            time.sleep(a.settle)
            print(f"measuring {a.seconds:.0f} s at {a.interval:g} s intervals, {cols}x{rows}; {load_note()}")
            res = measure({"gptoss-top": tui.pid, "minimal sparkline app": mini.pid}, a.seconds, a.interval)
            print(f"after: {load_note()}")
        finally:
            tui.kill()
            mini.kill()

    print(f"\n{'process':<24} {'CPU % of 1 core':>16} {'RSS MB (median)':>16} {'RSS MB (max)':>13} {'threads':>8}")
    for k, r in res.items():
        print(
            f"{k:<24} {r['cpu_pct']:>16.2f} {r['rss_mb_median']:>16.1f} {r['rss_mb_max']:>13.1f} {r['threads']:>8.0f}"
        )
    t, m = res["gptoss-top"], res["minimal sparkline app"]
    print(f"\nratio gptoss-top / minimal: CPU {t['cpu_pct'] / max(m['cpu_pct'], 1e-9):.2f}×, "
          f"RSS {t['rss_mb_median'] / m['rss_mb_median']:.2f}×")  # fmt: skip
    cpu_ok, rss_ok = t["cpu_pct"] <= 0.5, t["rss_mb_max"] <= 50
    print(f"goal ≤ 0.5 % CPU: {'OK' if cpu_ok else 'MISSED'} ({t['cpu_pct']:.2f} %); "
          f"goal ≤ 50 MB RSS: {'OK' if rss_ok else 'MISSED'} ({t['rss_mb_max']:.1f} MB)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
