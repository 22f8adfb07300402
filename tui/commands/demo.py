"""`gptoss-top demo`: the embedded demo, a generated model on a real llama-server."""

from __future__ import annotations

import argparse
from typing import Any

from backends.runs.formats import FORMATS
from tui.commands.bench import run_patterns
from tui.commands.common import open_tui, positive_int, shipped_config


def register(sub: Any) -> None:
    d = sub.add_parser("demo", help="the embedded demo: a generated model on a real llama-server")
    d.add_argument("--bench", action="store_true", help="run the demo patterns headless and print the table")
    d.add_argument("--repeat", type=positive_int)
    d.add_argument("--format", "-f", choices=FORMATS, default="table")
    d.add_argument("--interval", type=float, default=1.0)


def run(args: argparse.Namespace) -> int:
    from backends.runs.patterns import load_patterns

    path = shipped_config("demo.toml")
    patterns = load_patterns(path).patterns
    if args.bench:
        ns = argparse.Namespace(no_save=False, repeat=args.repeat, format=args.format, out=None, interval=args.interval)
        return run_patterns(ns, patterns)
    return open_tui(str(path), args, patterns)
