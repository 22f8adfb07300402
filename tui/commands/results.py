"""`gptoss-top results`: show or export the stored results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from backends.runs.record import FORMATS
from tui.commands.common import EXIT_OK, positive_int


def register(sub: Any) -> None:
    r = sub.add_parser("results", help="show or export the stored results")
    r.add_argument("--format", "-f", choices=FORMATS, default="table")
    r.add_argument("--out", "-o", metavar="PATH")
    r.add_argument("--pattern", "-p", action="append", default=[], metavar="NAME")
    r.add_argument("--last", type=positive_int, metavar="N", help="only the last N runs")


def run(args: argparse.Namespace) -> int:
    from backends.runs.results import ResultsStore, load_records, render

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
