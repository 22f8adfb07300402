"""`gptoss-top probe`: GPUs, memory and pressure, and which backends answer; `--host SOURCE` reads
another machine through one telemetry source (agent, node_exporter, macmon, exo, ssh)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tui.commands.common import EXIT_OK, EXIT_RUN_FAILED, UsageError


def register(sub: Any) -> None:
    pr = sub.add_parser("probe", help="GPUs, memory and pressure, and which backends answer")
    pr.add_argument("--json", action="store_true")
    pr.add_argument("--host", metavar="SOURCE",
                    help="read another machine: agent+http://HOST:9464, node-exporter+http://HOST:9100, "
                    "macmon+http://HOST:9090, exo+http://HOST:52415 or ssh://USER@HOST")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import json

    if args.host:
        return _remote(args.host, args.json)
    from backends.probes.report import collect, render_text

    data = collect()
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print(render_text(data))
    return EXIT_OK


def read_host(text: str) -> dict[str, Any]:
    """One reading of a source as a JSON-ready dict: {source, kind, ok, error, snapshot}."""
    import time

    from backends.probes.remote import RemoteSampler, SourceError, parse_source
    from backends.probes.report import collect
    from backends.probes.sampler import to_dict

    try:
        src = parse_source(text)
    except SourceError as e:
        raise UsageError(str(e)) from None
    if src.is_local:
        return {"source": "local", "kind": "local", "ok": True, "error": None, "snapshot": collect()["snapshot"]}
    sampler = RemoteSampler(src)
    try:
        sampler.sample_now()
        if src.kind == "node-exporter" and sampler.freshness().error is None:
            time.sleep(1.0)  # PSI comes as counters: a rate needs a second scrape
            sampler.sample_now()
        f = sampler.freshness()
    finally:
        sampler.close()
    return {"source": src.text, "kind": src.kind, "ok": f.error is None, "error": f.error,
            "snapshot": to_dict(f.snapshot) if f.snapshot is not None else None}  # fmt: skip


def _remote(text: str, as_json: bool) -> int:
    import json

    from backends.probes.report import render_text

    d = read_host(text)
    if as_json:
        print(json.dumps(d, indent=2, default=str))
    elif d["snapshot"] is not None:
        report = render_text({"platform": {"system": d["source"], "machine": ""}, "probes": [d["kind"]],
                              "snapshot": d["snapshot"]})  # fmt: skip
        print(report.split("\nBackends on 127.0.0.1")[0].rstrip() + "\n")
    if d["error"]:
        print(f"gptoss-top: {d['error']}", file=sys.stderr)
        return EXIT_RUN_FAILED
    return EXIT_OK
