"""Cost of one full sample of every probe detected on this machine (goal: ≤ 2 ms median).

    .venv/bin/python benchmarks/probe_cost.py [--samples 200] [--backend-pid PID]

Prints median / p95 / max per probe and for one whole `Sampler.sample_now()` pass. The first pass
(library load, NVML init, card listing) is reported apart: the sampler pays it once.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from backends.probes import Sampler, detect_probes


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--backend-pid", type=int, default=os.getpid(), help="process to watch (default: this one)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    probes = detect_probes()
    detect_ms = (time.perf_counter() - t0) * 1000
    sampler = Sampler(probes, history=args.samples + 1)
    sampler.set_backend(args.backend_pid, None)
    t0 = time.perf_counter()
    sampler.sample_now()
    first_ms = (time.perf_counter() - t0) * 1000

    per_probe: dict[str, list[float]] = {p.name: [] for p in probes}
    passes: list[float] = []
    for _ in range(args.samples):
        for p in probes:
            t0 = time.perf_counter()
            p.sample()
            per_probe[p.name].append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        sampler.sample_now()
        passes.append((time.perf_counter() - t0) * 1000)

    print(f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}")
    print(f"probes detected: {', '.join(p.name for p in probes)}   (detect_probes {detect_ms:.1f} ms, "
          f"first pass {first_ms:.2f} ms)")  # fmt: skip
    print(f"{'what':<22}{'median ms':>10}{'p95 ms':>10}{'max ms':>10}")
    rows = [(f"probe {name}", xs) for name, xs in per_probe.items()] + [("full pass sample_now()", passes)]
    for label, xs in rows:
        print(f"{label:<22}{statistics.median(xs):>10.3f}{pct(xs, 0.95):>10.3f}{max(xs):>10.3f}")
    med = statistics.median(passes)
    print(f"goal ≤ 2 ms median per pass: {'met' if med <= 2.0 else 'NOT met'} ({med:.3f} ms over {len(passes)} passes)")


if __name__ == "__main__":
    main()
