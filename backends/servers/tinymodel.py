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


@dataclass(frozen=True)
class _Vocab:
    """A byte-level GPT-2 vocabulary, " x" merges for every letter, and the chat template's markers."""

    tokens: list[str]
    types: list[int]  # gguf token types: 1 normal, 3 control, 4 user-defined
    merges: list[str]
    tid: dict[str, int]
    lower: list[int]  # lower-case letters, then " x" for each
    upper: list[int]

    @classmethod
    def build(cls) -> _Vocab:
        bu = _byte_unicode()
        tokens = [bu[b] for b in range(256)]
        merges = [f"{bu[32]} {c}" for c in FREQ + FREQ.upper()]
        tokens += [m.replace(" ", "") for m in merges] + CONTROL + USER
        types = [1] * (256 + len(merges)) + [3] * len(CONTROL) + [4] * len(USER)
        tid = {t: i for i, t in enumerate(tokens)}
        lower = [tid[c] for c in FREQ] + [tid[bu[32] + c] for c in FREQ]
        upper = [tid[c.upper()] for c in FREQ] + [tid[bu[32] + c.upper()] for c in FREQ]
        return cls(tokens, types, merges, tid, lower, upper)


@dataclass(frozen=True)
class _Options:
    template: str
    eos_logit: float
    think_end_logit: float

    @property
    def eos(self) -> str:
        return {"chatml": "<|im_end|>", "gptoss": "<|return|>"}[self.template]


_GROUPS = 5


def _bigram_table(v: _Vocab, o: _Options) -> tuple[Any, Any]:
    """Token groups steer the bigram table: 0 answer/default, 1 reasoning, 2 start of reply,
    3 reasoning opener, 4 reasoning closer. T[g, n] is the logit of token n after group g."""
    import numpy as np  # loaded by write_model, with one OpenBLAS thread

    prior = np.concatenate([np.linspace(2.0, 0.0, 26), np.linspace(0.5, -1.5, 26)])
    end_think = USER[4] if o.template == "gptoss" else None
    group = np.zeros(len(v.tokens), dtype=int)
    group[v.upper] = 1
    if o.template == "gptoss":
        group[v.tid["assistant"]] = 2
    group[v.tid[USER[3]]] = 3
    if end_think:
        group[v.tid[end_think]] = 4
    table = np.full((_GROUPS, len(v.tokens)), -30.0, dtype=np.float32)
    table[0, v.lower] = prior
    table[0, v.tid[o.eos]] = o.eos_logit
    table[1, v.upper] = prior
    if end_think:
        table[1, v.tid[end_think]] = o.think_end_logit
    if o.template == "gptoss":
        table[2, v.tid[USER[3]]] = 5.0
    else:
        table[2, v.lower] = prior
    table[3, v.upper] = prior
    table[4, v.lower] = prior
    return group, table


def _embeddings(rng: Any, group: Any, table: Any, d: int) -> tuple[Any, Any]:
    """Input embeddings that carry each token's group, and output weights that read the table back."""
    import numpy as np  # loaded by write_model, with one OpenBLAS thread

    vocab = len(group)
    emb = np.concatenate(
        [
            np.eye(_GROUPS, dtype=np.float32)[group] * 4.0,
            rng.normal(0, 1, (vocab, d - _GROUPS)).astype(np.float32),
        ],
        axis=1,
    )
    noise = rng.normal(0, 1.0 / np.sqrt(d - _GROUPS), (vocab, d - _GROUPS)).astype(np.float32)
    outw = np.concatenate([table.T / 4.0, noise], axis=1)
    outw[:, :_GROUPS] *= np.sqrt((16 + d - _GROUPS) / d)  # undo the final RMS norm for the group part
    return emb, outw


def _add_metadata(w: Any, shape: ModelShape, v: _Vocab, o: _Options) -> None:
    import gguf

    d = shape.embd
    w.add_name("gptoss-top tiny random model")
    w.add_context_length(shape.ctx)
    w.add_embedding_length(d)
    w.add_block_count(shape.layers)
    w.add_feed_forward_length(shape.ff)
    w.add_head_count(shape.heads)
    w.add_head_count_kv(shape.heads)
    w.add_rope_dimension_count(d // shape.heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(len(v.tokens))
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(v.tokens)
    w.add_token_types(v.types)
    w.add_token_merges(v.merges)
    w.add_bos_token_id(v.tid["<|endoftext|>"])
    w.add_eos_token_id(v.tid[o.eos])
    w.add_add_bos_token(False)
    w.add_chat_template(TEMPLATES[o.template])


def _add_layers(w: Any, rng: Any, shape: ModelShape) -> None:
    import numpy as np  # loaded by write_model, with one OpenBLAS thread

    d, ff = shape.embd, shape.ff

    def f32(*s: int, std: float) -> Any:
        # Layer outputs are scaled down so the group logits survive the layers.
        return rng.normal(0, std, s).astype(np.float32)

    for i in range(shape.layers):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", np.ones(d, np.float32))
        for n in ("attn_q", "attn_k", "attn_v"):
            w.add_tensor(p + n + ".weight", f32(d, d, std=d**-0.5))
        w.add_tensor(p + "attn_output.weight", f32(d, d, std=0.01 * d**-0.5))
        w.add_tensor(p + "ffn_norm.weight", np.ones(d, np.float32))
        w.add_tensor(p + "ffn_gate.weight", f32(ff, d, std=d**-0.5))
        w.add_tensor(p + "ffn_up.weight", f32(ff, d, std=d**-0.5))
        w.add_tensor(p + "ffn_down.weight", f32(d, ff, std=0.01 * ff**-0.5))


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
    from backends.blas import load_numpy

    try:
        load_numpy()  # one OpenBLAS thread (gguf loads numpy): the demo writes its model beside a TUI
        import gguf  # the demo extra
        import numpy as np
    except ImportError as e:
        from backends.base import ServerStartFailed

        raise ServerStartFailed(
            f"cannot write the built-in model: {e.name} is not installed",
            hint="install the demo extra: pip install 'gptoss-top[demo]'",
        ) from None

    rng = np.random.default_rng(seed)
    vocab, opts = _Vocab.build(), _Options(template, eos_logit, think_end_logit)
    group, table = _bigram_table(vocab, opts)
    emb, outw = _embeddings(rng, group, table, shape.embd)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + f".tmp{os.getpid()}")
    w = gguf.GGUFWriter(str(tmp), "llama")
    _add_metadata(w, shape, vocab, opts)
    w.add_tensor("token_embd.weight", emb.astype(np.float32))
    w.add_tensor("output_norm.weight", np.ones(shape.embd, np.float32))
    w.add_tensor("output.weight", outw.astype(np.float32))
    _add_layers(w, rng, shape)
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
