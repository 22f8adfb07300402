"""What produced a run: server version and model identity, from the real llama-server, recorded Ollama
traffic, and the Ollama and LM Studio fakes (which answer as the real servers do)."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from backends.base import Endpoint
from backends.runs.patterns import Pattern
from backends.runs.record import RunRecord
from backends.runs.session import run_pattern
from backends.servers import provenance
from backends.servers.llamacpp import LlamaCppBackend
from backends.servers.lmstudio import LMStudioBackend
from backends.servers.ollama import OllamaBackend
from backends.servers.provenance import Provenance, fetch_llamacpp, fetch_lmstudio, fetch_ollama
from backends.wire.http import Http
from tests.conftest import RunningServer
from tests.fakes.lmstudio import FakeLMStudio
from tests.fakes.ollama import FakeOllama

DATA = Path(__file__).resolve().parent.parent / "data"
FAKE_LMS = Path(__file__).resolve().parent.parent / "fakes" / "lms"


@asynccontextmanager
async def http(url: str) -> AsyncIterator[Http]:
    h = Http(Endpoint(url, timeout_s=10.0), unreachable_hint="start it")
    try:
        yield h
    finally:
        await h.aclose()


def record() -> RunRecord:
    return RunRecord(pattern="A", backend="ollama", url="u", model="m", context_length=None, gpu_layers=None,
                     repeat=1, started_at="2026-06-01T10:00:00Z")  # fmt: skip


async def test_llamacpp_build_size_and_type_from_the_real_server(llama_server: RunningServer) -> None:
    async with http(llama_server.url) as h:
        p = await fetch_llamacpp(h, model_path=str(llama_server.model_path))
        props, models = (await h.client.get("/props")).json(), (await h.client.get("/v1/models")).json()
    assert p.server_version == props["build_info"] and re.match(r"^b\d+", props["build_info"])
    assert p.model_digest is None  # llama.cpp has none
    assert p.model_size_bytes == models["data"][0]["meta"]["size"] > 0
    assert p.model_quant == (props.get("model_ftype") or "ALL_F32")  # the generated model is F32


async def test_llamacpp_without_props_answers_nothing_and_does_not_raise() -> None:
    async with http("http://127.0.0.1:9") as h:
        p = await fetch_llamacpp(h)
    assert p == Provenance()


def test_gguf_file_type_of_a_local_model(tiny_model: Path, tmp_path: Path) -> None:
    assert provenance.gguf_file_type(str(tiny_model)) == "ALL_F32"
    assert provenance.gguf_file_type(str(tmp_path / "missing.gguf")) is None
    (tmp_path / "junk.gguf").write_bytes(b"not a gguf")
    assert provenance.gguf_file_type(str(tmp_path / "junk.gguf")) is None


def test_llamacpp_stream_fingerprint_is_its_build() -> None:
    first = (DATA / "llamacpp" / "chat_gpt-oss-20b_b7010_simple.sse").read_text().split("\n\n")[0]
    assert provenance.fingerprint(json.loads(first.removeprefix("data: "))).server_version == "b7010-c27efd2bd"


def test_ollama_from_recorded_version_and_tags() -> None:
    version = json.loads((DATA / "ollama" / "api_version.json").read_text())
    tags = json.loads((DATA / "ollama" / "api_tags.json").read_text())
    p = provenance.ollama(version, "mistral:7b", tags)
    assert p.server_version == "0.11.6"
    assert p.model_digest == "6577803aa9a036369e481d648a2baebb381ebc6e897f2bb9a766a2aa7bfbc1cf"
    assert p.model_size_bytes == 4372824384 and p.model_quant is not None
    assert provenance.ollama(version, "not-pulled:1b", tags) == Provenance(server_version="0.11.6")


async def test_ollama_fake_answers_version_and_digest() -> None:
    with FakeOllama() as fake:
        async with http(fake.url) as h:
            p = await fetch_ollama(h, "gpt-oss:20b")
    assert p.server_version == "0.12.6"
    assert p.model_digest == hashlib.sha256(b"gpt-oss:20b").hexdigest()
    assert p.model_quant == "MXFP4" and p.model_size_bytes == 13_780_173_724
    with FakeOllama(profile="old") as fake:
        async with http(fake.url) as h:
            assert (await fetch_ollama(h, "gpt-oss:20b")).server_version == "0.5.7"


async def test_lmstudio_quant_size_and_the_cli_version() -> None:
    with FakeLMStudio() as fake:
        async with http(fake.url) as h:
            p = await fetch_lmstudio(h, "openai/gpt-oss-20b", lms=str(FAKE_LMS))
    assert p == Provenance("lms 0.0.47", None, 12_109_566_560, "MXFP4")


async def test_lmstudio_without_the_cli_has_no_version(tmp_path: Path) -> None:
    with FakeLMStudio() as fake:
        async with http(fake.url) as h:
            p = await fetch_lmstudio(h, "openai/gpt-oss-20b", lms=str(tmp_path / "no-lms"))
    assert p.server_version is None and p.model_quant == "MXFP4"


def test_lms_version_banner_and_json() -> None:
    assert provenance.lms_version('{"version":"0.0.47"}') == "lms 0.0.47"
    banner = "   | |    |  \\/  |\n\n\x1b[38;5;231mlms - LM Studio CLI - v0.3.31\x1b[0m\n"
    assert provenance.lms_version(banner) == "lms 0.3.31"
    assert provenance.lms_version("something else") is None


def test_apply_fills_only_what_is_unknown() -> None:
    r = record()
    r.model_quant = "Q4_K_M"
    Provenance("0.12.3", "d" * 64, 123, "MXFP4").apply(r)
    assert (r.server_version, r.model_digest, r.model_size_bytes, r.model_quant) == ("0.12.3", "d" * 64, 123, "Q4_K_M")


def test_fake_lms_prints_the_banner_line() -> None:
    import subprocess

    out = subprocess.run([sys.executable, str(FAKE_LMS), "version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "lms - LM Studio CLI - v0.0.47"


# -- through the run pipeline: every run record says what produced it ------------------------------


def pattern(backend: str, url: str, model: str) -> Pattern:
    return Pattern(name="A", backend=backend, url=url, model=model, prompt="Count to three.", max_tokens=8)  # type: ignore[arg-type]


async def test_a_llamacpp_run_records_the_build_and_model(llama_server: RunningServer) -> None:
    backend = LlamaCppBackend(Endpoint(llama_server.url))
    try:
        rec = await run_pattern(pattern("llamacpp", llama_server.url, "tiny"), backend)
        async with http(llama_server.url) as h:
            props = (await h.client.get("/props")).json()
    finally:
        await backend.aclose()
    assert rec.ok, rec.error
    assert rec.server_version == props["build_info"] and rec.model_digest is None
    assert rec.model_size_bytes is not None and rec.model_size_bytes > 0 and rec.model_quant


async def test_an_ollama_run_records_version_digest_and_quant() -> None:
    with FakeOllama(profile="old") as fake:
        backend = OllamaBackend(Endpoint(fake.url, timeout_s=30))
        try:
            recs = [await run_pattern(pattern("ollama", fake.url, "gpt-oss:20b"), backend) for _ in range(2)]
        finally:
            await backend.aclose()
        asked = [r.path for r in fake.requests if r.path in ("/api/version", "/api/tags")]
    for rec in recs:
        assert rec.ok, rec.error
        assert rec.server_version == "0.5.7"
        assert rec.model_digest == hashlib.sha256(b"gpt-oss:20b").hexdigest()
        assert (rec.model_quant, rec.model_size_bytes) == ("MXFP4", 13_780_173_724)
    assert sorted(asked) == ["/api/tags", "/api/version"]  # once for both runs, not per run


async def test_an_lmstudio_run_records_quant_and_size_without_a_local_cli() -> None:
    with FakeLMStudio() as fake:
        backend = LMStudioBackend(Endpoint(fake.url, timeout_s=30), lms="")
        try:
            rec = await run_pattern(pattern("lmstudio", fake.url, "openai/gpt-oss-20b"), backend)
        finally:
            await backend.aclose()
    assert rec.ok, rec.error
    assert (rec.server_version, rec.model_quant, rec.model_size_bytes) == (None, "MXFP4", 12_109_566_560)


async def test_an_lmstudio_run_with_the_local_cli_records_its_version(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeLMStudio() as fake:
        monkeypatch.setenv("FAKE_LMS_SERVER", fake.control_url)
        backend = LMStudioBackend(Endpoint(fake.url, timeout_s=30), lms=str(FAKE_LMS))
        try:
            rec = await run_pattern(pattern("lmstudio", fake.url, "openai/gpt-oss-20b"), backend)
        finally:
            await backend.aclose()
    assert rec.ok, rec.error
    assert (rec.server_version, rec.model_quant) == ("lms 0.0.47", "MXFP4")


def test_lmstudio_v0_list_and_ollama_latest_tag() -> None:
    # LM Studio 0.3.x `GET /api/v0/models`, as its docs show it: quantization only, no size.
    v0 = {"object": "list", "data": [{"id": "openai/gpt-oss-20b", "object": "model", "type": "llm",
          "publisher": "openai", "arch": "gpt-oss", "compatibility_type": "gguf", "quantization": "MXFP4",
          "state": "loaded", "max_context_length": 131072, "loaded_context_length": 4096}]}  # fmt: skip
    assert provenance.lmstudio("openai/gpt-oss-20b", v0=v0) == Provenance(model_quant="MXFP4")
    assert provenance.lmstudio("other/model", v0=v0) == Provenance()
    # Ollama lists "name:latest" for a model pulled without a tag.
    tags = {"models": [{"name": "gpt-oss:latest", "model": "gpt-oss:latest", "digest": "e" * 64, "size": 5,
                        "details": {"quantization_level": "MXFP4"}}]}  # fmt: skip
    assert provenance.ollama({"version": "0.12.3"}, "gpt-oss", tags).model_digest == "e" * 64
    assert provenance.ollama({"version": "0.12.3"}, "gpt-oss:20b", tags).model_digest is None
    assert provenance.ollama({}, "gpt-oss", {"models": "garbage"}) == Provenance()  # never raises on odd JSON
