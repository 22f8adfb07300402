"""Write small random-weight GGUF models that the real llama-server loads: no download needed.

The weights are random but shaped so the model behaves as a bigram text generator with a gpt-oss
(harmony) chat template: it first writes an UPPER-CASE "reasoning" part on the analysis channel,
closes it with the channel markers, then writes a lower-case answer. llama-server turns the first part
into `reasoning_content`, so both halves of a gpt-oss reply are exercised. The text is gibberish; the
tokens, timings and memory are real. Needs the `demo` extra (gguf, numpy).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEMPLATES = {
    "chatml": "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
    "gptoss": "{% for m in messages %}{% if m.role == 'assistant' %}<|start|>assistant<|channel|>final<|message|>"
    "{{ m.content }}<|end|>{% else %}<|start|>{{ m.role }}<|message|>{{ m.content }}<|end|>{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|start|>assistant{% endif %}",
}
CONTROL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|start|>",
    "<|channel|>",
    "<|message|>",
    "<|end|>",
    "<|return|>",
]
USER = [
    "<think>",
    "</think>",
    "assistant",
    "<|channel|>analysis<|message|>",
    "<|end|><|start|>assistant<|channel|>final<|message|>",
]
FREQ = "etaoinshrdlcumwfgypbvkjxqz"  # English letters, most frequent first


MODEL_VERSION = "v2"  # bump when write_model's output changes


@dataclass(frozen=True)
class ModelShape:
    embd: int = 64
    layers: int = 2
    heads: int = 4
    ff: int = 256
    ctx: int = 4096


# Named sizes used by the demo and the tests (tok/s measured on a 2-core x86 CPU).
SHAPES: dict[str, ModelShape] = {
    "tiny": ModelShape(),  # 0.7 MB, thousands of tok/s: fast tests
    "small": ModelShape(embd=256, layers=4, heads=8, ff=1024),  # 17.5 MB
    "medium": ModelShape(embd=512, layers=8, heads=8, ff=2048),  # 136 MB, a few hundred tok/s
    "large": ModelShape(embd=1024, layers=8, heads=8, ff=4096),  # 540 MB, tens of tok/s
}


def _byte_unicode() -> dict[int, str]:
    """GPT-2's byte → printable character map."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs, strict=True)}


