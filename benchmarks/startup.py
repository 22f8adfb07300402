"""Time to first frame of the TUI, and startup of the headless commands for reference.

`gptoss-top --config FILE` is spawned on a pseudo-terminal (100x30) that a thread keeps reading; the
first frame is the moment the pattern list's first name is written to the terminal, and the main
screen the moment its footer is (the app shows the header and patterns first). Median of `--runs`. Goal: ≤ 1.2× the minimal app's (issue 14; it was ≤ 700 ms). A minimal Textual app (one Sparkline) is timed the same way, interleaved,
as the floor that Python + Textual set on this machine under its current load. `gptoss-top --help` and `gptoss-top bench --help` are timed to exit.

    .venv/bin/python -m benchmarks.startup [--runs 5] [--config FILE --expect TEXT]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.tui_common import GPTOSS_TOP, PtyProcess, bench_env, load_note, small_config, with_bytecode_cache

# The footer's "Quit": drawn with the main screen, every panel of the first view; the first frame can
# come before it (the start screen: header and patterns).
MAIN_SCREEN = "Quit"


def first_frame(config: str, expect: str, env: dict[str, str], argv: list[str] | None = None,
                then: str | None = None) -> float:  # fmt: skip
    return timed_frames(config, expect, env, argv, then)[0]


def timed_frames(config: str, expect: str, env: dict[str, str], argv: list[str] | None = None,
                 then: str | None = None) -> tuple[float, float | None]:  # fmt: skip
    """Seconds until `expect` is written, and until `then` is (both watched from the spawn on)."""
    keys = [expect] + ([then] if then else [])
    p = PtyProcess(argv or [GPTOSS_TOP, "--config", config], env, watch=tuple(keys))
    try:
        times = [p.wait_for(k, timeout=30) for k in keys]
    finally:
        p.close()
    if None in times:
        raise RuntimeError(f"{keys!r} never appeared: {p.output[-1500:].decode(errors='replace')}")
    return times[0] or 0.0, times[1] if then else None


def to_exit(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, timeout=60)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--config", help="pattern file (default: a small two-pattern file, server down)")
    ap.add_argument("--expect", default="bench-alpha", help="text of the first frame to wait for")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tui-startup-") as tmp:
        env = with_bytecode_cache(bench_env(Path(tmp)))
        config = a.config or str(small_config(Path(tmp)))
        # The floor: Textual's own start, a one-Sparkline app (its first frame is a row of blocks).
        mini = [sys.executable, "-m", "benchmarks.tui_idle", "--minimal-app"]
        # Warm the OS file cache and write the .pyc files.
        first_frame(config, a.expect, env)
        first_frame(config, "█", env, mini)
        to_exit([GPTOSS_TOP, "bench", "--help"], env)
        print(f"{a.runs} runs each, interleaved; {load_note()}")
        frames, mains, minimal, helps, bench_helps = [], [], [], [], []
        for _ in range(a.runs):
            first, main = timed_frames(config, a.expect, env, then=MAIN_SCREEN)
            frames.append(first)
            mains.append(main or 0.0)
            minimal.append(first_frame(config, "█", env, mini))
            helps.append(to_exit([GPTOSS_TOP, "--help"], env))
            bench_helps.append(to_exit([GPTOSS_TOP, "bench", "--help"], env))
        print(f"after: {load_note()}\n")

    def line(name: str, xs: list[float]) -> str:
        return (f"{name:<28} median {statistics.median(xs) * 1000:6.0f} ms   "
                f"(min {min(xs) * 1000:.0f}, max {max(xs) * 1000:.0f})")  # fmt: skip

    print(line("TUI first frame", frames))
    print(line("TUI main screen (footer)", mains))
    print(line("minimal Textual app (floor)", minimal))
    print(line("gptoss-top --help", helps))
    print(line("gptoss-top bench --help", bench_helps))
    m = statistics.median(frames) * 1000
    ratio = m / (statistics.median(minimal) * 1000)
    print(f"goal ≤ 1.2× the minimal app's first frame (same run): {'OK' if ratio <= 1.2 else 'MISSED'} "
          f"({m:.0f} ms, {ratio:.2f}×)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
