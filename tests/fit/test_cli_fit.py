"""`gptoss-top fit`: the table, the --json contract, LM Studio's estimate, and exit 2 for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.lmstudio import install_fake_lms

REPO = Path(__file__).resolve().parent.parent.parent
KEYS = ["pattern", "model", "source", "context_length", "gpu_layers", "n_cpu_moe", "model_gpu_bytes",
        "model_host_bytes", "kv_gpu_bytes", "kv_host_bytes", "compute_gpu_bytes", "compute_host_bytes", "gpu_bytes",
        "host_bytes", "budget_gpu_bytes", "budget_host_bytes", "verdict", "max_gpu_layers", "min_n_cpu_moe",
        "notes"]  # fmt: skip
GIB = 1 << 30


def fit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui", "fit", *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO, env={**os.environ, **(env or {})})  # fmt: skip


def test_json_has_the_contract_keys_in_order() -> None:
    r = fit("--backend", "lmstudio", "--url", "http://10.9.9.9:1234", "--model", "openai/gpt-oss-20b",
            "--ctx", "8192", "--gpu-layers", "24", "--vram", "16", "--ram", "32", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    [obj] = json.loads(r.stdout)
    assert list(obj)[: len(KEYS)] == KEYS
    assert obj["source"] == "card" and obj["verdict"] == "fits" and obj["budget_gpu_bytes"] == 15 * GIB
    assert obj["gpu_layers"] == 24 and obj["max_gpu_layers"] == 24 and obj["min_n_cpu_moe"] == 0
    assert all(isinstance(obj[k], int) for k in KEYS if k.endswith("_bytes"))


def test_n_cpu_moe_flag_reaches_the_estimate() -> None:
    r = fit("--backend", "lmstudio", "--url", "http://10.9.9.9:1234", "--model", "gpt-oss-20b", "--ctx", "131072",
            "--n-cpu-moe", "all", "--vram", "8", "--ram", "64", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    [obj] = json.loads(r.stdout)
    assert obj["n_cpu_moe"] == "all" and obj["verdict"] == "spills"
    assert obj["model_host_bytes"] > 10 * GIB  # every block's experts


def test_bad_n_cpu_moe_is_a_usage_error() -> None:
    r = fit("--backend", "lmstudio", "--model", "gpt-oss-20b", "--n-cpu-moe", "some")
    assert r.returncode == 2 and "expected an integer or 'all'" in r.stderr


def test_demo_patterns_table(tmp_path: Path) -> None:
    r = fit(str(REPO / "configs" / "demo.toml"), "--own", env={"GPTOSS_TOP_CACHE_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["pattern", "source", "ctx"]
    assert [ln.split()[0] for ln in lines[2:6]] == ["A", "B", "C", "D"]
    assert all(" gguf " in ln for ln in lines[2:6])


def test_lms_estimate_is_asked_for_lm_studio_here(tmp_path: Path) -> None:
    install_fake_lms(tmp_path / "bin")
    env = {"PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}", "FAKE_LMS_LOG": str(tmp_path / "lms.jsonl"),
           "FAKE_LMS_ESTIMATE": "13.40 GiB,14.02 GiB,fail"}  # fmt: skip
    r = fit("--backend", "lmstudio", "--model", "openai/gpt-oss-20b", "--ctx", "8192", "--gpu-layers", "23",
            "--vram", "12", "--ram", "16", "--json", env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    [obj] = json.loads(r.stdout)
    assert obj["source"] == "lms" and obj["guardrail"] == "will fail to load"
    assert obj["gpu_bytes"] == int(13.40 * GIB) and obj["host_bytes"] == int(14.02 * GIB) - int(13.40 * GIB)
    assert obj["kv_gpu_bytes"] is None  # LM Studio does not say
    assert any("guardrails" in n for n in obj["notes"])
    argv = json.loads((tmp_path / "lms.jsonl").read_text().splitlines()[0])["argv"]
    assert argv == ["load", "--estimate-only", "openai/gpt-oss-20b", "--context-length", "8192", "--gpu", "0.958333"]


def test_lms_is_not_asked_for_another_machine(tmp_path: Path) -> None:
    install_fake_lms(tmp_path / "bin")
    env = {"PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}", "FAKE_LMS_LOG": str(tmp_path / "lms.jsonl")}
    r = fit("--backend", "lmstudio", "--url", "http://10.9.9.9:1234", "--model", "openai/gpt-oss-20b", "--json",
            env=env)  # fmt: skip
    assert r.returncode == 0 and json.loads(r.stdout)[0]["source"] == "card"
    assert not (tmp_path / "lms.jsonl").exists()


@pytest.mark.parametrize(
    ("make", "expect"),
    [
        ("truncated", "truncated"),
        ("text", "not a GGUF file"),
    ],
)
def test_bad_model_file_exits_2_naming_it(make: str, expect: str, tmp_path: Path) -> None:
    path = tmp_path / f"{make}.gguf"
    if make == "truncated":
        from backends.servers.tinymodel import SHAPES, write_model

        data = write_model(tmp_path / "whole.gguf", SHAPES["small"]).read_bytes()
        path.write_bytes(data[: len(data) // 3])
    else:
        path.write_text("this is not a model\n")
    r = fit("--backend", "llamacpp", "--model-path", str(path))
    assert r.returncode == 2
    assert f"{path}: {expect}" in r.stderr and "Traceback" not in r.stderr
    assert "unknown" in r.stdout


def test_model_with_no_card_exits_2() -> None:
    r = fit("--backend", "lmstudio", "--url", "http://10.9.9.9:1234", "--model", "qwen/qwen3-8b", "--json")
    assert r.returncode == 2 and "qwen/qwen3-8b: cannot tell what the model is made of" in r.stderr
    assert json.loads(r.stdout)[0]["verdict"] == "unknown"


def test_a_pattern_on_another_host_is_not_judged_by_this_machine(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text('[hosts.mini]\ntelemetry = "agent+http://127.0.0.1:9"\n\n[[patterns]]\nname = "M"\n'
                 'backend = "lmstudio"\nurl = "http://10.9.9.9:1234"\nmodel = "openai/gpt-oss-20b"\nhost = "mini"\n')  # fmt: skip
    r = fit(str(f), "--own", "--json")
    assert r.returncode == 0, r.stderr
    [obj] = json.loads(r.stdout)
    assert obj["verdict"] == "unknown" and any("runs on host 'mini'" in n for n in obj["notes"])
    [obj] = json.loads(fit(str(f), "--own", "--json", "--vram", "16", "--ram", "16").stdout)
    assert obj["verdict"] == "fits"


def test_settings_show_the_expert_offload() -> None:
    from backends.runs.patterns import parse_patterns

    spec = {"name": "A", "backend": "llamacpp", "model_path": "builtin:tiny", "context_length": 4096, "n_cpu_moe": 8}
    assert parse_patterns({"patterns": [spec]}, "t").patterns[0].settings() == "ctx 4096, cpu-moe 8"


def test_lm_studio_model_on_this_disk_without_lms_asks_llama_fit_params(
    models: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / ".lmstudio" / "models" / "acme" / "tiny-chat-GGUF"
    folder.mkdir(parents=True)
    (folder / "tiny-chat-F32.gguf").write_bytes(models["medium"].read_bytes())
    env = {"HOME": str(tmp_path), "PATH": os.path.dirname(sys.executable)}  # no lms on PATH
    r = fit("--backend", "lmstudio", "--model", "acme/tiny-chat", "--ctx", "4096", "--json", env=env)
    assert r.returncode == 0, r.stderr
    [obj] = json.loads(r.stdout)
    assert obj["source"] == "llama-fit-params" and obj["model_host_bytes"] == 129 * (1 << 20)
