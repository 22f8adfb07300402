"""A real run on a managed llama-server records the fit prediction beside what the server loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backends.probes.model import HostSample, Peaks, Snapshot
from backends.runs.patterns import parse_patterns
from backends.runs.session import BackendPool, RunContext, run_pattern
from backends.servers.llamaserver import ServerConfig

pytestmark = pytest.mark.integration
GIB = 1 << 30


class HostOnly:
    """A sampler that reports this machine without a GPU (the run's budget)."""

    latest = Snapshot(0.0, host=HostSample(mem_total_bytes=32 * GIB, mem_available_bytes=24 * GIB))
    history = (latest,)

    def set_backend(self, pid: int | None, port: int | None) -> None:
        pass

    def sample_now(self) -> Snapshot:
        return self.latest

    def peaks(self, since: float, until: float | None = None) -> Peaks:
        return Peaks(None, None, None, None)


def pattern(model: Path, **kw: Any) -> Any:
    spec = {"name": "A", "backend": "llamacpp", "model_path": str(model), "context_length": 1024, "max_tokens": 4,
            "seed": 1, **kw}  # fmt: skip
    return parse_patterns({"patterns": [spec]}, "test").patterns[0]


@pytest.mark.parametrize(("shape", "n_cpu_moe"), [("tiny", None), ("moe", 2)])
async def test_run_records_predicted_and_loaded(shape: str, n_cpu_moe: int | None, models: dict[str, Path]) -> None:
    p = pattern(models[shape], **({"n_cpu_moe": n_cpu_moe} if n_cpu_moe else {}))
    pool = BackendPool()
    try:
        rec = await run_pattern(p, pool.get(p), ctx=RunContext(sampler=HostOnly()))  # type: ignore[arg-type]
    finally:
        await pool.aclose()
    assert rec.ok, rec.error
    assert (rec.fit_source, rec.fit_verdict, rec.n_cpu_moe) == ("gguf", "fits", n_cpu_moe)
    assert rec.predicted_gpu_bytes == 0 and rec.loaded_gpu_bytes == 0  # no GPU here: all on the CPU
    assert rec.predicted_host_bytes and rec.loaded_host_bytes
    # model and KV exact, compute within 10 %: the total within 2 %
    assert abs(rec.predicted_host_bytes - rec.loaded_host_bytes) <= 0.02 * rec.loaded_host_bytes


def test_managed_server_argv_asks_for_buffers_and_expert_offload() -> None:
    argv = ServerConfig("/m.gguf", 4096, "25", n_cpu_moe=8).argv("llama-server", 8080)
    assert argv[argv.index("-lv") + 1] == "4" and argv[argv.index("--n-cpu-moe") + 1] == "8"
    assert "--cpu-moe" in ServerConfig("/m.gguf", 4096, "25", n_cpu_moe="all").argv("llama-server", 8080)
    assert "--n-cpu-moe" not in ServerConfig("/m.gguf", 4096, "25").argv("llama-server", 8080)
