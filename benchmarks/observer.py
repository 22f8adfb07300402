"""Does watching slow the model down? The server's own rates under four clients, interleaved.

One real llama-server (a generated model, `builtin:medium` by default) is started through
`ManagedServer`, and the same request is driven, round by round and in a rotating order, by:

- **bare** — a raw socket in a minimal Python child that reads the stream into a buffer and parses
  nothing until the end (the floor: what any client must cost);
- **bench** — `gptoss-top bench FILE --format json --no-save` (a fresh process per run, as a user
  runs it);
- **tui 120x40** and **tui 80x24** — `gptoss-top --config FILE` on a pseudo-terminal that a thread
  keeps reading (as a terminal would); once the TUI has drawn and gone quiet (its start-up work done:
  `settle`) `enter` starts the run and the run record is read from the results store the TUI writes.

Each client reports the server's own figures from the same run (`timings.predicted_per_second` for
the decode-heavy case, `timings.prompt_per_second` for the prompt-heavy one). Within a round a bare
run comes before each other client's run and after the last (`bracketed`), and a run's ratio is its
rate over the mean of the bare runs right beside it (`neighbour_ratios`): what the client cost the
server, with the host's drift between runs taken out. The bare client's own row sets each bare run
against the bare runs beside it: how far noise alone moves a ratio on this host. The CPU the client used
is measured too: `cpu_s` is the whole client process tree over its life (start-up included, from
`getrusage(RUSAGE_CHILDREN)`), `run_cpu_s` (TUI only) the part while the run streamed.

The prompt-heavy case starts every prompt with a fresh nonce of the same length, so llama-server's
prompt cache never serves it (only the chat template's first few tokens are shared).

Goals (issue 14): bench ≥ 0.99×, TUI at 120x40 and 80x24 ≥ 0.98× the bare client's decode rate.
The server keeps its default threads and normal priority; the clients run at the priority
gptoss-top chooses for itself, each in a session of its own, as a program started from another
terminal than the server's is. (Where Linux groups tasks by session, sched(7) autogroup, a client in
the server's own session competes with it inside one group, where gptoss-top's lowered priority
acts; from another session it does not.)

    .venv/bin/python -m benchmarks.observer [--rounds 5] [--model medium] [--max-tokens 384]
        [--cases decode,prefill] [--clients bare,bench,tui120,tui80] [--json]
    .venv/bin/python -m benchmarks.observer --pool A.json B.json ...   (summarise earlier --json runs)

Each median comes with a 90 % bootstrap interval, and the goal column says OK only when all of it is
at the goal or above, MISS when all of it is below, and "noise" when the runs cannot tell: on a shared
2-core machine a 12-round median moves by a few per cent from one run to the next, as much as the
cost being measured. `--pool` puts the runs of several `--json` outputs together (each keeps its own
rounds' neighbours), which narrows the interval.

A client may carry a variant: `tui120:nice0` runs the TUI with GPTOSS_TOP_NICE=0 (no priority change),
so `--clients bare,tui120,tui120:nice0` compares the two in one interleaved run. Without a variant
the clients inherit GPTOSS_TOP_NICE from the environment (unset: gptoss-top's default).
`tui120:busy` runs the TUI with GPTOSS_TOP_CALM=0: four redraws a second even while the model
runs on the CPU (by default the screen then redraws once a second).

A client may also name another checkout: `bench@/tmp/before` runs `bench` with that tree's code first on
the path (and this virtual environment's libraries), so `--clients bare,bench,bench@/tmp/before` sets a
change against its before in one interleaved run (`git worktree add /tmp/before HEAD~1`).

`bare:burnN` is a yardstick rather than a client: the bare client while another process, started
as the TUI is (its own session, nice 10), burns N ms of CPU in one burst each second, as a TUI's
redraw does. `--clients bare,bare:burn10,bare:burn20,bare:burn40` shows what a monitor's CPU per
second costs this machine's server, and so the budget a client has for a ratio. `bare:wakeN` wakes
such a process N times a second to do nothing: what a client's wake-ups cost apart from its CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import sys
import time
from typing import Any

DECODE_PROMPT = "Write a short story about a lighthouse keeper who counts the waves."
PREFILL_TEXT = (
    "The keeper climbs the stairs at dusk, trims the wick, winds the clockwork that turns the lens, and "
    "writes the hour, the wind and the height of the sea into the log before the light goes out over "
    "the water. "
)
CLIENTS = ("bare", "bench", "tui120", "tui80")
TUI_SIZES = {"tui120": (120, 40), "tui80": (80, 24)}


# -- the bare client: stdlib only, imported by a fresh interpreter -----------------------------------


def dechunk(body: bytes) -> bytes:
    """An HTTP/1.1 chunked body → its bytes (llama-server streams with chunked encoding)."""
    out, i = bytearray(), 0
    while True:
        j = body.find(b"\r\n", i)
        if j < 0:
            return bytes(out)
        size = int(body[i:j].split(b";")[0] or b"0", 16)
        if size == 0:
            return bytes(out)
        out += body[j + 2 : j + 2 + size]
        i = j + 2 + size + 2


def bare_child(url: str, body_path: str) -> int:
    """POST the request and read the whole stream before looking at it; print the server's timings."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    with open(body_path, "rb") as f:
        body = f.read()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    buf = bytearray()
    with socket.create_connection((host, int(port))) as s:
        s.sendall(head + body)
        while chunk := s.recv(65536):
            buf += chunk
    header, _, raw = bytes(buf).partition(b"\r\n\r\n")
    if b"chunked" in header.lower():
        raw = dechunk(raw)
    timings: dict[str, Any] = {}
    for line in raw.split(b"\n"):
        if line.startswith(b"data: {") and b'"timings"' in line:
            chunk = json.loads(line[6:])
            timings = chunk.get("timings") or timings
            if chunk.get("usage"):  # the prompt's size, cached tokens included, as the run record has it
                timings["prompt_tokens"] = chunk["usage"].get("prompt_tokens")
    print(json.dumps(timings))
    return 0 if timings else 1


