"""What the TUI does between a sweep's runs, and whether it lands on the next run.

When a run ends the TUI draws its record: the final figures, the results table and its chart (the
first chart of a session loads the plotting libraries and numpy). In a sweep the next run's request
goes out right after the record is stored, so that work used to run while the server processed the
next prompt and decoded its first tokens. This starts the real llama-server (`builtin:medium`), opens
the TUI in a pty at 120×40 on a two-pattern file, presses `a`, and measures the TUI's CPU (process
tree, /proc) over `--window` seconds from the first record on, and the second run's server-measured
rates. `--tree PATH` runs another checkout's code with this virtual environment (the before of a
before/after; its own benchmarks are not needed):

    .venv/bin/python -m benchmarks.sweep_handoff [--rounds 2] [--window 1.5] [--tree PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

PATTERNS = """[defaults]
backend = "llamacpp"
url = "{url}"
model = "sweep"
prompt = "{prompt}"
max_tokens = 512
reasoning_effort = "low"
seed = 7

[[patterns]]
name = "first"
context_length = 4096

[[patterns]]
name = "second"
context_length = 4096
"""


def one(url: str, tree: str | None, window: float) -> dict[str, float]:
    from benchmarks.observer import DECODE_PROMPT, count_lines, settle, tree_cpu
    from benchmarks.tui_common import GPTOSS_TOP, PtyProcess, bench_env

    with tempfile.TemporaryDirectory(prefix="handoff-") as folder:
        env = bench_env(Path(folder)) | {"COLUMNS": "120", "LINES": "40"}
        argv = [GPTOSS_TOP]
        if tree is not None:  # another checkout's packages first on the path, this venv's libraries
            code = f"import sys; sys.path.insert(0, {tree!r}); from gptoss_top import main; sys.exit(main())"
            argv = [sys.executable, "-c", code]
            env["PYTHONPATH"] = tree
        cfg = os.path.join(folder, "sweep.toml")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(PATTERNS.format(url=url, prompt=DECODE_PROMPT))  # the observer's decode case
        store = os.path.join(env["GPTOSS_TOP_DATA_DIR"], "results.jsonl")
        proc = PtyProcess([*argv, "--config", cfg], env, (120, 40))
        try:
            if proc.wait_for("second", timeout=60) is None:
                raise RuntimeError(f"the TUI never drew: {proc.output[-1500:].decode(errors='replace')}")
            settle(proc.proc.pid)
            proc.send(b"a")
            deadline = time.monotonic() + 300
            while count_lines(store) < 1:
                if time.monotonic() > deadline:
                    raise RuntimeError("no first record")
                time.sleep(0.02)
            c0 = tree_cpu(proc.proc.pid)
            time.sleep(window)
            cpu = tree_cpu(proc.proc.pid) - c0
            while count_lines(store) < 2:
                if time.monotonic() > deadline:
                    raise RuntimeError("no second record")
                time.sleep(0.1)
        finally:
            proc.close()
        with open(store, encoding="utf-8") as f:
            second = json.loads(f.readlines()[1])
    return {"cpu_s": cpu, "decode_tps": second.get("decode_tps") or 0.0, "prompt_tps": second.get("prompt_tps") or 0.0}


def main() -> int:
    from backends.servers.llamaserver import ManagedServer, ServerConfig, find_server_binary
    from backends.servers.tinymodel import resolve_model_path
    from benchmarks.tui_common import load_note

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--window", type=float, default=1.5, help="seconds from the first record on")
    ap.add_argument("--tree", default=None, help="another checkout to run instead of this one")
    a = ap.parse_args()
    server = ManagedServer(ServerConfig(model_path=resolve_model_path("builtin:medium"), context_length=4096,
                                        ngl="0"), find_server_binary())  # fmt: skip
    print(load_note(), file=sys.stderr)
    try:
        asyncio.run(server.start())
        for rnd in range(a.rounds):
            r = one(server.url, a.tree, a.window)
            print(f"round {rnd + 1}: TUI CPU in the {a.window:g} s after the first record {r['cpu_s'] * 1000:.0f} ms; "
                  f"second run: decode {r['decode_tps']:.1f} tok/s, prompt {r['prompt_tps']:.0f} tok/s", flush=True)  # fmt: skip
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
