"""A local GGUF file's header — its metadata and tensor table — read with gguf-py's `GGUFReader`.

gguf-py reads through numpy: importing it adds ~15 MB to a process (and OpenBLAS's threads), and a
process keeps what it imported for its whole life. A one-shot command does not mind; the TUI, a `top`
that stays open for hours beside the model it watches, does. So the TUI sets `ISOLATE`, and each read
(once per model file and session: the callers cache) runs in a short-lived child interpreter
(`python -m backends.gguf_read PATH`) that prints the header as JSON.

Errors come back as `GGUFReadError` with the reader's own message, in either mode.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

ISOLATE = False  # read in a child process (set by the TUI)
CHILD_TIMEOUT_S = 120.0  # a 60 GB model's header takes seconds on a slow disk


class GGUFReadError(Exception):
    """The file could not be read as GGUF; the message says why."""


class GGUFMissing(GGUFReadError):
    """gguf-py is not installed (the `demo` extra brings it)."""


MISSING = "reading GGUF files needs the gguf package (pip install gguf)"


def file_type_name(value: Any) -> str | None:
    """general.file_type as llama.cpp names it (MOSTLY_MXFP4_MOE → "MXFP4_MOE"); None if unknown."""
    if not isinstance(value, int):
        return None
    try:
        from gguf import LlamaFileType

        return LlamaFileType(value).name.removeprefix("MOSTLY_")
    except (ImportError, ValueError):
        return None


@dataclass(frozen=True)
class GGUFHeader:
    kv: dict[str, Any]  # metadata, without the tokenizer's arrays (large, and not needed here)
    tensors: list[tuple[str, int, int, int]]  # (name, bytes, data offset, rows of a 2-D+ tensor or 0)
    alignment: int
    file_type: str | None  # general.file_type as llama.cpp names it: "MXFP4_MOE", "Q4_K_M", ...


def read_header(path: str) -> GGUFHeader:
    """The header of the GGUF at `path`, in this process or (ISOLATE) in a child."""
    return _in_child(path) if ISOLATE else _read(path)


def _read(path: str) -> GGUFHeader:
    try:
        from gguf import GGUFReader
    except ImportError:
        raise GGUFMissing(MISSING) from None
    try:
        reader = GGUFReader(path)
        kv = {k: _value(f) for k, f in reader.fields.items() if not k.startswith("tokenizer.ggml.")}
        tensors = [(t.name, int(t.n_bytes), int(t.data_offset), int(t.shape[-1]) if len(t.shape) > 1 else 0)
                   for t in reader.tensors]  # fmt: skip
        align = int(getattr(reader, "alignment", 32) or 32)
    except Exception as e:  # gguf-py raises ValueError, IndexError, struct/numpy errors on bad files
        raise GGUFReadError(f"{type(e).__name__}: {e}") from None
    return GGUFHeader(kv, tensors, align, file_type_name(kv.get("general.file_type")))


def _value(field: Any) -> Any:
    try:
        return field.contents()
    except Exception:
        return None


def _in_child(path: str) -> GGUFHeader:
    try:
        p = subprocess.run([sys.executable, "-m", "backends.gguf_read", path], capture_output=True, text=True,
                           timeout=CHILD_TIMEOUT_S, stdin=subprocess.DEVNULL)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GGUFReadError(f"the header reader did not finish ({type(e).__name__})") from None
    try:
        out = json.loads(p.stdout)
    except ValueError:
        tail = (p.stderr or "").strip().splitlines()[-1:] or [f"exit status {p.returncode}"]
        raise GGUFReadError(f"the header reader failed: {tail[0]}") from None
    if "error" in out:
        raise (GGUFMissing if out.get("missing") else GGUFReadError)(str(out["error"]))
    tensors = [(str(n), int(b), int(o), int(r)) for n, b, o, r in out["tensors"]]
    return GGUFHeader(out["kv"], tensors, int(out["alignment"]), out["file_type"])


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m backends.gguf_read PATH", file=sys.stderr)
        return 2
    try:
        h = _read(argv[0])
    except GGUFReadError as e:
        print(json.dumps({"error": str(e), "missing": isinstance(e, GGUFMissing)}))
        return 0
    doc = {"kv": h.kv, "tensors": h.tensors, "alignment": h.alignment, "file_type": h.file_type}
    print(json.dumps(doc, default=repr))  # a value JSON cannot hold (bytes) becomes its repr
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
