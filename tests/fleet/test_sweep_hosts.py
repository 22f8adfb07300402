"""Two agents on two loopback ports as two hosts of one sweep, against the real llama-server: each
record carries its host, its telemetry source and that host's peaks; a host that is down before the
sweep or dies in the middle of it loses no run, and the record says which telemetry was missing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from backends.probes.remote import HostSamplers, RemoteSampler, parse_source
from backends.runs.patterns import parse_patterns
from backends.runs.results import ResultsStore
from backends.runs.session import BackendPool, RunContext, RunFinished
from backends.runs.sweep import run_sweep
from backends.servers.llamaserver import free_port
from tests.conftest import RunningServer
from tests.fleet.conftest import Agent


def two_host_file(url: str, left: str, right: str, down: str) -> Any:
    common = {"backend": "llamacpp", "url": url, "model": "gptoss-top-tiny", "prompt": "Count the waves.",
              "max_tokens": 24, "seed": 7, "gpu_layers": "off", "context_length": 4096}  # fmt: skip
    return parse_patterns({
        "defaults": common,
        "hosts": {"left": {"telemetry": left}, "right": {"telemetry": right}, "down": {"telemetry": down},
                  "here": {"telemetry": "local"}},
        "patterns": [{"name": "L1", "host": "left"}, {"name": "R1", "host": "right"}, {"name": "D1", "host": "down"},
                     {"name": "H1", "host": "here"}, {"name": "N1"},
                     # Longer than the samplers' interval, so a read of the dead agent falls inside it.
                     {"name": "L2", "host": "left", "max_tokens": 1500}],
    }, "two-hosts.toml")  # fmt: skip


async def test_one_sweep_over_two_agents(
    agents: Callable[..., Agent], llama_server: RunningServer, tmp_path: Any
) -> None:
    left, right = agents(), agents()
    down = f"agent+http://127.0.0.1:{free_port()}"
    pf = two_host_file(llama_server.url, left.source, right.source, down)
    local = RemoteSampler(parse_source(right.source), interval_s=0.3)  # this machine, read through an agent
    hosts = HostSamplers(local, {h.name: h.telemetry for h in pf.hosts.values()}, interval_s=0.3)
    store = ResultsStore(tmp_path / "results.jsonl")

    def report(ev: object) -> None:
        # The left agent dies after the first run on it: the second run on it must still be saved.
        if isinstance(ev, RunFinished) and ev.pattern.name == "L1":
            left.proc.kill()
            left.proc.wait(10)

    await hosts.start()
    try:
        t = time.monotonic()
        while not (_r(hosts, "left").history and _r(hosts, "right").history):
            assert time.monotonic() - t < 15, "agents gave no reading"
            await asyncio.sleep(0.1)
        pool = BackendPool()
        try:
            records = await run_sweep(pf.patterns, pool=pool, store=store, ctx=RunContext(sampler=hosts, report=report))
        finally:
            await pool.aclose()
    finally:
        await hosts.stop()

    by = {r.pattern: r for r in records}
    assert list(by) == ["L1", "R1", "D1", "H1", "N1", "L2"] and all(r.ok for r in records), records
    assert [r.pattern for r in store.load()] == list(by)  # no run lost
    assert (by["L1"].host, by["L1"].telemetry_source) == ("left", left.source)
    assert (by["R1"].host, by["R1"].telemetry_source) == ("right", right.source)
    assert (by["H1"].host, by["H1"].telemetry_source) == ("here", "local")
    assert (by["N1"].host, by["N1"].telemetry_source) == (None, "local")
    # The agents run on this machine: their figures are real, whichever host they stand for.
    assert by["L1"].peak_ram_used_bytes and by["R1"].peak_ram_used_bytes
    assert not [w for w in by["L1"].warnings if "telemetry" in w]
    # Down from the start: null peaks and a warning that says why.
    assert by["D1"].peak_ram_used_bytes is None and by["D1"].memory_pressure_peak is None
    assert any(w.startswith(f"no telemetry from {down} during the run") and "connection refused" in w
               for w in by["D1"].warnings), by["D1"].warnings  # fmt: skip
    # Died in the middle: its later run is kept, and says the telemetry was missing.
    assert any(left.source in w and "telemetry" in w for w in by["L2"].warnings), by["L2"].warnings


def test_bench_reads_each_pattern_on_its_host(
    agents: Callable[..., Agent], llama_server: RunningServer, tmp_path: Any, capsys: Any
) -> None:
    import json

    from tui.cli import main

    mini = agents()
    f = tmp_path / "two.toml"
    f.write_text(f'[defaults]\nbackend = "llamacpp"\nurl = "{llama_server.url}"\nmodel = "gptoss-top-tiny"\n'
                 'prompt = "Count the waves."\nmax_tokens = 24\nseed = 7\ngpu_layers = "off"\n\n'
                 '[hosts.main]\ntelemetry = "local"\n\n'
                 f'[hosts.mini]\ntelemetry = "{mini.source}"\n\n'
                 '[[patterns]]\nname = "A"\nhost = "main"\n\n[[patterns]]\nname = "C"\nhost = "mini"\n')  # fmt: skip
    assert main(["bench", str(f), "--format", "json", "--no-save", "--interval", "0.3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["pattern"], r["host"], r["telemetry_source"]) for r in out] == [
        ("A", "main", "local"),
        ("C", "mini", mini.source),
    ]
    assert all(r["peak_ram_used_bytes"] for r in out)


def test_the_table_says_whose_memory_each_row_is() -> None:
    from backends.runs.record import RunRecord
    from backends.runs.results import to_markdown

    def rec(name: str, layers: int, host: str | None, tps: float, ram: int) -> RunRecord:
        return RunRecord(pattern=name, backend="lmstudio", url="u", model="m", context_length=4096,
                         gpu_layers=layers, repeat=1, started_at="t", ok=True, decode_tps=tps,
                         peak_ram_used_bytes=ram, host=host)  # fmt: skip

    gib = 1 << 30
    table = to_markdown([rec("A", 24, "main", 122.34, 40 * gib), rec("C", 20, "mini", 17.52, 15 * gib)])
    lines = table.splitlines()
    assert lines[0].endswith("| pressure | host | peak RAM |")
    assert lines[2].startswith("| A |") and lines[2].endswith("| main | 40.0 GiB |")
    assert lines[3].startswith("| C |") and lines[3].endswith("| mini | 15.0 GiB |")
    plain = to_markdown([rec("A", 24, None, 122.34, 40 * gib)])
    assert plain.splitlines()[0] == "| pattern | settings | tok/s | TTFT (s) | runs | peak VRAM | pressure |"


def _r(hosts: HostSamplers, name: str) -> RemoteSampler:
    r = hosts.remote(name)
    assert r is not None, name
    return r
