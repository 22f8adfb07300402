"""Ollama's native API: `/api/chat` NDJSON streams, `/api/ps` for what is loaded and where.

Ollama applies context length and GPU offload per request (`options.num_ctx`, `options.num_gpu`);
a change reloads the model and the reload shows in `load_duration`. Every figure on the final line
is in nanoseconds and left out when zero (Go `omitempty`), so a missing figure is unknown (None),
never 0 tok/s. Wire details: ollama/ollama `docs/api.md`, `api/types.go` and `server/routes.go`.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from backends.base import (
    AuthError,
    BackendError,
    BackendKind,
    Capabilities,
    ChatRequest,
    ContextOverflow,
    Endpoint,
    GpuLayers,
    Health,
    LoadedModel,
    LoadRefused,
    LoadSpec,
    ModelInfo,
    ModelNotFound,
    Prepared,
    ServerOptions,
    StreamEvent,
)
from backends.fields import count, obj, positive_int, text
from backends.servers.ollama_stream import events_from_ndjson
from backends.servers.provenance import Provenance, fetch_ollama
from backends.wire.framing import read_pace
from backends.wire.http import Http, status_hint

if TYPE_CHECKING:
    import httpx

UNREACHABLE_HINT = "is `ollama serve` running? is OLLAMA_HOST right?"
# Used for "max" when the block count is unknown: any value ≥ block_count+1 means full offload.
ALL_LAYERS = 999
_MODEL_IN_MESSAGE = re.compile(r"""model ['"]([^'"]+)['"]""")


def pull_hint(model: str | None) -> str:
    return f"`ollama pull {model or 'MODEL'}`, or check the name with `ollama list`"


def classify(status: int, body: Any) -> BackendError:
    """Ollama's `{"error": "..."}` bodies as errors that say what to do (ollama/ollama `docs/api/errors.mdx`)."""
    err = body.get("error", body) if isinstance(body, dict) else body
    msg = str(err).strip()[:300] or "(empty body)"
    low = msg.lower()
    if "not found" in low and "model" in low:
        m = _MODEL_IN_MESSAGE.search(msg)
        return ModelNotFound(f"Ollama: {msg}", hint=pull_hint(m.group(1) if m else None), status=status)
    if status == 404:  # a 404 that names no model is a missing route: not Ollama, or a very old one
        return BackendError(f"no such endpoint (404): {msg}", hint="is the URL an Ollama server?", status=status)
    if status in (401, 403):
        return AuthError(
            f"Ollama refused the request ({status}): {msg}", hint="sign in with `ollama signin`", status=status
        )
    if "does not support thinking" in low:
        return BackendError(
            f"Ollama: {msg}", hint="leave reasoning_effort out of this pattern for this model", status=status
        )
    if "context length" in low or "context window" in low:
        return ContextOverflow(f"Ollama: {msg}", hint="use a shorter prompt or a larger context_length", status=status)
    if status == 503:
        return BackendError(
            f"Ollama is busy (503): {msg}",
            hint="wait for other requests to finish, or raise OLLAMA_MAX_QUEUE / OLLAMA_NUM_PARALLEL",
            status=status,
        )
    if status >= 500 and any(w in low for w in ("memory", "load", "runner", "terminated", "cuda", "alloc")):
        return LoadRefused(
            f"Ollama could not run the model ({status}): {msg}",
            hint="try a smaller context_length or fewer gpu_layers; the server log has the details",
            status=status,
        )
    if status >= 500:
        return BackendError(f"Ollama server error ({status}): {msg}", hint="see the Ollama server log", status=status)
    return BackendError(f"Ollama rejected the request ({status}): {msg}", hint=status_hint(status), status=status)


def num_gpu_for(layers: GpuLayers, block_count: int | None) -> int:
    """A pattern's offload (LM Studio slider layers) as Ollama's `num_gpu` (gpt-oss-20b: 24 blocks + output).

    Ollama also counts the output layer, so all N repeating blocks is N+1; fewer keeps the output
    layer on the CPU exactly like the slider does, so k < N stays k.
    """
    if layers == "off":
        return 0
    if layers == "max":
        return block_count + 1 if block_count else ALL_LAYERS
    if block_count is not None and layers >= block_count:
        return block_count + 1
    return layers


