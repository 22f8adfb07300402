"""LM Studio backend against the fake server (every version profile) and the fake `lms` CLI."""

from __future__ import annotations

import json
import math
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.base import (
    AuthError,
    Backend,
    BackendError,
    ChatRequest,
    ContentDelta,
    Endpoint,
    Finished,
    LoadRefused,
    LoadSpec,
    ModelNotFound,
    ReasoningDelta,
    ServerStats,
    ServerUnreachable,
    StreamBroken,
    StreamEvent,
)
from backends.runs.stats import Meter
from backends.servers.lms_cli import gpu_ratio, is_loopback
from backends.servers.lmstudio import LMStudioBackend, classify
from tests.fakes.lmstudio import FakeLMStudio, Model, install_fake_lms
from tests.fakes.transport import ForwardTo

M20 = "openai/gpt-oss-20b"
M120 = "openai/gpt-oss-120b"
SECRET = "sk-lm-Abc12345:Zyx987654321secret"
MakeFake = Callable[..., FakeLMStudio]
MakeBackend = Callable[..., LMStudioBackend]


@pytest.fixture
def make_fake() -> Iterator[Callable[..., FakeLMStudio]]:
    started: list[FakeLMStudio] = []

    def make(profile: str = "0.4", **kw: Any) -> FakeLMStudio:
        fake = FakeLMStudio(profile, **kw).start()
        started.append(fake)
        os.environ["FAKE_LMS_SERVER"] = fake.control_url  # the fake `lms` talks to the latest one
        return fake

    yield make
    for f in started:
        f.stop()
    os.environ.pop("FAKE_LMS_SERVER", None)


@pytest.fixture
async def make_backend() -> AsyncIterator[Callable[..., LMStudioBackend]]:
    made: list[LMStudioBackend] = []

    def make(url: str, **kw: Any) -> LMStudioBackend:
        api_key = kw.pop("api_key", None)
        b = LMStudioBackend(Endpoint(url, api_key=api_key, timeout_s=10), **kw)
        made.append(b)
        return b

    yield make
    for b in made:
        await b.aclose()


class LmsCalls:
    def __init__(self, path: Path) -> None:
        self.path = path

    def argv(self) -> list[list[str]]:
        if not self.path.exists():
            return []
        return [json.loads(line)["argv"] for line in self.path.read_text().splitlines()]

    def loads(self) -> list[list[str]]:
        return [a for a in self.argv() if a[0] == "load"]


@pytest.fixture
def lms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LmsCalls:
    """The fake `lms` on PATH, recording its calls."""
    bin_dir = tmp_path / "bin"
    install_fake_lms(bin_dir)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    log = tmp_path / "lms.jsonl"
    monkeypatch.setenv("FAKE_LMS_LOG", str(log))
    return LmsCalls(log)


async def collect(backend: Backend, request: ChatRequest, into: list[StreamEvent] | None = None) -> list[StreamEvent]:
    out = into if into is not None else []
    async for ev in backend.stream(request):
        out.append(ev)
    return out


def text_of(events: list[StreamEvent], kind: type[ReasoningDelta | ContentDelta]) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


def ask(model: str = M20, **kw: Any) -> ChatRequest:
    return ChatRequest.simple(model, "Why is the sky blue?", system="Be terse.", **kw)


async def metered(backend: Backend, request: ChatRequest) -> tuple[list[StreamEvent], Meter]:
    meter = Meter()
    meter.start()
    events = []
    async for ev in backend.stream(request):
        meter.on_event(ev)
        events.append(ev)
    meter.stop()
    return events, meter


# ------------------------------------------------------------------------------------------ pure parts


@pytest.mark.parametrize(
    ("layers", "blocks", "want"),
    [(23, 24, "0.958333"), (24, 24, "max"), (30, 24, "max"), (12, 24, "0.5"), (0, 24, "off"),
     ("max", None, "max"), ("off", None, "off"), (35, 36, "0.972222"), (1, 36, "0.0277778")],
)  # fmt: skip
def test_gpu_ratio_matches_lm_studio_slider(layers: Any, blocks: int | None, want: str) -> None:
    got = gpu_ratio(layers, blocks)
    assert got == want
    if want not in ("max", "off"):
        assert round(float(got) * blocks) == layers  # type: ignore[operator]


