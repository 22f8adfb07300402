"""`gptoss-top tune` refuses what it cannot do with exit status 2 and a message that says what to do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.fakes.lmstudio import FakeLMStudio, install_fake_lms
from tui.cli import build_parser, main


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["tune", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    return err


def test_tune_is_a_command() -> None:
    assert "tune" in build_parser().format_help()


def test_an_openai_compatible_server_has_nothing_to_tune(capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, "--backend", "openai", "--model", "m")
    assert "no offload control" in err


def test_an_attached_llama_server_needs_model_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert "give model_path" in refused(capsys, "--backend", "llamacpp", "--model", "m")


def test_lmstudio_needs_lms(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert "`lms`" in refused(capsys, "--backend", "lmstudio", "--model", "openai/gpt-oss-20b")


def test_n_cpu_moe_only_on_a_managed_llama_server(capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, "--backend", "ollama", "--model", "gpt-oss:20b", "--param", "n_cpu_moe")
    assert "n_cpu_moe" in err


@pytest.mark.parametrize(("values", "message"), [("9:3", "LO must not be above HI"), ("x", "not LO:HI"),
                                                 ("5", "at least two")])  # fmt: skip
def test_bad_values(values: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert message in refused(capsys, "--backend", "llamacpp", "--model-path", "builtin:tiny", "--values", values)


def test_values_past_the_models_layers(capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, "--backend", "llamacpp", "--model-path", "builtin:tiny", "--values", "0:99", "--no-save")
    assert "past the end" in err


def test_an_unknown_model_needs_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    install_fake_lms(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    with FakeLMStudio() as fake:
        monkeypatch.setenv("FAKE_LMS_SERVER", fake.control_url)
        err = refused(capsys, "--backend", "lmstudio", "--url", fake.url, "--model", "someone/unknown-7b", "--no-save")
    assert "--values LO:HI" in err


def test_a_file_with_several_patterns_needs_one_named(capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, str(REPO / "configs" / "gpt-oss-20b.toml"))
    assert "--pattern NAME" in err


def test_declared_capabilities_decide_too() -> None:
    from backends.base import Capabilities
    from backends.runs.patterns import parse_patterns
    from backends.runs.tune_driver import TuneError, check_capabilities

    p = parse_patterns({"patterns": [{"name": "A", "backend": "llamacpp", "model": "m"}]}, "t").patterns[0]
    check_capabilities(p, Capabilities("server_start", owns_process=True))
    check_capabilities(p, Capabilities("per_request"))
    check_capabilities(p, Capabilities("server_start", owns_process=True, expert_offload=True), "n_cpu_moe")
    with pytest.raises(TuneError, match="give model_path"):
        check_capabilities(p, Capabilities("server_start", offload_blocked="... give model_path ..."))
    with pytest.raises(TuneError, match="n_cpu_moe can be set only"):
        check_capabilities(p, Capabilities("per_request"), "n_cpu_moe")
    with pytest.raises(TuneError, match="--param must be one of"):
        check_capabilities(p, Capabilities("per_request"), "threads")


def test_each_adapter_says_whether_offload_reaches_its_server() -> None:
    """The adapters' own declarations: an attached llama-server and a plain OpenAI server cannot take it."""
    from backends.base import Endpoint, ServerOptions
    from backends.servers.registry import make_backend

    url = Endpoint("http://127.0.0.1:9")
    attached = make_backend("llamacpp", url).capabilities
    managed = make_backend("llamacpp", url, ServerOptions(managed=True)).capabilities
    assert attached.offload_blocked is not None and "model_path" in attached.offload_blocked
    assert managed.offload_blocked is None and managed.expert_offload
    assert make_backend("ollama", url).capabilities.offload_blocked is None
    assert not make_backend("ollama", url).capabilities.expert_offload
    assert "no offload control" in (make_backend("openai", url).capabilities.offload_blocked or "")


def test_a_server_that_does_not_answer_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    from backends.servers.llamaserver import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    err = refused(capsys, "--backend", "ollama", "--url", url, "--model", "gpt-oss:20b", "--no-save")
    assert "does not answer" in err and url in err
