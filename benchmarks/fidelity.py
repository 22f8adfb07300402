"""Client vs server decode tok/s on the real llama-server.

Runs the project's own code path (run_pattern with a managed llama-server) on a generated model big
enough to decode at ~100-300 tok/s here, and compares the client's figure (tokens after the first over
first→last token time) with the server's `timings.predicted_per_second`. Goal: within 2 %.

`--pace S,...` reads the stream as a client that pauses S seconds between reads once tokens flow
(`RunContext.read_pace_s`), each pace in turn within a round: 0.05 is the TUI's while it redraws four
times a second (and any run's on another machine's server), 0.25 the TUI's while it redraws once a
second (its model computes on this CPU) and that of `bench` and a tune on a server on this machine.
The goal is for both; the slower pace sees the run's end less closely.

    .venv/bin/python -m benchmarks.fidelity [--model medium] [--runs 8] [--max-tokens 256] [--pace 0.05,0.25]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys

from backends.runs.patterns import Pattern
from backends.runs.session import BackendPool, RunContext, run_pattern
from backends.wire.framing import QUIET_READ_PACE_S, READ_PACE_S


async def main(model: str, runs: int, max_tokens: int, threads: int | None, paces: list[float]) -> int:
    pattern = Pattern(
        name=f"fidelity-{model}", backend="llamacpp", url="http://127.0.0.1:1", model=model,
        prompt="Tell me a long story.", max_tokens=max_tokens, model_path=f"builtin:{model}",
        context_length=4096, gpu_layers="off", seed=1,
    )  # fmt: skip
    pool = BackendPool()
    diffs: dict[float, list[float]] = {pace: [] for pace in paces}
    try:
        backend = pool.get(pattern)
        if threads:
            backend.threads = threads  # type: ignore[attr-defined]
        await run_pattern(pattern, backend)  # warm-up: server start, first-use allocations
        print(f"{'run':>3} {'pace s':>6} {'server tok/s':>12} {'client tok/s':>12} {'diff %':>7} {'tokens':>6}")
        for i in range(1, runs + 1):
            for pace in paces:  # interleaved: the host's drift falls on every pace alike
                r = await run_pattern(pattern, backend, i, RunContext(read_pace_s=pace))
                if not r.ok or r.decode_tps is None or r.decode_tps_client is None:
                    print(f"{i:>3} {pace:6.2f} failed: {r.error}")
                    continue
                d = (r.decode_tps_client - r.decode_tps) / r.decode_tps * 100
                diffs[pace].append(d)
                print(f"{i:>3} {pace:6.2f} {r.decode_tps:12.2f} {r.decode_tps_client:12.2f} {d:+7.2f} "
                      f"{r.completion_tokens:>6}")  # fmt: skip
    finally:
        await pool.aclose()
    if not any(diffs.values()):
        return 1
    print()
    for pace, ds in diffs.items():
        if not ds:
            continue
        worst = max(abs(d) for d in ds)
        verdict = (
            f"(goal: within 2 %) -> {'OK' if worst <= 2 else 'MISSED'}"
            if pace in (READ_PACE_S, QUIET_READ_PACE_S)
            else "(context)"
        )
        print(f"pace {pace:.2f} s: client vs server mean {statistics.fmean(ds):+.2f} %, worst |{worst:.2f}| % "
              f"over {len(ds)} runs {verdict}")  # fmt: skip
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="medium", help="built-in model: tiny, small, medium, large")
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--pace", default=f"{READ_PACE_S},{QUIET_READ_PACE_S}",
                    help="seconds between reads once tokens flow, comma-separated (each is run, interleaved)")  # fmt: skip
    a = ap.parse_args()
    sys.exit(asyncio.run(main(a.model, a.runs, a.max_tokens, a.threads, [float(x) for x in a.pace.split(",")])))
