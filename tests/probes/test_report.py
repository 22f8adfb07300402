from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from backends.probes import to_dict
from backends.probes.report import DEFAULT_BACKENDS, check_backend, collect, render_text
from tests.probes.fake import fake_snapshots


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            body, status = b'{"error":{"code":503,"message":"Loading model"}}', 503
        else:
            body, status = b'{"lmstudio":true}', 200
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()
    t.join()


def test_check_backend_answers(server: int) -> None:
    ok = check_backend("lmstudio", server, "/lmstudio-greeting", 1.0)
    assert ok["answered"]
    assert ok["status"] == 200
    assert ok["detail"] == '{"lmstudio":true}'
    loading = check_backend("llamacpp", server, "/health", 1.0)
    assert loading["answered"]
    assert loading["status"] == 503
    assert "Loading model" in loading["detail"]


def test_check_backend_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = check_backend("ollama", port, "/", 0.5)
    assert r == {"name": "ollama", "port": port, "url": f"http://127.0.0.1:{port}/", "answered": False,
                 "status": None, "detail": "connection refused"}  # fmt: skip


def test_check_backend_times_out() -> None:
    with socket.socket() as s:  # accepts the connection, never answers
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = check_backend("exo", s.getsockname()[1], "/v1/models", 0.2)
    assert not r["answered"]
    assert r["detail"] == "timed out"


def test_collect_on_this_machine() -> None:
    d = collect(timeout_s=0.5)
    assert json.loads(json.dumps(d)) == d
    assert "host" in d["probes"]
    assert [(b["name"], b["port"]) for b in d["backends"]] == [(n, p) for n, p, _ in DEFAULT_BACKENDS]
    assert all(b["url"].startswith("http://127.0.0.1:") for b in d["backends"])
    text = render_text(d)
    assert "Host memory" in text
    assert "pressure level:" in text
    if not d["snapshot"]["gpus"]:
        assert "no GPU detected" in text


def test_render_text_gpu_and_apple() -> None:
    ollama = {"name": "ollama", "port": 11434, "answered": True, "status": 200, "detail": "Ollama is running"}
    nvidia = {
        "platform": {"system": "Linux", "machine": "x86_64"},
        "probes": ["host", "fake"],
        "snapshot": to_dict(fake_snapshots(9)[-1]),
        "backends": [ollama],
    }
    text = render_text(nvidia)
    assert "[nvidia 0] Fake RTX 4090" in text
    assert "pid 4242:" in text
    assert "PSI memory some avg10" in text
    assert "ollama    :11434  answers (HTTP 200) — Ollama is running" in text
    assert "no GPU detected" not in text

    mac = {"platform": {"system": "Darwin", "machine": "arm64"}, "probes": ["host", "apple"],
           "snapshot": to_dict(fake_snapshots(30, vendor="apple")[-1]), "backends": []}  # fmt: skip
    text = render_text(mac)
    assert "(shared with system memory)" in text
    assert "macOS pressure level" in text
    assert "iogpu.wired_limit_mb 0 (system default)" in text
    assert "PSI not available" not in text


def test_render_text_no_gpu() -> None:
    d = {"platform": {"system": "Linux"}, "absent": {"nvidia": "no NVIDIA driver (NVML Shared Library Not Found)"},
         "snapshot": to_dict(fake_snapshots(1, vendor=None)[0]), "backends": []}  # fmt: skip
    text = render_text(d)
    assert "no GPU detected" in text
    assert "nvidia: no NVIDIA driver" in text
