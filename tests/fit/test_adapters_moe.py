"""n_cpu_moe on each backend: llama.cpp applies it when it runs the server; the others say they cannot."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.base import Endpoint, LoadSpec
from backends.servers.llamacpp import LlamaCppBackend
from backends.servers.lmstudio import LMStudioBackend
from backends.servers.ollama import OllamaBackend
from tests.conftest import RunningServer
from tests.fakes.lmstudio import FakeLMStudio, install_fake_lms
from tests.fakes.ollama import GPT_OSS_20B, FakeOllama


@pytest.fixture
def fake_lms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLMStudio]:
    install_fake_lms(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    fake = FakeLMStudio("0.4").start()
    monkeypatch.setenv("FAKE_LMS_SERVER", fake.control_url)
    try:
        yield fake
    finally:
        fake.stop()


async def test_lm_studio_warns_that_lms_cannot_set_it(fake_lms: FakeLMStudio) -> None:
    b = LMStudioBackend(Endpoint(fake_lms.url, timeout_s=10))
    try:
        prepared = await b.prepare(LoadSpec("openai/gpt-oss-20b", context_length=4096, gpu_layers=24, n_cpu_moe=8))
    finally:
        await b.aclose()
    assert any(w.startswith("n_cpu_moe=8 NOT applied: `lms load` has no option") for w in prepared.warnings)


async def test_ollama_warns_that_it_cannot() -> None:
    with FakeOllama() as fake:
        b = OllamaBackend(Endpoint(fake.url, timeout_s=10))
        try:
            prepared = await b.prepare(LoadSpec(GPT_OSS_20B.name, context_length=4096, n_cpu_moe="all"))
        finally:
            await b.aclose()
    assert any(w.startswith("n_cpu_moe=all NOT applied: Ollama has no setting") for w in prepared.warnings)


async def test_attached_llama_server_warns(llama_server: RunningServer) -> None:
    b = LlamaCppBackend(Endpoint(llama_server.url, timeout_s=10))
    try:
        prepared = await b.prepare(LoadSpec("tiny", n_cpu_moe=4))
    finally:
        await b.aclose()
    assert any("n_cpu_moe=4 is not applied to an attached server" in w for w in prepared.warnings)
