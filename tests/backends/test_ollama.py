"""The Ollama backend against recorded real traffic (tests/data/ollama) and the fake server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from backends.base import (
    AuthError,
    Backend,
    BackendError,
    BackendTimeout,
    ChatRequest,
    ContentDelta,
    ContextOverflow,
    Endpoint,
    Finished,
    LoadRefused,
    LoadSpec,
    Message,
    ModelNotFound,
    ReasoningDelta,
    ServerStats,
    ServerUnreachable,
    StreamBroken,
    StreamEvent,
)
from backends.runs.stats import Meter
from backends.servers.ollama import OllamaBackend, classify, num_gpu_for, processor_detail
from backends.servers.ollama_stream import events_from_ndjson
from backends.servers.registry import make_backend
from tests.fakes.ollama import GEMMA3_1B, GPT_OSS_20B, MID_STREAM_ERROR, FakeOllama, Faults

DATA = Path(__file__).resolve().parent.parent / "data" / "ollama"
STREAMS = sorted(p.name for p in DATA.glob("*.ndjson"))
OSS = GPT_OSS_20B.name


# --------------------------------------------------------------------------------------------------
# Helpers


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    # Odd piece sizes split lines and multi-byte characters the way a network does.
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def drain(events: AsyncIterator[StreamEvent], into: list[StreamEvent]) -> None:
    # Keeps what arrived before an error, for the test to look at after pytest.raises.
    async for ev in events:
        into.append(ev)


async def collect(events: AsyncIterator[StreamEvent]) -> tuple[str, str, ServerStats, Finished]:
    reasoning, answer, stats, fin = [], [], [], []
    async for ev in events:
        if isinstance(ev, ReasoningDelta):
            reasoning.append(ev.text)
        elif isinstance(ev, ContentDelta):
            answer.append(ev.text)
        elif isinstance(ev, ServerStats):
            stats.append(ev)
        else:
            fin.append(ev)
    assert len(stats) == 1
    assert len(fin) == 1
    return "".join(reasoning), "".join(answer), stats[0], fin[0]


def expected_from_recording(lines: list[dict[str, Any]]) -> tuple[str, str]:
    """What a reader must make of a recording: thinking apart, <think> tags split out of the text."""
    thinking = "".join(d.get("thinking") or d.get("message", {}).get("thinking", "") for d in lines)
    text = "".join(d.get("response") or d.get("message", {}).get("content", "") for d in lines)
    if text.startswith("<think>"):
        inner, _, rest = text[len("<think>") :].partition("</think>")
        return thinking + inner, rest
    return thinking, text


def mock_backend(routes: dict[str, Callable[[httpx.Request], httpx.Response]]) -> OllamaBackend:
    def handler(request: httpx.Request) -> httpx.Response:
        return routes[request.url.path](request)

    return OllamaBackend(Endpoint("http://ollama.test"), transport=httpx.MockTransport(handler))


class Pieces(httpx.AsyncByteStream):
    # Bytes given as `content=` count as already read, and a stream cannot read them again.
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for piece in chunked(self.data, 1000):
            yield piece


def file_response(
    name: str, status: int = 200, ctype: str = "application/json"
) -> Callable[[httpx.Request], httpx.Response]:
    headers = {"content-type": ctype}
    return lambda _req: httpx.Response(status, stream=Pieces((DATA / name).read_bytes()), headers=headers)


@contextlib.asynccontextmanager
async def served(**kw: Any) -> AsyncIterator[tuple[FakeOllama, OllamaBackend]]:
    timeout = kw.pop("timeout_s", 20)
    with FakeOllama(**kw) as fake:
        backend = OllamaBackend(Endpoint(fake.url, timeout_s=timeout))
        try:
            yield fake, backend
        finally:
            await backend.aclose()


def req(model: str = OSS, ctx: int | None = 8192, layers: Any = 24, **kw: Any) -> ChatRequest:
    load = LoadSpec(model, context_length=ctx, gpu_layers=layers)
    return ChatRequest.simple(model, "Count to five.", system="Be terse.", load=load, **kw)


# --------------------------------------------------------------------------------------------------
# Recorded traffic from real servers


def test_every_recorded_stream_is_copied_with_its_source() -> None:
    assert len(STREAMS) >= 7
    for name in STREAMS:
        assert (DATA / name.replace(".ndjson", ".source.txt")).is_file()


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("piece", [7, 4096])
async def test_recorded_stream(name: str, piece: int) -> None:
    raw = (DATA / name).read_bytes()
    lines = [json.loads(x) for x in raw.splitlines() if x.strip()]
    final = lines[-1]
    reasoning, answer, stats, fin = await collect(events_from_ndjson(chunked(raw, piece)))
    want_reasoning, want_answer = expected_from_recording(lines)
    assert (reasoning, answer) == (want_reasoning, want_answer)
    assert answer  # every recording has an answer
    assert fin.reason == final["done_reason"]
    assert stats.completion_tokens == final["eval_count"]
    assert stats.prompt_tokens == final["prompt_eval_count"]
    if "eval_duration" in final:
        assert stats.decode_tps == final["eval_count"] / final["eval_duration"] * 1e9
        assert stats.decode_s == final["eval_duration"] / 1e9
    if "prompt_eval_duration" in final:
        assert stats.prompt_tps == final["prompt_eval_count"] / final["prompt_eval_duration"] * 1e9
    assert stats.total_s == final["total_duration"] / 1e9
    assert stats.load_s == (final["load_duration"] / 1e9 if "load_duration" in final else None)


def test_recorded_figures_spelled_out() -> None:
    # One recording by hand, so a wrong formula shared by test and code cannot hide.
    raw = (DATA / "chat_gemma3-1b_nautical-mile.ndjson").read_bytes()
    _, _, stats, _ = asyncio.run(collect(events_from_ndjson(chunked(raw, 100))))
    assert stats.decode_tps == pytest.approx(194.12, abs=0.01)  # 203 tokens in 1.0457 s
    assert stats.prompt_tps == pytest.approx(703.85, abs=0.01)  # 18 tokens in 25.57 ms
    assert stats.load_s == pytest.approx(0.0624, abs=1e-4)


async def test_gpt_oss_without_durations_is_unknown_not_zero() -> None:
    raw = (DATA / "generate_gpt-oss-20b_thinking_turbo.ndjson").read_bytes()
    t = iter(float(i) * 0.01 for i in range(10_000))
    meter = Meter(clock=lambda: next(t))
    meter.start()
    async for ev in events_from_ndjson(chunked(raw, 512)):
        meter.on_event(ev)
    s = meter.server
    assert s is not None
    assert (s.decode_tps, s.prompt_tps, s.load_s, s.decode_s) == (None, None, None, None)
    assert (s.completion_tokens, s.prompt_tokens) == (287, 81)
    figures = meter.figures()
    assert figures.stats_source == "client"
    assert figures.decode_tps is not None
    assert figures.decode_tps == figures.decode_tps_client


@pytest.mark.parametrize("cut", ["last_line", "half_line"])
async def test_recorded_stream_cut_before_done_is_broken(cut: str) -> None:
    raw = (DATA / "chat_gemma3-1b_count-to-5.ndjson").read_bytes()
    body = raw[: raw.rstrip(b"\n").rfind(b"\n") + 1]
    if cut == "half_line":
        body = raw[: len(raw) - 40]
    got: list[StreamEvent] = []
    with pytest.raises(StreamBroken) as err:
        await drain(events_from_ndjson(chunked(body, 64)), got)
    assert any(isinstance(e, ContentDelta) for e in got)
    assert "done" in str(err.value) or "not JSON" in str(err.value)


async def test_recorded_stream_through_the_backend() -> None:
    name = "chat_gemma3-1b_count-to-5.ndjson"
    seen: list[dict[str, Any]] = []

    def chat(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return file_response(name, ctype="application/x-ndjson")(request)

    backend = mock_backend({"/api/chat": chat})
    try:
        request = ChatRequest.simple("gemma3:1b", "Count from 1 to 5", max_tokens=50, temperature=0.0)
        _, answer, stats, fin = await collect(backend.stream(request))
    finally:
        await backend.aclose()
    assert answer.startswith("Okay, here we go!")
    assert "5" in answer
    assert stats.completion_tokens == 22
    assert fin.reason == "stop"
    messages = [{"role": "user", "content": "Count from 1 to 5"}]
    options = {"num_predict": 50, "temperature": 0.0}
    assert seen == [
        {"model": "gemma3:1b", "messages": messages, "stream": True, "keep_alive": "10m", "options": options}
    ]


async def test_recorded_discovery_endpoints() -> None:
    backend = mock_backend({
        "/": lambda _r: httpx.Response(200, text="Ollama is running"),
        "/api/version": file_response("api_version.json"),
        "/api/ps": file_response("api_ps.json"),
        "/api/tags": file_response("api_tags.json"),
        "/api/show": file_response("api_show.json"),
    })  # fmt: skip
    try:
        health = await backend.health()
        loaded = await backend.loaded()
        models = await backend.list_models()
        info = await backend.show("dolphin3:8b")
    finally:
        await backend.aclose()
    assert (health.ok, health.version) == (True, "0.11.6")
    assert [(m.name, m.context_length, m.size_bytes, m.vram_bytes, m.detail) for m in loaded] == [
        ("granite3.3:2b", 4096, 2629206853, 2629206853, "100% GPU"),
        ("smollm2:1.7b", 4096, 3501615104, 3501615104, "100% GPU"),
    ]
    assert loaded[0].expires_at == "2025-08-23T15:38:39.2249446+02:00"
    assert (loaded[0].gpu_bytes, loaded[0].host_bytes) == (2629206853, 0)  # all of it on the GPU
    smol = models[0]
    assert (smol.name, smol.size_bytes, smol.family, smol.parameter_size, smol.quantization, smol.loaded) == (
        "smollm2:1.7b", 1820428533, "llama", "1.7B", "Q8_0", True)  # fmt: skip
    assert not next(m for m in models if m.name == "mistral:7b").loaded
    assert (info.block_count, info.context_length, info.family) == (32, 131072, "llama")


@pytest.mark.parametrize(
    ("name", "status", "kind", "text"),
    [
        ("error_context-exceeded_numctx128.json", 400, ContextOverflow, "exceeds the context length"),
        ("error_unauthorized_401_turbo.json", 401, AuthError, "unauthorized"),
        ("error_upstream_502_turbo.json", 502, BackendError, "upstream error"),
    ],
)
async def test_recorded_error_bodies(name: str, status: int, kind: type[BackendError], text: str) -> None:
    backend = mock_backend({"/api/chat": file_response(name, status)})
    try:
        with pytest.raises(kind) as err:
            async for _ in backend.stream(ChatRequest.simple("gemma3:1b", "hi")):
                pass
    finally:
        await backend.aclose()
    assert text in str(err.value)
    assert err.value.status == status


# --------------------------------------------------------------------------------------------------
# Pure conversions


@pytest.mark.parametrize(
    ("size", "vram", "want"),
    [
        (14925684736, 14925684736, "100% GPU"),
        (14925684736, 0, "100% CPU"),
        (100, 52, "48%/52% CPU/GPU"),
        (200, 99, "51%/49% CPU/GPU"),  # 50.5% CPU: Go rounds the half away from zero
        (200, 101, "50%/50% CPU/GPU"),  # 49.5% CPU
        (None, 5, ""),
        (100, None, ""),
    ],
)
def test_processor_detail_like_ollama_ps(size: int | None, vram: int | None, want: str) -> None:
    assert processor_detail(size, vram) == want


@pytest.mark.parametrize(
    ("layers", "blocks", "want"),
    [(24, 24, 25), (36, 36, 37), (23, 24, 23), (0, 24, 0), (30, 24, 25), ("max", 24, 25),
     ("max", None, 999), ("off", 24, 0), ("off", None, 0), (24, None, 24)],
)  # fmt: skip
def test_num_gpu_counts_the_output_layer(layers: Any, blocks: int | None, want: int) -> None:
    assert num_gpu_for(layers, blocks) == want


def test_classify_messages_say_what_to_do() -> None:
    e = classify(404, {"error": 'model "gpt-oss:120b" not found, try pulling it first'})
    assert isinstance(e, ModelNotFound)
    assert "ollama pull gpt-oss:120b" in str(e)
    route = classify(404, "404 page not found")  # not Ollama at that URL: pulling would not help
    assert type(route) is BackendError
    assert "Ollama server" in str(route)
    busy = classify(503, {"error": "server busy, please try again.  maximum pending requests exceeded"})
    assert "busy" in str(busy)
    assert "OLLAMA_MAX_QUEUE" in str(busy)
    oom = classify(500, {"error": "model requires more system memory (14.9 GiB) than is available (7.5 GiB)"})
    assert isinstance(oom, LoadRefused)
    assert "14.9 GiB" in str(oom)


def test_registry_builds_it_and_it_is_a_backend() -> None:
    b = make_backend("ollama", Endpoint("http://127.0.0.1:1"))
    assert isinstance(b, OllamaBackend)
    assert isinstance(b, Backend)
    assert b.kind == "ollama"
    asyncio.run(b.aclose())


# --------------------------------------------------------------------------------------------------
# Against the fake server


async def test_reasoning_and_answer_apart_with_the_servers_figures() -> None:
    async with served(tokens_per_s=500) as (fake, backend):
        reasoning, answer, stats, fin = await collect(backend.stream(req(reasoning_effort="high")))
    assert reasoning == fake.reasoning
    assert answer == fake.answer  # its last token came on the `done` line
    assert fin.reason == "stop"
    final = fake.finals[-1]
    assert final["message"]["content"]  # the fake did put text on the done line
    assert stats.completion_tokens == final["eval_count"]
    assert stats.decode_tps == final["eval_count"] / final["eval_duration"] * 1e9
    assert stats.prompt_tps == final["prompt_eval_count"] / final["prompt_eval_duration"] * 1e9
    assert stats.total_s == final["total_duration"] / 1e9
    # The figures agree with the rate it streamed at (a sleep is never shorter than asked).
    assert stats.decode_tps is not None
    assert 500 / 20 < stats.decode_tps <= 500


async def test_request_carries_the_pattern() -> None:
    async with served() as (fake, backend):
        request = ChatRequest(
            OSS, (Message("developer", "Be terse."), Message("user", "Hi")), max_tokens=64,
            reasoning_effort="low", temperature=0.7, seed=42, load=LoadSpec(OSS, 8192, 24),
        )  # fmt: skip
        await collect(backend.stream(request))
    (body,) = fake.bodies("/api/chat")
    assert body["options"] == {"num_ctx": 8192, "num_gpu": 25, "num_predict": 64, "seed": 42, "temperature": 0.7}
    assert (body["think"], body["keep_alive"], body["stream"]) == ("low", "10m", True)
    assert body["messages"] == [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]
    assert fake.bodies("/api/show") == [{"model": OSS}]  # the block count, fetched once


@pytest.mark.parametrize(("layers", "num_gpu"), [(24, 25), (10, 10), ("max", 25), ("off", 0)])
async def test_fake_saw_num_ctx_and_converted_num_gpu(layers: Any, num_gpu: int) -> None:
    async with served() as (fake, backend):
        await collect(backend.stream(req(ctx=4096, layers=layers)))
        await collect(backend.stream(req(ctx=4096, layers=layers)))
        loaded = await backend.loaded()
    assert [b["options"]["num_gpu"] for b in fake.bodies("/api/chat")] == [num_gpu, num_gpu]
    assert [b["options"]["num_ctx"] for b in fake.bodies("/api/chat")] == [4096, 4096]
    assert len(fake.bodies("/api/show")) == (0 if layers == "off" else 1)
    assert loaded[0].context_length == 4096
    want = {25: "100% GPU", 0: "100% CPU"}.get(num_gpu, "60%/40% CPU/GPU")
    assert loaded[0].detail == want


async def test_reload_shows_in_load_duration() -> None:
    async with served(load_s=0.2) as (_fake, backend):
        _, _, first, _ = await collect(backend.stream(req(ctx=4096)))
        _, _, again, _ = await collect(backend.stream(req(ctx=4096)))
        _, _, bigger, _ = await collect(backend.stream(req(ctx=8192)))
    assert first.load_s is not None
    assert first.load_s >= 0.2
    assert again.load_s is None or again.load_s < 0.2
    assert bigger.load_s is not None
    assert bigger.load_s >= 0.2


async def test_prepare_preloads_and_reports_the_loaded_state() -> None:
    async with served(load_s=0.05) as (fake, backend):
        prepared = await backend.prepare(LoadSpec(OSS, context_length=8192, gpu_layers=24))
        _, _, stats, _ = await collect(backend.stream(req(ctx=8192, layers=24)))
    (preload, _chat) = fake.bodies("/api/chat")
    assert preload == {"model": OSS, "messages": [], "stream": False, "keep_alive": "10m",
                       "options": {"num_ctx": 8192, "num_gpu": 25}}  # fmt: skip
    assert prepared.load_s is not None
    assert prepared.load_s >= 0.05
    assert prepared.warnings == ()
    assert prepared.loaded is not None
    assert (prepared.loaded.name, prepared.loaded.context_length, prepared.loaded.detail) == (OSS, 8192, "100% GPU")
    assert prepared.loaded.size_bytes == GPT_OSS_20B.weights_bytes + 8192 * GPT_OSS_20B.kv_bytes_per_token
    assert stats.load_s is None or stats.load_s < 0.05  # already loaded with these settings


async def test_prepare_warns_when_the_model_does_not_fit() -> None:
    async with served(vram_bytes=8 * 2**30) as (_fake, backend):
        prepared = await backend.prepare(LoadSpec(OSS, context_length=4096, gpu_layers="max"))
    assert prepared.loaded is not None
    assert prepared.loaded.vram_bytes == 8 * 2**30
    assert prepared.loaded.gpu_bytes == 8 * 2**30
    assert prepared.loaded.host_bytes == (prepared.loaded.size_bytes or 0) - 8 * 2**30
    assert prepared.loaded.detail == "34%/66% CPU/GPU"  # 33.7% of it stays in RAM
    assert any("did not fit" in w and "CPU/GPU" in w for w in prepared.warnings)


async def test_old_profile() -> None:
    async with served(profile="old") as (fake, backend):
        health = await backend.health()
        prepared = await backend.prepare(LoadSpec(OSS, context_length=8192, gpu_layers=24))
        reasoning, answer, _, _ = await collect(backend.stream(req(reasoning_effort="medium")))
        # `think` is an unknown field to an old server: no 400 for a model that cannot think.
        _, plain, _, _ = await collect(backend.stream(req(GEMMA3_1B.name, reasoning_effort="low")))
    assert health.version == "0.5.7"
    assert prepared.loaded is not None
    assert prepared.loaded.context_length is None  # an old /api/ps does not say
    assert any("does not report the loaded context length" in w for w in prepared.warnings)
    assert (reasoning, answer) == (fake.reasoning, "\n\n" + fake.answer)
    assert plain == fake.answer
    assert all("thinking" not in line for line in json.dumps(fake.finals).split("message"))


async def test_current_profile_refuses_think_for_a_model_that_cannot() -> None:
    async with served() as (_fake, backend):
        with pytest.raises(BackendError) as err:
            await collect(backend.stream(req(GEMMA3_1B.name, reasoning_effort="low")))
    assert err.value.status == 400
    assert "does not support thinking" in str(err.value)
    assert "reasoning_effort" in str(err.value)


@pytest.mark.parametrize(
    ("faults", "kind", "words"),
    [
        (Faults(die_after=3), StreamBroken, "connection closed mid-stream"),
        (Faults(error_after=3), StreamBroken, MID_STREAM_ERROR),
        (Faults(malformed_after=3), StreamBroken, "not JSON"),
        (Faults(busy=True), BackendError, "busy"),
        (Faults(load_error="model requires more system memory (14.9 GiB) than is available"), LoadRefused,
         "more system memory"),
    ],
)  # fmt: skip
async def test_faults(faults: Faults, kind: type[BackendError], words: str) -> None:
    got: list[StreamEvent] = []
    async with served(faults=faults) as (_fake, backend):
        with pytest.raises(kind) as err:
            await drain(backend.stream(req()), got)
    assert words in str(err.value)
    assert err.value.hint  # every error says what to do next
    mid_stream = faults.die_after or faults.error_after or faults.malformed_after
    assert len([e for e in got if isinstance(e, ReasoningDelta)]) == (mid_stream or 0)


async def test_slow_first_token_times_out() -> None:
    faults = Faults(first_token_delay_s=1.0)
    async with served(faults=faults, timeout_s=0.2) as (_fake, backend):
        with pytest.raises(BackendTimeout) as err:
            await collect(backend.stream(req(layers=None)))
    assert "timeout_s" in str(err.value)


@pytest.mark.parametrize("how", ["stream", "prepare"])
async def test_unknown_model(how: str) -> None:
    async with served() as (_fake, backend):
        call = collect(backend.stream(req("nope:1b"))) if how == "stream" else backend.prepare(LoadSpec("nope:1b"))
        with pytest.raises(ModelNotFound) as err:
            await call
    assert err.value.status == 404
    assert "`ollama pull nope:1b`" in str(err.value)
    assert "nope:1b" in err.value.message


async def test_closing_the_stream_cancels_the_request() -> None:
    async with served(tokens_per_s=50) as (fake, backend):
        stream = backend.stream(req())
        async for ev in stream:
            assert isinstance(ev, ReasoningDelta)
            break
        await stream.aclose()  # type: ignore[attr-defined]
        assert await asyncio.to_thread(fake.disconnected.wait, 5)
        assert fake.disconnects == 1
        assert fake.finals == []


async def test_health_up_and_list_models() -> None:
    async with served() as (_fake, backend):
        health = await backend.health()
        before = await backend.list_models()
        await backend.prepare(LoadSpec(GEMMA3_1B.name, 2048, "off"))
        after = {m.name: m.loaded for m in await backend.list_models()}
    assert (health.ok, health.version) == (True, "0.12.6")
    assert [(m.name, m.family, m.quantization, m.loaded) for m in before] == [
        (OSS, "gptoss", "MXFP4", False), (GEMMA3_1B.name, "gemma3", "Q4_K_M", False)]  # fmt: skip
    assert after == {OSS: False, GEMMA3_1B.name: True}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_health_when_down() -> None:
    backend = OllamaBackend(Endpoint(f"http://127.0.0.1:{free_port()}", connect_timeout_s=2))
    try:
        health = await backend.health()
        with pytest.raises(ServerUnreachable) as err:
            await backend.list_models()
        assert await backend.loaded() == []
    finally:
        await backend.aclose()
    assert not health.ok
    assert "cannot connect" in health.detail
    assert "ollama serve" in health.detail
    assert "OLLAMA_HOST" in str(err.value)


async def test_health_of_something_else() -> None:
    backend = mock_backend({"/": lambda _r: httpx.Response(200, text="<html>router</html>")})
    try:
        health = await backend.health()
    finally:
        await backend.aclose()
    assert not health.ok
    assert "not like Ollama" in health.detail


def test_fake_runs_as_a_script() -> None:
    port = free_port()
    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "tests.fakes.ollama", "--port", str(port), "--profile", "old"]
    proc = subprocess.Popen(cmd, cwd=root, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        assert f"127.0.0.1:{port}" in proc.stderr.readline()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert client.get("/").text == "Ollama is running"
            assert client.get("/api/version").json() == {"version": "0.5.7"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def test_cli_bench_reports_the_servers_figures(capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main  # imported here so the backend tests above do not depend on the CLI

    with FakeOllama(tokens_per_s=300) as fake:
        args = "--ctx 8192 --gpu-layers 24 --max-tokens 256 --reasoning-effort high --format json"
        rc = main(["bench", "--backend", "ollama", "--url", fake.url, "--model", OSS, *args.split()])
    out = capsys.readouterr().out
    assert rc == 0
    (record,) = json.loads(out)
    (final,) = fake.finals
    assert record["ok"] is True
    assert record["decode_tps"] == final["eval_count"] / final["eval_duration"] * 1e9
    assert record["prompt_tps"] == final["prompt_eval_count"] / final["prompt_eval_duration"] * 1e9
    assert record["stats_source"] == "server"
    assert (record["completion_tokens"], record["prompt_tokens"]) == (final["eval_count"], final["prompt_eval_count"])
    assert (record["reasoning"], record["answer"]) == (fake.reasoning, fake.answer)
    chats = [b for b in fake.bodies("/api/chat") if b["messages"]]
    assert len(chats) == 1
    assert chats[0]["options"]["num_ctx"] == 8192
    assert chats[0]["options"]["num_gpu"] == 25  # all 24 blocks + the output layer
    assert chats[0]["options"]["num_predict"] == 256
    assert chats[0]["think"] == "high"
    assert record["loaded_context_length"] == 8192
    assert record["loaded_detail"] == "100% GPU"