def processor_detail(size: int | None, size_vram: int | None) -> str:
    """The PROCESSOR column of `ollama ps`, computed the way `cmd/cmd.go` does."""
    if not size or size_vram is None:
        return ""
    if size_vram <= 0:
        return "100% CPU"
    if size_vram >= size:
        return "100% GPU"
    # Go's math.Round rounds halves away from zero; Python's round() would round them to even.
    cpu = math.floor((size - size_vram) / size * 100 + 0.5)
    return f"{cpu}%/{100 - cpu}% CPU/GPU"


def _chat_message(role: str, content: str) -> dict[str, str]:
    # Ollama's chat templates know system/user/assistant; its harmony renderer turns `system` into
    # gpt-oss's developer message, so a developer message is sent as system.
    return {"role": "system" if role == "developer" else role, "content": content}


class OllamaBackend:
    kind: ClassVar[BackendKind] = "ollama"
    capabilities: ClassVar[Capabilities] = Capabilities(load_applies="per_request", server_timings=True)
    pid: ClassVar[None] = None

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        keep_alive: str | int = "10m",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.url = endpoint.url.rstrip("/")
        self.keep_alive = keep_alive
        self._http = Http(endpoint, unreachable_hint=UNREACHABLE_HINT, classify=classify, transport=transport)
        self._info: dict[str, ModelInfo] = {}
        self._provenance: dict[str, Provenance] = {}  # per model, asked at its first prepare

    # ---------------------------------------------------------------------------------------------
    # Discovery

    async def health(self) -> Health:
        try:
            greeting = await self._http.request("GET", "/")
        except BackendError as e:
            return Health(False, str(e))
        if "Ollama is running" not in str(greeting):
            return Health(False, f"{self.url} answered, but not like Ollama: {str(greeting)[:60]!r}")
        version = None
        try:
            v = (await self._http.get_json("/api/version")).get("version")
            version = v if isinstance(v, str) else None
        except BackendError:
            pass  # the greeting already proved it is Ollama; the version is a nicety
        return Health(True, "ok", version)

    async def provenance(self, model: str) -> Provenance:
        """Ollama's version, and the model's digest, size and quantization (/api/tags), once per model."""
        if model not in self._provenance:
            self._provenance[model] = await fetch_ollama(self._http, model)
        return self._provenance[model]

    async def list_models(self) -> list[ModelInfo]:
        body = await self._http.get_json("/api/tags")
        loaded = {m.name for m in await self.loaded()}
        out = []
        for m in _models(body):
            d = obj(m.get("details"))
            name = str(m.get("name") or m.get("model") or "")
            out.append(
                ModelInfo(
                    name=name,
                    size_bytes=count(m.get("size")),
                    family=text(d.get("family")),
                    parameter_size=text(d.get("parameter_size")),
                    quantization=text(d.get("quantization_level")),
                    loaded=name in loaded,
                )
            )
        return out

    async def show(self, model: str) -> ModelInfo:
        """`/api/show`: block count and trained context length from model_info; cached per model."""
        if model in self._info:
            return self._info[model]
        body = await self._http.request("POST", "/api/show", json={"model": model})
        mi, d = obj(obj(body).get("model_info")), obj(obj(body).get("details"))
        arch = text(mi.get("general.architecture")) or ""
        info = ModelInfo(
            name=model,
            family=text(d.get("family")) or arch or None,
            parameter_size=text(d.get("parameter_size")),
            quantization=text(d.get("quantization_level")),
            context_length=count(mi.get(f"{arch}.context_length")) or _suffix(mi, ".context_length"),
            block_count=count(mi.get(f"{arch}.block_count")) or _suffix(mi, ".block_count"),
        )
        self._info[model] = info
        return info

    async def loaded(self) -> list[LoadedModel]:
        try:
            body = await self._http.get_json("/api/ps")
        except BackendError:
            return []
        out = []
        for m in _models(body):
            size, vram = count(m.get("size")), count(m.get("size_vram"))
            out.append(
                LoadedModel(
                    name=str(m.get("name") or m.get("model") or ""),
                    # Only servers from 2025 on report it (ollama/ollama `api/types.go`); older ones leave it out.
                    context_length=count(m.get("context_length")),
                    size_bytes=size,
                    vram_bytes=vram,
                    expires_at=text(m.get("expires_at")),
                    detail=processor_detail(size, vram),
                    gpu_bytes=vram if size is not None else None,
                    host_bytes=size - vram if size is not None and vram is not None else None,
                )
            )
        return out

    # ---------------------------------------------------------------------------------------------
    # Load and stream

    async def options_for(self, load: LoadSpec | None) -> dict[str, Any]:
        """The runner options (num_ctx, num_gpu) a pattern asks for."""
        opts: dict[str, Any] = {}
        if load is None:
            return opts
        if load.context_length is not None:
            opts["num_ctx"] = load.context_length
        if load.gpu_layers is not None:
            block_count = None
            if load.gpu_layers != "off":
                # If show fails, the chat request itself will say what is wrong with the model.
                with contextlib.suppress(BackendError):
                    block_count = (await self.show(load.model)).block_count
            opts["num_gpu"] = num_gpu_for(load.gpu_layers, block_count)
        return opts

    async def prepare(self, spec: LoadSpec) -> Prepared:
        try:
            info = await self.show(spec.model)
        except ModelNotFound as e:
            e.hint = pull_hint(spec.model)
            raise
        warnings: list[str] = []
        if spec.n_cpu_moe:
            warnings.append(
                f"n_cpu_moe={spec.n_cpu_moe} NOT applied: Ollama has no setting for keeping expert "
                "weights in host memory"
            )
        if spec.context_length and info.context_length and spec.context_length > info.context_length:
            warnings.append(
                f"context_length {spec.context_length} is more than {spec.model} was trained for "
                f"({info.context_length})"
            )
        body = {
            "model": spec.model,
            "messages": [],
            "stream": False,
            "keep_alive": self.keep_alive,
            "options": await self.options_for(spec),
        }
        t0 = time.perf_counter()
        await self._http.request("POST", "/api/chat", json=body)
        load_s = time.perf_counter() - t0
        now = next((m for m in await self.loaded() if _same_model(m.name, spec.model)), None)
        if now is not None and spec.context_length is not None:
            if now.context_length is None:
                warnings.append("this Ollama does not report the loaded context length (update it to check)")
            elif now.context_length != spec.context_length:
                warnings.append(f"asked for context {spec.context_length}, got {now.context_length}")
        wants_all = spec.gpu_layers == "max" or (
            isinstance(spec.gpu_layers, int) and info.block_count and spec.gpu_layers >= info.block_count
        )
        if now is not None and wants_all and now.detail not in ("", "100% GPU"):
            warnings.append(f"the model did not fit on the GPU: {now.detail}")
        return Prepared(load_s=load_s, warnings=tuple(warnings), loaded=now)

    async def chat_body(self, request: ChatRequest) -> dict[str, Any]:
        options = await self.options_for(request.load)
        for key, value in (
            ("num_predict", request.max_tokens),
            ("seed", request.seed),
            ("temperature", request.temperature),
        ):
            if value is not None:
                options[key] = value
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [_chat_message(m.role, m.content) for m in request.messages],
            "stream": True,
            "keep_alive": self.keep_alive,
            "options": options,
        }
        if request.reasoning_effort is not None:
            body["think"] = request.reasoning_effort
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        body = await self.chat_body(request)
        try:
            async with self._http.stream("POST", "/api/chat", json=body) as chunks:
                async for event in events_from_ndjson(chunks, read_pace):
                    yield event
        except ModelNotFound as e:
            e.hint = pull_hint(request.model)
            raise

    async def aclose(self) -> None:
        await self._http.aclose()


def _models(body: dict[str, Any]) -> list[dict[str, Any]]:
    models = body.get("models")
    return [m for m in models if isinstance(m, dict)] if isinstance(models, list) else []


def _same_model(a: str, b: str) -> bool:
    # Ollama names a model without a tag "NAME:latest".
    return a == b or a == f"{b}:latest" or b == f"{a}:latest"


def _suffix(d: dict[str, Any], suffix: str) -> int | None:
    return next((v for k, v in d.items() if k.endswith(suffix) and positive_int(v)), None)


def create(endpoint: Endpoint, options: ServerOptions) -> OllamaBackend:
    return OllamaBackend(endpoint, transport=options.transport)
