"""What remote telemetry costs: one read per source, and the agent's own CPU while it serves.

    .venv/bin/python -m benchmarks.remote_hosts [--reads 100] [--idle-s 30]

Starts `gptoss-top agent` (interval 1 s) and, when Debian's prometheus-node-exporter is installed,
a node_exporter, both on free loopback ports; reads each through its RemoteSampler `--reads` times
(median / p95 / max ms, the reader's thread pass alone) and measures the agent process's CPU over
`--idle-s` seconds of being scraped once a second, as a fleet view would.
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

from backends.probes.remote import RemoteSampler, parse_source


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def start_agent() -> tuple[subprocess.Popen[bytes], str]:
    exe = str(Path(sys.executable).parent / "gptoss-top")
    proc = subprocess.Popen([exe, "agent", "--port", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    m = re.search(r"serving (http://127\.0\.0\.1:\d+)/metrics", line)
    if not m:
        proc.kill()
        raise SystemExit(f"the agent did not start: {line}")
    return proc, f"agent+{m.group(1)}"


def reads(source: str, n: int) -> list[float]:
    sampler = RemoteSampler(parse_source(source), interval_s=1.0)
    out = []
    for _ in range(n + 1):
        t = time.perf_counter()
        sampler.sample_now()
        out.append((time.perf_counter() - t) * 1000)
        if sampler.freshness().error:
            raise SystemExit(f"{source}: {sampler.freshness().error}")
    sampler.close()
    return out[1:]  # the first opens the connection


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reads", type=int, default=100)
    ap.add_argument("--idle-s", type=float, default=30.0)
    args = ap.parse_args()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        agent, agent_src = start_agent()
        procs.append(agent)
        sources = [agent_src]
        exporter = shutil.which("prometheus-node-exporter")
        if exporter:
            port = free_port()
            procs.append(subprocess.Popen([exporter, f"--web.listen-address=127.0.0.1:{port}"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
            time.sleep(1.0)
            sources.append(f"node-exporter+http://127.0.0.1:{port}")
        print(f"{'source':<48} {'median':>8} {'p95':>8} {'max':>8}  (ms per read, {args.reads} reads)")
        for src in sources:
            ms = reads(src, args.reads)
            print(f"{src.split('://')[0]:<48} {statistics.median(ms):8.2f} {pct(ms, 0.95):8.2f} {max(ms):8.2f}")
        proc = psutil.Process(agent.pid)
        sampler = RemoteSampler(parse_source(agent_src), interval_s=1.0)
        c0, t0 = proc.cpu_times(), time.perf_counter()
        end = t0 + args.idle_s
        while time.perf_counter() < end:
            sampler.sample_now()
            time.sleep(1.0)
        c1, wall = proc.cpu_times(), time.perf_counter() - t0
        cpu = (c1.user + c1.system - c0.user - c0.system) / wall * 100
        print(
            f"agent CPU while read once a second: {cpu:.2f} % of one core over {wall:.0f} s; "
            f"RSS {proc.memory_info().rss / 2**20:.1f} MiB"
        )
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


if __name__ == "__main__":
    main()
