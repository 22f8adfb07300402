"""A fake Ollama server on loopback, written from Ollama's source and docs (ollama/ollama: `api/types.go`,
`server/routes.go`, `server/sched.go`, `docs/api.md`) and the recorded traffic in tests/data/ollama/.

It speaks the native API on the wire (chunked NDJSON, `omitempty` metrics in nanoseconds, Go-style
`{"error": ...}` bodies), keeps `/api/ps` state the way Ollama's scheduler does (a change of num_ctx
or num_gpu reloads, and the reload shows in `load_duration`), streams at a configured rate and
reports durations it really measured, so its figures agree with what a client sees. Every request
is recorded (method, path, JSON body) for tests to assert on.

Profiles: "current" (thinking in `message.thinking`, `context_length` in /api/ps, the last token on
the `done` line, 400 for `think` on a model that cannot think) and "old" (pre-0.9: `think` is an
unknown field Go ignores, so reasoning arrives inline as <think>…</think> in the content, and /api/ps
has no `context_length`).

    with FakeOllama(tokens_per_s=200) as fake: ... fake.url ... fake.bodies("/api/chat")
    python -m tests.fakes.ollama --port 11434 --profile old --tps 30
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.speed import SpeedModel, layers_from_num_gpu

PROFILES = ("current", "old")
VERSIONS = {"current": "0.12.6", "old": "0.5.7"}
THINK_VALUES = ("high", "medium", "low", "max", True, False)
MID_STREAM_ERROR = "an error was encountered while running the model"
BUSY = "server busy, please try again.  maximum pending requests exceeded"


@dataclass(frozen=True)
class FakeModel:
    name: str
    arch: str
    parameter_size: str
    quantization: str
    file_size: int
    block_count: int
    context_length: int  # what it was trained for
    thinking: bool
    weights_bytes: int  # resident footprint before the KV cache
    kv_bytes_per_token: int

    @property
    def digest(self) -> str:
        """64 hex digits like Ollama's manifest digest, the same in every process (hash() is not)."""
        return hashlib.sha256(self.name.encode()).hexdigest()

    def details(self) -> dict[str, Any]:
        return {"parent_model": "", "format": "gguf", "family": self.arch, "families": [self.arch],
                "parameter_size": self.parameter_size, "quantization_level": self.quantization}  # fmt: skip


GPT_OSS_20B = FakeModel("gpt-oss:20b", "gptoss", "20.9B", "MXFP4", 13_780_173_724, 24, 131_072, True,
                        12_850_000_000, 24_576)  # fmt: skip
GEMMA3_1B = FakeModel("gemma3:1b", "gemma3", "999.89M", "Q4_K_M", 815_319_791, 26, 32_768, False,
                      1_100_000_000, 28_672)  # fmt: skip


@dataclass
class Faults:
    die_after: int | None = None  # close the socket mid-chunk after N tokens
    error_after: int | None = None  # an `{"error": ...}` line after N tokens, then a clean end
    malformed_after: int | None = None  # a line that is not JSON after N tokens
    first_token_delay_s: float = 0.0  # extra wait before the first token
    busy: bool = False  # 503 to every chat/generate
    load_error: str | None = None  # 500 with this text whenever a model would be loaded


@dataclass
class Recorded:
    method: str
    path: str
    body: Any


@dataclass
class Loaded:
    model: FakeModel
    num_ctx: int
    num_gpu: int | None  # None: automatic (as many layers as fit)
    expires_at: datetime

    def size(self) -> int:
        return self.model.weights_bytes + self.model.kv_bytes_per_token * self.num_ctx


def tokens_of(text: str) -> list[str]:
    """Words with their trailing space: good enough for a fake tokenizer."""
    return re.findall(r"\S+\s*|\s+", text)


def parse_keep_alive(value: Any) -> float:
    """Seconds; negative means forever (ollama/ollama `api.Duration.UnmarshalJSON`: seconds or a Go duration)."""
    if value is None:
        return 300.0
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)(ms|s|m|h)?", str(value).strip())
    if not m:
        raise ValueError(f"time: invalid duration {json.dumps(value)}")
    n, unit = float(m.group(1)), m.group(2) or "s"
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


