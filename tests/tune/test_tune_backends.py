"""`gptoss-top tune` end to end: on the Ollama and LM Studio fakes with a speed model it finds the
fastest setting; on the real llama-server here (CPU only: the offload changes nothing) it says the
settings do not differ; every run is stored with the tune's id, warm-ups with repeat 0."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.runs.results import load_records
from tests.fakes.lmstudio import FakeLMStudio, install_fake_lms
from tests.fakes.ollama import FakeOllama
from tests.fakes.speed import SpeedModel
from tui.cli import main

WORDS = "tok " * 50  # long enough that a run's rate is measured, not its start-up


def tune(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(["tune", *argv, "--format", "json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {}), err


def stored(tmp_path: Path) -> list[Any]:
    return load_records(tmp_path / "data" / "results.jsonl")


def check_store(tmp_path: Path, answer: dict[str, Any]) -> None:
    recs = stored(tmp_path)
    assert len(recs) == answer["runs"]
    assert {r.tune_id for r in recs} == {answer["tune_id"]}
    counted = [r for r in recs if r.repeat > 0 and r.ok]
    assert sum(s["runs"] for s in answer["settings"]) == len(counted)
    assert any(r.repeat == 0 for r in recs)  # the warm-ups are kept, marked


@pytest.fixture
def ollama_peak() -> Iterator[tuple[FakeOllama, SpeedModel]]:
    # The Mac mini's shape: 16 layers beat every other setting, 20 is the most that fits.
    speed = SpeedModel(fit=20, peak=16, decline=0.08, noise=0.02, seed=7)
    with FakeOllama(reasoning=WORDS, answer="done.", load_s=0.0, speed=speed) as fake:
        yield fake, speed


def test_ollama_finds_the_peak_below_the_maximum(
    ollama_peak: tuple[FakeOllama, SpeedModel], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, speed = ollama_peak
    code, answer, err = tune(capsys, "--backend", "ollama", "--url", fake.url, "--model", "gpt-oss:20b")
    assert code == 0, err
    assert answer["param"] == "gpu_layers"
    assert answer["best"] == speed.best() == 16
    assert answer["stopped"] in ("confident", "budget")
    assert answer["runs"] <= answer["budget"] < answer["grid_runs"]
    check_store(tmp_path, answer)
    # Ollama took each setting as num_gpu per request: 16 layers is 16, all 24 is 25.
    sent = {b["options"].get("num_gpu") for b in fake.bodies("/api/chat")}
    assert 16 in sent
    assert "warm-up" in err


def test_ollama_skips_settings_it_cannot_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    speed = SpeedModel(fit=18, peak=18, refuse_past_fit=True, noise=0.02, seed=5)
    with FakeOllama(reasoning=WORDS, answer="done.", load_s=0.0, speed=speed) as fake:
        code, answer, err = tune(capsys, "--backend", "ollama", "--url", fake.url, "--model", "gpt-oss:20b",
                                 "--values", "14:22")  # fmt: skip
    assert code == 0, err
    assert answer["best"] == 18
    refused = [s for s in answer["settings"] if s["failed"]]
    assert refused and all(s["value"] > 18 and s["runs"] == 0 for s in refused)
    assert "memory" in refused[0]["error"]
    failed = [r for r in stored(tmp_path) if not r.ok]
    assert failed and all(r.error_kind == "load_refused" for r in failed)


@pytest.fixture
def lmstudio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLMStudio]:
    speed = SpeedModel(fit=18, peak=18, refuse_past_fit=True, noise=0.02, seed=3)
    bin_dir = tmp_path / "bin"
    install_fake_lms(bin_dir)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    fake = FakeLMStudio(reasoning_text=WORDS, answer_text="done.", speed=speed).start()
    monkeypatch.setenv("FAKE_LMS_SERVER", fake.control_url)
    try:
        yield fake
    finally:
        fake.stop()


def test_lmstudio_reloads_through_lms_and_skips_what_the_guardrails_refuse(
    lmstudio: FakeLMStudio, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tuned.toml"
    code, answer, err = tune(capsys, "--backend", "lmstudio", "--url", lmstudio.url, "--model",
                             "openai/gpt-oss-20b", "--write", str(out))  # fmt: skip
    assert code == 0, err
    assert answer["best"] == 18  # the last setting before the guardrails refuse
    refused = [s for s in answer["settings"] if s["failed"] and not s["runs"]]
    assert refused and all(s["value"] > 18 for s in refused)
    assert "refused" in refused[0]["error"]
    check_store(tmp_path, answer)
    assert {ld["via"] for ld in lmstudio.loads} == {"lms"}
    # The winner, written as a pattern file the other commands read.
    written = tomllib.loads(out.read_text())["patterns"][0]
    assert written["gpu_layers"] == 18 and written["backend"] == "lmstudio"
    assert main(["bench", str(out), "--format", "json", "--no-save"]) == 0


def test_the_real_llama_server_on_a_cpu_says_the_settings_do_not_differ(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CPU-only server loads the very same bytes at every -ngl: the answer follows from that, not
    # from rates that drift from one server start to the next on a shared machine.
    out = tmp_path / "winner.toml"
    code, answer, err = tune(capsys, "--backend", "llamacpp", "--model-path", str(tiny_model), "--max-tokens", "48",
                             "--temperature", "0", "--seed", "1", "--values", "0:2", "--repeat", "2",
                             "--write", str(out))  # fmt: skip
    assert code == 0, err
    assert answer["stopped"] == "no_difference" and answer["same_load"] is True
    assert answer["best"] is None
    assert not out.exists() and "no winner" in err and "ignores the setting" in err
    assert {s["value"] for s in answer["settings"]} == {0, 1, 2}
    check_store(tmp_path, answer)
    assert {r.gpu_layers for r in stored(tmp_path)} == {0, 1, 2}


def test_n_cpu_moe_is_tuned_on_a_managed_llama_server(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The generated model has no experts, so --n-cpu-moe changes nothing: again no difference.
    code, answer, err = tune(capsys, "--backend", "llamacpp", "--model-path", str(tiny_model), "--max-tokens", "48",
                             "--param", "n_cpu_moe", "--values", "0,2", "--repeat", "2")  # fmt: skip
    assert code == 0, err
    assert answer["param"] == "n_cpu_moe"
    assert answer["stopped"] == "no_difference" and answer["same_load"] is True
    assert {r.n_cpu_moe for r in stored(tmp_path)} == {0, 2}