def test_gpu_ratio_without_a_layer_count_says_what_to_do() -> None:
    with pytest.raises(BackendError, match="block_count"):
        gpu_ratio(20, None)


@pytest.mark.parametrize(
    ("url", "local"),
    [("http://127.0.0.1:1234", True), ("http://localhost:1234", True), ("http://[::1]:1234", True),
     ("http://127.0.0.5:1", True), ("http://192.168.1.20:1234", False), ("http://mac-mini.local:1234", False),
     ("https://lmstudio.example.com", False)],
)  # fmt: skip
def test_is_loopback(url: str, local: bool) -> None:
    assert is_loopback(url) is local


def test_classify_recognises_the_guardrail_refusal() -> None:
    err = classify(400, {"error": {"type": "invalid_request", "message": "Model loading was stopped due to "
                                   "insufficient system resources. Under the current settings..."}})  # fmt: skip
    assert isinstance(err, LoadRefused)
    assert "Model loading guardrails" in str(err)


# ------------------------------------------------------------------------------------------ discovery


@pytest.mark.parametrize("profile", ["0.4", "0.3"])
async def test_health_uses_the_greeting_never_root(
    make_fake: MakeFake, make_backend: MakeBackend, profile: str
) -> None:
    fake = make_fake(profile)
    h = await make_backend(fake.url, lms="").health()
    assert h.ok, h.detail
    assert ("/api/v1" in h.detail) is (profile == "0.4")
    paths = [r.path for r in fake.requests]
    assert "/lmstudio-greeting" in paths
    assert "/" not in paths


async def test_health_when_nothing_listens_names_lms_server_start(
    make_backend: MakeBackend, unused_tcp_port: int
) -> None:
    h = await make_backend(f"http://127.0.0.1:{unused_tcp_port}", lms="").health()
    assert not h.ok
    assert "lms server start" in h.detail


async def test_list_models_v1(make_fake: MakeFake, make_backend: MakeBackend) -> None:
    fake = make_fake("0.4")
    fake.load(M20, 4096, None, "setup")
    models = {m.name: m for m in await make_backend(fake.url, lms="").list_models()}
    assert set(models) == {M20, M120}
    m = models[M20]
    assert (m.size_bytes, m.quantization, m.context_length, m.block_count, m.loaded) == (
        12_109_566_560, "MXFP4", 131072, 24, True)  # fmt: skip
    assert models[M120].block_count == 36
    assert models[M120].loaded is False


async def test_03_falls_back_to_v0_and_probes_v1_once(make_fake: MakeFake, make_backend: MakeBackend) -> None:
    fake = make_fake("0.3")
    fake.load(M20, 8192, None, "setup")
    b = make_backend(fake.url, lms="")
    models = {m.name: m for m in await b.list_models()}
    assert models[M20].loaded is True  # the loaded row wins over the duplicate not-loaded one
    loaded = await b.loaded()
    assert [(m.name, m.context_length) for m in loaded] == [(M20, 8192)]
    await collect(b, ask(max_tokens=4))
    assert [r.path for r in fake.requests].count("/api/v1/models") == 1


async def test_loaded_v1_reports_the_instance_context(make_fake: MakeFake, make_backend: MakeBackend) -> None:
    fake = make_fake("0.4")
    fake.load(M20, 16384, None, "setup")
    loaded = await make_backend(fake.url, lms="").loaded()
    assert [(m.name, m.context_length) for m in loaded] == [(M20, 16384)]


async def test_loaded_never_raises(make_backend: MakeBackend, unused_tcp_port: int) -> None:
    assert await make_backend(f"http://127.0.0.1:{unused_tcp_port}", lms="").loaded() == []


# ------------------------------------------------------------------------------------------ streaming