class FakeOllama:
    def __init__(
        self,
        *,
        profile: str = "current",
        tokens_per_s: float = 400.0,
        prefill_s: float = 0.01,
        load_s: float = 0.03,
        reasoning: str = "The user wants a count. Just list the numbers.",
        answer: str = "1, 2, 3, 4, 5.",
        models: tuple[FakeModel, ...] = (GPT_OSS_20B, GEMMA3_1B),
        vram_bytes: int | None = None,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: SpeedModel | None = None,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}")
        self.profile = profile
        self.tokens_per_s, self.prefill_s, self.load_s = tokens_per_s, prefill_s, load_s
        self.reasoning, self.answer = reasoning, answer
        self.models = {m.name: m for m in models}
        self.vram_bytes = vram_bytes
        self.faults = faults or Faults()
        self.speed = speed  # decode rate by num_gpu (tests/fakes/speed.py), instead of tokens_per_s
        self.requests: list[Recorded] = []
        self.finals: list[dict[str, Any]] = []  # every `done` line sent, metrics included
        self.disconnects = 0  # streams the client closed before the end
        self.disconnected = threading.Event()
        self.loaded: dict[str, Loaded] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server = ThreadingHTTPServer((host, port), _Handler)
        # Join the handler threads on close so no socket outlives the test that opened it.
        self._server.daemon_threads = False
        self._server.block_on_close = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeOllama:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-ollama", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def bodies(self, path: str) -> list[Any]:
        with self.lock:
            return [r.body for r in self.requests if r.path == path]

    # ---------------------------------------------------------------------------------------------
    # State

    def schedule(self, model: FakeModel, options: dict[str, Any], keep_alive_s: float) -> tuple[bool, Loaded]:
        """Load or reuse a runner like Ollama's scheduler: a change of num_ctx or num_gpu reloads."""
        num_ctx = options.get("num_ctx") or (4096 if self.profile == "current" else 2048)
        num_gpu = options.get("num_gpu")
        num_gpu = None if num_gpu is None or num_gpu < 0 else int(num_gpu)
        # Negative keep_alive is forever: Ollama shows an expiry about 292 years away.
        expires = datetime.now(UTC) + timedelta(seconds=keep_alive_s if keep_alive_s >= 0 else 292 * 365 * 86400)
        with self.lock:
            cur = self.loaded.get(model.name)
            same = cur is not None and cur.num_ctx == num_ctx and (num_gpu is None or cur.num_gpu == num_gpu)
            if cur is not None and same:
                cur.expires_at = expires
                return False, cur
            new = Loaded(model, int(num_ctx), num_gpu, expires)
            self.loaded[model.name] = new
            return True, new

    def vram_of(self, ld: Loaded) -> int:
        layers = ld.model.block_count + 1
        size = ld.size()
        wanted = size if ld.num_gpu is None else size * min(ld.num_gpu, layers) // layers
        # Whatever was asked, no more than the card holds stays in VRAM.
        return wanted if self.vram_bytes is None else min(wanted, self.vram_bytes)

    def ps(self) -> dict[str, Any]:
        out = []
        with self.lock:
            loaded = sorted(self.loaded.values(), key=lambda x: x.expires_at, reverse=True)
        for ld in loaded:
            m = ld.model
            entry: dict[str, Any] = {
                "name": m.name, "model": m.name, "size": ld.size(), "digest": m.digest,
                "details": m.details(), "expires_at": ld.expires_at.astimezone().isoformat(),
                "size_vram": self.vram_of(ld),
            }  # fmt: skip
            if self.profile == "current":
                entry["context_length"] = ld.num_ctx
            out.append(entry)
        return {"models": out}

    def show(self, m: FakeModel) -> dict[str, Any]:
        info = {"general.architecture": m.arch, "general.parameter_count": 20_914_757_184,
                f"{m.arch}.block_count": m.block_count, f"{m.arch}.context_length": m.context_length,
                f"{m.arch}.embedding_length": 2880}  # fmt: skip
        body: dict[str, Any] = {"modelfile": f"FROM {m.name}\n", "parameters": "", "template": "{{ .Prompt }}",
                                "details": m.details(), "model_info": info}  # fmt: skip
        if self.profile == "current":
            body["capabilities"] = ["completion", "tools", "thinking"] if m.thinking else ["completion"]
        return body

    def script(self, model: FakeModel) -> list[tuple[str, str]]:
        """What the model says, token by token, as ("thinking"|"content", text)."""
        answer = [("content", t) for t in tokens_of(self.answer)]
        if not model.thinking:
            return answer
        reasoning = tokens_of(self.reasoning)
        if self.profile == "old":
            return [("content", t) for t in ["<think>", *reasoning, "</think>", "\n\n"]] + answer
        return [("thinking", t) for t in reasoning] + answer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle keep-alive connection ends so the server can close
    # Go sets TCP_NODELAY; without it Nagle + delayed ACK turn a token stream into 40 ms bursts.
    disable_nagle_algorithm = True

    @property
    def fake(self) -> FakeOllama:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet under pytest; the requests are recorded instead

    def _record(self, body: Any) -> None:
        with self.fake.lock:
            self.fake.requests.append(Recorded(self.command, self.path, body))

    def _send(self, status: int, body: Any, ctype: str = "application/json; charset=utf-8") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        self._record(None)
        fake = self.fake
        if self.path == "/":
            self._send(200, "Ollama is running", "text/plain; charset=utf-8")
        elif self.path == "/api/version":
            self._send(200, {"version": VERSIONS[fake.profile]})
        elif self.path == "/api/tags":
            models = [{"name": m.name, "model": m.name, "modified_at": "2025-08-05T10:00:00.000000000-07:00",
                       "size": m.file_size, "digest": m.digest, "details": m.details()}
                      for m in fake.models.values()]  # fmt: skip
            self._send(200, {"models": models})
        elif self.path == "/api/ps":
            self._send(200, fake.ps())
        else:
            self._send(404, "404 page not found", "text/plain")

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError as e:
            self._record(raw.decode(errors="replace"))
            self._send(400, {"error": f"invalid character in request body: {e}"})
            return
        self._record(body)
        if not isinstance(body, dict):
            self._send(400, {"error": "missing request body"})
            return
        model = self.fake.models.get(str(body.get("model")))
        if model is None:
            self._send(404, {"error": f"model '{body.get('model')}' not found"})
        elif self.path == "/api/show":
            self._send(200, self.fake.show(model))
        elif self.path in ("/api/chat", "/api/generate"):
            self._generate(model, body, chat=self.path == "/api/chat")
        else:
            self._send(404, "404 page not found", "text/plain")

    # ---------------------------------------------------------------------------------------------

    def _generate(self, model: FakeModel, body: dict[str, Any], *, chat: bool) -> None:
        fake, faults, t_start = self.fake, self.fake.faults, time.perf_counter_ns()
        think = body.get("think")
        if fake.profile == "current" and "think" in body:
            if think not in THINK_VALUES:
                allowed = '"high", "medium", "low", "max", true, or false'
                self._send(400, {"error": f"invalid think value: {json.dumps(think)} (must be {allowed})"})
                return
            if think is not False and not model.thinking:
                self._send(400, {"error": f'"{model.name}" does not support thinking'})
                return
        if faults.busy:
            self._send(503, {"error": BUSY})
            return
        try:
            keep_alive = parse_keep_alive(body.get("keep_alive"))
        except ValueError as e:
            self._send(400, {"error": str(e)})
            return
        options: dict[str, Any] = body["options"] if isinstance(body.get("options"), dict) else {}
        empty = not body.get("messages") if chat else not body.get("prompt")
        base = {"model": model.name, "created_at": _now()}
        if empty and keep_alive == 0:
            with fake.lock:
                fake.loaded.pop(model.name, None)
            self._send(200, {**base, **_text(chat, "content", ""), "done_reason": "unload", "done": True})
            return
        reloaded, ld = fake.schedule(model, options, keep_alive)
        refused = fake.speed is not None and fake.speed.refuses(layers_from_num_gpu(ld.num_gpu, model.block_count))
        if reloaded and (faults.load_error or refused):
            with fake.lock:
                fake.loaded.pop(model.name, None)
            # Ollama's words when a model does not fit (llm/server.go)
            self._send(500, {"error": faults.load_error or "model requires more system memory than is available"})
            return
        if reloaded and fake.stopping.wait(fake.load_s):
            return
        load_ns = time.perf_counter_ns() - t_start
        if empty:
            self._send(200, {**base, **_text(chat, "content", ""), "done_reason": "load", "done": True})
            return
        try:
            self._stream(model, body, ld, options, load_ns, t_start, chat=chat)
        except (BrokenPipeError, ConnectionResetError):
            with fake.lock:
                fake.disconnects += 1
            fake.disconnected.set()
            self.close_connection = True

    def _stream(self, model: FakeModel, body: dict[str, Any], ld: Loaded, options: dict[str, Any],
                load_ns: int, t_start: int, *, chat: bool) -> None:  # fmt: skip
        fake, faults = self.fake, self.fake.faults
        self._headers_sent = False
        t_prefill = time.perf_counter_ns()
        # A slow first token is a slow prefill: nothing, not even the headers, comes until it is done.
        if fake.stopping.wait(fake.prefill_s + faults.first_token_delay_s):
            return
        prompt = sum(len(tokens_of(str(m.get("content", "")))) + 4 for m in body.get("messages") or []
                     if isinstance(m, dict)) if chat else len(tokens_of(str(body.get("prompt", ""))))  # fmt: skip
        prompt_ns = time.perf_counter_ns() - t_prefill
        script = fake.script(model)
        limit = options.get("num_predict")
        reason = "stop"
        if isinstance(limit, int) and 0 <= limit < len(script):
            script, reason = script[:limit], "length"
        # The current server puts the last token on the `done` line; a client must keep it.
        last = script.pop() if fake.profile == "current" and script else None
        t_eval, n = time.perf_counter_ns(), 0
        tps = fake.tokens_per_s
        if fake.speed is not None:  # one rate per run, paced by deadline so waits do not add up
            tps = fake.speed.draw(layers_from_num_gpu(ld.num_gpu, model.block_count))
        for kind, text in script:
            wait = 1 / tps if fake.speed is None else (t_eval + (n + 1) * 1e9 / tps - time.perf_counter_ns()) / 1e9
            if fake.stopping.wait(max(0.0, wait)):
                return
            if n == faults.die_after:
                self._chunk(b'{"model":"' + model.name.encode() + b'","created_at":"20')
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if n == faults.error_after:
                self._line({"error": MID_STREAM_ERROR})
                self._end()
                return
            if n == faults.malformed_after:
                self._chunk(b"<html>502 Bad Gateway</html>\n")
            self._line({"model": model.name, "created_at": _now(), **_text(chat, kind, text), "done": False})
            n += 1
        if last is not None:
            fake.stopping.wait(1 / tps)
            n += 1
        eval_ns = time.perf_counter_ns() - t_eval if n else 0
        final: dict[str, Any] = {"model": model.name, "created_at": _now(), **_text(chat, *(last or ("content", "")))}
        # Key order as each era sent it: done_reason before done in 2025 builds, after it since.
        final.update({"done_reason": reason, "done": True} if fake.profile == "old" else
                     {"done": True, "done_reason": reason})  # fmt: skip
        metrics = {"total_duration": time.perf_counter_ns() - t_start, "load_duration": load_ns,
                   "prompt_eval_count": min(prompt, ld.num_ctx), "prompt_eval_duration": prompt_ns,
                   "eval_count": n, "eval_duration": eval_ns}  # fmt: skip
        final.update({k: v for k, v in metrics.items() if v})  # Go omitempty: zero is left out
        with fake.lock:
            fake.finals.append(final)
        self._line(final)
        self._end()

    def _chunk(self, data: bytes) -> None:
        if not self._headers_sent:  # Ollama's handler sends them with its first line
            self._headers_sent = True
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _line(self, obj: dict[str, Any]) -> None:
        # Go's encoding/json escapes <, > and & in strings; Python's ensure_ascii keeps it ASCII too.
        text = json.dumps(obj, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e")
        self._chunk(text.encode() + b"\n")

    def _end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _text(chat: bool, kind: str, text: str) -> dict[str, Any]:
    """A token in /api/chat (`message`) or /api/generate (`response`) shape; thinking is omitempty."""
    if chat:
        msg: dict[str, Any] = {"role": "assistant", "content": text if kind == "content" else ""}
        if kind == "thinking":
            msg["thinking"] = text
        return {"message": msg}
    return {"response": text if kind == "content" else "", **({"thinking": text} if kind == "thinking" else {})}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fakes.ollama", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=11434)
    p.add_argument("--profile", choices=PROFILES, default="current")
    p.add_argument("--tps", type=float, default=40.0, help="tokens per second")
    p.add_argument("--prefill", type=float, default=0.2, help="seconds of prompt evaluation")
    p.add_argument("--load", type=float, default=1.0, help="seconds a (re)load takes")
    p.add_argument("--vram", type=int, default=None, help="VRAM bytes for automatic offload")
    p.add_argument("--die-after", type=int, default=None, help="drop the connection after N tokens")
    p.add_argument("--error-after", type=int, default=None, help="error line after N tokens")
    p.add_argument("--slow-first-token", type=float, default=0.0, help="extra seconds before token 1")
    p.add_argument("--busy", action="store_true", help="answer 503 to every chat")
    a = p.parse_args(argv)
    faults = Faults(die_after=a.die_after, error_after=a.error_after, first_token_delay_s=a.slow_first_token,
                    busy=a.busy)  # fmt: skip
    fake = FakeOllama(profile=a.profile, tokens_per_s=a.tps, prefill_s=a.prefill, load_s=a.load,
                      vram_bytes=a.vram, faults=faults, host=a.host, port=a.port)  # fmt: skip
    with fake:
        print(f"fake Ollama ({a.profile}) on {fake.url}", file=sys.stderr, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
