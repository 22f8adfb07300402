"""Client vs server decode tok/s on the real llama-server.

Runs the project's own code path (run_pattern with a managed llama-server) on a generated model big
enough to decode at ~100-300 tok/s here, and compares the client's figure (tokens after the first over
first→last token time) with the server's `timings.predicted_per_second`. Goal: within 2 %.

    .venv/bin/python -m benchmarks.fidelity [--model medium] [--runs 8] [--max-tokens 256]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys

from backends.runs.patterns import Pattern
from backends.runs.session import BackendPool, run_pattern


async def main(model: str, runs: int, max_tokens: int, threads: int | None) -> int:
    pattern = Pattern(
        name=f"fidelity-{model}", backend="llamacpp", url="http://127.0.0.1:1", model=model,
        prompt="Tell me a long story.", max_tokens=max_tokens, model_path=f"builtin:{model}",
        context_length=4096, gpu_layers="off", seed=1,
    )  # fmt: skip
    pool = BackendPool()
    diffs = []
    try:
        backend = pool.get(pattern)
        if threads:
            backend.threads = threads  # type: ignore[attr-defined]
        await run_pattern(pattern, backend)  # warm-up: server start, first-use allocations
        print(f"{'run':>3} {'server tok/s':>12} {'client tok/s':>12} {'diff %':>7} {'tokens':>6}")
        for i in range(1, runs + 1):
            r = await run_pattern(pattern, backend, i)
            if not r.ok or r.decode_tps is None or r.decode_tps_client is None:
                print(f"{i:>3} failed: {r.error}")
                continue
            d = (r.decode_tps_client - r.decode_tps) / r.decode_tps * 100
            diffs.append(d)
            print(f"{i:>3} {r.decode_tps:12.2f} {r.decode_tps_client:12.2f} {d:+7.2f} {r.completion_tokens:>6}")
    finally:
        await pool.aclose()
    if not diffs:
        return 1
    worst = max(abs(d) for d in diffs)
    print(
        f"\nclient vs server: mean {statistics.fmean(diffs):+.2f} %, worst |{worst:.2f}| % over {len(diffs)} runs "
        f"(goal: within 2 %) -> {'OK' if worst <= 2 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="medium", help="built-in model: tiny, small, medium, large")
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    sys.exit(asyncio.run(main(a.model, a.runs, a.max_tokens, a.threads)))
