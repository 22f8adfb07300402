"""Where the model description comes from: the pattern's file, the server it talks to, LM Studio's folder, a card."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from backends.runs.fit import FitInputError, block_count, describe
from backends.runs.patterns import Pattern, parse_patterns
from tests.conftest import RunningServer

OLLAMA_SHOW = Path(__file__).resolve().parent.parent / "data" / "ollama" / "api_show.json"


def pattern(**kw: Any) -> Pattern:
    return parse_patterns({"patterns": [{"name": "A", **kw}]}, "test").patterns[0]


@pytest.fixture
def ollama_show() -> Iterator[tuple[str, dict[str, Any]]]:
    """A loopback server answering POST /api/show with whatever the test puts in the dict."""
    answer: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.dumps(answer).encode()
            self.send_response(200 if answer else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", answer
    finally:
        srv.shutdown()
        srv.server_close()


def test_ollama_blob_on_this_disk_is_read(ollama_show: tuple[str, dict[str, Any]], models: dict[str, Path]) -> None:
    url, answer = ollama_show
    answer.update(json.loads(OLLAMA_SHOW.read_text()))
    answer["modelfile"] = f"# Modelfile\nFROM {models['small']}\nTEMPLATE x\n"
    d = describe(pattern(backend="ollama", url=url, model="small:latest"))
    assert d.source == "gguf" and d.path == str(models["small"]) and d.name == "small:latest"


def test_ollama_show_tensors_when_the_blob_is_elsewhere(ollama_show: tuple[str, dict[str, Any]]) -> None:
    url, answer = ollama_show
    answer.update(json.loads(OLLAMA_SHOW.read_text()))  # FROM C:\Users\work\.ollama\models\blobs\sha256-…
    d = describe(pattern(backend="ollama", url=url, model="dolphin3:8b"))
    assert d.source == "ollama-show" and d.n_layer == 32


def test_ollama_gpt_oss_without_tensors_falls_back_to_the_card(ollama_show: tuple[str, dict[str, Any]]) -> None:
    url, answer = ollama_show
    answer.update({"modelfile": "FROM gpt-oss:20b\n", "model_info": {"general.architecture": "gptoss"}})
    d = describe(pattern(backend="ollama", url=url, model="gpt-oss:20b"))
    assert d.source == "card" and d.name == "gpt-oss-20b"
    assert block_count(pattern(backend="ollama", url=url, model="gpt-oss:20b")) == 24


def test_nothing_describes_it_lists_every_reason() -> None:
    with pytest.raises(FitInputError) as e:
        describe(pattern(backend="ollama", url="http://127.0.0.1:9", model="mistral:7b"), timeout_s=0.5)
    msg = str(e.value)
    assert msg.startswith("mistral:7b: cannot tell what the model is made of")
    assert "did not describe mistral:7b (/api/show)" in msg and "no built-in card" in msg and "model_path" in msg


def test_attached_llama_server_names_its_model_file(llama_server: RunningServer) -> None:
    d = describe(pattern(backend="llamacpp", url=llama_server.url, model="tiny"))
    assert d.source == "gguf" and Path(d.path or "").resolve() == llama_server.model_path.resolve()


def test_lm_studio_models_folder(models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / ".lmstudio" / "models" / "acme" / "tiny-chat-GGUF"
    folder.mkdir(parents=True)
    shutil.copy(models["tiny"], folder / "tiny-chat-Q8_0.gguf")
    monkeypatch.setenv("HOME", str(tmp_path))
    d = describe(pattern(backend="lmstudio", url="http://127.0.0.1:1234", model="acme/tiny-chat"))
    assert d.source == "gguf" and d.path == str(folder / "tiny-chat-Q8_0.gguf")
    assert describe(pattern(backend="lmstudio", model="openai/gpt-oss-20b")).source == "card"


def test_unknown_builtin_model() -> None:
    with pytest.raises(FitInputError, match="builtin:huge"):
        describe(replace(pattern(backend="llamacpp", model_path="builtin:tiny"), model_path="builtin:huge"))
