"""`gptoss-top`: the TUI by default; `bench`, `probe`, `demo`, `init` and `results` subcommands.

Exit status: 0 ok; 1 a run failed; 2 bad usage or bad input (the message names the file and line).
Textual is imported only when the TUI opens, so the headless commands start fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from backends.base import BACKEND_KINDS, REASONING_EFFORTS
from backends.record import FORMATS

if TYPE_CHECKING:
    from backends.patterns import Pattern, PatternFile

# The rest of backends is imported inside the commands: `--help` and the TUI's first frame should
# not wait for asyncio, httpx and the pattern machinery they do not use yet.

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE = 0, 1, 2
T = TypeVar("T")


class UsageError(Exception):
    """Bad input: printed as `gptoss-top: <message>` with exit status 2."""


def _parse(value: str, cast: Callable[[str], T], expected: str) -> T:
    try:
        return cast(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, not {value!r}") from None


def _gpu_layers(value: str) -> int | str:
    if value in ("max", "off"):
        return value
    n = _parse(value, int, "an integer, 'max' or 'off'")
    if n < 0:
        raise argparse.ArgumentTypeError("cannot be negative; use 0 or 'off' for CPU only")
    return n


def _positive_int(value: str) -> int:
    n = _parse(value, int, "a whole number")
    if n < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return n


def _temperature(value: str) -> float:
    t = _parse(value, float, "a number such as 0.7")
    if t < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return t


def _add_adhoc(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("an ad-hoc pattern instead of a file")
    g.add_argument("--backend", choices=BACKEND_KINDS)
    g.add_argument("--url", help="server URL (default: the backend's usual local port)")
    g.add_argument("--model", help="model name as the server knows it")
    g.add_argument("--model-path", help="llama.cpp: a GGUF file (or builtin:tiny) to run a managed llama-server")
    g.add_argument("--ctx", type=_positive_int, metavar="N", help="context length")
    g.add_argument("--gpu-layers", type=_gpu_layers, metavar="N", help="layers on the GPU: N, max or off")
    g.add_argument("--prompt", help="the prompt text")
    g.add_argument("--max-tokens", type=_positive_int, metavar="N")
    g.add_argument("--reasoning-effort", choices=REASONING_EFFORTS)
    g.add_argument("--temperature", type=_temperature, metavar="T", help="sampling temperature (0 = greedy)")
    g.add_argument("--seed", type=int, metavar="N", help="sampling seed, for runs that repeat exactly")
    g.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="gptoss-top",
        description="A top for local LLM inference: live tok/s, TTFT, GPU/VRAM and memory pressure.",
    )
    ap.add_argument("--config", "-c", metavar="FILE", help="pattern file to open in the TUI")
    ap.add_argument("--interval", type=float, default=1.0, help="hardware sampling interval, seconds (default 1)")
    ap.add_argument("--repeat", type=_positive_int, help="runs per pattern in a sweep")
    _add_adhoc(ap)
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    b = sub.add_parser("bench", help="run patterns headless; results on stdout, progress on stderr")
    b.add_argument("file", nargs="?", help="pattern file")
    b.add_argument("--pattern", "-p", action="append", default=[], metavar="NAME", help="only these (repeatable)")
    b.add_argument("--repeat", type=_positive_int, help="runs per pattern (default: the file's, else 1)")
    b.add_argument("--format", "-f", choices=FORMATS, default="table")
    b.add_argument("--out", "-o", metavar="PATH", help="also write the results here")
    b.add_argument("--no-save", action="store_true", help="do not append to the results store")
    b.add_argument("--interval", type=float, default=1.0, help="hardware sampling interval, seconds")
    _add_adhoc(b)

    pr = sub.add_parser("probe", help="GPUs, memory and pressure, and which backends answer")
    pr.add_argument("--json", action="store_true")

    d = sub.add_parser("demo", help="the embedded demo: a generated model on a real llama-server")
    d.add_argument("--bench", action="store_true", help="run the demo patterns headless and print the table")
    d.add_argument("--repeat", type=_positive_int)
    d.add_argument("--format", "-f", choices=FORMATS, default="table")
    d.add_argument("--interval", type=float, default=1.0)

    i = sub.add_parser("init", help="write an annotated pattern file")
    i.add_argument("path", nargs="?", default="gptoss-top.toml")
    i.add_argument("--force", action="store_true", help="overwrite an existing file")

    r = sub.add_parser("results", help="show or export the stored results")
    r.add_argument("--format", "-f", choices=FORMATS, default="table")
    r.add_argument("--out", "-o", metavar="PATH")
    r.add_argument("--pattern", "-p", action="append", default=[], metavar="NAME")
    r.add_argument("--last", type=_positive_int, metavar="N", help="only the last N runs")
    return ap


# --------------------------------------------------------------------------------------------------
# Patterns from the command line


def adhoc_patterns(args: argparse.Namespace) -> PatternFile | None:
    """A one-pattern file from --backend/--url/--model ..., or None when none of them was given."""
    from backends.patterns import parse_patterns

    keys = {
        "backend": args.backend, "url": args.url, "model": args.model, "model_path": args.model_path,
        "context_length": args.ctx, "gpu_layers": args.gpu_layers, "prompt": args.prompt,
        "max_tokens": args.max_tokens, "reasoning_effort": args.reasoning_effort, "api_key_env": args.api_key_env,
        "temperature": args.temperature, "seed": args.seed,
    }  # fmt: skip
    given = {k: v for k, v in keys.items() if v is not None}
    if not given:
        return None
    if "backend" not in given:
        raise UsageError("an ad-hoc pattern needs --backend (lmstudio, ollama, llamacpp or openai)")
    given["name"] = "ad-hoc"
    return parse_patterns({"patterns": [given]}, "command line")


def patterns_for(file: str | None, args: argparse.Namespace, names: Sequence[str] = ()) -> list[Pattern]:
    from backends.patterns import load_patterns

    adhoc = adhoc_patterns(args)
    if file and adhoc:
        raise UsageError("give a pattern file or ad-hoc flags (--backend ...), not both")
    pf = adhoc or (load_patterns(file) if file else None)
    if pf is None:
        raise UsageError("nothing to run: give a pattern file (see `gptoss-top init`) or --backend/--model flags")
    return pf.select(list(names)) if names else pf.patterns


def shipped_config(name: str) -> Path:
    """A config shipped with gptoss-top (configs/ in a checkout, tui/configs in an installed wheel)."""
    here = Path(__file__).resolve().parent
    for cand in (here / "configs" / name, here.parent / "configs" / name):
        if cand.is_file():
            return cand
    raise UsageError(f"shipped config {name} is missing from this installation")


# --------------------------------------------------------------------------------------------------
# Commands


def make_sampler(interval: float) -> Any:
    try:
        from backends.probes import Sampler
    except ImportError:
        return None
    return Sampler(interval_s=interval)


def cmd_bench(args: argparse.Namespace, patterns: list[Pattern]) -> int:
    import asyncio

    from backends.results import ResultsStore, render
    from backends.session import BackendPool, RunContext
    from backends.sweep import Progress, run_sweep

    store = None if args.no_save else ResultsStore()

    def progress(p: Progress) -> None:
        head = f"[{p.index}/{p.total}] {p.pattern.name} ({p.pattern.settings()})"
        if p.pattern.repeat > 1 or (args.repeat or 1) > 1:
            head += f" run {p.repeat}"
        if p.record is None:
            print(f"{head} …", file=sys.stderr, flush=True)
            return
        r = p.record
        if r.ok:
            tps = f"{r.decode_tps:.2f} tok/s ({r.stats_source})" if r.decode_tps is not None else "no tok/s"
            ttft = f", TTFT {r.ttft_s:.2f} s" if r.ttft_s is not None else ""
            print(f"{head}: {tps}{ttft}", file=sys.stderr, flush=True)
        else:
            print(f"{head}: FAILED — {r.error}", file=sys.stderr, flush=True)
        for w in r.warnings:
            print(f"  warning: {w}", file=sys.stderr, flush=True)
        if p.save_error:
            print(f"  warning: {p.save_error}", file=sys.stderr, flush=True)

    async def go() -> list[Any]:
        sampler = make_sampler(args.interval)
        pool = BackendPool()
        if sampler is not None:
            await sampler.start()
        try:
            return await run_sweep(patterns, pool=pool, store=store, repeat=args.repeat,
                                   ctx=RunContext(sampler=sampler), on_progress=progress)  # fmt: skip
        finally:
            await pool.aclose()
            if sampler is not None:
                await sampler.stop()

    records = asyncio.run(go())
    out = render(records, args.format)
    sys.stdout.write(out)
    sys.stdout.flush()
    if args.out:
        try:
            Path(args.out).write_text(out, encoding="utf-8")
        except OSError as e:
            print(f"gptoss-top: could not write {args.out}: {e.strerror or e}", file=sys.stderr)
            return EXIT_RUN_FAILED
    if store is not None and store.unsaved:
        print(f"gptoss-top: {len(store.unsaved)} of {len(records)} results were NOT saved: {store.last_error}",
              file=sys.stderr)  # fmt: skip
    elif store is not None:
        print(f"results appended to {store.path}", file=sys.stderr)
    return EXIT_OK if all(r.ok for r in records) else EXIT_RUN_FAILED


def cmd_probe(args: argparse.Namespace) -> int:
    import json

    from backends.probes.report import collect, render_text

    data = collect()
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print(render_text(data))
    return EXIT_OK


def cmd_results(args: argparse.Namespace) -> int:
    from backends.results import ResultsStore, load_records, render

    store = ResultsStore()
    records = load_records(store.path)
    if args.pattern:
        records = [r for r in records if r.pattern in args.pattern]
    if args.last:
        records = records[-args.last :]
    if not records:
        print(f"no results yet in {store.path} — run `gptoss-top bench` or a sweep first", file=sys.stderr)
        return EXIT_OK
    out = render(records, args.format)
    sys.stdout.write(out)
    if args.out:
        Path(args.out).write_text(out, encoding="utf-8")
    return EXIT_OK


INIT_TEMPLATE = """\
# gptoss-top pattern file. Each [[patterns]] table is one test pattern; [defaults] apply to all.
# Run them:  gptoss-top bench {name}      Open them in the TUI:  gptoss-top --config {name}

