"""Backend kinds → factories, default URLs; the only place that knows every backend module.

A server kind's module (httpx and all) is imported when a backend of that kind is first made.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

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


@dataclass(frozen=True)
class KindTraits:
    """What the rest of gptoss-top may know of a server kind without building a backend: the fit
    estimate and the pattern reader ask these instead of checking the kind."""

    # The context a server loads when a pattern sets none; None: the model's own (llama.cpp `-c 0`).
    default_context: int | None = None
    # The environment variable the server's own tools read for an API key, used when a pattern names none.
    api_key_env: str | None = None
    # Where the model's weights can be read to describe it: the GGUF a llama-server names in /props,
    # Ollama's blob named by /api/show, or LM Studio's models folder on this machine.
    model_file: Literal["props", "ollama-show", "lmstudio-folder"] | None = None
    # The server's own tool that estimates a load before it happens (`lms load --estimate-only`).
    load_estimate: Literal["lms"] | None = None
    # The server runs GGUF models with llama.cpp, so llama-fit-params' figures hold for it.
    runs_llamacpp: bool = False


# Ollama loads 4096 tokens on a GPU under 24 GiB (ollama/ollama docs/context-length.mdx), LM Studio
# 4096 unless told; llama.cpp's -c 0 means the model's training context (tools/server/README.md).
_TRAITS: dict[BackendKind, KindTraits] = {
    "llamacpp": KindTraits(model_file="props", runs_llamacpp=True),
    "ollama": KindTraits(default_context=4096, model_file="ollama-show", runs_llamacpp=True),
    "lmstudio": KindTraits(
        default_context=4096,
        api_key_env="LM_API_TOKEN",
        model_file="lmstudio-folder",
        load_estimate="lms",
        runs_llamacpp=True,
    ),
    "openai": KindTraits(),
}


def traits(kind: BackendKind) -> KindTraits:
    return _TRAITS[kind]


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
