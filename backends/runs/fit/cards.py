"""Built-in model cards (gpt-oss-20b/120b, MXFP4) and descriptions from Ollama's `/api/show`.

A card rebuilds the GGUF's tensor inventory from the published hyperparameters (Hugging Face
`openai/gpt-oss-20b` and `-120b` config.json; tensor shapes and types as llama.cpp creates them for
LLM_ARCH_OPENAI_MOE), so its bytes per block come out as a local file would give them: used when the
model runs on another machine (LM Studio over SSH) or no file can be read.
"""

from __future__ import annotations

import re
from typing import Any

from backends.runs.fit.model import FitInputError, ModelDesc, from_metadata

# Bytes per block of 32 weights (gguf-py gguf/constants.py GGML_QUANT_SIZES): MXFP4 1 + 16, Q8_0 2 + 32.
_MXFP4 = (32, 17)
_Q8_0 = (32, 34)
_F32 = (1, 4)

GPT_OSS = {  # name → (blocks, experts)
    "gpt-oss-120b": (36, 128),
    "gpt-oss-20b": (24, 32),
}


def _bytes(n_elements: int, block: tuple[int, int]) -> int:
    return n_elements // block[0] * block[1]


def gpt_oss_tensors(n_layer: int, n_expert: int, d: int = 2880, f: int = 2880, vocab: int = 201_088) -> dict[str, int]:
    """Bytes per tensor of the MXFP4 gpt-oss GGUF (ggml-org/gpt-oss-*-GGUF): 3 MXFP4, 4 Q8_0, 12 F32 a block."""
    t: dict[str, int] = {
        "token_embd.weight": _bytes(d * vocab, _Q8_0),
        "output.weight": _bytes(d * vocab, _Q8_0),
        "output_norm.weight": _bytes(d, _F32),
    }
    q, kv = 64 * 64, 8 * 64  # 64 query heads, 8 KV heads, head dim 64
    per_block = {
        "attn_q.weight": _bytes(d * q, _Q8_0),
        "attn_k.weight": _bytes(d * kv, _Q8_0),
        "attn_v.weight": _bytes(d * kv, _Q8_0),
        "attn_output.weight": _bytes(q * d, _Q8_0),
        "ffn_gate_exps.weight": _bytes(d * f * n_expert, _MXFP4),
        "ffn_up_exps.weight": _bytes(d * f * n_expert, _MXFP4),
        "ffn_down_exps.weight": _bytes(f * d * n_expert, _MXFP4),
        "attn_norm.weight": 4 * d,
        "post_attention_norm.weight": 4 * d,
        "attn_q.bias": 4 * q,
        "attn_k.bias": 4 * kv,
        "attn_v.bias": 4 * kv,
        "attn_output.bias": 4 * d,
        "attn_sinks.weight": 4 * 64,
        "ffn_gate_inp.weight": 4 * d * n_expert,
        "ffn_gate_inp.bias": 4 * n_expert,
        "ffn_gate_exps.bias": 4 * f * n_expert,
        "ffn_up_exps.bias": 4 * f * n_expert,
        "ffn_down_exps.bias": 4 * d * n_expert,
    }
    for i in range(n_layer):
        t.update({f"blk.{i}.{k}": v for k, v in per_block.items()})
    return t


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def card_name(model: str) -> str | None:
    """The card for a backend's model name (`openai/gpt-oss-20b`, `gpt-oss:20b`, a GGUF file name…)."""
    flat = _normal(model)
    # Longest first: "gpt-oss-120b" must not be read as a 20b.
    for card in sorted(GPT_OSS, key=len, reverse=True):
        if _normal(card) in flat:
            return card
    return None


def card(model: str) -> ModelDesc:
    """The built-in description for a gpt-oss model name; FitInputError for any other model."""
    name = card_name(model)
    if name is None:
        raise FitInputError(
            f"{model}: no built-in card for this model (cards: {', '.join(sorted(GPT_OSS))}); give a local GGUF "
            "with model_path, or run it on Ollama, whose /api/show describes it"
        )
    n_layer, n_expert = GPT_OSS[name]
    meta: dict[str, Any] = {
        "general.architecture": "gpt-oss",
        "gpt-oss.block_count": n_layer,
        "gpt-oss.embedding_length": 2880,
        "gpt-oss.feed_forward_length": 2880,
        "gpt-oss.expert_feed_forward_length": 2880,
        "gpt-oss.expert_count": n_expert,
        "gpt-oss.expert_used_count": 4,
        "gpt-oss.attention.head_count": 64,
        "gpt-oss.attention.head_count_kv": 8,
        "gpt-oss.attention.key_length": 64,
        "gpt-oss.attention.value_length": 64,
        "gpt-oss.attention.sliding_window": 128,
        "gpt-oss.context_length": 131_072,
        "gpt-oss.vocab_size": 201_088,
    }
    sizes = gpt_oss_tensors(n_layer, n_expert)
    desc = from_metadata(meta, sizes, name=name, source="card", where=model)
    return _with(desc, quant="MXFP4", file_bytes=sum(sizes.values()))


def _with(desc: ModelDesc, **changes: Any) -> ModelDesc:
    from dataclasses import replace

    return replace(desc, **changes)


def from_ollama_show(model: str, show: dict[str, Any]) -> ModelDesc:
    """A description from `/api/show` (verbose: `model_info` keys and the `tensors` list with types)."""
    info = show.get("model_info")
    if not isinstance(info, dict):
        raise FitInputError(f"{model}: Ollama's /api/show has no model_info")
    tensors = show.get("tensors")
    if not isinstance(tensors, list) or not tensors:
        raise FitInputError(f"{model}: Ollama's /api/show lists no tensors (ask it with verbose: true)")
    sizes: dict[str, int] = {}
    for t in tensors:
        if not isinstance(t, dict):
            continue
        size = tensor_bytes(str(t.get("type", "")), t.get("shape"))
        if size is None:
            raise FitInputError(f"{model}: tensor {t.get('name')!r} has an unknown type {t.get('type')!r}")
        sizes[str(t.get("name"))] = size
    meta = dict(info)
    arch = meta.get("general.architecture")
    if arch == "gptoss":  # Ollama's spelling of llama.cpp's gpt-oss
        meta = {k.replace("gptoss.", "gpt-oss.", 1): v for k, v in meta.items()}
        meta["general.architecture"] = "gpt-oss"
    details = show.get("details") if isinstance(show.get("details"), dict) else {}
    desc = from_metadata(meta, sizes, name=model, source="ollama-show", where=f"{model} (Ollama /api/show)")
    quant = details.get("quantization_level") if isinstance(details, dict) else None
    return _with(desc, quant=quant if isinstance(quant, str) else desc.quant)


def tensor_bytes(type_name: str, shape: Any) -> int | None:
    """Bytes of a tensor from its ggml type name and shape (gguf-py GGML_QUANT_SIZES)."""
    if not isinstance(shape, list) or not all(isinstance(x, int) for x in shape):
        return None
    n = 1
    for x in shape:
        n *= x
    try:
        from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

        block, size = GGML_QUANT_SIZES[GGMLQuantizationType[type_name.upper()]]
    except (ImportError, KeyError):
        table = {"F32": (1, 4), "F16": (1, 2), "BF16": (1, 2), "Q8_0": _Q8_0, "MXFP4": _MXFP4}
        if type_name.upper() not in table:
            return None
        block, size = table[type_name.upper()]
    return n // block * size