def write_model(
    out: str | os.PathLike[str],
    shape: ModelShape = ModelShape(),
    *,
    template: str = "gptoss",
    eos_logit: float = -30.0,
    think_end_logit: float = 1.5,
    seed: int = 0,
) -> Path:
    """Write the model to `out` (atomically) and return its path.

    eos_logit: -30 never stops (completion_tokens == max_tokens); 0.5 gives ~50-token replies.
    think_end_logit: how soon the reasoning part ends. At 1.5, 1,000 seeded replies of 160 tokens all
    reached their answer (median reasoning 20 characters); 5 in 1,000 of 128 tokens did not. At 0.5,
    27 in 100 of 128 tokens never left the reasoning.
    """
    try:
        import gguf  # the demo extra
        import numpy as np
    except ImportError as e:
        from backends.base import ServerStartFailed

        raise ServerStartFailed(
            f"cannot write the built-in model: {e.name} is not installed",
            hint="install the demo extra: pip install 'gptoss-top[demo]'",
        ) from None

    rng = np.random.default_rng(seed)
    bu = _byte_unicode()
    tokens = [bu[b] for b in range(256)]
    merges = [f"{bu[32]} {c}" for c in FREQ + FREQ.upper()]
    tokens += [m.replace(" ", "") for m in merges] + CONTROL + USER
    types = [1] * (256 + len(merges)) + [3] * len(CONTROL) + [4] * len(USER)
    tid = {t: i for i, t in enumerate(tokens)}
    vocab, d = len(tokens), shape.embd
    lower = [tid[c] for c in FREQ] + [tid[bu[32] + c] for c in FREQ]
    upper = [tid[c.upper()] for c in FREQ] + [tid[bu[32] + c.upper()] for c in FREQ]
    prior = np.concatenate([np.linspace(2.0, 0.0, 26), np.linspace(0.5, -1.5, 26)])
    eos = {"chatml": "<|im_end|>", "gptoss": "<|return|>"}[template]
    end_think = USER[4] if template == "gptoss" else None
    start = tid["assistant"] if template == "gptoss" else None

    # Token groups steer the bigram table: 0 answer/default, 1 reasoning, 2 start of reply,
    # 3 reasoning opener, 4 reasoning closer. T[g, n] is the logit of token n after group g.
    groups = 5
    group = np.zeros(vocab, dtype=int)
    group[upper] = 1
    if start is not None:
        group[start] = 2
    group[tid[USER[3]]] = 3
    if end_think:
        group[tid[end_think]] = 4
    table = np.full((groups, vocab), -30.0, dtype=np.float32)
    table[0, lower] = prior
    table[0, tid[eos]] = eos_logit
    table[1, upper] = prior
    if end_think:
        table[1, tid[end_think]] = think_end_logit
    if template == "gptoss":
        table[2, tid[USER[3]]] = 5.0
    else:
        table[2, lower] = prior
    table[3, upper] = prior
    table[4, lower] = prior

    emb = np.concatenate(
        [
            np.eye(groups, dtype=np.float32)[group] * 4.0,
            rng.normal(0, 1, (vocab, d - groups)).astype(np.float32),
        ],
        axis=1,
    )
    noise = rng.normal(0, 1.0 / np.sqrt(d - groups), (vocab, d - groups)).astype(np.float32)
    outw = np.concatenate([table.T / 4.0, noise], axis=1)
    outw[:, :groups] *= np.sqrt((16 + d - groups) / d)  # undo the final RMS norm for the group part

    def f32(*s: int, std: float) -> Any:
        # Layer outputs are scaled down so the group logits above survive the layers.
        return rng.normal(0, std, s).astype(np.float32)

    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + f".tmp{os.getpid()}")
    w = gguf.GGUFWriter(str(tmp), "llama")
    w.add_name("gptoss-top tiny random model")
    w.add_context_length(shape.ctx)
    w.add_embedding_length(d)
    w.add_block_count(shape.layers)
    w.add_feed_forward_length(shape.ff)
    w.add_head_count(shape.heads)
    w.add_head_count_kv(shape.heads)
    w.add_rope_dimension_count(d // shape.heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(vocab)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(tid["<|endoftext|>"])
    w.add_eos_token_id(tid[eos])
    w.add_add_bos_token(False)
    w.add_chat_template(TEMPLATES[template])
    w.add_tensor("token_embd.weight", emb.astype(np.float32))
    w.add_tensor("output_norm.weight", np.ones(d, np.float32))
    w.add_tensor("output.weight", outw.astype(np.float32))
    for i in range(shape.layers):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", np.ones(d, np.float32))
        for n in ("attn_q", "attn_k", "attn_v"):
            w.add_tensor(p + n + ".weight", f32(d, d, std=d**-0.5))
        w.add_tensor(p + "attn_output.weight", f32(d, d, std=0.01 * d**-0.5))
        w.add_tensor(p + "ffn_norm.weight", np.ones(d, np.float32))
        w.add_tensor(p + "ffn_gate.weight", f32(shape.ff, d, std=d**-0.5))
        w.add_tensor(p + "ffn_up.weight", f32(shape.ff, d, std=d**-0.5))
        w.add_tensor(p + "ffn_down.weight", f32(d, shape.ff, std=0.01 * shape.ff**-0.5))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, out_path)
    return out_path


def builtin_model(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of a named built-in model ("tiny", "medium", ...), written on first use into the cache."""
    if name not in SHAPES:
        from backends.base import ModelNotFound

        raise ModelNotFound(
            f"there is no built-in model {name!r}", hint=f"use one of builtin:{', builtin:'.join(SHAPES)}"
        )
    if cache_dir is None:
        from backends.paths import cache_dir as default_cache

        cache_dir = default_cache()
    # The folder carries the weights' version: a cache written by an older release is not reused.
    path = Path(cache_dir) / "models" / MODEL_VERSION / f"gptoss-top-{name}.gguf"
    if not path.exists():
        write_model(path, SHAPES[name])
    return path


BUILTIN_PREFIX = "builtin:"


def resolve_model_path(value: str, cache_dir: str | os.PathLike[str] | None = None) -> str:
    """`builtin:NAME` → the generated model's path; anything else is a file path, ~ expanded."""
    if value.startswith(BUILTIN_PREFIX):
        return str(builtin_model(value[len(BUILTIN_PREFIX) :], cache_dir))
    return os.path.expanduser(value)