# -- the parent ---------------------------------------------------------------------------------------


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def pattern_file(folder: str, url: str, name: str, prompt: str, max_tokens: int) -> str:
    path = os.path.join(folder, f"{name}.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(
            f'[defaults]\nbackend = "llamacpp"\nurl = "{url}"\nmodel = "observer"\n'
            f"prompt = {json.dumps(prompt)}\nmax_tokens = {max_tokens}\n"
            f'reasoning_effort = "low"\nseed = 7\n\n'
            f'[[patterns]]\nname = "{name}"\ncontext_length = 4096\n'
        )
    return path


def request_body(prompt: str, max_tokens: int) -> bytes:
    """What gptoss-top's llama.cpp adapter sends for the same pattern (backends/servers/llamacpp.py)."""
    return json.dumps({
        "model": "observer",
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": max_tokens,
        "seed": 7,
        "chat_template_kwargs": {"reasoning_effort": "low"},
        "reasoning_effort": "low",
    }).encode()  # fmt: skip


def run_bare(folder: str, url: str, prompt: str, max_tokens: int, env: dict[str, str]) -> dict[str, Any]:
    import subprocess

    body = os.path.join(folder, "body.json")
    with open(body, "wb") as f:
        f.write(request_body(prompt, max_tokens))
    c0 = children_cpu()
    p = subprocess.run([sys.executable, "-m", "benchmarks.observer", "--bare-child", url, body],
                       capture_output=True, text=True, timeout=300, env=env, start_new_session=True)  # fmt: skip
    cpu = children_cpu() - c0
    if p.returncode:
        raise RuntimeError(f"bare client failed: {p.stderr[-1500:]}")
    t = json.loads(p.stdout)
    return {"decode_tps": t.get("predicted_per_second"), "prompt_tps": t.get("prompt_per_second"),
            "tokens": t.get("predicted_n"), "prompt_n": t.get("prompt_tokens"), "cpu_s": cpu}  # fmt: skip


BURNER = """
import os, sys, time
burst = float(sys.argv[1]) / 1000
wakes = int(sys.argv[2])
os.nice(10)
while True:
    t0 = time.monotonic()
    c0 = time.thread_time()
    while time.thread_time() - c0 < burst:
        pass
    for n in range(1, wakes + 1):
        time.sleep(max(0.0, n / wakes - (time.monotonic() - t0)))
"""