async def test_v1_stream_events_and_the_servers_own_figures(make_fake: MakeFake, make_backend: MakeBackend) -> None:
    fake = make_fake("0.4", tokens_per_second=300)
    b = make_backend(fake.url, lms="")
    assert isinstance(b, Backend)
    events, meter = await metered(b, ask(max_tokens=500, reasoning_effort="high", temperature=0.5, seed=7))
    assert text_of(events, ReasoningDelta) == fake.reasoning_text
    assert text_of(events, ContentDelta) == fake.answer_text
    assert isinstance(events[-1], Finished)
    # Every reasoning delta comes before the first answer delta.
    kinds = [type(e) for e in events if isinstance(e, ReasoningDelta | ContentDelta)]
    assert kinds == sorted(kinds, key=lambda k: k is ContentDelta)
    s = fake.last_stats
    assert s is not None
    fig = meter.figures()
    assert fig.stats_source == "server"
    assert fig.decode_tps == s["tokens_per_second"]
    assert fig.ttft_s == s["time_to_first_token_seconds"]
    assert (fig.prompt_tokens, fig.completion_tokens, fig.reasoning_tokens) == (
        s["input_tokens"], s["total_output_tokens"], s["reasoning_output_tokens"])  # fmt: skip
    assert fig.decode_tps_client is not None
    body = fake.requests[-1].body
    assert fake.requests[-1].path == "/api/v1/chat"
    assert body == {"model": M20, "input": "Why is the sky blue?", "system_prompt": "Be terse.", "stream": True,
                    "store": False, "max_output_tokens": 500, "temperature": 0.5, "seed": 7, "reasoning": "high"}  # fmt: skip


async def test_v1_jit_load_reports_load_time(make_fake: MakeFake, make_backend: MakeBackend) -> None:
    fake = make_fake("0.4")
    events = await collect(make_backend(fake.url, lms=""), ask())
    loads = [e.load_s for e in events if isinstance(e, ServerStats) and e.load_s is not None]
    assert loads and loads[-1] == 0.5
    assert fake.loads[-1]["via"] == "jit"


async def test_v1_max_tokens_truncates(make_fake: MakeFake, make_backend: MakeBackend) -> None:
    fake = make_fake("0.4")
    events = await collect(make_backend(fake.url, lms=""), ask(max_tokens=3))
    stats = [e for e in events if isinstance(e, ServerStats) and e.completion_tokens is not None]
    assert stats[-1].completion_tokens == 3
    assert text_of(events, ContentDelta) == ""


@pytest.mark.parametrize("profile", ["0.3", "0.3.22", "0.3-reasoning_content"])
async def test_03_stream_splits_reasoning_and_uses_client_figures(
    make_fake: MakeFake, make_backend: MakeBackend, profile: str
) -> None:
    fake = make_fake(profile)
    b = make_backend(fake.url, lms="")
    events, meter = await metered(b, ask(max_tokens=500, reasoning_effort="high"))
    assert text_of(events, ReasoningDelta).strip() == fake.reasoning_text
    assert text_of(events, ContentDelta).strip() == fake.answer_text
    assert events[-1] == Finished("stop")
    fig = meter.figures()
    assert fig.stats_source == "client"
    assert fig.decode_tps is not None
    assert fig.decode_tps == fig.decode_tps_client
    assert fig.completion_tokens == len(fake.reasoning_text.split()) + len(fake.answer_text.split())
    req = fake.requests[-1]
    assert req.path == "/v1/chat/completions"
    assert req.body["stream_options"] == {"include_usage": True}
    assert "reasoning_effort" not in req.body  # ignored by LM Studio there; prepare() warns instead


async def test_03_prepare_warns_that_reasoning_effort_is_ignored(
    make_fake: MakeFake, make_backend: MakeBackend
) -> None:
    fake = make_fake("0.3")
    prepared = await make_backend(fake.url, lms="").prepare(LoadSpec(M20))
    assert any("reasoning_effort" in w for w in prepared.warnings)


async def test_reasoning_effort_checked_against_allowed_options(make_fake: MakeFake, make_backend: MakeBackend) -> None:
    models = (Model(M20, 1, "20B", reasoning=("low",)), Model("qwen/plain", 1, "4B", reasoning=None))
    fake = make_fake("0.4", models=models)
    b = make_backend(fake.url, lms="")
    with pytest.raises(BackendError, match="takes low"):
        await collect(b, ask(reasoning_effort="high"))
    await collect(b, ask("qwen/plain", reasoning_effort="high"))
    assert "reasoning" not in fake.requests[-1].body  # a model that does not reason would reject it