[defaults]
backend = "lmstudio"                 # lmstudio | ollama | llamacpp | openai
url = "http://127.0.0.1:1234"        # LM Studio's default port; Ollama 11434, llama-server 8080
model = "openai/gpt-oss-20b"         # as the server names it (Ollama: "gpt-oss:20b")
prompt = "Explain in three sentences why the sky is blue."   # or: prompt_file = "prompt.txt"
max_tokens = 2048
reasoning_effort = "medium"          # low | medium | high
# repeat = 3                         # runs per pattern in a sweep (mean ± sd in the table)
# api_key_env = "LM_API_TOKEN"       # name of the variable holding the API key (never the key itself)

[[patterns]]
name = "A"
description = "all 24 layers on the GPU"
context_length = 4096
gpu_layers = 24                      # LM Studio's slider: 24 = all of gpt-oss-20b; or "max" / "off"

[[patterns]]
name = "B"
description = "one layer on the CPU"
context_length = 4096
gpu_layers = 23
"""


def cmd_init(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.exists() and not args.force:
        raise UsageError(f"{path} already exists; use --force to overwrite it")
    try:
        path.write_text(INIT_TEMPLATE.format(name=path.name), encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    print(f"wrote {path} — edit it, then: gptoss-top bench {path}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from backends.patterns import load_patterns

    path = shipped_config("demo.toml")
    patterns = load_patterns(path).patterns
    if args.bench:
        ns = argparse.Namespace(no_save=False, repeat=args.repeat, format=args.format, out=None, interval=args.interval)
        return cmd_bench(ns, patterns)
    return open_tui(str(path), args, patterns)


def open_tui(config: str | None, args: argparse.Namespace, patterns: list[Pattern] | None = None) -> int:
    try:
        from tui.app import run_app
    except ImportError as e:  # the TUI lands in its own piece of work
        raise UsageError(f"the TUI is not available in this installation ({e}); use `gptoss-top bench`") from None
    return int(run_app(config=config, patterns=patterns, interval=args.interval, repeat=args.repeat) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    from backends.patterns import PatternError, load_patterns

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "bench":
            return cmd_bench(args, patterns_for(args.file, args, args.pattern))
        if args.command == "probe":
            return cmd_probe(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "init":
            return cmd_init(args)
        if args.command == "results":
            return cmd_results(args)
        if args.config:
            # Read here so a bad file is reported before the screen takes over; the app keeps the path
            # to reload it (ctrl+r).
            return open_tui(args.config, args, load_patterns(args.config).patterns)
        adhoc = adhoc_patterns(args)
        return open_tui(None, args, adhoc.patterns if adhoc else None)
    except PatternError as e:
        print(f"gptoss-top: bad pattern file:\n{e}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as e:
        print(f"gptoss-top: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("gptoss-top: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
