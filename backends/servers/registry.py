"""Backend kinds → factories, default URLs; the only place that knows every backend module.

A server kind's module (httpx and all) is imported when a backend of that kind is first made.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

from backends.base import BACKEND_KINDS, Backend, BackendKind, Endpoint, ServerOptions


class BackendFactory(Protocol):
    def __call__(self, endpoint: Endpoint, options: ServerOptions, /) -> Backend: ...


def _llamacpp() -> BackendFactory:
    from backends.servers.llamacpp import create

    return create


def _ollama() -> BackendFactory:
    from backends.servers.ollama import create

    return create


def _lmstudio() -> BackendFactory:
    from backends.servers.lmstudio import create

    return create


def _openai() -> BackendFactory:
    from backends.servers.openai_compat import create

    return create


_FACTORIES: dict[BackendKind, Callable[[], BackendFactory]] = {
    "llamacpp": _llamacpp,
    "ollama": _ollama,
    "lmstudio": _lmstudio,
    "openai": _openai,
}

# Where each server listens when nobody changed it.
_DEFAULT_URLS: dict[BackendKind, str] = {
    "lmstudio": "http://127.0.0.1:1234",
    "ollama": "http://127.0.0.1:11434",
    "llamacpp": "http://127.0.0.1:8080",
    "openai": "http://127.0.0.1:52415",  # exo's default
}


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


# Server kinds that launch a server of their own when a pattern names a model file (managed mode).
_LAUNCHES: frozenset[BackendKind] = frozenset({"llamacpp"})


def launches_server(kind: BackendKind, model_path: str | None) -> bool:
    """Does a pattern of this kind with this model file run a server that gptoss-top starts and owns?"""
    return bool(model_path) and kind in _LAUNCHES


def factory(kind: BackendKind) -> BackendFactory:
    """The function that builds a backend of this kind (importing its module the first time)."""
    if kind not in _FACTORIES:
        raise ValueError(f"unknown backend {kind!r}; expected one of {', '.join(BACKEND_KINDS)}")
    return _FACTORIES[kind]()


def make_backend(kind: BackendKind, endpoint: Endpoint, options: ServerOptions | None = None) -> Backend:
    return factory(kind)(endpoint, options or ServerOptions())