@pytest.mark.parametrize("profile", ["0.4", "0.3"])
async def test_connection_dropped_mid_stream(make_fake: MakeFake, make_backend: MakeBackend, profile: str) -> None:
    fake = make_fake(profile, faults={"die_mid_stream"})
    b = make_backend(fake.url, lms="")
    got: list[StreamEvent] = []
    with pytest.raises(StreamBroken):
        await collect(b, ask(), got)
    assert any(isinstance(e, ReasoningDelta) for e in got)
    assert not any(isinstance(e, Finished) for e in got)


@pytest.mark.parametrize("profile", ["0.4", "0.3"])
async def test_error_event_mid_stream(make_fake: MakeFake, make_backend: MakeBackend, profile: str) -> None:
    fake = make_fake(profile, faults={"error_event"})
    got: list[StreamEvent] = []
    with pytest.raises(StreamBroken, match="llama_decode"):
        await collect(make_backend(fake.url, lms=""), ask(), got)
    if profile == "0.4":  # chat.end follows the error event: its figures still arrive
        assert any(isinstance(e, ServerStats) and e.completion_tokens for e in got)


@pytest.mark.parametrize("profile", ["0.4", "0.3"])
async def test_unknown_model_in_chat(make_fake: MakeFake, make_backend: MakeBackend, profile: str) -> None:
    fake = make_fake(profile)
    with pytest.raises(ModelNotFound) as ei:
        await collect(make_backend(fake.url, lms=""), ask("openai/gpt-oss-7b"))
    assert "lms ls" in str(ei.value)


async def test_server_not_running(make_backend: MakeBackend, unused_tcp_port: int) -> None:
    b = make_backend(f"http://127.0.0.1:{unused_tcp_port}", lms="")
    for call in (b.list_models, lambda: collect(b, ask()), lambda: b.prepare(LoadSpec(M20, 4096))):
        with pytest.raises(ServerUnreachable, match="lms server start"):
            await call()


# ------------------------------------------------------------------------------------------ prepare


async def test_prepare_with_lms_loads_23_of_24_layers(
    make_fake: MakeFake, make_backend: MakeBackend, lms: LmsCalls
) -> None:
    fake = make_fake("0.4")
    b = make_backend(fake.url)  # finds the fake `lms` on PATH
    prepared = await b.prepare(LoadSpec(M20, context_length=8192, gpu_layers=23))
    [load] = lms.loads()
    assert load[1] == M20
    assert "-y" in load
    assert load[load.index("--context-length") + 1] == "8192"
    ratio = float(load[load.index("--gpu") + 1])
    assert math.isclose(ratio, 23 / 24, rel_tol=1e-5)
    assert ["ps", "--json"] in lms.argv()  # confirmed afterwards
    assert prepared.loaded is not None
    assert (prepared.loaded.name, prepared.loaded.context_length) == (M20, 8192)
    assert "0.958333" in prepared.loaded.detail
    assert prepared.load_s is not None
    assert prepared.warnings == ()
    assert fake.loaded[M20]["gpu"] == "0.958333"
    # The chat must not carry context_length: LM Studio would reload with its default offload.
    await collect(b, ask())
    assert "context_length" not in fake.requests[-1].body
    assert fake.loaded[M20]["via"] == "lms"


@pytest.mark.parametrize(("layers", "gpu"), [(24, "max"), ("max", "max"), ("off", "off"), (0, "off")])
async def test_prepare_with_lms_full_and_no_offload(
    make_fake: MakeFake, make_backend: MakeBackend, lms: LmsCalls, layers: Any, gpu: str
) -> None:
    fake = make_fake("0.4")
    await make_backend(fake.url).prepare(LoadSpec(M20, context_length=4096, gpu_layers=layers))
    [load] = lms.loads()
    assert load[load.index("--gpu") + 1] == gpu


