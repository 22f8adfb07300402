"""Time to first frame of the TUI, and startup of the headless commands for reference.

`gptoss-top --config FILE` is spawned on a pseudo-terminal (100x30) that a thread keeps reading; the
first frame is the moment the pattern list's first name is written to the terminal. Median of
`--runs`. Goal: ≤ 1.2× the minimal app's (issue 14; it was ≤ 700 ms). A minimal Textual app (one Sparkline) is timed the same way, interleaved,
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

from benchmarks.tui_common import GPTOSS_TOP, PtyProcess, bench_env, load_note, small_config


def with_bytecode_cache(env: dict[str, str], folder: Path) -> dict[str, str]:
    """Let the warm-up runs write .pyc files (into `folder`), so that the timed runs read them.

    An installed gptoss-top has them (pip compiles on install), and so has Textual in the venv; with
    PYTHONDONTWRITEBYTECODE set in the environment a checkout has none, and every timed start of the
    TUI compiled gptoss-top's ~80 modules from source (~10 % of its samples in py-spy) while the
    minimal app compiled nothing. The cache folder is private to this run: the checkout stays clean.
    """
    env = dict(env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    return env


def first_frame(config: str, expect: str, env: dict[str, str], argv: list[str] | None = None) -> float:
    p = PtyProcess(argv or [GPTOSS_TOP, "--config", config], env)
    try:
        t = p.wait_for(expect, timeout=30)
    finally:
        p.close()
    if t is None:
        raise RuntimeError(f"{expect!r} never appeared: {p.output[-1500:].decode(errors='replace')}")
    return t


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
        env = with_bytecode_cache(bench_env(Path(tmp)), Path(tmp))
        config = a.config or str(small_config(Path(tmp)))
        # The floor: Textual's own start, a one-Sparkline app (its first frame is a row of blocks).
        mini = [sys.executable, "-m", "benchmarks.tui_idle", "--minimal-app"]
        # Warm the OS file cache and write the .pyc files of both (the prefix holds every module's).
        first_frame(config, a.expect, env)
        first_frame(config, "█", env, mini)
        to_exit([GPTOSS_TOP, "bench", "--help"], env)
        print(f"{a.runs} runs each, interleaved; {load_note()}")
        frames, minimal, helps, bench_helps = [], [], [], []
        for _ in range(a.runs):
            frames.append(first_frame(config, a.expect, env))
            minimal.append(first_frame(config, "█", env, mini))
            helps.append(to_exit([GPTOSS_TOP, "--help"], env))
            bench_helps.append(to_exit([GPTOSS_TOP, "bench", "--help"], env))
        print(f"after: {load_note()}\n")

    def line(name: str, xs: list[float]) -> str:
        return (f"{name:<28} median {statistics.median(xs) * 1000:6.0f} ms   "
                f"(min {min(xs) * 1000:.0f}, max {max(xs) * 1000:.0f})")  # fmt: skip

    print(line("TUI first frame", frames))
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
