"""The fault matrix: each named fault against every backend it applies to, visible in the test ids
(`test_stream_fault[reset-ollama]`). For each, the CLI (in-process `tui.cli.main`, a subprocess for a
few) keeps running the sweep, the message says what happened *and what to do* (the hint is
asserted, not just the class), and the runs that finished before the fault are in results.jsonl.

Where the real servers cannot be told to misbehave at a chosen byte, `wire_server.WireServer` plays
each backend's own wire shape (llama.cpp SSE, OpenAI SSE, LM Studio /api/v1 named events, Ollama
NDJSON). Faults the real llama-server and the fakes produce themselves (server down, unknown model,
context overflow, guardrails) run against those.

The TUI side of the same faults (server down, load refused, mid-stream error shown while the app
keeps running) is in tests/tui/test_keys.py: test_unreachable_server_is_shown_and_the_app_stays and
test_load_refused_and_mid_stream_error.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backends.probes import Sampler
from backends.probes.amd import AmdProbe
from backends.probes.apple import AppleProbe, run_command
from backends.probes.nvidia import NO_DRIVER, NO_LIBRARY, NvidiaProbe
from backends.runs.patterns import Pattern
from backends.runs.record import RunRecord
from backends.runs.results import ResultsStore, load_records
from backends.runs.session import BackendPool, RunContext, RunFinished, run_pattern
from backends.runs.sweep import run_sweep
from backends.servers.llamaserver import free_port
from tests.conftest import REPO, RunningServer, start_server, stop_server
from tests.fakes.lmstudio import FakeLMStudio
from tests.fakes.ollama import GPT_OSS_20B, FakeOllama
from tests.hardening.wire_server import RESET, Reply, Sleep, Step, WireServer
from tests.probes import fake_pynvml
from tests.probes.sysfs_trees import RX9070, lay_out
from tui.cli import main

# ------------------------------------------------------------------------------------------------
# Each backend's wire, written the way that server writes it


def _sse(obj: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(obj)}\n\n".encode()


@dataclass(frozen=True)
class Wire:
    backend: str
    stream_path: str
    ctype: str
    token: Callable[[str], bytes]
    finish: tuple[bytes, ...]
    ping: bytes  # a keep-alive the client must ignore
    malformed: bytes
    error_event: bytes  # an error after the first chunk; the stream then ends without its end marker
    error_body: Callable[[int, str], Any]
    routes: Callable[[Callable[[Any], Reply]], dict[tuple[str, str], Callable[[Any], Reply]]]


def _openai_token(t: str) -> bytes:
    return _sse({"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}],
                 "object": "chat.completion.chunk"})  # fmt: skip


_OPENAI_FINISH = (
    _sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "object": "chat.completion.chunk",
          "timings": {"prompt_n": 5, "prompt_ms": 5.0, "prompt_per_second": 1000.0, "predicted_n": 2,
                      "predicted_ms": 20.0, "predicted_per_second": 100.0}}),
    b"data: [DONE]\n\n",
)  # fmt: skip


def _ok(body: Any) -> Callable[[Any], Reply]:
    return lambda _b: Reply(body=body)


LLAMACPP = Wire(
    backend="llamacpp",
    stream_path="/v1/chat/completions",
    ctype="text/event-stream",
    token=_openai_token,
    finish=_OPENAI_FINISH,
    ping=b": ping\n\n",
    malformed=b'data: {"choices":[{"index":0,"delta":\n\n',
    error_event=_sse({"error": {"code": 500, "message": "llama_decode returned -3", "type": "server_error"}}),
    error_body=lambda st, msg: {"error": {"code": st, "message": msg,
                                          "type": "invalid_request_error" if st < 500 else "server_error"}},
    routes=lambda chat: {
        ("GET", "/props"): _ok({"default_generation_settings": {"n_ctx": 4096}, "model_path": "/m/tiny.gguf",
                                "build_info": "b7010-fake"}),
        ("GET", "/v1/models"): _ok({"data": [{"id": "tiny", "meta": {"size": 1000, "n_ctx_train": 4096}}]}),
        ("GET", "/health"): _ok({"status": "ok"}),
        ("POST", "/v1/chat/completions"): chat,
    },
)  # fmt: skip

OPENAI = Wire(
    backend="openai",
    stream_path="/v1/chat/completions",
    ctype="text/event-stream",
    token=_openai_token,
    finish=_OPENAI_FINISH,
    ping=b": keep-alive\n\n",
    malformed=b"data: <html>502 Bad Gateway</html>\n\n",
    error_event=_sse({"error": {"message": "llama_decode returned -3", "type": "server_error", "code": None}}),
    error_body=lambda st, msg: {"error": {"message": msg, "type": "invalid_request_error" if st < 500 else
                                          "server_error", "param": None, "code": None}},
    routes=lambda chat: {
        ("GET", "/v1/models"): _ok({"object": "list", "data": [{"id": "good"}, {"id": "bad"}]}),
        ("POST", "/v1/chat/completions"): chat,
    },
)  # fmt: skip


def _lms_row(key: str) -> dict[str, Any]:
    return {"type": "llm", "key": key, "size_bytes": 1000, "capabilities": {},
            "loaded_instances": [{"id": key, "config": {"context_length": 4096}}]}  # fmt: skip


LMSTUDIO = Wire(
    backend="lmstudio",
    stream_path="/api/v1/chat",
    ctype="text/event-stream",
    token=lambda t: _sse({"type": "message.delta", "content": t}, "message.delta"),
    finish=(_sse({"type": "chat.end", "result": {"stats": {"total_output_tokens": 2, "tokens_per_second": 100.0,
                                                           "time_to_first_token_seconds": 0.01}}}, "chat.end"),),
    ping=b": keep-alive\n\n",
    malformed=b'event: message.delta\ndata: {"type":"message.delta","content":\n\n',
    error_event=_sse({"type": "error", "error": {"type": "unknown", "message": "llama_decode returned -3"}}, "error"),
    error_body=lambda _st, msg: {"error": {"type": "invalid_request", "message": msg}},
    routes=lambda chat: {
        ("GET", "/api/v1/models"): _ok({"models": [_lms_row("good"), _lms_row("bad")]}),
        ("POST", "/api/v1/chat"): chat,
    },
)  # fmt: skip


def _ollama_line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def _ollama_chat(stream: Callable[[Any], Reply]) -> Callable[[Any], Reply]:
    # prepare() loads with a non-streaming empty chat; only the real request streams
    return lambda body: stream(body) if body.get("stream") else Reply(body={"done": True, "done_reason": "load"})


OLLAMA = Wire(
    backend="ollama",
    stream_path="/api/chat",
    ctype="application/x-ndjson",
    token=lambda t: _ollama_line({"message": {"role": "assistant", "content": t}, "done": False}),
    finish=(_ollama_line({"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
                          "eval_count": 2, "eval_duration": 20_000_000}),),
    ping=b"\n",
    malformed=b"<html>502 Bad Gateway</html>\n",
    error_event=_ollama_line({"error": "an error was encountered while running the model"}),
    error_body=lambda _st, msg: {"error": msg},
    routes=lambda chat: {
        ("POST", "/api/show"): _ok({"details": {"family": "gptoss"}, "model_info": {
            "general.architecture": "gptoss", "gptoss.block_count": 24, "gptoss.context_length": 131072}}),
        ("POST", "/api/chat"): _ollama_chat(chat),
        ("GET", "/api/ps"): _ok({"models": []}),
    },
)  # fmt: skip

WIRES = {w.backend: w for w in (LLAMACPP, OPENAI, LMSTUDIO, OLLAMA)}
MSG_4XX = "invalid request: 'n_probs' must be a non-negative integer"
MSG_5XX = "internal error: unexpected EOF while decoding"


def script(w: Wire, fault: str) -> Reply:
    tok = w.token
    steps: dict[str, list[Step]] = {
        "ok": [tok("Hello"), tok(" world"), *w.finish],
        "reset": [tok("Hello"), tok(" world"), RESET],
        "malformed": [tok("Hello"), w.malformed, tok(" world"), *w.finish],
        "ping": [w.ping, tok("Hello"), w.ping, w.ping, tok(" world"), w.ping, *w.finish],
        "error_event": [tok("Hello"), w.error_event],
        "slow_first_token": [Sleep(5.0), tok("Hello"), *w.finish],
    }
    if fault == "http_4xx":
        return Reply(400, body=w.error_body(400, MSG_4XX))
    if fault == "http_5xx":
        return Reply(500, body=w.error_body(500, MSG_5XX))
    return Reply(ctype=w.ctype, steps=steps[fault])


@dataclass(frozen=True)
class Expect:
    kind: str | None  # error_kind of the faulty run; None: it works
    says: tuple[str, ...] = ()  # in the message (what happened)
    hint: tuple[str, ...] = ()  # in the hint (what to do)
    kept: str = ""  # the text that arrived before the fault, kept in the record


STREAM_FAULTS: dict[str, Expect] = {
    "reset": Expect("stream_broken", ("closed mid-stream",), ("crash or restart",), "Hello world"),
    "http_4xx": Expect("backend_error", (MSG_4XX,), ("rejected the request", "check the pattern")),
    "http_5xx": Expect("backend_error", (MSG_5XX,), ("log",)),
    "malformed": Expect("stream_broken", ("not JSON",), ("proxy",), "Hello"),
    "ping": Expect(None),
    "error_event": Expect("stream_broken", ("error", "mid-stream"), ("log",), "Hello"),
    "slow_first_token": Expect("timeout", ("no token within 0.3 s",), ("raise first_token_timeout_s",)),
}
# Ollama's own words for a failed runner and for errors mid-stream.
OLLAMA_5XX = Expect("backend_error", ("Ollama server error (500)", MSG_5XX), ("Ollama server log",))


# ------------------------------------------------------------------------------------------------
# Driving the CLI


@dataclass
class Bench:
    code: int
    out: list[dict[str, Any]]
    err: str
    stored: list[RunRecord]


def bench(tmp_path: Path, capsys: pytest.CaptureFixture[str], patterns: list[dict[str, Any]],
          extra: tuple[str, ...] = ()) -> Bench:  # fmt: skip
    """`gptoss-top bench FILE --format json` in-process; what it printed and what it stored."""
    lines = []
    for p in patterns:
        lines.append("[[patterns]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in p.items()]
    path = tmp_path / "patterns.toml"
    path.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    code = main(["bench", str(path), "--format", "json", *extra])
    cap = capsys.readouterr()
    stored = load_records(Path(os.environ["GPTOSS_TOP_DATA_DIR"]) / "results.jsonl")
    return Bench(code, json.loads(cap.out) if cap.out.strip() else [], cap.err, stored)


def check_failed_run(b: Bench, index: int, expect: Expect) -> dict[str, Any]:
    """The faulty run failed in words a user can act on; the others worked and everything is stored."""
    assert "Traceback" not in b.err
    assert b.code == 1, b.err
    rec = b.out[index]
    assert rec["ok"] is False
    assert rec["error_kind"] == expect.kind, rec["error"]
    for words in expect.says:
        assert words in rec["error"], (words, rec["error"])
    for words in expect.hint:
        assert words in (rec["error_hint"] or ""), (words, rec["error_hint"])
    assert f"FAILED — {rec['error']}" in b.err  # the same words on stderr, as the run ends
    assert rec["error_hint"] is None or f"what to do: {rec['error_hint']}" in b.err
    assert [r.ok for r in b.stored] == [r["ok"] for r in b.out], "every run, failed or not, is in results.jsonl"
    assert all(r["ok"] for i, r in enumerate(b.out) if i != index), [r["error"] for r in b.out]
    return rec


def pat(name: str, backend: str, url: str, model: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "backend": backend, "url": url, "model": model, "prompt": "hi", "max_tokens": 16, **kw}


# ------------------------------------------------------------------------------------------------
# Stream faults × every backend, on the wire


@pytest.mark.parametrize("backend", list(WIRES))
@pytest.mark.parametrize("fault", list(STREAM_FAULTS))
def test_stream_fault(fault: str, backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    w = WIRES[backend]
    chat = lambda body: script(w, "ok" if body.get("model") == "good" else fault)  # noqa: E731
    with WireServer(w.routes(chat)) as server:
        bad_extra = {"first_token_timeout_s": 0.3} if fault == "slow_first_token" else {}
        b = bench(tmp_path, capsys, [
            pat("before", backend, server.url, "good"),
            pat("faulty", backend, server.url, "bad", **bad_extra),
            pat("after", backend, server.url, "good"),  # the same backend object goes on working
        ])  # fmt: skip
    expect = OLLAMA_5XX if (backend, fault) == ("ollama", "http_5xx") else STREAM_FAULTS[fault]
    if expect.kind is None:
        assert b.code == 0, b.err
        assert [r["answer"] for r in b.out] == ["Hello world"] * 3
        assert len(b.stored) == 3 and all(r.ok for r in b.stored)
        return
    rec = check_failed_run(b, 1, expect)
    assert rec["answer"] == expect.kept


# ------------------------------------------------------------------------------------------------
# Server not running


DOWN_HINTS = {
    "llamacpp": "is llama-server running at that address?",
    "ollama": "is `ollama serve` running?",
    "lmstudio": "Start it with `lms server start`",
    "openai": "is the server running, and is the URL (host and port) right?",
}


@pytest.mark.parametrize("backend", list(DOWN_HINTS))
def test_server_not_running(backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    w = WIRES[backend]
    down = f"http://127.0.0.1:{free_port()}"
    with WireServer(w.routes(lambda _b: script(w, "ok"))) as server:
        b = bench(tmp_path, capsys, [pat("before", backend, server.url, "good"), pat("down", backend, down, "good")])
    check_failed_run(b, 1, Expect("server_unreachable", (f"cannot connect to {down}",), (DOWN_HINTS[backend],)))


@pytest.mark.parametrize("backend", ["llamacpp", "ollama"])
def test_server_not_running_subprocess(backend: str, tmp_path: Path) -> None:
    """The installed entry point as a shell runs it: exit 1, the hint on stderr, no traceback."""
    down = f"http://127.0.0.1:{free_port()}"
    r = subprocess.run(
        [sys.executable, "-m", "tui", "bench", "--backend", backend, "--url", down, "--model", "m"],
        capture_output=True, text=True, timeout=60, cwd=REPO, env={**os.environ, "GPTOSS_TOP_DATA_DIR": str(tmp_path)},
    )  # fmt: skip
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert f"FAILED — cannot connect to {down}" in r.stderr and DOWN_HINTS[backend] in r.stderr
    assert "ad-hoc" in r.stdout  # the table still prints
    [rec] = load_records(tmp_path / "results.jsonl")
    assert rec.error_kind == "server_unreachable"


# ------------------------------------------------------------------------------------------------
# Unknown model: the fakes answer as the real servers do (the real llama-server serves its one
# model whatever the name, so it does not apply there)


@pytest.fixture
def ollama_fake() -> Iterator[FakeOllama]:
    with FakeOllama(tokens_per_s=2000) as fake:
        yield fake


@pytest.fixture
def lmstudio_fake() -> Iterator[Callable[..., FakeLMStudio]]:
    started: list[FakeLMStudio] = []

    def make(profile: str = "0.4", **kw: Any) -> FakeLMStudio:
        started.append(FakeLMStudio(profile, tokens_per_second=2000, **kw).start())
        return started[-1]

    yield make
    for f in started:
        f.stop()


@pytest.mark.parametrize("backend", ["ollama", "lmstudio-0.4", "lmstudio-0.3", "openai"])
def test_unknown_model(backend: str, ollama_fake: FakeOllama, lmstudio_fake: Callable[..., FakeLMStudio],
                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    if backend == "ollama":
        kind, url, good, bad, hint = "ollama", ollama_fake.url, "gpt-oss:20b", "nope:1b", "`ollama pull nope:1b`"
    else:
        fake = lmstudio_fake("0.3" if backend != "lmstudio-0.4" else "0.4")
        kind = "openai" if backend == "openai" else "lmstudio"
        url, good, bad = fake.url, "openai/gpt-oss-20b", "nope/x-7b"
        hint = "GET /v1/models lists" if backend == "openai" else "`lms ls` lists the downloaded models"
    b = bench(tmp_path, capsys, [pat("before", kind, url, good), pat("typo", kind, url, bad),
                                 pat("after", kind, url, good)])  # fmt: skip
    rec = check_failed_run(b, 1, Expect("model_not_found", (bad,), (hint,)))
    assert rec["model"] == bad


# ------------------------------------------------------------------------------------------------
# Load refused (LM Studio's guardrails; Ollama's runner out of memory)


def test_load_refused_by_lmstudio_guardrails(lmstudio_fake: Callable[..., FakeLMStudio], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    fake = lmstudio_fake("0.4", faults={"guardrail"})
    m = "openai/gpt-oss-20b"
    fake.loaded[m] = {"model": m, "context_length": 4096, "gpu": None, "via": "gui"}  # loaded before the guardrail
    b = bench(tmp_path, capsys, [pat("as-loaded", "lmstudio", fake.url, m),
                                 pat("bigger", "lmstudio", fake.url, m, context_length=65536)])  # fmt: skip
    rec = check_failed_run(b, 1, Expect("load_refused", ("insufficient system resources",),
                                        ("Model loading guardrails", "lower context_length")))  # fmt: skip
    assert rec["context_length"] == 65536


def test_load_refused_by_ollama_for_memory(ollama_fake: FakeOllama, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    ollama_fake.schedule(GPT_OSS_20B, {}, 300)  # loaded already, with the default context
    ollama_fake.faults.load_error = "model requires more system memory (21.5 GiB) than is available (12.0 GiB)"
    b = bench(
        tmp_path,
        capsys,
        [
            pat("as-loaded", "ollama", ollama_fake.url, "gpt-oss:20b"),
            pat("bigger", "ollama", ollama_fake.url, "gpt-oss:20b", context_length=131072),
        ],
    )
    check_failed_run(b, 1, Expect("load_refused", ("more system memory",), ("smaller context_length",)))


# ------------------------------------------------------------------------------------------------
# Context overflow on the real llama-server (started with a small -c), through both backends that
# can talk to it


@pytest.fixture(scope="module")
def small_ctx_server(server_bin: str, tiny_model: Path) -> Iterator[RunningServer]:
    server = start_server(server_bin, tiny_model, ctx=256)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["llamacpp", "openai"])
def test_context_overflow(backend: str, small_ctx_server: RunningServer, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    url = small_ctx_server.url
    b = bench(tmp_path, capsys, [pat("short", backend, url, "tiny"),
                                 pat("long", backend, url, "tiny", prompt="tell me more " * 400),
                                 pat("short-again", backend, url, "tiny")])  # fmt: skip
    check_failed_run(b, 1, Expect("context_overflow", ("context",), ("shorter prompt", "larger context_length")))


# ------------------------------------------------------------------------------------------------
# Hardware probes: a missing library, an unsupported field, unreadable sysfs, missing or hanging
# macOS commands. The sampler never raises, a run still completes with the sampler ticking, and
# the snapshot says what is missing.


def _probe_nvml_missing(mp: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Any, str]:
    mp.setitem(sys.modules, "pynvml", None)
    return NvidiaProbe(), NO_LIBRARY


def _probe_nvml_no_driver(mp: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Any, str]:
    mp.setitem(sys.modules, "pynvml", fake_pynvml.make(init_error=fake_pynvml.NVMLError_DriverNotLoaded))
    return NvidiaProbe(), NO_DRIVER


def _probe_nvml_not_supported(mp: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Any, str]:
    gpu = fake_pynvml.FakeGpu(not_supported={"nvmlDeviceGetMemoryInfo", "nvmlDeviceGetPowerUsage"})
    mp.setitem(sys.modules, "pynvml", fake_pynvml.make(gpus=[gpu]))
    return NvidiaProbe(), ""


def _probe_sysfs_unlistable(mp: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Any, str]:
    root = lay_out(tmp_path / "sys", {"card1": RX9070})
    real = Path.iterdir

    def iterdir(self: Path) -> Any:
        if str(self).startswith(str(root)):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    mp.setattr(Path, "iterdir", iterdir)
    return AmdProbe(sysfs_root=root, proc_root=tmp_path / "proc", use_library=False), "no AMD GPU"


def _probe_sysfs_unreadable_files(mp: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Any, str]:
    root = lay_out(tmp_path / "sys", {"card1": RX9070})
    real = Path.read_text

    def read_text(self: Path, *a: Any, **kw: Any) -> str:
        if str(self).startswith(str(root)) and self.name != "vendor":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, *a, **kw)

    mp.setattr(Path, "read_text", read_text)
    return AmdProbe(sysfs_root=root, proc_root=tmp_path / "proc", use_library=False), ""


def _fake_mac_bin(tmp_path: Path, body: str) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    for name in ("ioreg", "sysctl", "vm_stat"):
        (d / name).write_text(f"#!/bin/sh\n{body}\n")
        (d / name).chmod(0o755)
    return d


def _probe_ioreg_missing(mp: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Any, str]:
    def runner(argv: Any, timeout_s: float) -> str | None:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", argv[0])

    return AppleProbe(runner=runner), "`ioreg` gave no output"


def _probe_ioreg_hanging(mp: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Any, str]:
    # The real runner, with commands that hang: each is killed at the probe's time-out.
    mp.setenv("PATH", str(_fake_mac_bin(tmp_path, "exec sleep 30")))
    return AppleProbe(runner=run_command, timeout_s=0.2), "no answer within 0.2 s"


def _probe_ioreg_not_on_path(mp: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Any, str]:
    mp.setenv("PATH", str(tmp_path / "empty"))
    return AppleProbe(runner=run_command, timeout_s=0.2), "`vm_stat` gave no output (missing"


PROBE_FAULTS = {
    "nvml_missing": _probe_nvml_missing,
    "nvml_no_driver": _probe_nvml_no_driver,
    "nvml_not_supported": _probe_nvml_not_supported,
    "sysfs_unlistable": _probe_sysfs_unlistable,
    "sysfs_files_unreadable": _probe_sysfs_unreadable_files,
    "ioreg_runner_raises": _probe_ioreg_missing,
    "ioreg_not_on_path": _probe_ioreg_not_on_path,
    "ioreg_hanging": _probe_ioreg_hanging,
}


@pytest.mark.parametrize("fault", list(PROBE_FAULTS))
async def test_probe_fault(fault: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    probe, says = PROBE_FAULTS[fault](monkeypatch, tmp_path)
    sampler = Sampler([probe], interval_s=0.05)
    w = LLAMACPP
    with WireServer(w.routes(lambda _b: script(w, "ok"))) as server:
        p = Pattern(name="A", backend="llamacpp", url=server.url, model="tiny", prompt="hi", max_tokens=8)
        pool = BackendPool()
        await sampler.start()
        try:
            rec = await run_pattern(p, pool.get(p), ctx=RunContext(sampler=sampler))
        finally:
            await sampler.stop()
            await pool.aclose()
    assert rec.ok, rec.error
    assert rec.answer == "Hello world"
    snap = sampler.latest
    assert snap is not None and not snap.errors  # a state or a note, never an error line
    shown = " | ".join(snap.notes)
    assert says in shown, shown
    if fault in ("nvml_not_supported", "sysfs_files_unreadable"):
        (gpu,) = snap.gpus  # the card still shows, with the fields it could read
        assert gpu.mem_used_bytes is None
        assert rec.peak_vram_bytes is None  # unknown, not 0


# ------------------------------------------------------------------------------------------------
# Pattern file invalid, missing or unreadable: exit 2, file (and line) named, what to do


def test_pattern_file_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nope.toml"
    assert main(["bench", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: file not found" in err and "gptoss-top init" in err


def test_pattern_file_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[[patterns]]\nname = "A"\nbackend = "llamacpp"\nmodel = "m"\ngpu_layer = 3\n')
    assert main(["bench", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:5: unknown key 'gpu_layer'" in err and "did you mean 'gpu_layers'?" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("how", ["permission", "directory"])
def test_pattern_file_unreadable(how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    path = tmp_path / "p.toml"
    if how == "directory":
        path.mkdir()
    else:  # root reads any file, so the denial is simulated
        path.write_text('[[patterns]]\nname = "A"\n')
        real = Path.read_bytes

        def read_bytes(self: Path) -> bytes:
            if self == path:
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return real(self)

        monkeypatch.setattr(Path, "read_bytes", read_bytes)
    assert main(["bench", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: cannot read the file:" in err and "check that it is a file you may read" in err
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------------
# The results store: read-only folder, disk full, a short write. Runs go on, the output still has
# every run, stderr says which were not saved and what to do, and what was saved stays readable.


def _store_path() -> str:
    return str(Path(os.environ["GPTOSS_TOP_DATA_DIR"]) / "results.jsonl")


def _deny_open(monkeypatch: pytest.MonkeyPatch, err: int) -> None:
    real = os.open

    def fake_open(path: Any, flags: int, *a: Any, **kw: Any) -> int:
        if os.fspath(path) == _store_path() and flags & os.O_WRONLY:
            raise OSError(err, os.strerror(err), os.fspath(path))
        return real(path, flags, *a, **kw)

    monkeypatch.setattr(os, "open", fake_open)


def _fail_write(monkeypatch: pytest.MonkeyPatch, on_call: int, how: str) -> None:
    """The store's `on_call`-th write fails: ENOSPC, or writes only part of the line."""
    real_open, real_write = os.open, os.write
    store_fds: set[int] = set()
    calls = [0]

    def fake_open(path: Any, flags: int, *a: Any, **kw: Any) -> int:
        fd = real_open(path, flags, *a, **kw)
        if os.fspath(path) == _store_path():
            store_fds.add(fd)
        return fd

    def fake_write(fd: int, data: Any) -> int:
        if fd in store_fds:
            store_fds.discard(fd)
            calls[0] += 1
            if calls[0] == on_call:
                if how == "enospc":
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return real_write(fd, bytes(data)[: len(data) // 2])
        return real_write(fd, data)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "write", fake_write)


@pytest.mark.parametrize("fault", ["read_only_erofs", "read_only_eacces", "disk_full_enospc", "short_write"])
def test_results_store_fault(fault: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    if fault == "read_only_erofs":
        _deny_open(monkeypatch, errno.EROFS)
    elif fault == "read_only_eacces":
        _deny_open(monkeypatch, errno.EACCES)
    else:
        _fail_write(monkeypatch, 2, "enospc" if fault == "disk_full_enospc" else "short")
    w = LLAMACPP
    with WireServer(w.routes(lambda _b: script(w, "ok"))) as server:
        b = bench(tmp_path, capsys, [pat(n, "llamacpp", server.url, "tiny") for n in ("A", "B", "C")])
    assert "Traceback" not in b.err
    assert b.code == 0, b.err  # every run worked; a lost save is a warning, not a failed run
    assert [r["pattern"] for r in b.out] == ["A", "B", "C"]  # the output has every run
    assert "set GPTOSS_TOP_DATA_DIR to a writable folder" in b.err
    assert "results appended to" not in b.err
    if fault.startswith("read_only"):
        assert "3 of 3 results were NOT saved" in b.err
        assert b.stored == []
    else:
        assert "1 of 3 results were NOT saved" in b.err
        assert "No space left on device" in b.err or "short write" in b.err
        # The runs on either side of the failed write are on disk, and readable: no torn line.
        assert [r.pattern for r in b.stored] == ["A", "C"]
        lines = Path(_store_path()).read_text().splitlines()
        assert len(lines) == 2 and all(json.loads(line)["ok"] for line in lines)


async def test_sweep_keeps_unsaved_records_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep itself (as the TUI drives it): the failed save is reported per run, nothing raises."""
    _fail_write(monkeypatch, 2, "enospc")
    w = LLAMACPP
    with WireServer(w.routes(lambda _b: script(w, "ok"))) as server:
        patterns = [Pattern(name=n, backend="llamacpp", url=server.url, model="t", prompt="hi") for n in "ABC"]
        store = ResultsStore(_store_path())
        errors: list[str | None] = []
        pool = BackendPool()
        try:
            records = await run_sweep(
                patterns,
                pool=pool,
                store=store,
                ctx=RunContext(report=lambda e: errors.append(e.save_error) if isinstance(e, RunFinished) else None),
            )
        finally:
            await pool.aclose()
    assert [r.ok for r in records] == [True] * 3
    assert errors[0] is None and errors[2] is None
    assert errors[1] is not None and "No space left on device" in errors[1]
    assert [r.pattern for r in store.unsaved] == ["B"]
    assert [r.pattern for r in store.load()] == ["A", "C"]
