"""`gptoss-top probe`: GPUs, memory and pressure, and which backends answer."""

from __future__ import annotations

import argparse
from typing import Any

from tui.commands.common import EXIT_OK


def register(sub: Any) -> None:
    pr = sub.add_parser("probe", help="GPUs, memory and pressure, and which backends answer")
    pr.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    import json

    from backends.probes.report import collect, render_text

    data = collect()
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print(render_text(data))
    return EXIT_OK