def run_burning(ms: float, folder: str, url: str, prompt: str, max_tokens: int, env: dict[str, str],
                wakes: int = 1) -> dict[str, Any]:  # fmt: skip
    """The bare client while a process in its own session burns `ms` of CPU each second at nice 10, and
    wakes `wakes` times a second (the first wake-up burns)."""
    import signal
    import subprocess

    burner = subprocess.Popen([sys.executable, "-c", BURNER, str(ms), str(wakes)], start_new_session=True, env=env)
    try:
        time.sleep(0.3)  # its first burst lands before the request does, as a TUI's start-up does
        return run_bare(folder, url, prompt, max_tokens, env)
    finally:
        burner.send_signal(signal.SIGKILL)
        burner.wait()


def run_bench(cfg: str, env: dict[str, str]) -> dict[str, Any]:
    import subprocess

    from benchmarks.tui_common import GPTOSS_TOP

    c0 = children_cpu()
    p = subprocess.run([GPTOSS_TOP, "bench", cfg, "--format", "json", "--no-save"],
                       capture_output=True, text=True, timeout=300, env=env, start_new_session=True)  # fmt: skip
    cpu = children_cpu() - c0
    if p.returncode:
        raise RuntimeError(f"gptoss-top bench failed ({p.returncode}): {p.stderr[-1500:]}")
    return record_figures(json.loads(p.stdout)[0]) | {"cpu_s": cpu}


def record_figures(r: dict[str, Any]) -> dict[str, Any]:
    if not r.get("ok"):
        raise RuntimeError(f"run failed: {r.get('error')}")
    return {"decode_tps": r.get("decode_tps"), "prompt_tps": r.get("prompt_tps"),
            "tokens": r.get("completion_tokens"), "prompt_n": r.get("prompt_tokens")}  # fmt: skip


def tree_cpu(pid: int) -> float:
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for q in procs:
        try:
            t = q.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def run_tui(cfg: str, name: str, size: tuple[int, int], env: dict[str, str], data: str) -> dict[str, Any]:
    from benchmarks.tui_common import GPTOSS_TOP, PtyProcess

    store = os.path.join(data, "results.jsonl")
    before, size0 = count_lines(store), file_size(store)
    c0 = children_cpu()
    proc = PtyProcess([GPTOSS_TOP, "--config", cfg], env | {"COLUMNS": str(size[0]), "LINES": str(size[1])}, size)
    try:
        if proc.wait_for(name, timeout=60) is None:
            raise RuntimeError(f"the TUI never drew: {proc.output[-1500:].decode(errors='replace')}")
        settle(proc.proc.pid)  # start-up (probes, fit marks, a model file's header) is not part of the run
        r0 = tree_cpu(proc.proc.pid)
        proc.send(b"\r")
        deadline = time.monotonic() + 300
        # A cheap look (the file's size) while the run streams, the lines counted only once it has
        # grown: the window for `run_cpu` closes within 50 ms of the record, before the work the TUI
        # does for a finished run (its table and chart) is counted in it.
        while file_size(store) == size0 or count_lines(store) <= before:
            if time.monotonic() > deadline or proc.proc.poll() is not None:
                raise RuntimeError(f"no run record from the TUI: {proc.output[-1500:].decode(errors='replace')}")
            time.sleep(0.05)
        run_cpu = tree_cpu(proc.proc.pid) - r0
    finally:
        proc.close()
    cpu = children_cpu() - c0
    with open(store, encoding="utf-8") as f:
        rec = json.loads(f.readlines()[-1])
    return record_figures(rec) | {"cpu_s": cpu, "run_cpu_s": run_cpu}


