"""llama.cpp against the real llama-server running the project's generated model."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backends.base import (
    ChatRequest,
    ContentDelta,
    Endpoint,
    Finished,
    LoadSpec,
    ReasoningDelta,
    ServerStartFailed,
    ServerStats,
    ServerUnreachable,
    StreamEvent,
)
from backends.runs.patterns import Pattern
from backends.runs.results import ResultsStore
from backends.runs.session import BackendPool, RunContext
from backends.runs.stats import Meter
from backends.runs.sweep import run_sweep
from backends.servers.llamacpp import LlamaCppBackend, parse_metrics
from backends.servers.llamaserver import gguf_block_count, ngl_for
from tests.conftest import RunningServer

pytestmark = pytest.mark.integration


class TeeStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, sink: list[bytes]) -> None:
        self.inner, self.sink = inner, sink

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            self.sink.append(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class TeeTransport(httpx.AsyncBaseTransport):
    """Keeps a copy of every response body, so a test can read the server's own figures."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.bodies: list[list[bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        r = await self.inner.handle_async_request(request)
        sink: list[bytes] = []
        self.bodies.append(sink)
        assert isinstance(r.stream, httpx.AsyncByteStream)
        return httpx.Response(
            r.status_code, headers=r.headers, stream=TeeStream(r.stream, sink), extensions=r.extensions
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


async def collect(backend: LlamaCppBackend, request: ChatRequest) -> list[StreamEvent]:
    return [e async for e in backend.stream(request)]


async def test_stream_keeps_reasoning_apart_and_reports_the_server_timings(llama_server: RunningServer) -> None:
    backend = LlamaCppBackend(Endpoint(llama_server.url))
    tee = TeeTransport()
    backend._http.client = httpx.AsyncClient(base_url=llama_server.url, transport=tee, timeout=60)
    try:
        req = ChatRequest.simple("tiny", "Tell me a story.", max_tokens=96, seed=3, reasoning_effort="high")
        events = await collect(backend, req)
    finally:
        await backend.aclose()
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, ContentDelta))
    stats = [e for e in events if isinstance(e, ServerStats)]
    assert reasoning and reasoning == reasoning.upper()  # the model reasons in upper case ...
    assert answer and answer == answer.lower()  # ... and answers in lower case
    assert isinstance(events[-1], Finished) and events[-1].reason == "length"
    # The server's own timings, read from the raw bytes it sent.
    raw = b"".join(tee.bodies[-1]).decode()
    timings = [json.loads(line[6:])["timings"] for line in raw.splitlines() if '"timings"' in line]
    assert timings, raw[-500:]
    assert stats[-1].decode_tps == timings[-1]["predicted_per_second"]
    assert stats[-1].prompt_tps == timings[-1]["prompt_per_second"]
    assert stats[-1].completion_tokens == 96  # the model never stops: max_tokens tokens


async def test_reasoning_effort_reaches_the_chat_template(llama_server: RunningServer) -> None:
    backend = LlamaCppBackend(Endpoint(llama_server.url))
    body = backend.body(ChatRequest.simple("m", "hi", reasoning_effort="low"))
    await backend.aclose()
    assert body["chat_template_kwargs"] == {"reasoning_effort": "low"}
    async with httpx.AsyncClient(base_url=llama_server.url) as c:
        r = await c.post(
            "/apply-template",
            json={"messages": body["messages"], **{"chat_template_kwargs": body["chat_template_kwargs"]}},
        )
    assert r.status_code == 200 and "<|start|>user<|message|>hi" in r.json()["prompt"]


async def test_introspection_health_props_slots_metrics(llama_server: RunningServer) -> None:
    backend = LlamaCppBackend(Endpoint(llama_server.url))
    try:
        h = await backend.health()
        assert h.ok and h.version
        loaded = await backend.loaded()
        assert loaded[0].context_length == 4096
        slots = await backend.slots()
        assert slots and slots[0]["n_ctx"] == 4096
        models = await backend.list_models()
        assert models and models[0].size_bytes
        await collect(backend, ChatRequest.simple("m", "x", max_tokens=8))
        metrics = await backend.metrics()
        assert metrics["llamacpp:tokens_predicted_total"] >= 8
    finally:
        await backend.aclose()


async def test_attach_mode_warns_when_the_pattern_disagrees(llama_server: RunningServer) -> None:
    backend = LlamaCppBackend(Endpoint(llama_server.url))
    try:
        prepared = await backend.prepare(LoadSpec("m", context_length=8192, gpu_layers=10))
    finally:
        await backend.aclose()
    text = " ".join(prepared.warnings)
    assert "context 4096" in text and "-c 8192" in text and "gpu_layers=10" in text


