"""`gptoss-top results`: show or export the stored results, or compare them across days, versions or hosts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from backends.runs.formats import FORMATS
from tui.commands.common import EXIT_OK, UsageError, positive_int

BY = ("day", "version", "host")  # backends.runs.compare.BY, without importing it for --help


def register(sub: Any) -> None:
    r = sub.add_parser("results", help="show, export or compare the stored results")
    r.add_argument("--format", "-f", choices=FORMATS, default="table")
    r.add_argument("--out", "-o", metavar="PATH")
    r.add_argument("--pattern", "-p", action="append", default=[], metavar="NAME")
    r.add_argument("--last", type=positive_int, metavar="N", help="only the last N runs")
    r.add_argument(
        "--compare", action="store_true", help="per pattern, the change in decode tok/s between groups of runs"
    )
    r.add_argument("--by", choices=BY, default="version", help="what --compare groups by (default: version)")


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
    out = _compare(records, args) if args.compare else render(records, args.format)
    sys.stdout.write(out)
    if args.out:
        Path(args.out).write_text(out, encoding="utf-8")
    return EXIT_OK


def _compare(records: list[Any], args: argparse.Namespace) -> str:
    from backends.runs.compare import compare, render_compare

    if args.format == "csv":
        raise UsageError("--compare prints as table, markdown or json, not csv")
    changes = compare(records, by=args.by, patterns=args.pattern)
    if not changes:
        print(f"nothing to compare: each pattern's runs fall in one {args.by} group "
              f"(try --by day, --by version or --by host)", file=sys.stderr)  # fmt: skip
    return render_compare(changes, args.by, args.format)