def settle(pid: int, quiet_s: float = 0.5, at_least_s: float = 1.5, at_most_s: float = 15.0) -> None:
    """Wait until the TUI's process tree has been quiet (under 2 % of a core) for `quiet_s`: what it
    does after its first frame — the main screen, the hardware probes, the fit marks, which read model
    headers in a child process — finishes before the run starts, as it would before a user's keypress."""
    start = time.monotonic()
    time.sleep(at_least_s)
    last, quiet_since = tree_cpu(pid), time.monotonic()
    while time.monotonic() - start < at_most_s:
        time.sleep(0.1)
        now_cpu, now = tree_cpu(pid), time.monotonic()
        if now_cpu - last > 0.02 * 0.1 + 1e-9:
            quiet_since = now
        elif now - quiet_since >= quiet_s:
            return
        last = now_cpu


def file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def count_lines(path: str) -> int:
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def run_client(client: str, case: str, prompt: str, max_tokens: int, url: str, folder: str,
               env: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    name = f"obs-{case}"
    client, _, tree = client.partition("@")
    if tree:  # e.g. bench@/tmp/before — another checkout's code, with this virtual environment's libraries
        env = env | {"PYTHONPATH": os.path.abspath(tree)}
    client, _, variant = client.partition(":")
    if variant.startswith("nice"):  # e.g. tui120:nice0 — the same client at another --nice
        env = env | {"GPTOSS_TOP_NICE": variant.removeprefix("nice")}
    elif variant == "busy":  # the TUI at four redraws a second even while the model runs on the CPU
        env = env | {"GPTOSS_TOP_CALM": "0"}
    if client == "bare" and variant.startswith("burn"):
        return run_burning(float(variant.removeprefix("burn")), folder, url, prompt, max_tokens, env)
    if client == "bare" and variant.startswith("wake"):
        return run_burning(0.0, folder, url, prompt, max_tokens, env, wakes=int(variant.removeprefix("wake")))
    if client == "bare":
        return run_bare(folder, url, prompt, max_tokens, env)
    cfg = pattern_file(folder, url, name, prompt, max_tokens)
    if client == "bench":
        return run_bench(cfg, env)
    return run_tui(cfg, name, TUI_SIZES[client], env, env["GPTOSS_TOP_DATA_DIR"])


def case_prompt(case: str, nonce: str, prefill_repeat: int) -> str:
    if case == "decode":
        return DECODE_PROMPT
    # A fresh first line per round: llama-server's prompt cache must not serve the prompt.
    return f"Log {nonce}.\n" + PREFILL_TEXT * prefill_repeat


def bracketed(order: list[str]) -> list[str]:
    """A round's runs: a bare run before each client's and one after the last, so that every client run
    is measured against the bare runs right beside it. This host's speed drifts by 10-20 % within a
    minute; a ratio to one bare run per round took that drift in whole."""
    runs = ["bare"]
    for client in order:
        runs += [client, "bare"]
    return runs


def neighbour_ratios(rows: list[dict[str, Any]], case: str, key: str) -> list[tuple[dict[str, Any], float]]:
    """Each run of `case` with its rate over the mean of the nearest bare runs before and after it in
    the same round (one side's alone at a round's edge). A bare run is set against the bare runs beside
    it, two runs away: its ratios say how far this host's noise alone moves a ratio."""
    out = []
    seq = [r for r in rows if r["case"] == case and r.get(key)]
    for i, r in enumerate(seq):
        near = []
        for step in (-1, 1):
            j = i + step
            while 0 <= j < len(seq) and seq[j]["round"] == r["round"] and seq[j]["client"] != "bare":
                j += step
            if 0 <= j < len(seq) and seq[j]["round"] == r["round"]:
                near.append(seq[j][key])
        if near:
            out.append((r, r[key] / (sum(near) / len(near))))
    return out


def median_interval(values: list[float], level: float = 0.9, draws: int = 2000, seed: int = 14) -> tuple[float, float]:
    """A `level` bootstrap interval of the median of `values` (percentile method, a fixed seed: the same
    rows give the same interval). Where it straddles a goal, the runs cannot tell met from missed."""
    import random
    import statistics

    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(draws))
    tail = (1 - level) / 2
    return medians[int(tail * (draws - 1))], medians[int((1 - tail) * (draws - 1))]


