"""`gptoss-top agent` as a real process: its metrics pass promtool, /json is `probe --json`'s report,
tokens are enforced and never shown, and it refuses to be open by accident."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from backends.probes.remote import RemoteSampler, parse_source
from backends.probes.remote.prom import parse_metrics
from tests.fleet.conftest import VENV_BIN, Agent, need

NAMES = (
    "gptoss_top_memory_total_bytes",
    "gptoss_top_memory_used_bytes",
    "gptoss_top_memory_available_bytes",
    "gptoss_top_swap_used_bytes",
    "gptoss_top_memory_pressure_level",
)
TOKEN = "fleet-test-token-4b1d9e"  # a throwaway value for this test's agent only


def test_metrics_pass_promtool_and_carry_the_names(agents: Callable[..., Agent], tmp_path: Path) -> None:
    agent = agents()
    r = httpx.get(f"{agent.url}/metrics", timeout=5)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    for name in NAMES:
        assert f"\n{name} " in r.text, name
    promtool = need("promtool", "prometheus")
    done = subprocess.run([promtool, "check", "metrics"], input=r.text, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


def test_gpu_metrics_carry_the_gpu_label() -> None:
    from backends.probes.agent import Agent as AgentServer
    from backends.probes.model import GpuSample, HostSample, Snapshot

    snap = Snapshot(t=1.0, gpus=(GpuSample("amd", 0, "RX 9070", "sysfs", util_percent=45.0, mem_used_bytes=12 << 30,
                                           mem_total_bytes=16 << 30),),
                    host=HostSample(mem_total_bytes=64 << 30, mem_available_bytes=32 << 30, mem_used_bytes=32 << 30,
                                    pressure="warn"))  # fmt: skip
    server = AgentServer(probes=[])
    server._snap = snap  # what its sampling thread would have stored
    text = server.metrics().decode()
    m = parse_metrics(text)
    labels = {"gpu": "0", "vendor": "amd", "name": "RX 9070"}
    assert m["gptoss_top_gpu_memory_used_bytes"] == [(labels, float(12 << 30))]
    assert m["gptoss_top_gpu_memory_total_bytes"] == [(labels, float(16 << 30))]
    assert m["gptoss_top_gpu_utilization_ratio"] == [(labels, 0.45)]
    assert "gptoss_top_gpu_power_watts" not in m  # not reported: left out, not 0
    assert "gptoss_top_memory_pressure_level 1.0" in text


def test_json_is_the_probe_report(agents: Callable[..., Agent]) -> None:
    agent = agents()
    d = httpx.get(f"{agent.url}/json", timeout=5).json()
    local = json.loads(subprocess.run([str(VENV_BIN / "gptoss-top"), "probe", "--json"], capture_output=True,
                                      text=True, timeout=60, check=True).stdout)  # fmt: skip
    assert set(local) <= set(d)
    assert set(d["snapshot"]) == set(local["snapshot"])
    assert d["snapshot"]["host"]["mem_total_bytes"] == local["snapshot"]["host"]["mem_total_bytes"]
    assert httpx.get(f"{agent.url}/healthz", timeout=5).text == "ok\n"
    # ... and the agent source reads it back into a snapshot
    sampler = RemoteSampler(parse_source(agent.source))
    snap = sampler.sample_now()
    assert snap.host is not None and snap.host.mem_total_bytes == local["snapshot"]["host"]["mem_total_bytes"]


def test_a_token_is_required_and_never_shown(agents: Callable[..., Agent], monkeypatch: pytest.MonkeyPatch) -> None:
    agent = agents(token=TOKEN)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        for path in ("/metrics", "/json", "/healthz"):
            r = httpx.get(f"{agent.url}{path}", headers=headers, timeout=5)
            assert r.status_code == 401, (path, headers)
            assert TOKEN not in r.text
    ok = httpx.get(f"{agent.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert ok.status_code == 200
    # The reader says which variable to set, for a missing and for a wrong token.
    src = parse_source(agent.source)
    monkeypatch.delenv("GPTOSS_TOP_AGENT_TOKEN", raising=False)
    s = RemoteSampler(src)
    s.sample_now()
    assert "wants a token" in str(s.freshness().error) and "set GPTOSS_TOP_AGENT_TOKEN" in str(s.freshness().error)
    monkeypatch.setenv("GPTOSS_TOP_AGENT_TOKEN", "not-it")
    s.sample_now()
    assert "refused the token" in str(s.freshness().error) and "GPTOSS_TOP_AGENT_TOKEN" in str(s.freshness().error)
    monkeypatch.setenv("GPTOSS_TOP_AGENT_TOKEN", TOKEN)
    s.sample_now()
    assert s.freshness().error is None
    agent.proc.terminate()
    agent.proc.wait(10)
    assert TOKEN not in agent.output()


def test_named_token_variable(agents: Callable[..., Agent], monkeypatch: pytest.MonkeyPatch) -> None:
    agent = agents(token=TOKEN)
    monkeypatch.setenv("MINI_TOKEN", "wrong")
    s = RemoteSampler(parse_source(f"{agent.source}?token_env=MINI_TOKEN"))
    s.sample_now()
    assert "set MINI_TOKEN" in str(s.freshness().error)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], capture_output=True, text=True, timeout=60,
                          env=env)  # fmt: skip


def test_open_address_needs_a_token_or_the_plain_flag() -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "GPTOSS_TOP_AGENT_TOKEN"}
    done = run_cli("agent", "--bind", "0.0.0.0", "--port", "0", env=env)
    assert done.returncode == 2
    assert "refusing to serve on 0.0.0.0 without a token" in done.stderr
    assert "GPTOSS_TOP_AGENT_TOKEN" in done.stderr and "--open-without-token" in done.stderr
    done = run_cli("agent", "--bind", "0.0.0.0", "--token-env", "MY_VAR", env={**env, "MY_VAR": ""})
    assert done.returncode == 2 and "MY_VAR is set but empty" in done.stderr
