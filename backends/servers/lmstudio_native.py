"""LM Studio's native `/api/v1/chat` stream: named SSE events → stream events.

`reasoning.delta` and `message.delta` carry the text, `model_load.end` a JIT load's time, `chat.end`
the server's own figures. An `error` event is followed by `chat.end` with what was generated, so the
error is raised after those figures, not before.
"""

from __future__ import annotations

from typing import Any

from backends.base import (
    BackendError,
    ContentDelta,
    Finished,
    ModelNotFound,
    ReasoningDelta,
    ServerStats,
    StreamBroken,
    StreamEvent,
    redact,
)
from backends.fields import count, number, obj, positive
from backends.servers.lms_cli import NOT_FOUND_HINT, load_refused
from backends.wire.framing import Malformed, SSEDecoder, parse_json_object
from backends.wire.openai_stream import NOT_JSON_HINT


def stats_from_chat_end(data: dict[str, Any]) -> ServerStats:
    s = obj(obj(data.get("result")).get("stats"))
    return ServerStats(
        prompt_tokens=count(s.get("input_tokens")),
        completion_tokens=count(s.get("total_output_tokens")),
        reasoning_tokens=count(s.get("reasoning_output_tokens")),
        decode_tps=positive(number(s.get("tokens_per_second"))),
        ttft_s=number(s.get("time_to_first_token_seconds")),
        load_s=number(s.get("model_load_time_seconds")),
    )


def stream_error(data: dict[str, Any], model: str, secret: str | None) -> BackendError:
    """An `error` event as the error a user can act on; the key never appears in it."""
    err = obj(data.get("error"))
    msg = redact(str(err.get("message") or err.get("type") or "unknown error"), (secret,))
    if err.get("type") == "model_not_found":
        return ModelNotFound(f"LM Studio has no model {model!r}: {msg}", hint=NOT_FOUND_HINT)
    # A JIT load started by the chat can hit the guardrails too.
    return load_refused(msg, model) or StreamBroken(
        f"LM Studio reported an error mid-stream: {msg}", hint="see LM Studio's server log (Developer tab)"
    )


class NativeStreamDecoder:
    """Raw bytes of `/api/v1/chat` → stream events (a `backends.wire.framing.Decoder`)."""

    def __init__(self, model: str, secret: str | None = None) -> None:
        self._sse = SSEDecoder()
        self._model = model
        self._secret = secret
        self.done = False
        self._error: BackendError | None = None  # raised once the events before it are delivered

    def feed(self, data: bytes) -> list[StreamEvent]:
        return self._events(self._sse.feed_raw(data)) if not self.done else []

    def close(self) -> list[StreamEvent]:
        out = self._events(self._sse.close_raw()) if not self.done else []
        if self._error is not None:
            raise self._error
        if not self.done:
            raise StreamBroken("the stream from LM Studio ended before chat.end", hint="did LM Studio crash?")
        return out

    def _events(self, events: list[tuple[str, str]]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        try:
            for name, raw in events:
                if self._event(name, raw, out):
                    break
        except BackendError as e:
            self._error, self.done = e, True
        return out

    def _event(self, name: str, raw: str, out: list[StreamEvent]) -> bool:
        """Append what one event says; True at chat.end."""
        data = parse_json_object(raw)
        if data is None:
            return False
        if isinstance(data, Malformed):
            raise StreamBroken(
                f"LM Studio sent data that is not JSON: {data.raw[:80]!r} ({data.error})", hint=NOT_JSON_HINT
            )
        kind = name if name != "message" else str(data.get("type", ""))
        content = data.get("content")
        if kind == "reasoning.delta" and isinstance(content, str):
            out.append(ReasoningDelta(content))
        elif kind == "message.delta" and isinstance(content, str):
            out.append(ContentDelta(content))
        elif kind == "model_load.end" and (load_s := number(data.get("load_time_seconds"))) is not None:
            out.append(ServerStats(load_s=load_s))
        elif kind == "error":
            self._error = stream_error(data, self._model, self._secret)  # chat.end follows with the figures
        elif kind == "chat.end":
            out.append(stats_from_chat_end(data))
            self.done = True
            if self._error is None:
                out.append(Finished(None))
            return True
        return False
