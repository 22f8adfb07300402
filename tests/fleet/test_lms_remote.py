"""A pattern on an ssh:// host: `lms` runs there (load with context and GPU ratio, --estimate-only),
so a remote Mac mini's offload is set from the main machine. The fake `lms` sits on the sshd's PATH
only; the local PATH has none."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.base import LoadSpec
from backends.probes.remote.registry import remote_command
from backends.runs.patterns import parse_patterns
from backends.runs.session import BackendPool
from tests.fakes.lmstudio import FakeLMStudio, install_fake_lms
from tests.fleet.conftest import Sshd

M20 = "openai/gpt-oss-20b"


@pytest.fixture
def lm_studio() -> Iterator[FakeLMStudio]:
    fake = FakeLMStudio("0.4").start()
    try:
        yield fake
    finally:
        fake.stop()


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line)["argv"] for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def mini(sshd_factory: Callable[..., Sshd], lm_studio: FakeLMStudio, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> tuple[Sshd, Path]:  # fmt: skip
    bin_dir = tmp_path / "mini-bin"
    install_fake_lms(bin_dir)
    log = tmp_path / "lms-on-mini.jsonl"
    sshd = sshd_factory([str(bin_dir)], {"FAKE_LMS_SERVER": lm_studio.control_url, "FAKE_LMS_LOG": str(log)})
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no `lms` here: only the mini has one
    return sshd, log


async def test_lms_loads_on_the_ssh_host(mini: tuple[Sshd, Path], lm_studio: FakeLMStudio) -> None:
    sshd, log = mini
    pf = parse_patterns({
        "hosts": {"mini": {"telemetry": sshd.source()}},
        "patterns": [{"name": "C", "backend": "lmstudio", "url": lm_studio.url, "model": M20, "prompt": "p",
                      "context_length": 4096, "gpu_layers": 20, "host": "mini"}],
    }, "two.toml")  # fmt: skip
    pool = BackendPool(hosts={h.name: h.telemetry for h in pf.hosts.values()})
    backend = pool.get(pf.patterns[0])
    try:
        prepared = await backend.prepare(LoadSpec(model=M20, context_length=4096, gpu_layers=20))
    finally:
        await pool.aclose()
    loads = [a for a in calls(log) if a[0] == "load"]
    assert loads, calls(log)
    load = loads[-1]
    assert M20 in load and load[load.index("--gpu") + 1] == "0.833333"
    assert "4096" in load
    assert not [w for w in prepared.warnings if "not this machine" in w or "NOT applied" in w], prepared.warnings


def test_estimate_only_runs_on_the_ssh_host(mini: tuple[Sshd, Path]) -> None:
    from backends.runs.fit.ask import ask_lms

    sshd, log = mini
    remote = remote_command(sshd.source())
    assert remote[0] == "ssh" and remote[-1] == f"{sshd.user}@127.0.0.1"
    from backends.runs.fit.api import unknown
    from backends.runs.fit.budget import Budget

    pattern: Any = type("P", (), {"name": "D", "url": "http://mac-mini.local:1234", "model": M20,
                                  "context_length": 4096, "gpu_layers": 15, "n_cpu_moe": None})()  # fmt: skip
    desc: Any = type("D", (), {"n_layer": 24})()
    est = ask_lms(unknown(pattern, "asked"), pattern, desc, Budget(None, None), timeout_s=30, remote=remote)
    assert est.source == "lms" and est.gpu_bytes is not None
    (estimate,) = [a for a in calls(log) if a[0] == "load"]
    assert "--estimate-only" in estimate and estimate[estimate.index("--gpu") + 1] == "0.625"


def test_remote_command_is_only_for_ssh_hosts() -> None:
    assert remote_command("agent+http://mini:9464") == ()
    assert remote_command("local") == ()
    assert remote_command(None) == ()
    assert remote_command("ssh://me@mac-mini.local:2222")[-3:] == ("2222", "--", "me@mac-mini.local")
