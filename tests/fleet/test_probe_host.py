"""`gptoss-top probe --host SOURCE [--json]`: one reading of one source, or what went wrong."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import psutil

from backends.servers.llamaserver import free_port
from tests.fleet.conftest import Agent, NodeExporter
from tui.cli import main


def test_probe_host_json_from_an_agent(agents: Callable[..., Agent], capsys: Any) -> None:
    agent = agents()
    assert main(["probe", "--host", agent.source, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["source"], d["kind"], d["ok"], d["error"]) == (agent.source, "agent", True, None)
    assert d["snapshot"]["host"]["mem_total_bytes"] == psutil.virtual_memory().total


def test_probe_host_text_from_node_exporter(node_exporter: NodeExporter, capsys: Any) -> None:
    assert main(["probe", "--host", f"node-exporter+{node_exporter.url}"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"gptoss-top probe — node-exporter+{node_exporter.url}")
    assert "Host memory" in out and "PSI memory some avg10" in out  # two scrapes: a PSI rate
    assert "Backends on 127.0.0.1" not in out


def test_probe_host_unreachable_and_bad(capsys: Any) -> None:
    src = f"agent+http://127.0.0.1:{free_port()}"
    assert main(["probe", "--host", src]) == 1
    assert capsys.readouterr().err == f"gptoss-top: {src}: connection refused (is it running?)\n"
    assert main(["probe", "--host", "agent+ftp://x"]) == 2
    assert "agent+http://HOST:PORT" in capsys.readouterr().err