async def test_prepare_reloads_only_when_settings_differ(
    make_fake: MakeFake, make_backend: MakeBackend, lms: LmsCalls
) -> None:
    fake = make_fake("0.3")  # lms works the same against an 0.3 server
    b = make_backend(fake.url)
    await b.prepare(LoadSpec(M20, 4096, 23))
    await b.prepare(LoadSpec(M20, 4096, 23))
    assert len(lms.loads()) == 1
    await b.prepare(LoadSpec(M20, 8192, 23))
    assert ["unload", M20] in lms.argv()
    assert len(lms.loads()) == 2
    assert [(v["context_length"], v["gpu"]) for v in fake.loaded.values()] == [(8192, "0.958333")]


async def test_prepare_reloads_a_model_someone_else_loaded(
    make_fake: MakeFake, make_backend: MakeBackend, lms: LmsCalls
) -> None:
    fake = make_fake("0.4")
    fake.load(M20, 4096, None, "gui")  # same context, but its offload is unknown
    await make_backend(fake.url).prepare(LoadSpec(M20, 4096, 23))
    assert ["unload", M20] in lms.argv()
    assert fake.loaded[M20]["gpu"] == "0.958333"


async def test_guardrail_refusal_through_lms(make_fake: MakeFake, make_backend: MakeBackend, lms: LmsCalls) -> None:
    fake = make_fake("0.4", faults={"guardrail"})
    with pytest.raises(LoadRefused) as ei:
        await make_backend(fake.url).prepare(LoadSpec(M120, 131072, "max"))
    msg = str(ei.value)
    assert "insufficient system resources" in msg
    assert "Model loading guardrails" in msg
    assert "lms load --estimate-only" in msg
    assert not fake.loaded


async def test_guardrail_refusal_over_rest(make_fake: MakeFake, make_backend: MakeBackend) -> None:
    fake = make_fake("0.4", faults={"guardrail"})
    with pytest.raises(LoadRefused, match="Model loading guardrails"):
        await make_backend(fake.url, lms="").prepare(LoadSpec(M120, 131072))


async def test_unknown_model_through_lms(make_fake: MakeFake, make_backend: MakeBackend, lms: LmsCalls) -> None:
    fake = make_fake("0.4")
    with pytest.raises(ModelNotFound) as ei:
        await make_backend(fake.url).prepare(LoadSpec("openai/gpt-oss-7b", 4096, 10))
    assert "lms get" in str(ei.value)
    assert "lms ls" in str(ei.value)


async def test_unknown_model_over_rest(make_fake: MakeFake, make_backend: MakeBackend) -> None:
    fake = make_fake("0.4")
    with pytest.raises(ModelNotFound, match="lms get"):
        await make_backend(fake.url, lms="").prepare(LoadSpec("openai/gpt-oss-7b", 4096))


async def test_rest_load_sets_context_and_warns_about_offload(make_fake: MakeFake, make_backend: MakeBackend) -> None:
    fake = make_fake("0.4")
    prepared = await make_backend(fake.url, lms="").prepare(LoadSpec(M20, 8192, 23))
    assert fake.loads[-1] == {"model": M20, "context_length": 8192, "gpu": None, "via": "rest"}
    assert prepared.load_s == 0.5
    assert prepared.loaded is not None and prepared.loaded.context_length == 8192
    assert any("gpu_layers=23 NOT applied" in w for w in prepared.warnings)


async def test_rest_load_replaces_an_instance_with_another_context(
    make_fake: MakeFake, make_backend: MakeBackend
) -> None:
    fake = make_fake("0.4")
    fake.load(M20, 4096, None, "gui")
    b = make_backend(fake.url, lms="")
    await b.prepare(LoadSpec(M20, 8192))
    assert [v["context_length"] for v in fake.loaded.values()] == [8192]
    n = len(fake.loads)
    await b.prepare(LoadSpec(M20, 8192))
    assert len(fake.loads) == n  # already as asked


async def test_remote_url_never_runs_the_local_lms(make_fake: MakeFake, lms: LmsCalls) -> None:
    fake = make_fake("0.4")
    remote = Endpoint("http://mac-mini.example:1234", timeout_s=10)
    # The client really talks to the loopback fake; the backend only sees a remote URL.
    b = LMStudioBackend(remote, transport=ForwardTo(fake.url))
    try:
        prepared = await b.prepare(LoadSpec(M20, 8192, 23))
    finally:
        await b.aclose()
    assert lms.argv() == []
    assert any("not this machine" in w for w in prepared.warnings)
    assert any("NOT applied" in w for w in prepared.warnings)
    assert fake.loads[-1]["via"] == "rest"


