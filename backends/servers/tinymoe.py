"""A small random-weight GGUF of llama.cpp's gpt-oss architecture, to hold the estimate against the server.

The demo models are dense llama models; this one has what gpt-oss has and they lack: experts
(`ffn_*_exps` and their biases, a router), attention sinks and biases, and alternating sliding-window
and full-attention layers. Tensor shapes are those llama.cpp creates for LLM_ARCH_OPENAI_MOE
(src/llama-model.cpp). It loads and decodes; its text is noise. Needs gguf and numpy (the demo extra).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class MoeShape:
    embd: int = 128
    layers: int = 4
    heads: int = 8
    heads_kv: int = 2
    head_dim: int = 32
    ff: int = 128
    experts: int = 8
    experts_used: int = 2
    swa: int = 128
    ctx: int = 4096


def _vocab() -> tuple[list[str], list[str]]:
    from backends.servers.tinymodel import CONTROL, _byte_unicode

    bu = _byte_unicode()
    tokens = [bu[b] for b in range(256)]
    merges = [f"{bu[32]} {c}" for c in "etaoinsh"]
    tokens += [m.replace(" ", "") for m in merges] + CONTROL
    return tokens, merges


def write_moe_model(out: str | os.PathLike[str], shape: MoeShape = MoeShape(), seed: int = 0) -> Path:
    from backends.blas import load_numpy

    load_numpy()  # one OpenBLAS thread (gguf loads numpy too): the demo writes its model beside a TUI
    import gguf
    import numpy as np

    rng = np.random.default_rng(seed)
    tokens, merges = _vocab()
    d, f, e, hd = shape.embd, shape.ff, shape.experts, shape.head_dim
    q, kv = shape.heads * hd, shape.heads_kv * hd

    def w(*s: int) -> np.ndarray:  # numpy order: slowest first (GGUF writes it reversed)
        return rng.normal(0, 0.02, s).astype(np.float32)

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    g = gguf.GGUFWriter(str(path), "gpt-oss")
    _metadata(g, shape, tokens, merges)
    g.add_tensor("token_embd.weight", w(len(tokens), d))
    g.add_tensor("output_norm.weight", np.ones(d, np.float32))
    g.add_tensor("output.weight", w(len(tokens), d))
    for i in range(shape.layers):
        p = f"blk.{i}."
        for name, arr in (
            ("attn_norm.weight", np.ones(d, np.float32)),
            ("post_attention_norm.weight", np.ones(d, np.float32)),
            ("attn_q.weight", w(q, d)), ("attn_q.bias", w(q)),
            ("attn_k.weight", w(kv, d)), ("attn_k.bias", w(kv)),
            ("attn_v.weight", w(kv, d)), ("attn_v.bias", w(kv)),
            ("attn_output.weight", w(d, q)), ("attn_output.bias", w(d)),
            ("attn_sinks.weight", w(shape.heads)),
            ("ffn_gate_inp.weight", w(e, d)), ("ffn_gate_inp.bias", w(e)),
            ("ffn_gate_exps.weight", w(e, f, d)), ("ffn_gate_exps.bias", w(e, f)),
            ("ffn_up_exps.weight", w(e, f, d)), ("ffn_up_exps.bias", w(e, f)),
            ("ffn_down_exps.weight", w(e, d, f)), ("ffn_down_exps.bias", w(e, d)),
        ):  # fmt: skip
            g.add_tensor(p + name, arr)
    g.write_header_to_file()
    g.write_kv_data_to_file()
    g.write_tensors_to_file()
    g.close()
    return path


def _metadata(g: Any, shape: MoeShape, tokens: list[str], merges: list[str]) -> None:
    import gguf

    g.add_name("gptoss-top random gpt-oss-shaped model")
    g.add_context_length(shape.ctx)
    g.add_embedding_length(shape.embd)
    g.add_block_count(shape.layers)
    g.add_feed_forward_length(shape.ff)
    g.add_expert_feed_forward_length(shape.ff)
    g.add_expert_count(shape.experts)
    g.add_expert_used_count(shape.experts_used)
    g.add_head_count(shape.heads)
    g.add_head_count_kv(shape.heads_kv)
    g.add_key_length(shape.head_dim)
    g.add_value_length(shape.head_dim)
    g.add_rope_dimension_count(shape.head_dim)
    g.add_rope_freq_base(150000.0)
    g.add_layer_norm_rms_eps(1e-5)
    g.add_sliding_window(shape.swa)
    g.add_vocab_size(len(tokens))
    g.add_file_type(gguf.LlamaFileType.ALL_F32)
    g.add_tokenizer_model("gpt2")
    g.add_tokenizer_pre("gpt-2")
    g.add_token_list(tokens)
    g.add_token_types([1] * (len(tokens) - 8) + [3] * 8)
    g.add_token_merges(merges)
    g.add_bos_token_id(len(tokens) - 8)
    g.add_eos_token_id(len(tokens) - 1)
