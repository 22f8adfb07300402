"""`gptoss-top fit`: will each pattern fit in this machine's memory, and where do its bytes go.

Exit status 0 when it answered (not fitting is an answer); 2 for bad input: a bad pattern file, or a
model nothing could describe (a damaged GGUF, an architecture with no card): the message names the
file and what is missing.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from tui.commands.common import EXIT_OK, EXIT_USAGE, add_adhoc, parse_arg, patterns_for

if TYPE_CHECKING:
    from backends.runs.fit import FitEstimate

GIB = 1 << 30
CONTRACT_KEYS = (
    "pattern", "model", "source", "context_length", "gpu_layers", "n_cpu_moe", "model_gpu_bytes",
    "model_host_bytes", "kv_gpu_bytes", "kv_host_bytes", "compute_gpu_bytes", "compute_host_bytes", "gpu_bytes",
    "host_bytes", "budget_gpu_bytes", "budget_host_bytes", "verdict", "max_gpu_layers", "min_n_cpu_moe", "notes",
)  # fmt: skip


def gib_arg(value: str) -> float:
    n = parse_arg(value, float, "a size in GiB such as 16 or 10.5")
    if n < 0:
        raise argparse.ArgumentTypeError("cannot be negative")
    return n


def register(sub: Any) -> None:
    f = sub.add_parser("fit", help="will each pattern fit: weights, KV cache and compute on the GPU and host")
    f.add_argument("file", nargs="?", help="pattern file")
    f.add_argument("--pattern", "-p", action="append", default=[], metavar="NAME", help="only these (repeatable)")
    f.add_argument("--json", action="store_true", help="a JSON list, one object per pattern")
    f.add_argument(
        "--vram", type=gib_arg, metavar="GIB", help="plan for this much free GPU memory instead of the probes'"
    )
    f.add_argument("--ram", type=gib_arg, metavar="GIB", help="plan for this much available RAM instead of the probes'")
    f.add_argument("--own", action="store_true", help="only gptoss-top's estimate: do not run llama-fit-params or lms")
    add_adhoc(f)


def snapshot() -> Any | None:
    """One sample of this machine's probes; None when none can run."""
    try:
        from backends.probes import Sampler, detect_probes

        return Sampler(probes=detect_probes()).sample_now()
    except Exception:  # a broken probe library must not stop the answer: the verdict becomes unknown
        return None


def budget_for(args: argparse.Namespace) -> Any:
    """The probes' budget, or the machine described by --vram/--ram (less llama.cpp's margin)."""
    from dataclasses import replace

    from backends.runs.fit import Budget, budget_from_snapshot

    b = budget_from_snapshot(snapshot()) if args.vram is None or args.ram is None else Budget(None, None)
    if args.vram is not None:
        usable = max(int(args.vram * GIB) - b.margin_bytes, 0)
        b = replace(b, gpu_bytes=usable, no_gpu=False, gpu_source=f"--vram {args.vram:g} GiB")
    if args.ram is not None:
        b = replace(b, host_bytes=int(args.ram * GIB))
    return b


def estimate_all(args: argparse.Namespace, patterns: list[Any]) -> list[FitEstimate]:
    from backends.probes.remote.registry import remote_command
    from backends.runs.fit import Budget, FitInputError, describe, estimate
    from backends.runs.fit.api import unknown
    from backends.runs.fit.ask import ask_servers
    from tui.commands.bench import file_hosts

    budget = budget_for(args)
    planned = args.vram is not None or args.ram is not None
    hosts = file_hosts(args)
    out = []
    for p in patterns:
        try:
            desc = describe(p)
        except FitInputError as e:
            out.append(unknown(p, str(e)))
            continue
        # Another machine: this one's memory says nothing about it, unless --vram/--ram describe it.
        here = budget if not p.host or planned else Budget(None, None)
        est = estimate(p, desc=desc, budget=here)
        if here is not budget:
            est = est.with_notes(f"runs on host {p.host!r}: give --vram/--ram for that machine's memory")
        remote = remote_command(hosts.get(p.host)) if p.host else ()
        out.append(est if args.own else ask_servers(est, p, desc, here, remote))
    return out


def _gib(n: int | None) -> str:
    return "?" if n is None else f"{n / GIB:.2f}"


def _pair(gpu: int | None, host: int | None) -> str:
    return f"{_gib(gpu)} / {_gib(host)}"


def render_table(ests: list[FitEstimate]) -> str:
    head = ("pattern", "source", "ctx", "weights GiB", "KV GiB", "compute GiB", "GPU need/budget",
            "host need/budget", "verdict", "max gpu", "min moe")  # fmt: skip
    rows = [head]
    for e in ests:
        rows.append((
            e.pattern, e.source or "?", str(e.context_length or "?"), _pair(e.model_gpu_bytes, e.model_host_bytes),
            _pair(e.kv_gpu_bytes, e.kv_host_bytes), _pair(e.compute_gpu_bytes, e.compute_host_bytes),
            _pair(e.gpu_bytes, e.budget_gpu_bytes), _pair(e.host_bytes, e.budget_host_bytes), e.verdict,
            "?" if e.max_gpu_layers is None else str(e.max_gpu_layers),
            "?" if e.min_n_cpu_moe is None else str(e.min_n_cpu_moe),
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("(GPU / host in each pair; budgets: free GPU memory less llama.cpp's margin, available RAM)")
    for e in ests:
        for n in e.notes:
            lines.append(f"{e.pattern}: {n}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    patterns = patterns_for(args.file, args, args.pattern)
    ests = estimate_all(args, patterns)
    if args.json:
        import json

        print(json.dumps([{k: e.to_json()[k] for k in CONTRACT_KEYS} | e.to_json() for e in ests], indent=2))
    else:
        sys.stdout.write(render_table(ests))
    bad = [e for e in ests if e.source is None]
    for e in bad:
        print(f"gptoss-top: {e.notes[0] if e.notes else 'the model could not be described'}", file=sys.stderr)
    return EXIT_USAGE if bad else EXIT_OK
