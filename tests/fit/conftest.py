"""Fixtures of the fit tests: generated models and a real llama-server that prints its buffer lines."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from backends.servers.llamaserver import free_port
from backends.servers.llamaserver_log import ServerMemory, read_log
from backends.servers.tinymodel import SHAPES, write_model
from backends.servers.tinymoe import MoeShape, write_moe_model

DATA = Path(__file__).resolve().parent / "data"
ServerBuffers = Callable[[Path, int], ServerMemory]


@pytest.fixture(scope="session")
def models(session_cache: Path) -> dict[str, Path]:
    """Three shapes of the demo models and a gpt-oss-shaped MoE model with sliding-window layers."""
    folder = session_cache / "fit-models"
    out = {n: write_model(folder / f"{n}.gguf", SHAPES[n]) for n in ("tiny", "small", "medium")}
    out["moe"] = write_moe_model(folder / "moe.gguf", MoeShape())
    return out


@pytest.fixture(scope="session")
def server_buffers(server_bin: str) -> ServerBuffers:
    """Start the real llama-server at -lv 4 on a model and context, stop it by PID, read its buffers."""

    def run(model: Path, ctx: int) -> ServerMemory:
        port = free_port()
        log = tempfile.NamedTemporaryFile(prefix="fit-llama-server-", suffix=".log", delete=False)
        argv = [server_bin, "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-c", str(ctx),
                "-np", "1", "-t", "1", "-lv", "4", "--no-warmup"]  # fmt: skip
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
        finally:
            proc.terminate()
            proc.wait(10)
        mem = read_log(log.name)
        Path(log.name).unlink()
        assert mem is not None, "llama-server printed no buffer lines at -lv 4"
        return mem

    return run
