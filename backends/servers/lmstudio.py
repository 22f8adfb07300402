"""LM Studio: native `/api/v1` REST (0.4+) with its server-side stats, OpenAI-compatible fallback (0.3.x),
and the `lms` CLI for the one thing REST cannot do, loading with a GPU offload ratio.

Which API the server has is probed once: LM Studio answers unknown routes with 200 and an
"Unexpected endpoint" body, so the shape of `/api/v1/models` tells, not the status.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from backends.base import (
    BackendError,
    BackendKind,
    Capabilities,
    ChatRequest,
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
from backends.fields import number, obj, positive_int, text
from backends.servers.lms_cli import (
    NOT_FOUND_HINT,
    UNREACHABLE_HINT,
    LmsCli,
    block_count_for,
    gpu_ratio,
    is_loopback,
    load_refused,
)
from backends.servers.lmstudio_native import NativeStreamDecoder
from backends.servers.openai_compat import (
    chat_body,
    classify_openai,
    models_from_openai,
    stream_chat,
)
from backends.servers.provenance import Provenance, fetch_lmstudio
from backends.wire.framing import decode, read_pace
from backends.wire.http import Http
from backends.wire.openai_stream import error_from_payload

if TYPE_CHECKING:
    import httpx

Api = Literal["v1", "openai"]


def classify(status: int, body: Any) -> BackendError:
    refused = load_refused(error_from_payload(body).message, "the model") if status not in (401, 403) else None
    return refused or classify_openai(status, body, not_found_hint=NOT_FOUND_HINT)


class LMStudioBackend:
    kind: ClassVar[BackendKind] = "lmstudio"
    pid: ClassVar[None] = None

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        lms: str | None = None,
        block_count: int | None = None,
        lms_timeout_s: float = 600.0,
        transport: httpx.AsyncBaseTransport | None = None,
        remote: tuple[str, ...] = (),
    ) -> None:
        """`lms`: path of the CLI; None looks it up on PATH, "" never uses it. `remote`: run it on the
        LM Studio machine through this prefix (`ssh -- host`, an ssh:// host of the pattern file)."""
        if endpoint.api_key is None and os.environ.get("LM_API_TOKEN"):
            endpoint = replace(endpoint, api_key=os.environ["LM_API_TOKEN"])
        self.url = endpoint.url.rstrip("/")
        self._http = Http(endpoint, unreachable_hint=UNREACHABLE_HINT, classify=classify, transport=transport)
        self._secret = endpoint.api_key
        self._remote = remote
        self._lms = ("lms" if remote else shutil.which("lms")) if lms is None else (lms or None)
        self._block_count = block_count
        self._lms_timeout_s = lms_timeout_s
        # `lms load` reaches this server: it runs on the server's machine (here, or through `remote`).
        self._lms_loads = bool(self._lms) and (bool(remote) or is_loopback(self.url))
        self.capabilities = Capabilities(
            load_applies="load_call", server_timings=True,
            offload_blocked=None if self._lms_loads else (
                "LM Studio sets GPU offload only through `lms load` on its own machine — run gptoss-top there "
                "with `lms` on PATH, or give the pattern an ssh:// host"),
        )  # fmt: skip
        self._api: Api | None = None
        self._reasoning_options: dict[str, list[str] | None] = {}
        self._applied: tuple[str, int | None, str | None] | None = None  # what our own `lms load` set
        self._prepared: set[str] = set()  # models whose load settings prepare() applied
        self._provenance: dict[str, Provenance] = {}  # per model, asked at its first prepare

    def __repr__(self) -> str:
        return f"LMStudioBackend(url={self.url!r}, api={self._api!r})"

    # ---------------------------------------------------------------------------------------- discovery

    async def health(self) -> Health:
        try:
            body = await self._http.request("GET", "/lmstudio-greeting", timeout=10)
            if not (isinstance(body, dict) and body.get("lmstudio") is True):
                return Health(False, f"a server answers at {self.url}, but it is not LM Studio")
            api = await self._which_api()
        except BackendError as e:
            return Health(False, str(e))
        except Exception as e:  # never raises: an odd URL must not crash the header
            return Health(False, f"{type(e).__name__}: {e}")
        return Health(True, "LM Studio, REST /api/v1" if api == "v1" else "LM Studio 0.3.x, OpenAI API only")

    async def _which_api(self) -> Api:
        if self._api is None:
            await self._v1_models()
        assert self._api is not None
        return self._api

    async def _v1_models(self) -> list[dict[str, Any]] | None:
        """`/api/v1/models` rows, or None when this server has no /api/v1 (remembered)."""
        if self._api == "openai":
            return None
        try:
            body = await self._http.request("GET", "/api/v1/models")
        except BackendError as e:
            if e.status != 404:
                raise
            body = None
        rows = body.get("models") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            self._api = "openai"
            return None
        self._api = "v1"
        models = [r for r in rows if isinstance(r, dict) and isinstance(r.get("key"), str)]
        for r in models:
            reasoning = obj(r.get("capabilities")).get("reasoning")
            opts = obj(reasoning).get("allowed_options")
            self._reasoning_options[r["key"]] = [str(o) for o in opts] if isinstance(opts, list) else None
        return models

    async def _v0_models(self) -> list[dict[str, Any]] | None:
        try:
            body = await self._http.request("GET", "/api/v0/models")
        except BackendError as e:
            if e.status != 404:
                raise
            return None
        rows = body.get("data") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            return None
        # The same id can be listed twice (loaded and not-loaded); loaded rows sort last, so they win.
        valid = [r for r in rows if isinstance(r, dict) and isinstance(r.get("id"), str)]
        return list({r["id"]: r for r in sorted(valid, key=lambda r: r.get("state") == "loaded")}.values())

    async def list_models(self) -> list[ModelInfo]:
        v1 = await self._v1_models()
        if v1 is not None:
            return [self._info_v1(r) for r in v1 if r.get("type", "llm") == "llm"]
        v0 = await self._v0_models()
        if v0 is not None:
            return [
                ModelInfo(
                    name=r["id"],
                    family=text(r.get("arch")),
                    quantization=text(r.get("quantization")),
                    context_length=positive_int(r.get("max_context_length")),
                    block_count=self._blocks(r["id"]),
                    loaded=r.get("state") == "loaded",
                )
                for r in v0
                if r.get("type", "llm") in ("llm", "vlm")
            ]
        return models_from_openai(await self._http.request("GET", "/v1/models"))

    def _blocks(self, model: str) -> int | None:
        return self._block_count or block_count_for(model)

    def _info_v1(self, r: dict[str, Any]) -> ModelInfo:
        return ModelInfo(
            name=r["key"],
            size_bytes=positive_int(r.get("size_bytes")),
            family=text(r.get("architecture")),
            parameter_size=text(r.get("params_string")),
            quantization=text(obj(r.get("quantization")).get("name")),
            context_length=positive_int(r.get("max_context_length")),
            block_count=self._blocks(r["key"]),
            loaded=bool(r.get("loaded_instances")),
        )

    async def loaded(self) -> list[LoadedModel]:
        try:
            v1 = await self._v1_models()
            if v1 is not None:
                return [
                    LoadedModel(
                        name=str(inst.get("id") or r["key"]),
                        context_length=positive_int(obj(inst.get("config")).get("context_length")),
                        size_bytes=positive_int(r.get("size_bytes")),
                        detail=self._offload_detail(r["key"]),
                    )
                    for r in v1
                    for inst in r.get("loaded_instances") or []
                    if isinstance(inst, dict)
                ]
            v0 = await self._v0_models() or []
            return [
                LoadedModel(name=r["id"], context_length=positive_int(r.get("loaded_context_length")))
                for r in v0
                if r.get("state") == "loaded"
            ]
        except Exception:  # never raises: [] is "unknown"
            return []

    def _offload_detail(self, model: str) -> str:
        if self._applied is None or self._applied[0] != model or self._applied[2] is None:
            return ""
        # LM Studio never reports the offload it applied; say what was asked for, and that it is unconfirmed.
        return f"GPU offload requested: --gpu {self._applied[2]} (LM Studio does not report what it applied)"

    # ------------------------------------------------------------------------------------------ prepare

    async def prepare(self, spec: LoadSpec) -> Prepared:
        api = await self._which_api()
        self._prepared.add(spec.model)
        warnings: list[str] = []
        if spec.n_cpu_moe:
            warnings.append(
                f"n_cpu_moe={spec.n_cpu_moe} NOT applied: `lms load` has no option for expert offload; "
                "use LM Studio's 'Force Model Expert Weights onto CPU' setting"
            )
        if api == "openai":
            warnings.append(
                "this LM Studio has no /api/v1 (0.3.x): streaming uses /v1/chat/completions, where LM Studio "
                "ignores reasoning_effort (set it in LM Studio's model settings) and reports no server stats"
            )
        if self._lms_loads:
            loaded = await self._prepare_with_lms(spec, warnings)
            return Prepared(load_s=loaded[1], warnings=tuple(warnings), loaded=loaded[0])
        if self._lms:
            warnings.append(
                f"{self.url} is not this machine, so the local `lms` was not used (it would load the model here);"
                " loading over REST"
            )
        if spec.gpu_layers is not None:
            why = "" if self._lms else "`lms` is not on PATH and "
            warnings.append(
                f"gpu_layers={spec.gpu_layers} NOT applied: {why}LM Studio's REST API cannot set GPU offload; "
                "run gptoss-top on the LM Studio machine with `lms` on PATH"
            )
        if api == "openai":
            if spec.context_length is not None:
                warnings.append(f"context_length={spec.context_length} NOT applied: no REST load API before 0.4")
            return Prepared(warnings=tuple(warnings), loaded=await self._find_loaded(spec.model))
        load_s = await self._rest_load(spec)
        return Prepared(load_s=load_s, warnings=tuple(warnings), loaded=await self._find_loaded(spec.model))

    async def _find_loaded(self, model: str) -> LoadedModel | None:
        return next((m for m in await self.loaded() if m.name == model or m.name.startswith(model + ":")), None)

    async def _rest_load(self, spec: LoadSpec) -> float | None:
        rows = await self._v1_models() or []
        row = next((r for r in rows if r["key"] == spec.model), None)
        if row is None:
            raise ModelNotFound(f"LM Studio at {self.url} has no model {spec.model!r}", hint=NOT_FOUND_HINT)
        instances = [i for i in row.get("loaded_instances") or [] if isinstance(i, dict)]
        ctx_now = {positive_int(obj(i.get("config")).get("context_length")) for i in instances}
        if instances and (spec.context_length is None or ctx_now == {spec.context_length}):
            return None  # already as asked: reloading would only cost time
        for inst in instances:
            await self._http.request("POST", "/api/v1/models/unload", json={"instance_id": inst.get("id")})
        body: dict[str, Any] = {"model": spec.model, "echo_load_config": True}
        if spec.context_length is not None:
            body["context_length"] = spec.context_length
        answer = await self._http.request("POST", "/api/v1/models/load", json=body, timeout=self._lms_timeout_s)
        if isinstance(answer, dict) and "error" in answer:  # some failures come back with 200
            raise classify(200, answer)
        return number(answer.get("load_time_seconds")) if isinstance(answer, dict) else None

    async def _prepare_with_lms(self, spec: LoadSpec, warnings: list[str]) -> tuple[LoadedModel | None, float | None]:
        try:
            gpu = gpu_ratio(spec.gpu_layers, self._blocks(spec.model)) if spec.gpu_layers is not None else None
        except BackendError:
            # An unknown layer count often means an unknown model: say that, it is the real problem.
            if spec.model not in {m.name for m in await self.list_models()}:
                raise ModelNotFound(f"LM Studio has no model {spec.model!r}", hint=NOT_FOUND_HINT) from None
            raise
        wanted = (spec.model, spec.context_length, gpu)
        mine = [p for p in await self._cli().ps() if spec.model in (p.get("modelKey"), p.get("identifier"))]
        same_ctx = spec.context_length is None or all(p.get("contextLength") == spec.context_length for p in mine)
        # What is loaded can be reused only if its offload is known to match: nothing tells it but our own load.
        if mine and same_ctx and (gpu is None or self._applied == wanted):
            return self._loaded_from_ps(mine[0]), None
        for p in mine:
            await self._cli().run(["unload", str(p.get("identifier") or spec.model)], spec.model)
        args = ["load", spec.model, "-y"]
        if spec.context_length is not None:
            args += ["--context-length", str(spec.context_length)]
        if gpu is not None:
            args += ["--gpu", gpu]
        t0 = time.monotonic()
        await self._cli().run(args, spec.model)
        load_s = time.monotonic() - t0
        self._applied = wanted
        now = [p for p in await self._cli().ps() if spec.model in (p.get("modelKey"), p.get("identifier"))]
        if not now:
            warnings.append(f"`lms load` succeeded but `lms ps` does not list {spec.model}")
            return None, load_s
        got = now[0].get("contextLength")
        if spec.context_length is not None and got != spec.context_length:
            warnings.append(f"asked for context_length={spec.context_length}, LM Studio loaded {got}")
        return self._loaded_from_ps(now[0]), load_s

    def _loaded_from_ps(self, p: dict[str, Any]) -> LoadedModel:
        key = str(p.get("modelKey") or p.get("identifier"))
        return LoadedModel(
            name=str(p.get("identifier") or key),
            context_length=positive_int(p.get("contextLength")),
            size_bytes=positive_int(p.get("sizeBytes")),
            detail=self._offload_detail(key),
        )

    # ------------------------------------------------------------------------------------------- stream

    async def provenance(self, model: str) -> Provenance:
        """The model's quantization and size (REST), and `lms version` where the local CLI is LM Studio's."""
        if model not in self._provenance:
            local = self._lms if self._lms and not self._remote and is_loopback(self.url) else None
            self._provenance[model] = await fetch_lmstudio(self._http, model, local)
        return self._provenance[model]

    def _cli(self) -> LmsCli:
        assert self._lms is not None
        return LmsCli(self._lms, self._lms_timeout_s, self._secret, self._remote)

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(request)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        if await self._which_api() == "openai":
            # LM Studio ignores reasoning_effort here (bug-tracker #988); prepare() warns about it.
            # Read token by token: this stream carries no stats (lmstudio-bug-tracker#676), so the
            # client's timing is the run's only rate, and a paced read would coarsen it.
            async for ev in stream_chat(self._http, chat_body(request, reasoning_effort=False)):
                yield ev
            return
        body = await self._native_body(request)
        try:
            async with self._http.stream("POST", "/api/v1/chat", json=body) as chunks:
                async for ev in decode(chunks, NativeStreamDecoder(request.model, self._secret), read_pace):
                    yield ev
        except BackendError as e:
            raise self._http.clean(e) from None

    async def _native_body(self, request: ChatRequest) -> dict[str, Any]:
        system = [m.content for m in request.messages if m.role in ("system", "developer")]
        rest = [m.content for m in request.messages if m.role not in ("system", "developer")]
        # /api/v1/chat takes one input and no assistant turns; a benchmark prompt is one user message.
        body: dict[str, Any] = {"model": request.model, "input": "\n\n".join(rest), "stream": True, "store": False}
        optional = {
            "system_prompt": "\n\n".join(system) or None,
            "max_output_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": request.seed,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        effort = request.reasoning_effort
        if effort is not None:
            allowed = self._reasoning_options.get(request.model, ["low", "medium", "high"])
            if allowed is not None and effort not in allowed:
                raise BackendError(
                    f"{request.model} does not take reasoning effort {effort!r} (it takes {', '.join(allowed)})",
                    hint="change reasoning_effort in the pattern",
                )
            if allowed is not None:  # None: the model does not reason; sending it would be an error
                body["reasoning"] = effort
        # context_length only when prepare() did not load the model: when it differs from the loaded
        # instance's, LM Studio reloads with its default GPU offload, silently undoing `lms load`.
        load = request.load
        if load is not None and load.context_length is not None and request.model not in self._prepared:
            body["context_length"] = load.context_length
        return body

    async def aclose(self) -> None:
        await self._http.aclose()


def create(endpoint: Endpoint, options: ServerOptions) -> LMStudioBackend:
    return LMStudioBackend(endpoint, transport=options.transport, remote=options.remote_command)
