"""The gpt-oss cards against real llama.cpp log figures, and name matching across backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backends.runs.fit.cards import card, card_name, from_ollama_show, gpt_oss_tensors
from backends.runs.fit.estimate import Placement, breakdown, kv_bytes
from backends.runs.fit.model import FitInputError
from backends.servers.llamaserver_log import read_log
from tests.fit.conftest import DATA

MIB = 1 << 20
OLLAMA_SHOW = Path(__file__).resolve().parent.parent / "data" / "ollama" / "api_show.json"


def close(pred: float, real: float, tol: float = 0.005) -> bool:
    return abs(pred - real) <= tol * real


def test_20b_full_offload_matches_the_rocm_log() -> None:
    mem = read_log(str(DATA / "gpt-oss-20b_rocm_ngl99.log"))
    assert mem is not None and mem.offloaded == (25, 25)
    d = card("openai/gpt-oss-20b")
    b = breakdown(d, 4096, Placement(mem.offloaded[0], 0), has_gpu=True)
    assert close(b.model_gpu, mem.total("model", host=False))  # ROCm0 10949.38 MiB
    assert close(b.model_host, mem.total("model", host=True))  # CPU_Mapped 586.82 MiB (token_embd)


def test_20b_inventory_matches_the_load_log() -> None:
    # "type f32: 289, q8_0: 98, mxfp4: 72", 459 tensors, "file size = 11.27 GiB" (llama.cpp load log).
    tensors = gpt_oss_tensors(24, 32)
    assert len(tensors) == 459
    assert close(sum(tensors.values()) / (1 << 30), 11.27)
    d = card("gpt-oss-20b")
    assert (d.n_layer, d.n_expert, d.n_ctx_train, d.n_swa) == (24, 32, 131_072, 128)
    assert close(d.expert_bytes[0] / MIB, 404.47, 0.0005) and close(d.block_bytes[0] / MIB, 431.77, 0.0005)


def test_120b_card() -> None:
    tensors = gpt_oss_tensors(36, 128)
    assert len(tensors) == 433 + 146 + 108  # f32, q8_0, mxfp4 counts of a 120b load log
    d = card("gpt-oss:120b")
    assert d.n_layer == 36 and d.name == "gpt-oss-120b"


def test_kv_counts_sliding_window_layers_by_their_window() -> None:
    d = card("gpt-oss-20b")
    # 12 full layers × 131072 cells + 12 SWA layers × pad(128 + 512, 256) = 768 cells; 2048 bytes a cell.
    assert kv_bytes(d, 131_072) == 12 * 131_072 * 2048 + 12 * 768 * 2048
    assert kv_bytes(d, 300) == 12 * 512 * 2048 + 12 * 512 * 2048  # the context rounds up to 256


@pytest.mark.parametrize(
    ("name", "card_"),
    [
        ("openai/gpt-oss-20b", "gpt-oss-20b"),
        ("gpt-oss:20b", "gpt-oss-20b"),
        ("gpt-oss-20b", "gpt-oss-20b"),
        ("ggml-org/gpt-oss-20b-GGUF", "gpt-oss-20b"),
        ("gpt-oss-20b-mxfp4.gguf", "gpt-oss-20b"),
        ("openai/gpt-oss-120b", "gpt-oss-120b"),
        ("gpt-oss:120b", "gpt-oss-120b"),
        ("qwen3-8b", None),
        ("llama3.1:8b", None),
    ],
)
def test_names_the_backends_use(name: str, card_: str | None) -> None:
    assert card_name(name) == card_


def test_no_card_names_the_model() -> None:
    with pytest.raises(FitInputError, match=r"qwen3:8b: no built-in card"):
        card("qwen3:8b")


def test_ollama_show_tensors_give_the_weights() -> None:
    show = json.loads(OLLAMA_SHOW.read_text())
    d = from_ollama_show("dolphin3:8b", show)
    assert d.source == "ollama-show" and d.arch == "llama" and d.n_layer == 32 and d.n_head_kv == 8
    # dolphin3:8b Q4_K_M is a 4.9 GB blob; the tensors are nearly all of it.
    assert 4.5e9 < d.weights_bytes < 4.95e9
    assert d.quant == "Q4_K_M"


def test_ollama_show_without_tensors_says_what_to_do() -> None:
    show = json.loads(OLLAMA_SHOW.read_text())
    show.pop("tensors")
    with pytest.raises(FitInputError, match="verbose"):
        from_ollama_show("dolphin3:8b", show)
