"""llama.cpp's `llama-server`: attach to a running one, or launch and manage one per pattern.

Attach mode talks to the URL it is given and can only read what is loaded (`/props`): a pattern
whose context length disagrees gets a warning. Managed mode (a GGUF path is known) launches
`llama-server -m MODEL -c CTX -ngl N -np 1` on a free loopback port and relaunches it when a
pattern changes the model, context or layers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from backends.base import (
    AuthError,
    BackendError,
    BackendKind,
    BackendTimeout,
    Capabilities,
    ChatRequest,
    Endpoint,
    Health,
    LoadedModel,
    LoadSpec,
    ModelInfo,
    Prepared,
    ServerOptions,
    ServerUnreachable,
    StreamEvent,
)
from backends.servers.llamaserver import ManagedServer, ServerConfig, find_server_binary, gguf_block_count, ngl_for
from backends.servers.llamaserver_log import read_log
from backends.servers.openai_compat import MODELS_PATH, chat_body, models_from_openai, stream_chat
from backends.servers.provenance import Provenance, fetch_llamacpp
from backends.wire.framing import read_pace
from backends.wire.http import Http, status_hint
from backends.wire.openai_stream import error_from_payload

if TYPE_CHECKING:
    import httpx

HINT = "is llama-server running at that address? (start it, or give a model_path to let gptoss-top run it)"
_METRIC = re.compile(r"^(llamacpp:[a-z_]+)(?:\{[^}]*\})?\s+([-+0-9.eE]+|NaN)$")


def classify(status: int, body: Any) -> BackendError:
    if status == 401:
        return AuthError("llama-server refused the API key (401)", hint="check api_key_env in the pattern", status=401)
    if status == 503:
        return BackendError("llama-server is still loading the model (503)", hint="wait and retry", status=503)
    if isinstance(body, dict) and "error" in body:
        err = error_from_payload(body, status)
        err.hint = err.hint or status_hint(status, "llama-server's log")
        return err
    return BackendError(
        f"llama-server answered HTTP {status}: {str(body)[:200]}",
        hint=status_hint(status, "llama-server's log"),
        status=status,
    )


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text → {name: value}; names vary by build, so missing ones are simply absent."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _METRIC.match(line.strip())
        if m:
            try:
                out[m.group(1)] = float(m.group(2))
            except ValueError:
                continue
    return out


class LlamaCppBackend:
    kind: ClassVar[BackendKind] = "llamacpp"

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        managed: bool = False,
        model_path: str | None = None,
        server_bin: str | None = None,
        threads: int | None = None,
        extra_args: tuple[str, ...] = (),
        start_timeout_s: float = 300.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`managed` (or a `model_path`): launch llama-server per pattern; else attach to `endpoint`."""
        self.endpoint = endpoint
        self.url = endpoint.url.rstrip("/")
        self.model_path = model_path
        self.server_bin = server_bin
        self.threads = threads
        self.extra_args = extra_args
        self.start_timeout_s = start_timeout_s
        self.server: ManagedServer | None = None
        self._http = Http(endpoint, unreachable_hint=HINT, classify=classify, transport=transport)
        owns = managed or model_path is not None
        self._capabilities = Capabilities(
            load_applies="server_start", owns_process=owns, server_timings=True, expert_offload=owns,
            offload_blocked=None if owns else (
                "llama-server fixes its GPU offload when it starts, and gptoss-top did not start this one — "
                "give model_path (a GGUF file, or builtin:tiny) so gptoss-top runs it"),
        )  # fmt: skip
        self._props: dict[str, Any] | None = None
        # What is loaded cannot change between prepares (llama.cpp fixes it at start), so it is
        # asked once per prepare, not again after every run and every health check.
        self._loaded: LoadedModel | None = None
        self._provenance: tuple[tuple[Any, ...], Provenance] | None = None  # (what it was read for, it)

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def managed(self) -> bool:
        return self.server is not None

    @property
    def pid(self) -> int | None:
        """The managed server's PID, for the probes (RSS, CPU)."""
        return self.server.pid if self.server else None

    # -- lifecycle ---------------------------------------------------------------------------------

    async def prepare(self, spec: LoadSpec) -> Prepared:
        self._props = self._loaded = None  # the server may have been restarted since we last looked
        path = spec.model_path or self.model_path
        if path:
            return await self._prepare_managed(spec, path)
        return await self._prepare_attached(spec)

    async def _prepare_managed(self, spec: LoadSpec, path: str) -> Prepared:
        path = os.path.abspath(os.path.expanduser(path))
        config = ServerConfig(
            model_path=path,
            context_length=spec.context_length,
            ngl=ngl_for(spec.gpu_layers, gguf_block_count(path)),
            threads=self.threads,
            extra_args=self.extra_args,
            n_cpu_moe=spec.n_cpu_moe,
        )
        if self.server is not None and self.server.config == config and self.server.alive():
            return Prepared(loaded=await self._loaded_one())
        await self._stop_server()
        server = ManagedServer(config, find_server_binary(self.server_bin))
        t0 = time.perf_counter()
        try:
            await server.start(self.start_timeout_s)
        except BaseException:
            server.stop()
            raise
        load_s = time.perf_counter() - t0
        self.server = server
        await self._http.aclose()
        self.url = server.url
        self._http = self._http.moved(server.url)
        self._props = self._loaded = None
        return Prepared(load_s=load_s, loaded=await self._loaded_one())

    async def _prepare_attached(self, spec: LoadSpec) -> Prepared:
        warnings: list[str] = []
        props = await self.props()
        n_ctx = _n_ctx(props)
        if spec.context_length and n_ctx and n_ctx != spec.context_length:
            warnings.append(
                f"llama-server at {self.url} runs with context {n_ctx}, the pattern asks for "
                f"{spec.context_length}: restart it with -c {spec.context_length} (or give model_path "
                "so gptoss-top runs it)"
            )
        if spec.gpu_layers is not None:
            warnings.append(
                f"GPU layers are fixed when llama-server starts; gpu_layers={spec.gpu_layers} is not applied "
                "to an attached server"
            )
        if spec.n_cpu_moe:
            warnings.append(
                f"n_cpu_moe={spec.n_cpu_moe} is not applied to an attached server: start it with "
                "--n-cpu-moe (or give model_path so gptoss-top runs it)"
            )
        return Prepared(warnings=tuple(warnings), loaded=await self._loaded_one())

    async def _stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._stop_server()

    # -- introspection -----------------------------------------------------------------------------

    async def health(self) -> Health:
        try:
            status, _ = await self._http.exchange("GET", "/health", timeout=3.0)
        except ServerUnreachable:
            return Health(False, "unreachable")
        except BackendTimeout:
            return Health(False, "no answer in 3 s")
        except Exception as e:
            return Health(False, f"unreachable ({type(e).__name__})")
        if status == 503:
            return Health(False, "loading model")
        if status != 200:
            return Health(False, f"HTTP {status}")
        version = None
        try:
            version = str((await self.props()).get("build_info") or "") or None
        except BackendError:
            pass
        return Health(True, "ok", version)

    async def provenance(self, model: str) -> Provenance:
        """Build, model size and type (README "Run record"), from the /props prepare read; /v1/models is
        asked again only when the build or the model file changed."""
        try:
            props = await self.props()
        except BackendError:
            return Provenance()
        path = self.server.config.model_path if self.server is not None else None
        key = (props.get("build_info"), props.get("model_path"), path)
        if self._provenance is None or self._provenance[0] != key:
            self._provenance = (key, await fetch_llamacpp(self._http, path, props))
        return self._provenance[1]

    async def props(self) -> dict[str, Any]:
        if self._props is None:
            self._props = await self._http.get_json("/props", timeout=10.0)
        return self._props

    async def slots(self) -> list[dict[str, Any]]:
        body = await self._http.request("GET", "/slots", timeout=5.0)
        return [s for s in body if isinstance(s, dict)] if isinstance(body, list) else []

    async def metrics(self) -> dict[str, float]:
        """`/metrics` (needs --metrics; a managed server has it). {} when the server has it off."""
        try:
            body = await self._http.request("GET", "/metrics", timeout=5.0)
        except BackendError:
            return {}
        return parse_metrics(body) if isinstance(body, str) else {}

    async def list_models(self) -> list[ModelInfo]:
        models = models_from_openai(await self._http.get_json(MODELS_PATH, timeout=10.0))
        block = gguf_block_count(self.server.config.model_path) if self.server else None
        return [dataclasses.replace(m, block_count=block, loaded=True) for m in models]

    async def loaded(self) -> list[LoadedModel]:
        try:
            return [await self._loaded_one()]
        except BackendError:
            return []

    async def _loaded_one(self) -> LoadedModel:
        if self._loaded is None:
            self._loaded = await self._ask_loaded()
        return self._loaded

    async def _ask_loaded(self) -> LoadedModel:
        props = await self.props()
        path = str(props.get("model_path") or "")
        name = str(props.get("model_alias") or os.path.basename(path) or "model")
        layers = self.server.offloaded_layers() if self.server else None
        size = None
        try:
            models = await self.list_models()
            size = models[0].size_bytes if models else None
        except BackendError:
            pass
        # A server we run logs its buffers (model, KV cache, compute) per device; an attached one: unknown.
        mem = await asyncio.to_thread(read_log, self.server.log_path) if self.server else None
        return LoadedModel(
            name=name,
            context_length=_n_ctx(props),
            size_bytes=size,
            gpu_layers=layers[0] if layers else None,
            detail=f"offloaded {layers[0]}/{layers[1]} layers to GPU" if layers else "",
            gpu_bytes=mem.gpu_bytes if mem else None,
            host_bytes=mem.host_bytes(size) if mem else None,
        )

    # -- streaming ---------------------------------------------------------------------------------

    def body(self, request: ChatRequest) -> dict[str, Any]:
        body = chat_body(request)
        if request.reasoning_effort:
            # chat_template_kwargs works on every build; newer ones also read the top-level field.
            body["chat_template_kwargs"] = {"reasoning_effort": request.reasoning_effort}
        return body

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return stream_chat(self._http, self.body(request), pace_s=read_pace)


def create(endpoint: Endpoint, options: ServerOptions) -> LlamaCppBackend:
    return LlamaCppBackend(
        endpoint, managed=options.managed, server_bin=options.server_bin, transport=options.transport
    )


def _n_ctx(props: dict[str, Any]) -> int | None:
    dgs = props.get("default_generation_settings")
    if isinstance(dgs, dict) and isinstance(dgs.get("n_ctx"), int):
        return int(dgs["n_ctx"])
    return props.get("n_ctx") if isinstance(props.get("n_ctx"), int) else None
