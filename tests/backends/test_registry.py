"""The registry's typed factories, the capabilities each server kind declares, and the one test seam
(`ServerOptions.transport`) every adapter builds its HTTP clients on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from backends.base import (
    BACKEND_KINDS,
    Backend,
    BackendKind,
    Capabilities,
    ChatRequest,
    Endpoint,
    ServerOptions,
)
from backends.fields import count, number, obj, positive, positive_int, text
from backends.servers.llamacpp import LlamaCppBackend
from backends.servers.registry import factory, make_backend

EXPECTED: dict[BackendKind, Capabilities] = {
    "llamacpp": Capabilities(load_applies="server_start", owns_process=False, server_timings=True),
    "ollama": Capabilities(load_applies="per_request", server_timings=True),
    "lmstudio": Capabilities(load_applies="load_call", server_timings=True),
    "openai": Capabilities(load_applies="none"),
}
# Whether offload reaches the server (None: it does; else why not): an attached llama-server fixed it at
# start, a plain OpenAI server has none; LM Studio's depends on `lms` being on this machine's PATH.
OFFLOAD_BLOCKED: dict[BackendKind, bool | None] = {"llamacpp": True, "ollama": False, "lmstudio": None, "openai": True}


def mock(routes: dict[str, object]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path not in routes:
            return httpx.Response(404, json={"error": "not found"})
        return httpx.Response(200, json=routes[request.url.path])

    return httpx.MockTransport(handle)


@pytest.mark.parametrize("kind", BACKEND_KINDS)
async def test_every_kind_declares_what_it_can_do(kind: BackendKind) -> None:
    backend = make_backend(kind, Endpoint("http://127.0.0.1:1"))
    try:
        assert isinstance(backend, Backend) and backend.kind == kind
        caps = backend.capabilities
        assert (caps.load_applies, caps.owns_process, caps.server_timings) == (
            EXPECTED[kind].load_applies, EXPECTED[kind].owns_process, EXPECTED[kind].server_timings,
        )  # fmt: skip
        if (blocked := OFFLOAD_BLOCKED[kind]) is not None:
            assert (caps.offload_blocked is not None) is blocked
        assert not caps.expert_offload  # only a llama-server gptoss-top starts takes n_cpu_moe
        assert backend.pid is None  # nothing started yet
    finally:
        await backend.aclose()


async def test_a_managed_llama_server_says_it_owns_its_process() -> None:
    backend = factory("llamacpp")(Endpoint("http://127.0.0.1:1"), ServerOptions(managed=True))
    assert backend.capabilities.owns_process and backend.pid is None
    await backend.aclose()


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="lmstudio, ollama, llamacpp, openai"):
        factory("vllm")  # type: ignore[arg-type]


MODELS = {
    "llamacpp": ("/v1/models", {"data": [{"id": "tiny", "meta": {"size": 5000, "n_ctx_train": 2048}}]}),
    "openai": ("/v1/models", {"data": [{"id": "tiny", "max_model_len": 2048}]}),
    "ollama": ("/api/tags", {"models": [{"name": "tiny", "size": 5000}]}),
    "lmstudio": ("/api/v1/models", {"models": [{"key": "tiny", "type": "llm", "max_context_length": 2048}]}),
}


@pytest.mark.parametrize("kind", BACKEND_KINDS)
async def test_every_adapter_talks_through_the_transport_it_is_given(kind: BackendKind) -> None:
    path, body = MODELS[kind]
    # A host that does not resolve: only the transport can answer.
    backend = make_backend(kind, Endpoint("http://server.invalid:1"), ServerOptions(transport=mock({path: body})))
    try:
        assert [m.name for m in await backend.list_models()] == ["tiny"]
    finally:
        await backend.aclose()


async def test_llamacpp_reuses_the_openai_model_list_and_request_body() -> None:
    path, body = MODELS["llamacpp"]
    backend = LlamaCppBackend(Endpoint("http://server.invalid:1"), transport=mock({path: body}))
    [model] = await backend.list_models()
    assert (model.size_bytes, model.context_length, model.loaded) == (5000, 2048, True)
    sent = backend.body(ChatRequest.simple("tiny", "hi", max_tokens=8, reasoning_effort="high"))
    assert sent["stream_options"] == {"include_usage": True} and sent["max_tokens"] == 8
    assert sent["reasoning_effort"] == "high" and sent["chat_template_kwargs"] == {"reasoning_effort": "high"}
    await backend.aclose()


async def test_llamacpp_streams_through_the_openai_stream_reader() -> None:
    chunks = [{"choices": [{"delta": {"reasoning_content": "think"}}]}, {"choices": [{"delta": {"content": "Hi"}}]},
              {"choices": [{"delta": {}, "finish_reason": "stop"}], "timings": {"predicted_per_second": 42.0}}]  # fmt: skip
    sse = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"

    class Body(httpx.AsyncByteStream):  # content= counts as read already: a stream cannot read it again
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield sse.encode()

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Body(), headers={"content-type": "text/event-stream"})

    backend = LlamaCppBackend(Endpoint("http://server.invalid:1"), transport=httpx.MockTransport(handle))
    events = [e async for e in backend.stream(ChatRequest.simple("tiny", "hi"))]
    await backend.aclose()
    assert [type(e).__name__ for e in events] == ["ReasoningDelta", "ContentDelta", "ServerStats", "Finished"]


def test_json_field_helpers_have_one_meaning_each() -> None:
    assert obj({"a": 1}) == {"a": 1} and obj([1]) == {} and obj(None) == {}
    assert text("x") == "x" and text(" b7010\n") == "b7010" and text(" ") is None and text(3) is None
    assert count(0) == 0 and count(7) == 7 and count(-1) is None and count(True) is None and count(1.5) is None
    assert positive_int(0) is None and positive_int(4096) == 4096 and positive_int(False) is None
    assert number(3) == 3.0 and number(2.5) == 2.5 and number(True) is None and number("1") is None
    assert positive(0.0) is None and positive(-1.0) is None and positive(12.5) == 12.5 and positive(None) is None
