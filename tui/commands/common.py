"""What every subcommand shares: exit codes, the usage error, typed flags, the ad-hoc pattern flags."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from backends.base import BACKEND_KINDS, REASONING_EFFORTS

if TYPE_CHECKING:
    from backends.runs.patterns import Pattern, PatternFile

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE = 0, 1, 2
T = TypeVar("T")


class UsageError(Exception):
    """Bad input: printed as `gptoss-top: <message>` with exit status 2."""


def parse_arg(value: str, cast: Callable[[str], T], expected: str) -> T:
    try:
        return cast(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, not {value!r}") from None


def gpu_layers_arg(value: str) -> int | str:
    if value in ("max", "off"):
        return value
    n = parse_arg(value, int, "an integer, 'max' or 'off'")
    if n < 0:
        raise argparse.ArgumentTypeError("cannot be negative; use 0 or 'off' for CPU only")
    return n


def positive_int(value: str) -> int:
    n = parse_arg(value, int, "a whole number")
    if n < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return n


def temperature_arg(value: str) -> float:
    t = parse_arg(value, float, "a number such as 0.7")
    if t < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return t


def n_cpu_moe_arg(value: str) -> int | str:
    if value == "all":
        return value
    n = parse_arg(value, int, "an integer or 'all'")
    if n < 0:
        raise argparse.ArgumentTypeError("cannot be negative; use 0 to keep every expert on the GPU")
    return n


def add_adhoc(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("an ad-hoc pattern instead of a file")
    g.add_argument("--backend", choices=BACKEND_KINDS)
    g.add_argument("--url", help="server URL (default: the backend's usual local port)")
    g.add_argument("--model", help="model name as the server knows it")
    g.add_argument("--model-path", help="llama.cpp: a GGUF file (or builtin:tiny) to run a managed llama-server")
    g.add_argument("--ctx", type=positive_int, metavar="N", help="context length")
    g.add_argument("--gpu-layers", type=gpu_layers_arg, metavar="N", help="layers on the GPU: N, max or off")
    g.add_argument("--prompt", help="the prompt text")
    g.add_argument("--max-tokens", type=positive_int, metavar="N")
    g.add_argument("--reasoning-effort", choices=REASONING_EFFORTS)
    g.add_argument("--temperature", type=temperature_arg, metavar="T", help="sampling temperature (0 = greedy)")
    g.add_argument("--seed", type=int, metavar="N", help="sampling seed, for runs that repeat exactly")
    g.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key")
    g.add_argument(
        "--n-cpu-moe",
        type=n_cpu_moe_arg,
        metavar="N",
        help="keep the expert weights of the first N blocks in host memory (all: every block)",
    )


def adhoc_patterns(args: argparse.Namespace) -> PatternFile | None:
    """A one-pattern file from --backend/--url/--model ..., or None when none of them was given."""
    from backends.runs.patterns import parse_patterns

    keys = {
        "backend": args.backend, "url": args.url, "model": args.model, "model_path": args.model_path,
        "context_length": args.ctx, "gpu_layers": args.gpu_layers, "prompt": args.prompt,
        "max_tokens": args.max_tokens, "reasoning_effort": args.reasoning_effort, "api_key_env": args.api_key_env,
        "temperature": args.temperature, "seed": args.seed, "n_cpu_moe": getattr(args, "n_cpu_moe", None),
    }  # fmt: skip
    given = {k: v for k, v in keys.items() if v is not None}
    if not given:
        return None
    if "backend" not in given:
        raise UsageError("an ad-hoc pattern needs --backend (lmstudio, ollama, llamacpp or openai)")
    given["name"] = "ad-hoc"
    return parse_patterns({"patterns": [given]}, "command line")


def patterns_for(file: str | None, args: argparse.Namespace, names: Sequence[str] = ()) -> list[Pattern]:
    from backends.runs.patterns import load_patterns

    adhoc = adhoc_patterns(args)
    if file and adhoc:
        raise UsageError("give a pattern file or ad-hoc flags (--backend ...), not both")
    pf = adhoc or (load_patterns(file) if file else None)
    if pf is None:
        raise UsageError("nothing to run: give a pattern file (see `gptoss-top init`) or --backend/--model flags")
    return pf.select(list(names)) if names else pf.patterns


def shipped_config(name: str) -> Path:
    """A config shipped with gptoss-top (configs/ in a checkout, tui/configs in an installed wheel)."""
    here = Path(__file__).resolve().parent.parent
    for cand in (here / "configs" / name, here.parent / "configs" / name):
        if cand.is_file():
            return cand
    raise UsageError(f"shipped config {name} is missing from this installation")


def open_tui(config: str | None, args: argparse.Namespace, patterns: list[Pattern] | None = None) -> int:
    try:
        from tui.app import run_app
    except ImportError as e:  # the TUI lands in its own piece of work
        raise UsageError(f"the TUI is not available in this installation ({e}); use `gptoss-top bench`") from None
    return int(run_app(config=config, patterns=patterns, interval=args.interval, repeat=args.repeat) or 0)
