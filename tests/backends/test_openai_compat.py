"""The generic OpenAI-compatible backend: against the real llama-server and against LM Studio's fake
in its OpenAI-only profile (a server that reports no timings, so every rate is client-measured)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from backends.base import (
    AuthError,
    Backend,
    ChatRequest,
    ContentDelta,
    Endpoint,
    Finished,
    LoadSpec,
    ModelNotFound,
    ReasoningDelta,
    ServerStats,
    ServerUnreachable,
    StreamBroken,
    StreamEvent,
)
from backends.runs.stats import Meter
from backends.servers.openai_compat import OpenAICompatBackend, chat_body
from backends.servers.registry import make_backend as registry_make
from tests.conftest import RunningServer
from tests.fakes.lmstudio import FakeLMStudio

M20 = "openai/gpt-oss-20b"
KEY = "sk-exo-0123456789abcdef"
MakeFake = Callable[..., FakeLMStudio]
MakeBackend = Callable[..., OpenAICompatBackend]


@pytest.fixture
def fake() -> Iterator[Callable[..., FakeLMStudio]]:
    started: list[FakeLMStudio] = []

    def make(**kw: Any) -> FakeLMStudio:
        started.append(FakeLMStudio("0.3", **kw).start())
        return started[-1]

    yield make
    for f in started:
        f.stop()


@pytest.fixture
async def backend() -> AsyncIterator[Callable[..., OpenAICompatBackend]]:
    made: list[OpenAICompatBackend] = []

    def make(url: str, api_key: str | None = None) -> OpenAICompatBackend:
        made.append(OpenAICompatBackend(Endpoint(url, api_key=api_key, timeout_s=30)))
        return made[-1]

    yield make
    for b in made:
        await b.aclose()


async def run(b: Backend, request: ChatRequest, into: list[StreamEvent] | None = None) -> Meter:
    meter = Meter()
    meter.start()
    async for ev in b.stream(request):
        meter.on_event(ev)
        if into is not None:
            into.append(ev)
    meter.stop()
    return meter


def test_chat_body() -> None:
    req = ChatRequest.simple("m", "hi", system="sys", max_tokens=9, reasoning_effort="low", seed=1)
    assert chat_body(req) == {
        "model": "m", "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        "stream": True, "stream_options": {"include_usage": True}, "max_tokens": 9, "seed": 1,
        "reasoning_effort": "low",
    }  # fmt: skip
    assert "reasoning_effort" not in chat_body(req, reasoning_effort=False)


async def test_registry_builds_it() -> None:
    b = registry_make("openai", Endpoint("http://127.0.0.1:52415"))
    try:
        assert isinstance(b, OpenAICompatBackend)
        assert isinstance(b, Backend)
    finally:
        await b.aclose()


# ------------------------------------------------------------------------------------------ the fake


async def test_stream_reasoning_answer_and_client_figures(fake: MakeFake, backend: MakeBackend) -> None:
    f = fake()
    events: list[StreamEvent] = []
    fig = (await run(backend(f.url), ChatRequest.simple(M20, "why?", max_tokens=500), events)).figures()
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == f.reasoning_text
    assert "".join(e.text for e in events if isinstance(e, ContentDelta)) == f.answer_text
    assert events[-1] == Finished("stop")
    assert fig.stats_source == "client"
    assert fig.decode_tps is not None and fig.decode_tps == fig.decode_tps_client
    assert fig.completion_tokens == len(f.reasoning_text.split()) + len(f.answer_text.split())
    assert f.requests[-1].body["stream_options"] == {"include_usage": True}


async def test_health_and_models(fake: MakeFake, backend: MakeBackend) -> None:
    f = fake()
    b = backend(f.url)
    h = await b.health()
    assert h.ok and M20 in h.detail
    assert M20 in [m.name for m in await b.list_models()]
    assert await b.loaded() == []


async def test_prepare_warns_about_what_it_cannot_set(fake: MakeFake, backend: MakeBackend) -> None:
    b = backend(fake().url)
    p = await b.prepare(LoadSpec(M20, context_length=8192, gpu_layers=23))
    assert any("context_length=8192" in w for w in p.warnings)
    assert any("gpu_layers=23" in w for w in p.warnings)
    assert (await b.prepare(LoadSpec(M20))).warnings == ()
    assert any("not in the server's list" in w for w in (await b.prepare(LoadSpec("other"))).warnings)


async def test_unknown_model(fake: MakeFake, backend: MakeBackend) -> None:
    with pytest.raises(ModelNotFound):
        await run(backend(fake().url), ChatRequest.simple("nope", "hi"))


@pytest.mark.parametrize("fault", ["die_mid_stream", "error_event"])
async def test_broken_stream(fake: MakeFake, backend: MakeBackend, fault: str) -> None:
    with pytest.raises(StreamBroken):
        await run(backend(fake(faults={fault}).url), ChatRequest.simple(M20, "hi"))


async def test_unreachable(backend: MakeBackend, unused_tcp_port: int) -> None:
    b = backend(f"http://127.0.0.1:{unused_tcp_port}")
    with pytest.raises(ServerUnreachable):
        await b.list_models()
    assert not (await b.health()).ok


async def test_api_key_sent_and_never_shown(fake: MakeFake, backend: MakeBackend) -> None:
    f = fake(api_key=KEY, faults={"echo_key"})
    await run(backend(f.url, KEY), ChatRequest.simple(M20, "hi", max_tokens=2))
    assert f.requests[-1].headers["Authorization"] == f"Bearer {KEY}"
    wrong = backend(f.url, KEY[::-1])
    with pytest.raises(AuthError) as ei:
        await run(wrong, ChatRequest.simple(M20, "hi"))
    assert KEY[::-1] not in f"{ei.value} {ei.value!r} {ei.value.args}"
    assert KEY[::-1] not in repr(wrong)
    assert KEY[::-1] not in (await wrong.health()).detail


# ------------------------------------------------------------------------------------------ real server


@pytest.mark.integration
async def test_real_llama_server(llama_server: RunningServer, backend: MakeBackend) -> None:
    b = backend(llama_server.url)
    assert (await b.health()).ok
    [model] = await b.list_models()
    events: list[StreamEvent] = []
    req = ChatRequest.simple(model.name, "Hello", max_tokens=16, reasoning_effort="low", seed=1)
    fig = (await run(b, req, events)).figures()
    assert isinstance(events[-1], Finished)
    assert events[-1].reason == "length"  # the tiny model never stops by itself
    assert any(isinstance(e, ContentDelta | ReasoningDelta) for e in events)
    stats = [e for e in events if isinstance(e, ServerStats)]
    assert stats, "llama-server sends usage/timings when include_usage is set"
    assert fig.completion_tokens == 16
    assert fig.prompt_tokens is not None and fig.prompt_tokens > 0
    # llama-server reports its own decode rate in `timings`; the generic reader takes it.
    assert fig.stats_source == "server"
    assert fig.decode_tps is not None and fig.decode_tps > 0
    p = await b.prepare(LoadSpec(model.name, context_length=4096))
    assert any("context_length=4096" in w for w in p.warnings)
