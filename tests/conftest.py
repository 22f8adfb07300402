"""Shared fixtures. Tests that need an inference server get a real llama-server running the project's
generated model (session-scoped, on a free loopback port, stopped by PID at the end)."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from backends.servers.llamaserver import find_server_binary, free_port
from backends.servers.tinymodel import SHAPES, write_model

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes into the user's real data or config folders."""
    monkeypatch.setenv("GPTOSS_TOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GPTOSS_TOP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("GPTOSS_TOP_CACHE_DIR", str(session_cache))
    monkeypatch.delenv("LM_API_TOKEN", raising=False)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)


@pytest.fixture(scope="session")
def tiny_model(session_cache: Path) -> Path:
    """The generated gpt-oss-style model: never emits EOS, so completion_tokens == max_tokens."""
    return write_model(session_cache / "models" / "gptoss-top-tiny.gguf", SHAPES["tiny"])


@pytest.fixture(scope="session")
def server_bin() -> str:
    # No skip: the real server is part of the test suite (.ci/run installs it with the demo extra).
    return find_server_binary()


@dataclass
class RunningServer:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    model_path: Path
    log: Path  # the server's output; removed with the server (a test that fails prints its tail)

    @property
    def pid(self) -> int:
        return self.proc.pid


def start_server(binary: str, model: Path, ctx: int = 4096, extra: tuple[str, ...] = ()) -> RunningServer:
    port = free_port()
    argv = [binary, "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-c", str(ctx),
            "-ngl", "0", "-np", "1", "-t", "2", "--metrics", *extra]  # fmt: skip
    # A file, not a pipe: a pipe nobody reads fills up and blocks the server mid-test.
    with tempfile.NamedTemporaryFile(prefix="llama-server-test-", suffix=".log", delete=False) as f:
        log = Path(f.name)
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"llama-server exited with {proc.returncode}:\n{err}")
            try:
                if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                    return RunningServer(url, port, proc, model, log)
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"llama-server did not become healthy in 60 s:\n{log.read_text(errors='replace')[-2000:]}")
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.unlink(missing_ok=True)
        raise


def stop_server(server: RunningServer) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(10)
    server.log.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def llama_server(server_bin: str, tiny_model: Path) -> Iterator[RunningServer]:
    """A real llama-server with the tiny generated model, shared by the whole session."""
    server = start_server(server_bin, tiny_model)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def own_llama_server(server_bin: str, tiny_model: Path) -> Iterator[RunningServer]:
    """A llama-server for one test, which the test may kill."""
    server = start_server(server_bin, tiny_model)
    try:
        yield server
    finally:
        stop_server(server)


def pytest_report_header(config: pytest.Config) -> str:
    try:
        return f"llama-server: {find_server_binary()}"
    except Exception as e:
        return f"llama-server: not found ({e})"
