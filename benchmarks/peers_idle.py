"""Idle CPU and RSS of gptoss-top's TUI beside btop and glances, all running at once in one window.

Each runs in its own tmux session (a real terminal that keeps drawing them), at its default refresh
(gptoss-top 1 s, btop 2 s, glances 2 s), so all see the same machine load. After they settle, CPU
time is read at the start and end of the window and RSS every second (process tree: glances and
gptoss-top are Python). Peers that are not installed are left out:

    apt-get install btop;  python3 -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install glances
    .venv/bin/python -m benchmarks.peers_idle [--seconds 30] [--glances /tmp/peers-venv/bin/glances]

Goal for gptoss-top (benchmarks/README.md): ≤ 0.5 % of one core, ≤ 60 MB; the peers are the context.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent


def tree(pid: int) -> list[psutil.Process]:
    try:
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)]
    except psutil.Error:
        return []


def cpu_s(pid: int) -> float:
    total = 0.0
    for p in tree(pid):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def rss(pid: int) -> int:
    total = 0
    for p in tree(pid):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


class Tmux:
    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.name = f"peers-{uuid.uuid4().hex[:8]}"
        cmd = " ".join(subprocess.list2cmdline([c]) for c in command)
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "120", "-y", "40", cmd],
                       check=True, env=env)  # fmt: skip
        out = subprocess.run(["tmux", "list-panes", "-t", self.name, "-F", "#{pane_pid}"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        self.pid = int(out.split()[0])

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True, check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--settle", type=float, default=8)
    ap.add_argument("--glances", default=shutil.which("glances") or "/tmp/peers-venv/bin/glances")
    ap.add_argument("--btop", default=shutil.which("btop") or "btop")
    args = ap.parse_args()
    if not shutil.which("tmux"):
        print("tmux is needed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="gptoss-top-peers-") as tmp:
        folder = Path(tmp)
        config = folder / "idle.toml"
        config.write_text('[defaults]\nbackend = "llamacpp"\nurl = "http://127.0.0.1:9"\nmodel = "m"\n'
                          '[[patterns]]\nname = "A"\n')  # fmt: skip
        env = {**os.environ, "GPTOSS_TOP_DATA_DIR": str(folder / "data"), "GPTOSS_TOP_CONFIG_DIR": str(folder),
               "TERM": "xterm-256color", "HOME": str(folder)}  # fmt: skip
        commands = {"gptoss-top": [str(REPO / ".venv" / "bin" / "gptoss-top"), "--config", str(config)]}
        if shutil.which(args.btop):
            commands["btop"] = [args.btop]
        if os.access(args.glances, os.X_OK):
            commands["glances"] = [args.glances]
        sessions = {name: Tmux(cmd, env) for name, cmd in commands.items()}
        try:
            time.sleep(args.settle)
            c0 = {n: cpu_s(s.pid) for n, s in sessions.items()}
            t0 = time.monotonic()
            rsses: dict[str, list[int]] = {n: [] for n in sessions}
            while time.monotonic() - t0 < args.seconds:
                for n, s in sessions.items():
                    rsses[n].append(rss(s.pid))
                time.sleep(1.0)
            dt = time.monotonic() - t0
            c1 = {n: cpu_s(s.pid) for n, s in sessions.items()}
        finally:
            for s in sessions.values():
                s.kill()
    print(f"idle over {dt:.0f} s, all at once ({os.cpu_count()} cores, load {os.getloadavg()[0]:.2f})")
    print(f"{'program':<12} {'CPU % of one core':>18} {'RSS MB (median)':>16}")
    for n in sessions:
        cpu = (c1[n] - c0[n]) / dt * 100
        mb = statistics.median(rsses[n]) / 2**20 if rsses[n] else float("nan")
        print(f"{n:<12} {cpu:>18.2f} {mb:>16.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
