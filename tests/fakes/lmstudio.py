"""A fake LM Studio server on loopback, with version profiles. LM Studio is closed source: the shapes come
from its docs (lmstudio-ai/docs: REST `/api/v1`, `/api/v0`, OpenAI-compatible routes), the `lms` CLI
source (lmstudio-ai/lms) and the SDK's schema (lmstudio-ai/lmstudio-python).

Profiles: "0.4" has the native `/api/v1` REST API (named SSE events, `chat.end` stats); "0.3" has only
`/api/v0` + OpenAI-compatible routes, reasoning in `delta.reasoning`; "0.3.22" sends gpt-oss reasoning
inline in `content` (harmony channel tags); "0.3-reasoning_content" the developer-setting variant.
Unknown routes answer 200 `{"error":"Unexpected endpoint or method. (GET /x)"}` as LM Studio does.

Faults: "guardrail" (every load refused with LM Studio's guardrail text), "die_mid_stream" (the
connection drops halfway), "error_event" (an error event / chunk halfway), "echo_key" (a 401 that
echoes the presented token, to prove the client redacts it).

Run by hand: `python -m tests.fakes.lmstudio --profile 0.4 --port 1234`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.fakes.speed import SpeedModel, layers_from_ratio

GUARDRAIL_TEXT = (
    "Model loading was stopped due to insufficient system resources. Under the current settings, this model "
    "requires approximately 13.42 GB of memory, and continuing to load it would likely overload your system "
    "and cause it to freeze. If you think this is incorrect, you can adjust the model loading guardrails in "
    "settings."
)


@dataclass(frozen=True)
class Profile:
    name: str
    v1: bool  # has /api/v1 (LM Studio 0.4+)
    reasoning: str  # where /v1/chat/completions puts gpt-oss reasoning: reasoning | reasoning_content | inline


PROFILES = {
    "0.4": Profile("0.4", True, "reasoning"),
    "0.3": Profile("0.3", False, "reasoning"),
    "0.3.22": Profile("0.3.22", False, "inline"),
    "0.3-reasoning_content": Profile("0.3-reasoning_content", False, "reasoning_content"),
}


@dataclass
class Model:
    key: str
    size_bytes: int
    params: str
    max_ctx: int = 131072
    reasoning: tuple[str, ...] | None = ("low", "medium", "high")


DEFAULT_MODELS = (
    Model("openai/gpt-oss-20b", 12_109_566_560, "20B"),
    Model("openai/gpt-oss-120b", 65_280_000_000, "120B"),
)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeLMStudio:
    profile: str = "0.4"
    tokens_per_second: float = 400.0
    prefill_s: float = 0.02
    reasoning_text: str = "Need to explain Rayleigh scattering briefly for the user."
    answer_text: str = "The sky is blue because air scatters short wavelengths of sunlight the most."
    faults: set[str] = field(default_factory=set)
    api_key: str | None = None
    models: tuple[Model, ...] = DEFAULT_MODELS
    requests: list[Recorded] = field(default_factory=list)
    # identifier -> {"model", "context_length", "gpu", "via"}; "gpu" is what `lms load --gpu` said.
    loaded: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_stats: dict[str, Any] | None = None
    loads: list[dict[str, Any]] = field(default_factory=list)
    speed: SpeedModel | None = None  # decode rate by `lms load --gpu` (tests/fakes/speed.py)

    def __post_init__(self) -> None:
        self.p = PROFILES[self.profile]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------ lifecycle
    def start(self, port: int = 0) -> FakeLMStudio:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeLMStudio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def control_url(self) -> str:
        return self.url + "/_fake"

    # ------------------------------------------------------------------------------------ state
    def model(self, key: str) -> Model | None:
        return next((m for m in self.models if m.key == key), None)

    def instances_of(self, key: str) -> list[str]:
        return [i for i, v in self.loaded.items() if v["model"] == key]

    def load(self, key: str, ctx: int | None, gpu: str | None, via: str) -> tuple[int, dict[str, Any]]:
        """(status, body) of a load as LM Studio would answer it; also used by the fake `lms`."""
        m = self.model(key)
        if m is None:
            msg = f'Model "{key}" not found. Please specify a valid model.'
            return 404, {"error": {"type": "model_not_found", "message": msg}}
        self.loads.append({"model": key, "context_length": ctx, "gpu": gpu, "via": via})
        if "guardrail" in self.faults or (self.speed and self.speed.refuses(layers_from_ratio(gpu, self.speed.layers))):
            msg = f'Failed to load model "{key}". Error: {GUARDRAIL_TEXT}'
            return 400, {"error": {"type": "invalid_request", "code": "model_load_failed", "message": msg}}
        with self._lock:
            ident = key if key not in self.loaded else f"{key}:{len(self.instances_of(key)) + 1}"
            self.loaded[ident] = {"model": key, "context_length": ctx or 4096, "gpu": gpu, "via": via}
        body = {"type": "llm", "instance_id": ident, "load_time_seconds": 0.5, "status": "loaded"}
        return 200, {**body, "load_config": {"context_length": ctx or 4096, "flash_attention": True}}

    def unload(self, ident: str | None) -> bool:
        with self._lock:
            targets = list(self.loaded) if ident is None else [i for i in self.loaded if i == ident]
            for i in targets:
                del self.loaded[i]
        return bool(targets)

    def rate_now(self, key: str) -> float:
        """This run's decode rate: the speed model's at the loaded offload, else tokens_per_second."""
        insts = self.instances_of(key)
        if self.speed is None or not insts:
            return self.tokens_per_second
        return self.speed.draw(layers_from_ratio(self.loaded[insts[0]]["gpu"], self.speed.layers))

    def ps(self) -> list[dict[str, Any]]:
        out = []
        for ident, v in self.loaded.items():
            m = self.model(v["model"])
            assert m is not None
            out.append({
                "type": "llm", "modelKey": m.key, "format": "gguf", "displayName": m.key.split("/")[-1],
                "path": f"lmstudio-community/{m.key}-GGUF", "sizeBytes": m.size_bytes, "paramsString": m.params,
                "architecture": "gpt-oss", "identifier": ident, "vision": False, "trainedForToolUse": True,
                "maxContextLength": m.max_ctx, "contextLength": v["context_length"], "status": "idle",
                "queued": 0, "parallel": 4,
            })  # fmt: skip
        return out

    def v1_models(self) -> dict[str, Any]:
        rows = []
        for m in self.models:
            insts = [
                {"id": i, "config": {"context_length": v["context_length"], "flash_attention": True}}
                for i, v in self.loaded.items()
                if v["model"] == m.key
            ]
            caps: dict[str, Any] = {"vision": False, "trained_for_tool_use": True}
            if m.reasoning:
                caps["reasoning"] = {"allowed_options": list(m.reasoning), "default": "low"}
            rows.append({
                "type": "llm", "publisher": "openai", "key": m.key, "display_name": m.key, "architecture": "gpt-oss",
                "quantization": {"name": "MXFP4", "bits_per_weight": 4}, "size_bytes": m.size_bytes,
                "params_string": m.params, "loaded_instances": insts, "max_context_length": m.max_ctx,
                "format": "gguf", "capabilities": caps, "description": None,
            })  # fmt: skip
        return {"models": rows}

    def v0_models(self) -> dict[str, Any]:
        rows = []
        for m in self.models:
            row = {"id": m.key, "object": "model", "type": "llm", "publisher": "openai", "arch": "gpt-oss",
                   "compatibility_type": "gguf", "quantization": "MXFP4", "max_context_length": m.max_ctx,
                   "capabilities": ["tool_use"]}  # fmt: skip
            insts = self.instances_of(m.key)
            if insts:
                rows.append(
                    {**row, "state": "loaded", "loaded_context_length": self.loaded[insts[0]]["context_length"]}
                )
            rows.append({**row, "state": "not-loaded"})  # LM Studio lists some ids twice
        return {"object": "list", "data": rows}


_TOKEN = re.compile(r"\s*\S+")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeLMStudio
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    # ------------------------------------------------------------------------------------ plumbing
    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode(errors="replace")

    def _json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _die(self) -> None:
        # Drop the connection without the final chunk: the client sees an incomplete body.
        self.wfile.flush()
        self.connection.shutdown(2)
        self.close_connection = True

    def do_GET(self) -> None:
        self._route("GET", None)

    def do_POST(self) -> None:
        self._route("POST", self._body())

    def _route(self, method: str, body: Any) -> None:
        f, path = self.server_fake, self.path.split("?")[0]
        if path.startswith("/_fake/"):
            return self._control(path, body)
        f.requests.append(Recorded(method, path, dict(self.headers), body))
        if path != "/lmstudio-greeting" and f.api_key is not None:
            auth = self.headers.get("Authorization", "")
            if auth != f"Bearer {f.api_key}":
                shown = f" (got {auth!r})" if "echo_key" in f.faults else ""
                return self._json(401, {"error": {"type": "invalid_request", "message": f"Invalid token{shown}"}})
        routes = {
            ("GET", "/lmstudio-greeting"): lambda: self._json(200, {"lmstudio": True}),
            ("GET", "/v1/models"): lambda: self._json(200, {"object": "list", "data": [
                {"id": m.key, "object": "model", "owned_by": "organization_owner"} for m in f.models]}),
            ("GET", "/api/v0/models"): lambda: self._json(200, f.v0_models()),
            ("POST", "/v1/chat/completions"): lambda: self._openai_chat(body),
            ("POST", "/api/v0/chat/completions"): lambda: self._openai_chat(body),
        }  # fmt: skip
        if f.p.v1:
            routes |= {
                ("GET", "/api/v1/models"): lambda: self._json(200, f.v1_models()),
                ("POST", "/api/v1/models/load"): lambda: self._rest_load(body),
                ("POST", "/api/v1/models/unload"): lambda: self._rest_unload(body),
                ("POST", "/api/v1/chat"): lambda: self._v1_chat(body),
            }
        handler = routes.get((method, path))
        if handler is None:
            return self._json(200, {"error": f"Unexpected endpoint or method. ({method} {path})"})
        handler()

    # ------------------------------------------------------------------------------------ REST
    def _control(self, path: str, body: Any) -> None:
        f = self.server_fake
        if path == "/_fake/load":
            status, answer = f.load(body["model"], body.get("context_length"), body.get("gpu"), "lms")
            return self._json(200, {"status": status, "body": answer})
        if path == "/_fake/unload":
            return self._json(200, {"ok": f.unload(body.get("identifier"))})
        if path == "/_fake/ps":
            return self._json(200, f.ps())
        self._json(404, {"error": "unknown control path"})

    def _rest_load(self, body: Any) -> None:
        status, answer = self.server_fake.load(body.get("model"), body.get("context_length"), None, "rest")
        self._json(status, answer)

    def _rest_unload(self, body: Any) -> None:
        ident = body.get("instance_id")
        if not self.server_fake.unload(ident):
            return self._json(404, {"error": {"type": "invalid_request", "message": f"no instance {ident}"}})
        self._json(200, {"instance_id": ident})

    def _ensure_loaded(self, key: str, ctx: int | None) -> tuple[float | None, dict[str, Any] | None]:
        """JIT loading: (load seconds or None, an error body or None)."""
        f = self.server_fake
        insts = f.instances_of(key)
        if insts and (ctx is None or f.loaded[insts[0]]["context_length"] == ctx):
            return None, None
        for i in insts:  # a different context length reloads, with default settings (no --gpu)
            f.unload(i)
        status, answer = f.load(key, ctx, None, "jit")
        return (None, answer) if status != 200 else (0.5, None)

    # ------------------------------------------------------------------------------------ streaming
    def _plan(self, max_tokens: Any) -> tuple[list[str], list[str], bool]:
        f = self.server_fake
        r, a = tokens(f.reasoning_text), tokens(f.answer_text)
        if isinstance(max_tokens, int) and max_tokens >= 0 and len(r) + len(a) > max_tokens:
            return r[:max_tokens], a[: max(0, max_tokens - len(r))], True
        return r, a, False

    def _pace(self, i: int, t_first: float) -> bool:
        """Sleep until token i is due; False when the server is stopping."""
        due = t_first + i / (getattr(self, "tps", None) or self.server_fake.tokens_per_second)
        delay = due - time.perf_counter()
        return not self.server_fake._stop.wait(delay) if delay > 0 else not self.server_fake._stop.is_set()

    def _v1_chat(self, body: Any) -> None:
        f = self.server_fake
        key = body.get("model")
        if f.model(key) is None:
            msg = f'Model "{key}" not found. Please specify a valid model.'
            return self._json(404, {"error": {"type": "model_not_found", "message": msg, "param": "model"}})
        load_s, err = self._ensure_loaded(key, body.get("context_length"))
        if err is not None:
            return self._json(400, err)
        t0 = time.perf_counter()
        self._start_stream()

        def ev(name: str, **data: Any) -> None:
            self._chunk(f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n")

        ev("chat.start", model_instance_id=key)
        if load_s is not None:
            ev("model_load.start", model_instance_id=key)
            ev("model_load.end", model_instance_id=key, load_time_seconds=load_s)
        ev("prompt_processing.start")
        time.sleep(f.prefill_s)
        ev("prompt_processing.end")
        r, a, _ = self._plan(body.get("max_output_tokens"))
        self.tps = f.rate_now(key)
        t_first = time.perf_counter()
        t_last, n, error = t_first, 0, None
        for kind, toks in (("reasoning", r), ("message", a)):
            if not toks:
                continue
            ev(f"{kind}.start")
            for tok in toks:
                if not self._pace(n, t_first):
                    return
                if n == (len(r) + len(a)) // 2 and "die_mid_stream" in f.faults:
                    return self._die()
                if n == (len(r) + len(a)) // 2 and "error_event" in f.faults:
                    error = {"type": "unknown", "message": "llama_decode returned -3 (out of KV cache?)"}
                    break
                ev(f"{kind}.delta", content=tok)
                t_last, n = time.perf_counter(), n + 1
            if error:
                ev("error", error=error)
                break
            ev(f"{kind}.end")
        n_r = min(n, len(r))
        stats: dict[str, Any] = {
            "input_tokens": len(tokens(str(body.get("input", "")) + " " + str(body.get("system_prompt", "")))),
            "total_output_tokens": n,
            "reasoning_output_tokens": n_r,
            "tokens_per_second": (n - 1) / (t_last - t_first) if n > 1 and t_last > t_first else 0.0,
            "time_to_first_token_seconds": round(t_first - t0, 3),
        }
        if load_s is not None:
            stats["model_load_time_seconds"] = load_s
        f.last_stats = stats
        output = [{"type": "reasoning", "content": "".join(r[:n_r])}, {"type": "message", "content": "".join(a)}]
        result = {"model_instance_id": key, "output": output, "stats": stats, "response_id": "resp_fake"}
        ev("chat.end", result=result)
        self._end_stream()

    def _openai_chat(self, body: Any) -> None:
        f = self.server_fake
        key = body.get("model")
        if f.model(key) is None:
            msg = f'Model "{key}" not found. Please specify a valid model.\n\nYour models:\n\n' + "\n".join(
                m.key for m in f.models
            )
            err = {"message": msg, "type": "invalid_request_error", "param": "model", "code": "model_not_found"}
            return self._json(404, {"error": err})
        _, load_err = self._ensure_loaded(key, None)
        if load_err is not None:
            message = load_err["error"]["message"]
            return self._json(400, {"error": {"message": message, "type": "invalid_request_error"}})
        self._start_stream()
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> None:
            c = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": key,
                 "system_fingerprint": key, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                          "finish_reason": finish}], **extra}  # fmt: skip
            self._chunk(f"data: {json.dumps(c)}\n\n")

        time.sleep(f.prefill_s)
        r, a, truncated = self._plan(body.get("max_tokens"))
        inline = f.p.reasoning == "inline"
        pieces = [("reasoning", t) for t in r] + [("content", t) for t in a]
        t_first = time.perf_counter()
        for n, (kind, tok) in enumerate(pieces):
            if not self._pace(n, t_first):
                return
            if n == len(pieces) // 2 and "die_mid_stream" in f.faults:
                return self._die()
            if n == len(pieces) // 2 and "error_event" in f.faults:
                err_obj = {"message": "llama_decode returned -3", "type": "server_error"}
                self._chunk(f"data: {json.dumps({'error': err_obj})}\n\n")
                return self._end_stream()  # no [DONE] after an error
            if inline:
                prefix = "<|channel|>analysis<|message|>" if n == 0 and kind == "reasoning" else ""
                if kind == "content" and (n == len(r)):
                    prefix = "<|end|><|start|>assistant<|channel|>final<|message|>" if r else ""
                chunk({"role": "assistant", "content": prefix + tok})
            else:
                chunk({"role": "assistant", ("content" if kind == "content" else f.p.reasoning): tok})
        chunk({}, "length" if truncated else "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            n_in = sum(len(tokens(str(m.get("content", "")))) for m in body.get("messages", []))
            usage = {"prompt_tokens": n_in, "completion_tokens": len(pieces), "total_tokens": n_in + len(pieces)}
            self._chunk(f"data: {json.dumps({'id': 'chatcmpl-fake', 'choices': [], 'usage': usage})}\n\n")
        self._chunk("data: [DONE]\n\n")
        self._end_stream()


# ---------------------------------------------------------------------------------------- fake `lms`
FAKE_LMS = Path(__file__).with_name("lms")


def install_fake_lms(bin_dir: Path) -> Path:
    """Write an `lms` launcher into bin_dir that runs tests/fakes/lms with this interpreter.

    The fake reads FAKE_LMS_SERVER (the fake server's control URL) and FAKE_LMS_LOG (a JSON-lines
    file that gets one `{"argv": [...]}` per call).
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "lms"
    exe.write_text(
        f"#!{sys.executable}\nimport runpy, sys\nsys.argv[0] = 'lms'\n"
        f"runpy.run_path({str(FAKE_LMS)!r}, run_name='__main__')\n"
    )
    exe.chmod(0o755)
    return exe


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="0.4")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tps", type=float, default=40.0)
    ap.add_argument("--fault", action="append", default=[])
    ap.add_argument("--api-key")
    args = ap.parse_args(argv)
    fake = FakeLMStudio(args.profile, tokens_per_second=args.tps, faults=set(args.fault), api_key=args.api_key)
    with fake:
        print(fake.url, flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
