"""How close the fit estimate comes to what llama-server allocates, and to the gpt-oss log figures.

Part 1 starts the real llama-server (`-lv 4`, so it prints its buffer lines) on generated models —
the built-in shapes and a gpt-oss-shaped MoE model with sliding-window layers — at contexts from 512
to 16384, and compares the estimate's model, KV and compute bytes with the logged buffers. Goals:
model and KV within 0.5 %, compute within 10 %. Part 2 compares the gpt-oss cards with the figures of
real published logs (ROCm model buffers of gpt-oss-20b, the file sizes, the compute buffers of a CUDA
and a Metal log). Prints a markdown table per part and exits 1 when a goal is missed.

    .venv/bin/python -m benchmarks.fit_accuracy [--shapes tiny small medium large moe] [--ctx 512 4096 16384]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from backends.runs.fit.cards import card
from backends.runs.fit.estimate import Placement, breakdown, kv_bytes
from backends.runs.fit.model import ModelDesc, read_gguf
from backends.servers.llamaserver import find_server_binary, free_port
from backends.servers.llamaserver_log import ServerMemory, read_log
from backends.servers.tinymodel import SHAPES, builtin_model
from backends.servers.tinymoe import MoeShape, write_moe_model

MIB = 1 << 20
CONTEXTS = (512, 1024, 2048, 4096, 8192, 16384)
MOE_SHAPES = {"moe": MoeShape(), "moe-wide": MoeShape(embd=256, ff=256, experts=16, experts_used=4, layers=6)}
# Real log figures (MiB) of gpt-oss (see the module docstring): what, model, value, tolerance.
GPT_OSS_LOGS = (
    ("gpt-oss-20b ROCm0 model buffer, -ngl 99", "gpt-oss-20b", "model_gpu", 10949.38, 0.005),
    ("gpt-oss-20b CPU_Mapped model buffer, -ngl 99", "gpt-oss-20b", "model_host", 586.82, 0.005),
    ("gpt-oss-20b file size 11.27 GiB", "gpt-oss-20b", "file", 11.27 * 1024, 0.005),
    # GPU compute: the CPU-fitted terms times GPU_COMPUTE_FACTOR (backends/runs/fit/estimate.py),
    # calibrated on these two logs: held to the 10 % of the generated models' compute goal.
    ("gpt-oss-20b CUDA0 compute, 131072 ctx, -ub 512", "gpt-oss-20b", "compute", 456.98, 0.10),
    ("gpt-oss-20b MTL0 compute, 131072 ctx, -ub 512", "gpt-oss-20b", "compute", 420.08, 0.10),
)
ROUNDING = 2 * 0.005 * MIB + 1  # two decimals of MiB, at most two lines a kind (an iSWA model has two KV caches)


def measure(binary: str, model: Path, ctx: int, folder: Path) -> ServerMemory | None:
    """Start llama-server at -lv 4 until it listens, stop it by PID, read its buffer lines."""
    log = folder / f"{model.stem}-{ctx}.log"
    argv = [binary, "-m", str(model), "--host", "127.0.0.1", "--port", str(free_port()), "-c", str(ctx),
            "-np", "1", "-t", "1", "-lv", "4", "--no-warmup"]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{argv[6]}/health"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if httpx.get(url, timeout=1.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
        finally:
            proc.terminate()
            proc.wait(10)
    return read_log(str(log))


def pct(pred: float, real: float) -> float:
    return 100.0 * (pred - real) / real if real else 0.0


def models(names: list[str], folder: Path) -> list[tuple[str, Path]]:
    out = []
    for n in names:
        if n in SHAPES:
            out.append((n, builtin_model(n)))
        elif n in MOE_SHAPES:
            out.append((n, write_moe_model(folder / f"{n}.gguf", MOE_SHAPES[n])))
    return out


def server_part(names: list[str], contexts: list[int], folder: Path) -> bool:
    binary = find_server_binary()
    print("| model | ctx | model MiB (log / est, %) | KV MiB (log / est, %) | compute MiB (log / est, %) |")
    print("|---|---:|---|---|---|")
    ok = True
    for name, path in models(names, folder):
        desc = read_gguf(path)
        for ctx in contexts:
            mem = measure(binary, path, ctx, folder)
            if mem is None:
                print(f"| {name} | {ctx} | no buffer lines in the log | | |")
                ok = False
                continue
            b = breakdown(desc, ctx, Placement(0, 0), has_gpu=False)
            cells = []
            for kind, est, tol in (
                ("model", b.model_host, 0.5),
                ("KV", b.kv_host, 0.5),
                ("compute", b.compute_host, 10),
            ):
                real = mem.total(kind, True)
                d = pct(est, real)
                ok &= abs(d) <= tol or abs(est - real) <= ROUNDING
                cells.append(f"{real / MIB:.2f} / {est / MIB:.2f} ({d:+.2f}%)")
            print(f"| {name} | {ctx} | " + " | ".join(cells) + " |")
    return ok


def card_figure(desc: ModelDesc, what: str) -> float:
    full = breakdown(desc, 131_072, Placement(desc.n_layer + 1, 0), has_gpu=True)
    return {
        "model_gpu": full.model_gpu / MIB,
        "model_host": full.model_host / MIB,
        "file": desc.weights_bytes / MIB,
        "compute": full.compute_gpu / MIB,
        "kv": kv_bytes(desc, 131_072) / MIB,
    }[what]


def card_part() -> bool:
    print("\n| figure (real log) | log MiB | card MiB | diff | goal |")
    print("|---|---:|---:|---:|---:|")
    ok = True
    for label, model, what, real, tol in GPT_OSS_LOGS:
        est = card_figure(card(model), what)
        d = pct(est, real)
        ok &= tol is None or abs(d) <= tol * 100
        goal = "none" if tol is None else f"±{tol * 100:g}%"
        print(f"| {label} | {real:.2f} | {est:.2f} | {d:+.2f}% | {goal} |")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", nargs="+", default=[*SHAPES, *MOE_SHAPES])
    ap.add_argument("--ctx", nargs="+", type=int, default=list(CONTEXTS))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fit-accuracy-") as tmp:
        ok = server_part(a.shapes, a.ctx, Path(tmp))
    ok &= card_part()
    print("\nall goals met" if ok else "\nSOME GOALS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