async def test_lms_missing_loads_over_rest_with_a_warning(make_fake: MakeFake, make_backend: MakeBackend) -> None:
    fake = make_fake("0.4")
    prepared = await make_backend(fake.url, lms="").prepare(LoadSpec(M20, 4096, 20))
    assert any("lms" in w and "PATH" in w for w in prepared.warnings)


async def test_03_without_lms_cannot_apply_settings(make_fake: MakeFake, make_backend: MakeBackend) -> None:
    fake = make_fake("0.3")
    prepared = await make_backend(fake.url, lms="").prepare(LoadSpec(M20, 8192, 23))
    assert any("context_length=8192 NOT applied" in w for w in prepared.warnings)
    assert not fake.loads


# ------------------------------------------------------------------------------------------ auth


async def test_api_key_is_sent_and_never_shown(make_fake: MakeFake, make_backend: MakeBackend) -> None:
    fake = make_fake("0.4", api_key=SECRET, faults={"echo_key"})
    b = make_backend(fake.url, lms="", api_key=SECRET)
    await collect(b, ask(max_tokens=2))
    assert fake.requests[-1].headers["Authorization"] == f"Bearer {SECRET}"
    wrong = make_backend(fake.url, lms="", api_key=SECRET[::-1])
    calls = (wrong.list_models, lambda: collect(wrong, ask()), lambda: wrong.prepare(LoadSpec(M20, 4096)))
    for call in calls:
        with pytest.raises(AuthError) as ei:
            await call()
        shown = f"{ei.value} {ei.value!r} {ei.value.message} {ei.value.hint}"
        assert SECRET[::-1] not in shown
        assert "***" in shown  # the server echoed it; the client redacted it
    assert SECRET not in repr(b) and SECRET[::-1] not in repr(wrong)
    h = await wrong.health()
    assert SECRET[::-1] not in h.detail


async def test_api_key_from_lm_api_token(
    make_fake: MakeFake, make_backend: MakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = make_fake("0.4", api_key=SECRET)
    monkeypatch.setenv("LM_API_TOKEN", SECRET)
    b = make_backend(fake.url, lms="")
    assert [m.name for m in await b.list_models()]
    assert SECRET not in repr(b)


# ------------------------------------------------------------------------------------------ CLI


def bench_json(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    from tui.cli import main

    argv = ["bench", "--backend", "lmstudio", "--url", url, "--model", M20, "--ctx", "8192",
            "--gpu-layers", "23", "--max-tokens", "64", "--format", "json", "--no-save"]  # fmt: skip
    rc = main(argv)
    return rc, json.loads(capsys.readouterr().out)


def test_cli_bench_on_04_reports_the_servers_figures(
    make_fake: MakeFake, lms: LmsCalls, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = make_fake("0.4")
    rc, [rec] = bench_json(fake.url, capsys)
    assert rc == 0, rec["error"]
    s = fake.last_stats
    assert s is not None
    assert rec["stats_source"] == "server"
    assert rec["decode_tps"] == s["tokens_per_second"]
    assert rec["ttft_s"] == s["time_to_first_token_seconds"]
    assert (rec["completion_tokens"], rec["reasoning_tokens"]) == (
        s["total_output_tokens"],
        s["reasoning_output_tokens"],
    )
    assert (rec["reasoning"], rec["answer"]) == (fake.reasoning_text, fake.answer_text)
    [load] = lms.loads()
    assert load[load.index("--gpu") + 1] == "0.958333"
    assert load[load.index("--context-length") + 1] == "8192"
    assert rec["loaded_context_length"] == 8192


def test_cli_bench_on_03_measures_on_the_client(
    make_fake: MakeFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no `lms`: loading cannot be applied, and says so
    fake = make_fake("0.3")
    rc, [rec] = bench_json(fake.url, capsys)
    assert rc == 0, rec["error"]
    assert rec["stats_source"] == "client"
    assert rec["decode_tps"] is not None and rec["decode_tps"] == rec["decode_tps_client"]
    assert rec["answer"] == fake.answer_text
    assert any("NOT applied" in w for w in rec["warnings"])