def verdict(lo: float | None, hi: float | None, goal: float | None) -> str:
    """OK when the whole interval is at the goal or above, MISS when all of it is below, else "noise"."""
    if goal is None or lo is None or hi is None:
        return ""
    return "OK" if lo >= goal else "MISS" if hi < goal else "noise"


def summarise(rows: list[dict[str, Any]], clients: list[str], cases: list[str]) -> list[dict[str, Any]]:
    import statistics

    out = []
    for case in cases:
        key = "decode_tps" if case == "decode" else "prompt_tps"
        bare = [r[key] for r in rows if r["case"] == case and r["client"] == "bare" and r.get(key)]
        near = neighbour_ratios(rows, case, key)
        for client in clients:
            mine = [r for r in rows if r["case"] == case and r["client"] == client and r.get(key)]
            if not mine:
                continue
            rates = [r[key] for r in mine]
            ratios = [ratio for r, ratio in near if r["client"] == client]
            run_cpu = [r["run_cpu_s"] for r in mine if "run_cpu_s" in r]
            lo, hi = median_interval(ratios) if ratios else (None, None)
            out.append({
                "case": case, "client": client, "runs": len(mine), "rate_mean": statistics.fmean(rates),
                "rate_sd": statistics.stdev(rates) if len(rates) > 1 else 0.0,
                "ratio_mean": statistics.fmean(ratios) if ratios else None,
                "ratio_median": statistics.median(ratios) if ratios else None,
                "ratio_min": min(ratios) if ratios else None,
                "ratio_lo": lo, "ratio_hi": hi,  # the median's 90 % interval (median_interval)
                # Sturdier on a busy machine: one slow bare run spoils a round's ratio, not a median.
                "ratio_of_medians": statistics.median(rates) / statistics.median(bare) if bare else None,
                "cpu_s": statistics.fmean(r["cpu_s"] for r in mine),
                "run_cpu_s": statistics.fmean(run_cpu) if run_cpu else None,
                "tokens": statistics.fmean(r["tokens"] or 0 for r in mine),
                "prompt_n": statistics.fmean(r["prompt_n"] or 0 for r in mine),
            })  # fmt: skip
    return out


GOALS = {"bench": 0.99, "tui120": 0.98, "tui80": 0.98}


def goal_of(client: str) -> float | None:
    return GOALS.get(client.partition("@")[0].partition(":")[0])


def print_table(summary: list[dict[str, Any]]) -> None:
    print(f"\n{'case':<8} {'client':<13} {'runs':>4} {'server tok/s':>13} {'± sd':>6} {'ratio mean':>10} "
          f"{'median':>7} {'90 % interval':>13} {'min':>6} {'med/med':>7} {'cpu s/run':>9} {'in-run cpu':>10} "
          f"{'goal':>5}")  # fmt: skip
    for s in summary:
        ratio = (
            ""
            if s["ratio_mean"] is None
            else f"{s['ratio_mean']:10.3f} {s['ratio_median']:7.3f} {s['ratio_lo']:6.3f}–{s['ratio_hi']:6.3f} "
            f"{s['ratio_min']:6.3f}"
        )
        ratio += "" if s["ratio_of_medians"] is None else f" {s['ratio_of_medians']:7.3f}"
        goal = goal_of(s["client"]) if s["case"] == "decode" else None
        run_cpu = "" if s["run_cpu_s"] is None else f"{s['run_cpu_s']:.2f}"
        print(f"{s['case']:<8} {s['client']:<13} {s['runs']:>4} {s['rate_mean']:13.1f} {s['rate_sd']:6.1f} "
              f"{ratio:>47} {s['cpu_s']:9.2f} {run_cpu:>10} "
              f"{verdict(s['ratio_lo'], s['ratio_hi'], goal):>5}")  # fmt: skip
    print(
        "goal: OK when the median's 90 % interval is at the goal or above, MISS when below it, "
        "noise when it straddles the goal (more rounds, or a quieter machine, can tell)"
    )


def pooled_rows(paths: list[str]) -> list[dict[str, Any]]:
    """The rows of earlier `--json` outputs, each file's rounds kept apart (a run's neighbours are looked
    for in its own round of its own file)."""
    rows = []
    for i, path in enumerate(paths):
        with open(path, encoding="utf-8") as f:
            for r in json.load(f)["rows"]:
                rows.append(r | {"round": f"{i}:{r['round']}"})
    return rows


