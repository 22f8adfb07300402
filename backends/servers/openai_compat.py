"""Any OpenAI-compatible server: `/v1/chat/completions` + `/v1/models` (exo, vLLM, MLX, a cloud API).

Such a server cannot be told a context length or GPU offload, so `prepare` only checks the model and
says which pattern settings it could not apply. The chunk reading lives in `backends.wire.openai_stream`;
the request body, model list and error mapping here are reused by LM Studio's OpenAI fallback.
"""

from __future__ import annotations

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
    Health,
    LoadedModel,
    LoadSpec,
    ModelInfo,
    ModelNotFound,
    Prepared,
    ServerOptions,
    StreamEvent,
)
from backends.fields import obj, positive_int
from backends.wire.framing import Pace
from backends.wire.http import Http, default_classify, status_hint
from backends.wire.openai_stream import error_from_payload, events_from_sse_bytes

if TYPE_CHECKING:
    import httpx

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"


def chat_body(request: ChatRequest, *, reasoning_effort: bool = True) -> dict[str, Any]:
    """The streaming request body; `reasoning_effort` is dropped for servers known to ignore it."""
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "stream": True,
        # Without this most servers send no token counts at all while streaming.
        "stream_options": {"include_usage": True},
    }
    optional = {
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "seed": request.seed,
        "reasoning_effort": request.reasoning_effort if reasoning_effort else None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


async def stream_chat(
    http: Http, body: dict[str, Any], path: str = CHAT_PATH, *, pace_s: Pace = 0.0
) -> AsyncIterator[StreamEvent]:
    """POST a streaming chat and yield its events; closing this iterator closes the connection.
    `pace_s`: wait between reads once tokens flow (`framing.decode`); for servers that time themselves."""
    try:
        async with http.stream("POST", path, json=body) as chunks:
            async for event in events_from_sse_bytes(chunks, pace_s):
                yield event
    except BackendError as e:
        raise http.clean(e) from None


def models_from_openai(body: Any) -> list[ModelInfo]:
    """`/v1/models` as vLLM (max_model_len), llama-server (meta) or a plain OpenAI server answers it."""
    data = body.get("data") if isinstance(body, dict) else None
    out: list[ModelInfo] = []
    for row in data if isinstance(data, list) else []:
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            continue
        meta = obj(row.get("meta"))
        ctx = (
            positive_int(row.get("max_model_len"))
            or positive_int(row.get("context_length"))
            or positive_int(meta.get("n_ctx_train"))
        )
        out.append(ModelInfo(name=row["id"], size_bytes=positive_int(meta.get("size")), context_length=ctx))
    return out


def classify_openai(status: int, body: Any, *, not_found_hint: str | None = None) -> BackendError:
    """An error status from an OpenAI-style server → the error a user can act on."""
    if status in (401, 403):
        return default_classify(status, body)
    err = error_from_payload(body, status)
    if isinstance(err, ContextOverflow):
        return err
    raw = body.get("error") if isinstance(body, dict) else None
    code = str(raw.get("code") or raw.get("type") or "") if isinstance(raw, dict) else ""
    low = err.message.lower()
    if code == "model_not_found" or (status == 404 and "model" in low and "not" in low):
        return ModelNotFound(
            err.message, hint=not_found_hint or "GET /v1/models lists what the server serves", status=status
        )
    return BackendError(f"HTTP {status}: {err.message}", hint=status_hint(status), status=status)


class OpenAICompatBackend:
    """A server that speaks only the OpenAI chat API; every figure beyond `usage` is client-measured."""

    kind: ClassVar[BackendKind] = "openai"
    capabilities: ClassVar[Capabilities] = Capabilities(
        load_applies="none",
        offload_blocked="an OpenAI-compatible server has no offload control — use llama.cpp, Ollama or LM Studio",
    )
    pid: ClassVar[None] = None

    def __init__(
        self, endpoint: Endpoint, *, transport: httpx.AsyncBaseTransport | None = None, exo_bench: bool = False
    ) -> None:
        """`exo_bench`: ask exo's /bench/chat/completions (server-timed rates, no stream)."""
        self.url = endpoint.url.rstrip("/")
        self._exo_bench = exo_bench
        self._http = Http(
            endpoint,
            unreachable_hint="is the server running, and is the URL (host and port) right?",
            classify=classify_openai,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"OpenAICompatBackend(url={self.url!r})"

    async def health(self) -> Health:
        try:
            models = models_from_openai(await self._http.request("GET", MODELS_PATH, timeout=10))
            if models:
                return Health(True, f"ok, serving {', '.join(m.name for m in models[:3])}")
        except AuthError as e:
            return Health(False, str(e))
        except BackendError:
            pass
        except Exception as e:  # health never raises: an odd URL must not crash the header
            return Health(False, f"{type(e).__name__}: {e}")
        # Some servers (vLLM, llama-server) list nothing while loading but answer /health.
        try:
            await self._http.request("GET", "/health", timeout=10)
            return Health(True, "ok (no models listed)")
        except BackendError as e:
            return Health(False, str(e))
        except Exception as e:
            return Health(False, f"{type(e).__name__}: {e}")

    async def list_models(self) -> list[ModelInfo]:
        return models_from_openai(await self._http.request("GET", MODELS_PATH))

    async def prepare(self, spec: LoadSpec) -> Prepared:
        warnings = list(unsupported_load_warnings(spec, "an OpenAI-compatible server"))
        models = await self.list_models()
        if models and spec.model not in {m.name for m in models}:
            # exo and single-model servers accept other names; say so instead of refusing to run.
            names = ", ".join(m.name for m in models[:5])
            warnings.append(f"model {spec.model!r} is not in the server's list ({names}); the server decides")
        return Prepared(warnings=tuple(warnings))

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        if self._exo_bench:
            from backends.servers.exo_bench import bench_chat

            return bench_chat(self._http, chat_body(request))
        return stream_chat(self._http, chat_body(request))

    async def loaded(self) -> list[LoadedModel]:
        # The OpenAI API has no notion of "loaded": /v1/models may list models that are not in memory.
        return []

    async def aclose(self) -> None:
        await self._http.aclose()


def unsupported_load_warnings(spec: LoadSpec, what: str) -> list[str]:
    """Warnings for pattern settings the API cannot apply, so a result is not mislabelled silently."""
    out: list[str] = []
    if spec.context_length is not None:
        out.append(
            f"context_length={spec.context_length} cannot be set through {what}; "
            "the server's own context length applies"
        )
    if spec.gpu_layers is not None:
        out.append(f"gpu_layers={spec.gpu_layers} cannot be set through {what}; the server's own GPU offload applies")
    return out


def create(endpoint: Endpoint, options: ServerOptions) -> OpenAICompatBackend:
    return OpenAICompatBackend(endpoint, transport=options.transport, exo_bench=options.exo_bench)
