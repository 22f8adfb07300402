"""`gptoss-top`: the TUI by default; the subcommands live in `tui.commands`, one module each.

Exit status: 0 ok; 1 a run failed; 2 bad usage or bad input (the message names the file and line).
Textual is imported only when the TUI opens, and each command imports what it needs when it runs, so
the headless commands and `--help` start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tui.commands.common import EXIT_USAGE, UsageError, add_adhoc, adhoc_patterns, open_tui, positive_int

# The order of `gptoss-top --help`. Each module has `register(subparsers)` and `run(args) -> int`.
COMMANDS = ("bench", "tune", "fit", "probe", "agent", "demo", "init", "results")


def nice_value(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if not 0 <= n <= 19:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 19, got {text!r}")
    return n


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="gptoss-top",
        description="A top for local LLM inference: live tok/s, TTFT, GPU/VRAM and memory pressure.",
    )
    ap.add_argument("--config", "-c", metavar="FILE", help="pattern file to open in the TUI")
    ap.add_argument("--interval", type=float, default=1.0, help="hardware sampling interval, seconds (default 1)")
    ap.add_argument("--repeat", type=positive_int, help="runs per pattern in a sweep")
    ap.add_argument(
        "--nice",
        type=nice_value,
        metavar="N",
        help="while runs go to a server on this machine, run gptoss-top N steps below it in CPU priority "
        "(default 10, or $GPTOSS_TOP_NICE; 0 keeps the priority). Before the command: gptoss-top --nice 0 bench",
    )
    add_adhoc(ap)
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"tui.commands.{name}").register(sub)
    return ap


def main(argv: Sequence[str] | None = None, *, own_process: bool = False) -> int:
    """`own_process`: this process is gptoss-top's alone (the console script, `python -m tui`), so
    it may lower its own CPU priority during runs (--nice); a caller such as a test suite keeps its."""
    from backends.runs.patterns import PatternError, load_patterns

    args = build_parser().parse_args(argv)  # the parser (every command's options) is not kept for the app's life
    if own_process and args.command in (None, "bench", "demo", "tune"):
        from backends.servers import priority

        priority.configure(priority.nice_from_env() if args.nice is None else args.nice)
    try:
        if args.command:
            return int(importlib.import_module(f"tui.commands.{args.command}").run(args))
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