def main() -> int:
    import asyncio
    import tempfile
    import uuid
    from pathlib import Path

    from backends.servers.llamaserver import ManagedServer, ServerConfig, find_server_binary
    from backends.servers.tinymodel import resolve_model_path
    from benchmarks.tui_common import bench_env, load_note

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--model", default="medium", help="built-in model: tiny, small, medium, large")
    ap.add_argument("--max-tokens", type=int, default=384, help="decode-heavy case (the demo's 384)")
    ap.add_argument("--prefill-repeat", type=int, default=10, help="copies of the paragraph in the long prompt")
    ap.add_argument("--cases", default="decode,prefill")
    ap.add_argument("--clients", default=",".join(CLIENTS))
    ap.add_argument("--threads", type=int, default=None, help="llama-server -t (default: its own)")
    ap.add_argument("--json", action="store_true", help="print the rows and the summary as JSON")
    ap.add_argument("--pool", nargs="+", metavar="JSON", help="no runs: summarise the rows of earlier --json outputs")
    a = ap.parse_args()
    cases = a.cases.split(",")
    clients = a.clients.split(",")
    if "bare" not in clients:
        clients.insert(0, "bare")
    if a.pool:
        pooled = pooled_rows(a.pool)
        named = ["bare", *[c for c in dict.fromkeys(r["client"] for r in pooled) if c != "bare"]]
        summary = summarise(pooled, named, [c for c in cases if any(r["case"] == c for r in pooled)])
        if a.json:
            print(json.dumps({"pooled": a.pool, "summary": summary}, indent=1))
        else:
            print_table(summary)
        return 0
    config = ServerConfig(model_path=resolve_model_path(f"builtin:{a.model}"), context_length=4096, ngl="0",
                          threads=a.threads)  # fmt: skip
    server = ManagedServer(config, find_server_binary())
    rows: list[dict[str, Any]] = []
    note0 = load_note()
    with tempfile.TemporaryDirectory(prefix="observer-") as folder:
        env = bench_env(Path(folder))
        try:
            asyncio.run(server.start())
            print(f"llama-server {server.url} ({a.model}), {a.rounds} rounds × {len(clients)} clients × "
                  f"{len(cases)} cases; GPTOSS_TOP_NICE={os.environ.get('GPTOSS_TOP_NICE', 'unset')}; {note0}",
                  file=sys.stderr, flush=True)  # fmt: skip
            for case in cases:  # warm-up: first-use allocations, page cache, .pyc files
                p = case_prompt(case, "warm", a.prefill_repeat)
                run_client("bare", case, p, a.max_tokens if case == "decode" else 16, server.url, folder, env)
            others = [c for c in clients if c != "bare"]
            for rnd in range(a.rounds):
                for case in cases:
                    max_tokens = a.max_tokens if case == "decode" else 16
                    turn = rnd % len(others) if others else 0
                    for client in bracketed(others[turn:] + others[:turn]):
                        prompt = case_prompt(case, uuid.uuid4().hex[:8], a.prefill_repeat)
                        r = run_client(client, case, prompt, max_tokens, server.url, folder, env)
                        rows.append({"round": rnd, "case": case, "client": client, **r})
                        rate = r["decode_tps"] if case == "decode" else r["prompt_tps"]
                        print(f"round {rnd + 1} {case:<7} {client:<13} {rate:8.1f} tok/s  "
                              f"({r['tokens']} tokens, prompt {r['prompt_n']}), client CPU {r['cpu_s']:.2f} s",
                              file=sys.stderr, flush=True)  # fmt: skip
        finally:
            server.stop()
    summary = summarise(rows, clients, cases)
    note1 = load_note()
    if a.json:
        print(json.dumps({"before": note0, "after": note1, "rows": rows, "summary": summary}, indent=1))
    else:
        print(f"before: {note0}\nafter:  {note1}")
        print_table(summary)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--bare-child":
        sys.exit(bare_child(sys.argv[2], sys.argv[3]))
    sys.exit(main())
