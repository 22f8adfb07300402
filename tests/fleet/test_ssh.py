"""`ssh://` against a real sshd on loopback: gptoss-top there, the macOS one-shots where it is not,
and the TUI itself over `ssh -t` at 80×24 (the headless Mac mini case)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from backends.probes.remote import RemoteSampler, parse_source
from tests.conftest import REPO, RunningServer
from tests.fleet.conftest import VENV_BIN, Agent, Sshd
from tests.tui.test_e2e_tmux import Tmux

APPLE = REPO / "tests" / "probes" / "data" / "apple"


def fake_mac_bin(root: Path) -> Path:
    """`sysctl`, `vm_stat` and `ioreg` that print an M4 Mac mini's recorded output."""
    bin_dir = root / "macbin"
    bin_dir.mkdir(parents=True)
    for cmd, fixture in (("sysctl", "m4_sysctl.txt"), ("vm_stat", "m4_vm_stat.txt"), ("ioreg", "m4_ioreg.txt")):
        script = bin_dir / cmd
        script.write_text(f"#!/bin/sh\ncat {shlex.quote(str(APPLE / fixture))}\n")
        script.chmod(0o755)
    return bin_dir


def test_ssh_runs_gptoss_top_probe_there(sshd_factory: Callable[..., Sshd]) -> None:
    sshd = sshd_factory([str(VENV_BIN)])
    sampler = RemoteSampler(parse_source(sshd.source()), timeout_s=30)
    snap = sampler.sample_now()
    assert sampler.freshness().error is None, sampler.freshness().error
    assert snap.host is not None and snap.host.mem_total_bytes == psutil.virtual_memory().total


def test_ssh_falls_back_to_the_macos_one_shots(sshd_factory: Callable[..., Sshd], tmp_path: Path) -> None:
    sshd = sshd_factory([str(fake_mac_bin(tmp_path))])
    sampler = RemoteSampler(parse_source(sshd.source("?command=/nonexistent/gptoss-top")), timeout_s=30)
    snap = sampler.sample_now()
    assert sampler.freshness().error is None, sampler.freshness().error
    assert snap.apple is not None
    assert snap.apple.memsize_bytes == 17179869184 and snap.apple.pressure == "warn"
    assert snap.apple.swap_used_bytes == round(512.25 * (1 << 20))
    assert snap.host is not None and snap.host.mem_used_bytes == 17179869184 - 17179869184 * 46 // 100
    (gpu,) = snap.gpus
    assert gpu.vendor == "apple" and gpu.source == "ioreg" and gpu.mem_used_bytes is not None
    assert any("one-shots" in n for n in snap.notes)


def test_ssh_to_a_linux_host_without_gptoss_top_says_what_to_do(sshd_factory: Callable[..., Sshd]) -> None:
    sshd = sshd_factory([])
    sampler = RemoteSampler(parse_source(sshd.source("?command=/nonexistent/gptoss-top")), timeout_s=30)
    sampler.sample_now()
    err = str(sampler.freshness().error)
    assert "gptoss-top is not installed there and it is not a Mac" in err


def test_ssh_to_nobody_is_an_error_with_ssh_s_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from backends.servers.llamaserver import free_port

    monkeypatch.setenv("GPTOSS_TOP_SSH_OPTIONS", "-F /dev/null -o StrictHostKeyChecking=no")
    sampler = RemoteSampler(parse_source(f"ssh://nobody@127.0.0.1:{free_port()}"), timeout_s=20)
    sampler.sample_now()
    err = str(sampler.freshness().error)
    assert err.startswith(f"ssh://nobody@127.0.0.1:{sampler.source.port}: ssh failed:") and "refused" in err


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: scripts/setup.sh installs it")
    t = Tmux(f"gptoss-fleet-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield t
    finally:
        t.kill()


def test_the_tui_over_ssh_t_at_80x24(
    sshd_factory: Callable[..., Sshd],
    agents: Callable[..., Agent],
    llama_server: RunningServer,
    tmp_path: Path,
    tmux: Tmux,
) -> None:
    sshd = sshd_factory([str(VENV_BIN)])
    other = agents()
    config = tmp_path / "mini.toml"
    config.write_text(f'[defaults]\nbackend = "llamacpp"\nurl = "{llama_server.url}"\nmodel = "gptoss-top-tiny"\n'
                      'prompt = "Count the waves."\nmax_tokens = 40\nseed = 7\n\n'
                      f'[hosts.studio]\ntelemetry = "{other.source}"\n\n'
                      '[[patterns]]\nname = "over-ssh"\ncontext_length = 4096\ngpu_layers = "off"\n')  # fmt: skip
    data = tmp_path / "remote-data"
    remote = (f"cd {shlex.quote(str(REPO))} && GPTOSS_TOP_DATA_DIR={shlex.quote(str(data))} "
              f"gptoss-top --config {shlex.quote(str(config))}")  # fmt: skip
    ssh = " ".join(shlex.quote(a) for a in [*sshd.ssh_argv()[:1], "-t", *sshd.ssh_argv()[1:], remote])
    tmux.start(ssh, 80, 24, {"TERM": "xterm-256color"})
    tmux.wait_for("the pattern list over ssh", lambda s: "over-ssh" in s, timeout=60)
    tmux.keys("Enter")
    screen = tmux.wait_for("the finished run", lambda s: "over-ssh: done" in s, timeout=90)
    assert len(screen.splitlines()) <= 24 and max(len(line) for line in screen.splitlines()) <= 80
    tmux.keys("h")
    screen = tmux.wait_for("the hardware view", lambda s: "Memory" in s and "pressure" in s, timeout=20)
    tmux.keys("f")
    screen = tmux.wait_for("the fleet view", lambda s: "Fleet" in s and f"studio  {other.source}  fresh" in s,
                           timeout=20)  # fmt: skip
    assert "local  fresh" in screen
    tmux.keys("f")
    tmux.wait_for("back on the main screen", lambda s: "over-ssh" in s and "Fleet" not in s, timeout=20)
    tmux.keys("q")
    assert tmux.wait_gone(20), tmux.screen()
    records = [json.loads(line) for line in (data / "results.jsonl").read_text().splitlines() if line.strip()]
    assert [r["pattern"] for r in records] == ["over-ssh"] and records[0]["ok"] is True
