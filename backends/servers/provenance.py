"""What produced a run: the server's version and which model file (digest, or size and quantization).

Asked once per prepare/load, not per run, and never fatal: anything a server does not say stays None.
Where each figure comes from (see each server's docs):
- llama.cpp `llama-server`: `GET /props` → `build_info` ("b7010-c27efd2bd") and `model_ftype` ("MXFP4 MoE");
  `GET /v1/models` → `data[0].meta.size` (weight bytes) and, in newer builds, `meta.ftype`. No digest.
  A managed server's GGUF file gives the size on disk and `general.file_type` when /props has no ftype.
- Ollama: `GET /api/version` → `{"version": "0.12.3"}`; `GET /api/tags` → per model `digest`, `size`,
  `details.quantization_level` (ollama/ollama docs/api.md).
- LM Studio: no REST version endpoint; `lms version --json` → `{"version": ...}` (lmstudio-ai/lms
  src/subcommands/version.ts), recorded as "lms X". `GET /api/v1/models` → `quantization.name`,
  `size_bytes`; older servers `GET /api/v0/models` → `quantization`.
- OpenAI-compatible servers (exo, vLLM, MLX): no standard version endpoint, so their runs record none.
  `fingerprint()` reads a chunk's `system_fingerprint` (llama.cpp sends its build there) for a stream
  decoder that keeps its first chunk.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from dataclasses import dataclass, fields
from typing import Any, Protocol, runtime_checkable

from backends.fields import obj, positive_int, text
from backends.wire.http import Http

TIMEOUT_S = 5.0


@runtime_checkable
class KnowsProvenance(Protocol):
    """A backend that can tell what produced its runs (llama.cpp, Ollama, LM Studio)."""

    async def provenance(self, model: str) -> Provenance: ...


@dataclass(frozen=True)
class Provenance:
    server_version: str | None = None
    model_digest: str | None = None
    model_size_bytes: int | None = None
    model_quant: str | None = None

    def apply(self, record: Any) -> None:
        """Fill the run record's fields of the same names (a RunRecord; duck-typed to keep layers apart)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and getattr(record, f.name, None) is None:
                setattr(record, f.name, value)


# -- parsers (pure: the JSON each server answers) ---------------------------------------------------


def gguf_file_type(path: str | None) -> str | None:
    """`general.file_type` of a local GGUF as llama.cpp names it (MOSTLY_MXFP4_MOE → "MXFP4_MOE")."""
    if not path or not os.path.isfile(path):
        return None
    from backends.gguf_read import GGUFReadError, read_header

    try:
        return read_header(path).file_type
    except GGUFReadError:  # an optional library, a file being written, a damaged file: unknown it is
        return None


def llamacpp(props: dict[str, Any], models: dict[str, Any] | None = None, model_path: str | None = None) -> Provenance:
    data = (models or {}).get("data")
    meta = obj(data[0].get("meta")) if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    size = positive_int(meta.get("size"))
    if size is None and model_path and os.path.isfile(model_path):
        size = os.path.getsize(model_path)
    quant = text(props.get("model_ftype")) or text(meta.get("ftype")) or gguf_file_type(model_path)
    return Provenance(server_version=text(props.get("build_info")), model_size_bytes=size, model_quant=quant)


def _same_model(entry: dict[str, Any], model: str) -> bool:
    names = {entry.get("name"), entry.get("model")}
    return model in names or (":" not in model and f"{model}:latest" in names)


def ollama(version: dict[str, Any] | None, model: str, tags: dict[str, Any] | None = None) -> Provenance:
    entries = [m for m in (tags or {}).get("models") or [] if isinstance(m, dict)]
    entry = next((m for m in entries if _same_model(m, model)), {})
    return Provenance(
        server_version=text((version or {}).get("version")),
        model_digest=text(entry.get("digest")),
        model_size_bytes=positive_int(entry.get("size")),
        model_quant=text(obj(entry.get("details")).get("quantization_level")),
    )


def lms_version(output: str) -> str | None:
    """`lms version --json` ({"version": "0.0.47"}) or the banner's "lms - LM Studio CLI - v0.0.47"."""
    try:
        v = text(json.loads(output).get("version"))
    except (ValueError, AttributeError):
        m = re.search(r"LM Studio CLI - v([0-9][\w.+-]*)", output)  # the banner line is coloured: stop at ESC
        v = m.group(1) if m else None
    return f"lms {v}" if v else None


def lmstudio(model: str, v1: dict[str, Any] | None = None, v0: dict[str, Any] | None = None) -> Provenance:
    for m in (v1 or {}).get("models") or []:
        if isinstance(m, dict) and model in (m.get("key"), m.get("id")):
            quant = obj(m.get("quantization")).get("name") if isinstance(m.get("quantization"), dict) else None
            return Provenance(model_size_bytes=positive_int(m.get("size_bytes")), model_quant=text(quant))
    for m in (v0 or {}).get("data") or []:
        if isinstance(m, dict) and m.get("id") == model:
            return Provenance(model_quant=text(m.get("quantization")))
    return Provenance()


def fingerprint(chunk: dict[str, Any]) -> Provenance:
    """An OpenAI-style chunk's `system_fingerprint` (llama.cpp: its build; others: whatever they send)."""
    return Provenance(server_version=text(chunk.get("system_fingerprint")))


# -- fetchers (one request each, errors swallowed: provenance never fails a run) --------------------


async def _get(http: Http, path: str) -> dict[str, Any] | None:
    try:
        return await http.get_json(path, timeout=TIMEOUT_S)
    except Exception:
        return None


async def fetch_llamacpp(http: Http, model_path: str | None = None, props: dict[str, Any] | None = None) -> Provenance:
    """`props` when the adapter already holds this load's /props (it asks once per prepare)."""
    props = props if props is not None else await _get(http, "/props")
    return llamacpp(props or {}, await _get(http, "/v1/models"), model_path)


async def fetch_ollama(http: Http, model: str) -> Provenance:
    version, tags = await asyncio.gather(_get(http, "/api/version"), _get(http, "/api/tags"))
    return ollama(version, model, tags)


async def run_lms_version(lms: str | None) -> str | None:
    """`lms version --json` with the given `lms` (None: not run; the CLI must be on LM Studio's machine)."""
    exe = shutil.which(lms) if lms else None
    if exe is None:
        return None
    try:
        proc = await asyncio.create_subprocess_exec(
            exe, "version", "--json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            async with asyncio.timeout(TIMEOUT_S):  # not wait_for: it can lose a stop (wire.light)
                out, _ = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return None
    except OSError:
        return None
    return lms_version(out.decode("utf-8", "replace")) if proc.returncode == 0 else None


async def fetch_lmstudio(http: Http, model: str, lms: str | None) -> Provenance:
    v1 = await _get(http, "/api/v1/models")
    found = lmstudio(model, v1=v1)
    if found.model_quant is None and found.model_size_bytes is None:
        found = lmstudio(model, v0=await _get(http, "/api/v0/models"))
    version = await run_lms_version(lms)
    return Provenance(version, None, found.model_size_bytes, found.model_quant)
