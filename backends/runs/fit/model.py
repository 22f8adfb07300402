"""What a model is made of, for the fit estimate: layer counts, KV shape and bytes per block.

`read_gguf` reads a local GGUF with gguf-py's `GGUFReader` (exact bytes per tensor, summed per block,
expert tensors apart; through `backends.gguf_read`, in a child process for the TUI); `cards.py` builds
the same description from published hyperparameters when no file is at hand. Bad input raises
`FitInputError` with a message that names the file and what is missing; nothing here lets a gguf or
numpy exception through.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from typing import Any

from backends.gguf_read import GGUFHeader, GGUFMissing, GGUFReadError, file_type_name, read_header

# gpt-oss alternates sliding-window and full attention with a period of 2 when the GGUF does not say
# (llama.cpp src/llama-model.cpp, LLM_ARCH_OPENAI_MOE hparams; src/llama-hparams.cpp set_swa_pattern).
DEFAULT_SWA_PERIOD = {"gpt-oss": 2, "gptoss": 2}
# `blk.N.ffn_(up|down|gate|gate_up)_(ch|)exps` and their biases: what --n-cpu-moe keeps on the host
# (llama.cpp common/common.h LLM_FFN_EXPS_REGEX).
_EXPS = re.compile(r"\.ffn_(up|down|gate|gate_up)_(ch|)exps\b")
_BLOCK = re.compile(r"^blk\.(\d+)\.")


class FitInputError(Exception):
    """The model cannot be described: the message names the file (or model) and what is missing."""


@dataclass(frozen=True)
class ModelDesc:
    """One model's shape and weight bytes; `source` says where it came from (gguf, card, ollama-show)."""

    name: str
    source: str
    arch: str
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim_k: int
    head_dim_v: int
    n_ff: int  # dense FFN size, or the expert FFN size of a MoE model
    n_vocab: int
    n_ctx_train: int | None
    block_bytes: tuple[int, ...]  # every tensor of block i
    expert_bytes: tuple[int, ...]  # of which the expert tensors (what --n-cpu-moe moves)
    input_bytes: int  # token_embd and what else sits outside the blocks and the output layer
    output_bytes: int  # output.weight + output_norm (llama.cpp's "output layer")
    n_expert: int = 0
    n_expert_used: int = 0
    n_swa: int = 0  # sliding window in tokens; 0 = none
    swa_layers: tuple[bool, ...] = ()  # per block: True = sliding-window attention
    file_bytes: int | None = None
    path: str | None = None
    quant: str | None = None

    @property
    def weights_bytes(self) -> int:
        return sum(self.block_bytes) + self.input_bytes + self.output_bytes

    @property
    def is_moe(self) -> bool:
        return self.n_expert > 0 and any(self.expert_bytes)

    def is_swa(self, layer: int) -> bool:
        return self.n_swa > 0 and layer < len(self.swa_layers) and self.swa_layers[layer]


def swa_pattern(n_layer: int, period: int) -> tuple[bool, ...]:
    """llama_hparams::set_swa_pattern: layer il is sliding-window when il % period < period - 1."""
    if period <= 1:
        return (False,) * n_layer
    return tuple(il % period < period - 1 for il in range(n_layer))


