"""Backend kinds → classes, default URLs; the only place that knows every backend module."""

from __future__ import annotations

import importlib
import os
from typing import Any

from backends.base import BACKEND_KINDS, Backend, BackendKind, Endpoint

_CLASSES: dict[BackendKind, tuple[str, str]] = {
    "llamacpp": ("backends.servers.llamacpp", "LlamaCppBackend"),
    "ollama": ("backends.servers.ollama", "OllamaBackend"),
    "lmstudio": ("backends.servers.lmstudio", "LMStudioBackend"),
    "openai": ("backends.servers.openai_compat", "OpenAICompatBackend"),
}

# Where each server listens when nobody changed it. llama.cpp moved 8080 → 9931 in late builds.
_DEFAULT_URLS: dict[BackendKind, str] = {
    "lmstudio": "http://127.0.0.1:1234",
    "ollama": "http://127.0.0.1:11434",
    "llamacpp": "http://127.0.0.1:8080",
    "openai": "http://127.0.0.1:52415",  # exo's default
}
ALTERNATE_URLS: dict[BackendKind, tuple[str, ...]] = {"llamacpp": ("http://127.0.0.1:9931",)}


def ollama_host_url(value: str | None) -> str | None:
    """OLLAMA_HOST as Ollama reads it: "host", "host:port" or a URL; 0.0.0.0 means this machine."""
    if not value:
        return None
    v = value.strip()
    scheme = "http"
    if "://" in v:
        scheme, _, v = v.partition("://")
    v = v.rstrip("/")
    host, sep, port = v.rpartition(":") if v.count(":") == 1 or v.startswith("[") else ("", "", "")
    if not sep:
        host, port = v, ""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    return f"{scheme}://{host}:{port or '11434'}"


def default_url(kind: BackendKind) -> str:
    if kind == "ollama":
        env = ollama_host_url(os.environ.get("OLLAMA_HOST"))
        if env:
            return env
    return _DEFAULT_URLS[kind]


def backend_class(kind: BackendKind) -> type[Any]:
    if kind not in _CLASSES:
        raise ValueError(f"unknown backend {kind!r}; expected one of {', '.join(BACKEND_KINDS)}")
    module, name = _CLASSES[kind]
    cls: type[Any] = getattr(importlib.import_module(module), name)
    return cls


def make_backend(kind: BackendKind, endpoint: Endpoint, **options: Any) -> Backend:
    """Build a backend. `options` are backend-specific (llama.cpp: model_path, server_bin, ...)."""
    backend: Backend = backend_class(kind)(endpoint, **options)
    return backend
