"""Find the best description of a pattern's model: a local GGUF, Ollama's /api/show, or a card.

Order: the pattern's `model_path` (a GGUF, or `builtin:NAME`); for llama.cpp in attach mode the
server's `/props` `model_path`; for Ollama the model blob named in `/api/show`'s Modelfile (`FROM
<path>`) when it is on this disk, else `/api/show`'s own tensor list; for LM Studio on this machine
its models folder; then the built-in cards. Network questions go to the pattern's own server with a
short time-out. Raises FitInputError with every reason when nothing describes the model.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from backends.runs.fit.cards import card, card_name, from_ollama_show
from backends.runs.fit.model import FitInputError, ModelDesc, read_gguf
from backends.servers.registry import traits
from backends.wire import light

LMSTUDIO_MODEL_DIRS = ("~/.lmstudio/models", "~/.cache/lm-studio/models")  # LM Studio ≥ 0.3 and older


def _local_file(path: str) -> str | None:
    p = os.path.expanduser(path)
    return p if os.path.isfile(p) else None


def _get_json(base: str, path: str, timeout_s: float, body: dict[str, Any] | None = None) -> Any:
    """The JSON answer of the pattern's server, or None. Called from a worker thread, so it may block.

    A plain-HTTP URL is asked with the standard library's client (httpx would add ~4 MB to an idle
    TUI: backends.wire.light); https and proxies go through httpx."""
    if light.usable(base):
        return light.fetch_json_blocking(base, path, timeout_s, body)
    import httpx

    try:
        with httpx.Client(timeout=timeout_s) as c:
            r = c.post(base + path, json=body) if body is not None else c.get(base + path)
        return r.json() if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def _from_model_path(value: str, name: str) -> ModelDesc:
    from backends.servers.tinymodel import BUILTIN_PREFIX, resolve_model_path

    try:
        path = resolve_model_path(value)
    except Exception as e:  # an unknown builtin: name, or the demo extra missing
        raise FitInputError(f"{value}: {e}") from None
    label = value if value.startswith(BUILTIN_PREFIX) else name
    return read_gguf(path, name=label)


def _lmstudio_file(model: str) -> str | None:
    """A GGUF in LM Studio's models folder whose publisher/repo path matches the model key."""
    want = re.sub(r"[^a-z0-9]", "", model.lower().split("@")[0])
    if not want:
        return None
    for root in LMSTUDIO_MODEL_DIRS:
        base = Path(os.path.expanduser(root))
        if not base.is_dir():
            continue
        for f in sorted(base.glob("*/*/*.gguf")):
            if f.name.startswith("mmproj"):
                continue
            rel = re.sub(r"[^a-z0-9]", "", str(f.relative_to(base)).lower())
            if want in rel:
                return str(f)
    return None


def _ollama(pattern: Any, timeout_s: float, reasons: list[str]) -> ModelDesc | None:
    show = _get_json(pattern.url, "/api/show", timeout_s, {"model": pattern.model, "verbose": True})
    if not isinstance(show, dict):
        reasons.append(f"Ollama at {pattern.url} did not describe {pattern.model} (/api/show)")
        return None
    m = re.search(r"^FROM\s+(\S.*)$", str(show.get("modelfile", "")), re.MULTILINE)
    blob = _local_file(m.group(1).strip()) if m else None
    if blob:
        return read_gguf(blob, name=pattern.model)
    try:
        return from_ollama_show(pattern.model, show)
    except FitInputError as e:
        reasons.append(str(e))
        return None


def _llamacpp_props(pattern: Any, timeout_s: float, reasons: list[str]) -> ModelDesc | None:
    props = _get_json(pattern.url, "/props", timeout_s)
    path = props.get("model_path") if isinstance(props, dict) else None
    if isinstance(path, str) and _local_file(path):
        return read_gguf(path, name=pattern.model or os.path.basename(path))
    reasons.append(f"llama-server at {pattern.url} named no model file on this machine (/props model_path)")
    return None


def describe(pattern: Any, *, timeout_s: float = 2.0, network: bool = True) -> ModelDesc:
    """The best description of `pattern.model`; FitInputError (every reason) when there is none."""
    if pattern.model_path:
        return _from_model_path(pattern.model_path, pattern.model)
    reasons: list[str] = []
    desc: ModelDesc | None = None
    where = traits(pattern.backend).model_file
    if network and where == "props":
        desc = _llamacpp_props(pattern, timeout_s, reasons)
    elif network and where == "ollama-show":
        desc = _ollama(pattern, timeout_s, reasons)
    elif where == "lmstudio-folder":
        found = _lmstudio_file(pattern.model)
        if found:
            desc = read_gguf(found, name=pattern.model)
    if desc is not None:
        return desc
    if card_name(pattern.model):
        return card(pattern.model)
    reasons.append(f"no built-in card for {pattern.model!r} (cards: gpt-oss-20b, gpt-oss-120b)")
    raise FitInputError(f"{pattern.model}: cannot tell what the model is made of: " + "; ".join(reasons) +
                        " — set model_path to a local GGUF")  # fmt: skip


def block_count(pattern: Any, *, timeout_s: float = 2.0) -> int | None:
    """The model's repeating blocks (LM Studio's layer count), or None when nothing says."""
    try:
        return describe(pattern, timeout_s=timeout_s).n_layer
    except FitInputError:
        return None