def pad(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def split_tensors(sizes: dict[str, int], n_layer: int) -> tuple[tuple[int, ...], tuple[int, ...], int, int]:
    """Tensor bytes by name → (per-block bytes, per-block expert bytes, input bytes, output bytes)."""
    blocks = [0] * n_layer
    experts = [0] * n_layer
    inp = out = 0
    for name, n in sizes.items():
        m = _BLOCK.match(name)
        if m and int(m.group(1)) < n_layer:
            i = int(m.group(1))
            blocks[i] += n
            if _EXPS.search(name):
                experts[i] += n
        elif name.startswith(("output.", "output_norm.")):
            out += n
        else:
            inp += n
    if "output.weight" not in sizes:
        # Tied embeddings: llama.cpp loads token_embd a second time as the output matrix.
        out += sizes.get("token_embd.weight", 0)
    return tuple(blocks), tuple(experts), inp, out


def _first(fields: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if k in fields and fields[k] is not None:
            return fields[k]
    return None


def _scalar(v: Any) -> int | None:
    if isinstance(v, list | tuple):
        nums = [int(x) for x in v if isinstance(x, int | float)]
        return max(nums) if nums else None
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def from_metadata(
    kv: dict[str, Any],
    sizes: dict[str, int],
    *,
    name: str,
    source: str,
    where: str,
    file_bytes: int | None = None,
    path: str | None = None,
    quant: str | None = None,
) -> ModelDesc:
    """A description from GGUF-style keys (`{arch}.block_count`, …) and tensor bytes by name. `quant`:
    the file type's name when the reader named it already (else it is named from general.file_type)."""
    arch = kv.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise FitInputError(f"{where}: no general.architecture in the model's metadata")

    def key(suffix: str) -> int | None:
        return _scalar(_first(kv, f"{arch}.{suffix}"))

    n_layer, n_embd, n_head = key("block_count"), key("embedding_length"), key("attention.head_count")
    missing = [k for k, v in (("block_count", n_layer), ("embedding_length", n_embd),
                              ("attention.head_count", n_head)) if not v]  # fmt: skip
    if missing or n_layer is None or n_embd is None or n_head is None:
        raise FitInputError(f"{where}: the metadata has no {', '.join(f'{arch}.{m}' for m in missing)}")
    if not sizes:
        raise FitInputError(f"{where}: no tensors listed, so the weights' size is unknown")
    n_head_kv = key("attention.head_count_kv") or n_head
    head_k = key("attention.key_length") or n_embd // n_head
    head_v = key("attention.value_length") or head_k
    n_expert = key("expert_count") or 0
    n_ff = key("expert_feed_forward_length") if n_expert else None
    n_ff = n_ff or key("feed_forward_length") or 4 * n_embd
    n_swa = key("attention.sliding_window") or 0
    period = key("attention.sliding_window_pattern") or DEFAULT_SWA_PERIOD.get(arch, 0)
    if n_swa and not period:
        n_swa = 0  # a window without a known layer pattern: count every layer at full context
    vocab = key("vocab_size") or 0
    blocks, experts, inp, out = split_tensors(sizes, n_layer)
    return ModelDesc(
        name=name, source=source, arch=arch, n_layer=n_layer, n_embd=n_embd, n_head=n_head,
        n_head_kv=n_head_kv, head_dim_k=head_k, head_dim_v=head_v, n_ff=n_ff, n_vocab=vocab,
        n_ctx_train=key("context_length"), block_bytes=blocks, expert_bytes=experts, input_bytes=inp,
        output_bytes=out, n_expert=n_expert, n_expert_used=key("expert_used_count") or 0, n_swa=n_swa,
        swa_layers=swa_pattern(n_layer, period) if n_swa else (), file_bytes=file_bytes, path=path,
        quant=quant or file_type_name(kv.get("general.file_type")),
    )  # fmt: skip


def read_gguf(path: str | os.PathLike[str], name: str | None = None) -> ModelDesc:
    """Describe a local GGUF file exactly. Raises FitInputError naming the file for bad input.

    A file read before, unchanged since (size and mtime), is not read again: a 60 GB model's header
    takes seconds to parse, and every run of a sweep asks.
    """
    shown = str(path)
    try:
        st = os.stat(path)
    except OSError as e:
        raise FitInputError(f"{shown}: cannot read the model file ({e.strerror or e})") from None
    key = (os.path.abspath(shown), st.st_size, st.st_mtime_ns, _parts_state(shown))
    if key not in _READ:
        if len(_READ) >= 32:
            _READ.clear()
        _READ[key] = _read_gguf(shown, st.st_size)
    desc = _READ[key]
    return desc if name is None or name == desc.name else replace(desc, name=name)


_READ: dict[tuple[str, int, int, tuple[tuple[int, int] | None, ...]], ModelDesc] = {}


def _parts_state(shown: str) -> tuple[tuple[int, int] | None, ...]:
    """Size and mtime of every part of a split model (None: missing), so a changed part is read again."""
    m = _SPLIT.search(shown)
    if not m:
        return ()
    out: list[tuple[int, int] | None] = []
    for i in range(1, int(m.group(2)) + 1):
        try:
            st = os.stat(shown[: m.start()] + f"-{i:05d}-of-{m.group(2)}.gguf")
            out.append((st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


def _read_one(shown: str, size: int) -> tuple[GGUFHeader, list[tuple[str, int, int, int]]]:
    """(header, [(tensor, bytes padded, offset, vocab rows)]) of one GGUF file; FitInputError if bad."""
    try:
        with open(shown, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise FitInputError(f"{shown}: cannot read the model file ({e.strerror or e})") from None
    if magic != b"GGUF":
        raise FitInputError(f"{shown}: not a GGUF file (it does not start with the GGUF magic bytes)")
    try:
        header = read_header(shown)
    except GGUFMissing as e:
        raise FitInputError(f"{shown}: {e}") from None
    except GGUFReadError as e:
        cut = _truncated_at(shown, size)
        if cut is not None:
            raise FitInputError(f"{shown}: truncated: tensor {cut[0]} ends at byte {cut[1]} but the file has "
                                f"{size} bytes; download it again") from None  # fmt: skip
        raise FitInputError(f"{shown}: a damaged or truncated GGUF file ({e})") from None
    tensors = [(name, pad(n, header.alignment), offset, rows) for name, n, offset, rows in header.tensors]
    return header, tensors


_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")


def _read_gguf(shown: str, size: int) -> ModelDesc:
    header, tensors = _read_one(shown, size)
    kv = dict(header.kv)
    total = size
    count = _scalar(kv.get("split.count")) or 1
    m = _SPLIT.search(shown)
    if count > 1 and m:  # a model split over files NAME-0000i-of-0000N.gguf (llama.cpp gguf-split)
        for i in range(1, count + 1):
            other = shown[: m.start()] + f"-{i:05d}-of-{count:05d}.gguf"
            if other == shown:
                continue
            try:
                other_size = os.path.getsize(other)
            except OSError:
                raise FitInputError(f"{shown}: part {i} of {count} of this split model is missing ({other})") from None
            tensors += _read_one(other, other_size)[1]
            total += other_size
    elif count > 1:
        raise FitInputError(f"{shown}: one part of a model split in {count} files, but not named NAME-00001-of-"
                            f"{count:05d}.gguf, so the other parts cannot be found")  # fmt: skip
    sizes = {n: b for n, b, _, _ in tensors}
    arch = kv.get("general.architecture")
    vocab = [rows for n, _, _, rows in tensors if n == "token_embd.weight" and rows]
    if vocab and isinstance(arch, str):
        kv.setdefault(f"{arch}.vocab_size", vocab[0])
    return from_metadata(kv, sizes, name=os.path.basename(shown), source="gguf", where=shown,
                         file_bytes=total, path=shown, quant=header.file_type)  # fmt: skip


_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # GGUF value types


def _truncated_at(path: str, size: int) -> tuple[str, int] | None:
    """(tensor, end byte) of the first tensor whose data the file does not hold; None if the header is bad."""
    import struct

    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    def u(f: Any, fmt: str) -> int:
        return int(struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0])

    def text(f: Any) -> str:
        return str(f.read(u(f, "<Q")).decode("utf-8", "replace"))

    def skip(f: Any, vtype: int) -> None:
        if vtype in _SCALAR_SIZES:
            f.seek(_SCALAR_SIZES[vtype], 1)
        elif vtype == 8:
            f.seek(u(f, "<Q"), 1)
        elif vtype == 9:
            etype, n = u(f, "<I"), u(f, "<Q")
            if etype in _SCALAR_SIZES:
                f.seek(n * _SCALAR_SIZES[etype], 1)
            else:
                for _ in range(n):
                    skip(f, etype)
        else:
            raise ValueError(vtype)

    try:
        with open(path, "rb") as f:
            f.seek(8)
            n_tensors, n_kv = u(f, "<Q"), u(f, "<Q")
            alignment = 32
            for _ in range(n_kv):
                key, vtype = text(f), u(f, "<I")
                if key == "general.alignment" and vtype == 4:
                    alignment = u(f, "<I")
                else:
                    skip(f, vtype)
            infos = []
            for _ in range(n_tensors):
                name, n_dims = text(f), u(f, "<I")
                n = 1
                for _ in range(n_dims):
                    n *= u(f, "<Q")
                block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(u(f, "<I"))]
                infos.append((name, u(f, "<Q"), n // block * type_size))
            start = pad(f.tell(), alignment)
    except (OSError, ValueError, KeyError, struct.error, MemoryError):
        return None
    for name, offset, nbytes in infos:
        if start + offset + nbytes > size:
            return name, start + offset + nbytes
    return None