async def test_down_server_is_unreachable_with_a_hint() -> None:
    from backends.servers.llamaserver import free_port

    backend = LlamaCppBackend(Endpoint(f"http://127.0.0.1:{free_port()}", connect_timeout_s=1))
    try:
        assert not (await backend.health()).ok
        with pytest.raises(ServerUnreachable, match="cannot connect") as info:
            await collect(backend, ChatRequest.simple("m", "x"))
        assert "llama-server running" in str(info.value)
    finally:
        await backend.aclose()


async def test_managed_mode_relaunches_for_a_new_context(tiny_model: Path, server_bin: str) -> None:
    backend = LlamaCppBackend(Endpoint("http://127.0.0.1:1"), server_bin=server_bin)
    try:
        p1 = await backend.prepare(LoadSpec("tiny", context_length=2048, model_path=str(tiny_model)))
        pid1 = backend.pid
        assert pid1 is not None
        async with httpx.AsyncClient() as c:
            props1 = (await c.get(f"{backend.url}/props")).json()
        assert props1["default_generation_settings"]["n_ctx"] == 2048
        assert p1.loaded is not None and p1.loaded.context_length == 2048 and p1.load_s is not None
        # What it holds, from its own log: no GPU here, so every buffer is in host memory.
        assert p1.loaded.gpu_bytes == 0 and (p1.loaded.host_bytes or 0) > 0
        same = await backend.prepare(LoadSpec("tiny", context_length=2048, model_path=str(tiny_model)))
        assert backend.pid == pid1 and same.load_s is None  # unchanged pattern: the server is kept
        await backend.prepare(LoadSpec("tiny", context_length=4096, model_path=str(tiny_model)))
        async with httpx.AsyncClient() as c:
            props2 = (await c.get(f"{backend.url}/props")).json()
        assert props2["default_generation_settings"]["n_ctx"] == 4096
        assert backend.pid != pid1
        assert not _alive(pid1)
    finally:
        pid = backend.pid
        await backend.aclose()
    assert pid is not None and not _alive(pid)  # stopped by PID on close


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


async def test_managed_start_failure_shows_the_server_log(tmp_path: Path, server_bin: str) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    backend = LlamaCppBackend(Endpoint("http://127.0.0.1:1"), server_bin=server_bin)
    try:
        with pytest.raises(ServerStartFailed) as info:
            await backend.prepare(LoadSpec("bad", context_length=512, model_path=str(bad)))
    finally:
        await backend.aclose()
    assert "exited with status" in str(info.value)
    assert "load" in str(info.value).lower()  # the tail of llama-server's own log


def test_layer_conversion_counts_the_output_layer(tiny_model: Path) -> None:
    assert gguf_block_count(tiny_model) == 2
    assert ngl_for(24, 24) == "25"  # LM Studio 24/24 = -ngl 25
    assert ngl_for(23, 24) == "23"
    assert ngl_for("max", 24) == "999" and ngl_for("off", 24) == "0" and ngl_for(None, None) == "999"


def test_metrics_parser_tolerates_missing_and_labelled_names() -> None:
    m = parse_metrics(
        '# HELP x\nllamacpp:prompt_tokens_total 1085\nllamacpp:n_busy_slots_per_decode{a="b"} 1\nother 3\n'
    )
    assert m == {"llamacpp:prompt_tokens_total": 1085.0, "llamacpp:n_busy_slots_per_decode": 1.0}


async def test_server_killed_mid_stream_fails_that_run_and_keeps_the_others(
    own_llama_server: RunningServer, tmp_path: Path
) -> None:
    store = ResultsStore(tmp_path / "results.jsonl")
    base: dict[str, Any] = dict(backend="llamacpp", url=own_llama_server.url, model="tiny", prompt="go", seed=1)
    patterns = [Pattern(name="first", max_tokens=16, **base), Pattern(name="killed", max_tokens=200_000, **base)]

    class KillAfter50:
        """A LiveSink that kills the server once 50 tokens of a run have arrived."""

        meter: Meter | None = None
        killed = False

        def start(self, meter: Meter) -> None:
            self.meter = meter

        def on_event(self, event: StreamEvent) -> None:
            if self.killed or self.meter is None or not isinstance(event, ReasoningDelta | ContentDelta):
                return
            if self.meter.tokens > 50:
                self.killed = True
                os.kill(own_llama_server.pid, signal.SIGKILL)

    pool = BackendPool()
    try:
        records = await asyncio.wait_for(
            run_sweep(patterns, pool=pool, store=store, ctx=RunContext(live=KillAfter50())), timeout=60
        )
    finally:
        await pool.aclose()
    first, dead = records
    assert first.ok and first.completion_tokens == 16
    assert not dead.ok and dead.error_kind == "stream_broken"
    assert "connection closed mid-stream" in (dead.error or "")
    assert len(dead.answer + dead.reasoning) > 0  # what arrived before the crash is kept
    stored = store.load()
    assert [(r.pattern, r.ok) for r in stored] == [("first", True), ("killed", False)]
