"""The `gptoss-top` command line: exit statuses, messages, and bench against the real llama-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backends.runs.record import CONTRACT_FIELDS
from tests.backends.test_patterns import BAD, expectation
from tests.conftest import RunningServer
from tui.cli import main

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a child process, as a user's shell would run it."""
    return subprocess.run(
        [sys.executable, "-m", "tui", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_malformed_pattern_file_exits_2_naming_the_line(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line, text = expectation(path)
    assert main(["bench", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert (f"{path}:{line}: " if line else f"{path}: ") in err
    assert text in err


def test_tui_with_a_bad_file_reports_before_opening(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(BAD[0])]) == 2
    assert "bad pattern file" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench"]) == 2
    assert "nothing to run" in capsys.readouterr().err
    assert main(["bench", "--model", "m"]) == 2
    assert "needs --backend" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["bench", "--backend", "llamacpp", "--gpu-layers", "-3"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["bench", "--backend", "llamacpp", "--temperature", "warm"])
    assert e.value.code == 2
    assert "expected a number such as 0.7, not 'warm'" in capsys.readouterr().err
    assert main(["bench", str(REPO / "configs" / "gpt-oss-20b.toml"), "-p", "Z"]) == 2
    assert "no pattern named 'Z'" in capsys.readouterr().err


def test_init_writes_a_file_that_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "mine.toml"
    assert main(["init", str(target)]) == 0
    from backends.runs.patterns import load_patterns

    assert [p.name for p in load_patterns(target).patterns] == ["A", "B"]
    assert main(["init", str(target)]) == 2  # no silent overwrite
    assert "already exists" in capsys.readouterr().err


@pytest.mark.integration
def test_bench_json_against_a_hand_started_server_prints_run_records(
    llama_server: RunningServer, tmp_path: Path
) -> None:
    r = run_cli("bench", "--backend", "llamacpp", "--url", llama_server.url, "--model", "tiny", "--max-tokens", "256",
                "--seed", "11", "--temperature", "0.8", "--format", "json", "--repeat", "2",
                env={"GPTOSS_TOP_DATA_DIR": str(tmp_path)})  # fmt: skip
    assert r.returncode == 0, r.stderr
    records = json.loads(r.stdout)
    assert len(records) == 2
    for i, rec in enumerate(records, start=1):
        assert list(rec)[: len(CONTRACT_FIELDS)] == list(CONTRACT_FIELDS)
        assert rec["ok"] is True and rec["error"] is None
        assert rec["pattern"] == "ad-hoc" and rec["backend"] == "llamacpp" and rec["url"] == llama_server.url
        assert rec["repeat"] == i
        assert rec["completion_tokens"] == 256
        assert rec["stats_source"] == "server"
        assert rec["decode_tps"] > 0 and rec["decode_tps_client"] > 0 and rec["prompt_tps"] > 0
        assert rec["reasoning"] and rec["answer"]
        assert rec["loaded_context_length"] == 4096
    # The seed reached the server: two sampled runs of 256 tokens agree word for word.
    assert records[0]["reasoning"] == records[1]["reasoning"] and records[0]["answer"] == records[1]["answer"]
    assert "[1/2] ad-hoc" in r.stderr  # progress goes to stderr
    stored = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(stored) == 2


@pytest.mark.integration
def test_bench_against_a_down_server_fails_readably(tmp_path: Path) -> None:
    from backends.servers.llamaserver import free_port

    r = run_cli("bench", "--backend", "llamacpp", "--url", f"http://127.0.0.1:{free_port()}", "--model", "m",
                "--format", "json", env={"GPTOSS_TOP_DATA_DIR": str(tmp_path)})  # fmt: skip
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    rec = json.loads(r.stdout)[0]
    assert rec["ok"] is False and rec["error_kind"] == "server_unreachable"
    assert "cannot connect" in rec["error"] and "FAILED" in r.stderr


@pytest.mark.integration
@pytest.mark.timeout(600)  # writes the demo models and decodes ~1,500 tokens on 2 shared cores
def test_demo_bench_runs_the_demo_patterns_on_a_managed_server(tmp_path: Path) -> None:
    r = run_cli("demo", "--bench", "--format", "markdown", env={"GPTOSS_TOP_DATA_DIR": str(tmp_path)}, timeout=550)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("| pattern | settings | tok/s |")
    rows = [x for x in lines[2:] if x.startswith("| ")]
    assert [x.split("|")[1].strip() for x in rows] == ["A", "B", "C", "D"]
    assert all(" — " not in x.split("|")[3] for x in rows)  # every pattern has a tok/s figure
