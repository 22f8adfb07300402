"""Reading OpenAI-style `/v1/chat/completions` streams, shared by llama.cpp, LM Studio and any
OpenAI-compatible server.

Every variant in the wire reference is accepted: reasoning in `reasoning_content` (llama.cpp),
`reasoning` (LM Studio ≥ 0.3.23, Ollama /v1) or inline in `content` (harmony channel tags on
llama.cpp b6097, `<think>` tags on older LM Studio builds); `usage` and `timings` on whichever chunk
carries them (finish chunk, separate `choices: []` chunk, or every chunk); `content: null`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from backends.base import (
    BackendError,
    ContentDelta,
    ContextOverflow,
    Finished,
    ReasoningDelta,
    ServerStats,
    StreamBroken,
    StreamEvent,
)
from backends.fields import count, number, positive
from backends.wire.framing import Malformed, Pace, SSEDecoder, decode, parse_json_object

MID_STREAM_HINT = "see the server's log: the model may have run out of memory or context"
NOT_JSON_HINT = "is the URL the inference server itself, not a proxy or another service in front of it?"

_TAGS = (
    "<|start|>",
    "<|channel|>",
    "<|message|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|constrain|>",
    "<think>",
    "</think>",
)


class InlineReasoningSplitter:
    """Split text whose reasoning is marked inline: harmony channels (`<|channel|>analysis<|message|>`
    ... `<|start|>assistant<|channel|>final<|message|>`) or `<think>...</think>`.

    Harmony: a `<|start|>` header runs to `<|channel|>` or `<|message|>`; the channel name runs to
    `<|message|>`; every channel but `final` is reasoning. Tags may be split across deltas, so a
    possible tag prefix at the end of a piece is held back until the next piece tells what it is.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._in_reasoning = False
        self._mode = "text"  # text | header | channel
        self._channel = ""
        self.seen_markup = False

    def feed(self, text: str) -> list[StreamEvent]:
        buf = self._pending + text
        self._pending = ""
        out: list[StreamEvent] = []
        while buf:
            idx = buf.find("<")
            if idx < 0:
                self._text(buf, out)
                break
            if idx > 0:
                self._text(buf[:idx], out)
                buf = buf[idx:]
            tag = next((t for t in _TAGS if buf.startswith(t)), None)
            if tag is not None:
                self._on_tag(tag)
                buf = buf[len(tag) :]
            elif any(t.startswith(buf) for t in _TAGS):
                self._pending = buf  # may be the start of a tag: wait for more
                break
            else:
                self._text("<", out)
                buf = buf[1:]
        return out

    def flush(self) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if self._pending:
            self._text(self._pending, out)
            self._pending = ""
        return out

    def _on_tag(self, tag: str) -> None:
        self.seen_markup = True
        if tag == "<think>":
            self._in_reasoning, self._mode = True, "text"
        elif tag == "</think>":
            self._in_reasoning, self._mode = False, "text"
        elif tag == "<|start|>":
            self._mode = "header"
        elif tag == "<|channel|>":
            self._mode, self._channel = "channel", ""
        elif tag == "<|message|>":
            if self._mode == "channel":
                self._in_reasoning = self._channel.strip().split(" ")[0] != "final"
            self._mode = "text"
        elif tag in ("<|end|>", "<|return|>", "<|call|>"):
            self._mode = "text"

    def _text(self, text: str, out: list[StreamEvent]) -> None:
        if self._mode == "channel":
            self._channel += text
        elif self._mode == "text" and text:
            out.append(ReasoningDelta(text) if self._in_reasoning else ContentDelta(text))
        # header text (the role after <|start|>) and <|constrain|> types are markup, not output


def stats_from_chunk(chunk: dict[str, Any]) -> ServerStats | None:
    """ServerStats from `usage` and/or llama.cpp `timings` on any chunk; None when it has neither."""
    usage = chunk.get("usage")
    timings = chunk.get("timings")
    if not isinstance(usage, dict) and not isinstance(timings, dict):
        return None
    u = usage if isinstance(usage, dict) else {}
    t = timings if isinstance(timings, dict) else {}
    details = u.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    prompt_n, cache_n = count(t.get("prompt_n")), count(t.get("cache_n"))
    prompt_tokens = count(u.get("prompt_tokens"))
    if prompt_tokens is None and prompt_n is not None:
        prompt_tokens = prompt_n + (cache_n or 0)
    completion = count(u.get("completion_tokens"))
    if completion is None:
        completion = count(t.get("predicted_n"))
    prompt_ms, predicted_ms = number(t.get("prompt_ms")), number(t.get("predicted_ms"))
    return ServerStats(
        prompt_tokens=prompt_tokens,
        prompt_tokens_processed=prompt_n,
        completion_tokens=completion,
        reasoning_tokens=count(reasoning),
        prompt_tps=positive(number(t.get("prompt_per_second"))),
        decode_tps=positive(number(t.get("predicted_per_second"))),
        decode_s=predicted_ms / 1000 if predicted_ms is not None else None,
        total_s=None if prompt_ms is None or predicted_ms is None else (prompt_ms + predicted_ms) / 1000,
    )


def error_from_payload(payload: Any, status: int | None = None) -> BackendError:
    """A BackendError from an `{"error": ...}` body (OpenAI, llama.cpp or a bare string)."""
    err = payload.get("error") if isinstance(payload, dict) else payload
    if isinstance(err, dict):
        msg = str(err.get("message") or err.get("type") or "server error")
        etype = str(err.get("type") or "")
        code = err.get("code")
        if etype == "exceed_context_size_error" or "context size" in msg or "context length" in msg:
            return ContextOverflow(
                msg, hint="use a shorter prompt or a pattern with a larger context_length", status=status
            )
        st = status if status is not None else (code if isinstance(code, int) else None)
        return BackendError(msg, status=st)
    return BackendError(str(err) if err else "server error", status=status)


class ChunkReader:
    """Turns decoded chunk dicts into events; keeps the state a stream needs (inline reasoning)."""

    def __init__(self) -> None:
        self._splitter: InlineReasoningSplitter | None = None
        self.finish_reason: str | None = None

    def feed(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        choices = chunk.get("choices")
        if "error" in chunk and not choices:
            # An error after the first chunk: the stream ends without [DONE].
            err = error_from_payload(chunk)
            raise StreamBroken(
                f"the server reported an error mid-stream: {err.message}", hint=MID_STREAM_HINT, status=err.status
            )
        if choices:
            for choice in choices:
                if not isinstance(choice, dict):
                    continue
                delta = choice.get("delta") or choice.get("message")
                if delta:
                    self._delta(delta, out)
                fr = choice.get("finish_reason")
                if fr and isinstance(fr, str):
                    self.finish_reason = fr
        if "usage" in chunk or "timings" in chunk:
            stats = stats_from_chunk(chunk)
            if stats is not None:
                out.append(stats)
        return out

    def _delta(self, delta: Any, out: list[StreamEvent]) -> None:
        # The hot path: one call per token at thousands of tokens a second.
        if type(delta) is not dict:
            return
        get = delta.get
        r = get("reasoning_content")
        if r and type(r) is str:
            out.append(ReasoningDelta(r))
        r = get("reasoning")
        if r and type(r) is str:
            out.append(ReasoningDelta(r))
        c = get("content")
        if c and type(c) is str:
            splitter = self._splitter
            if splitter is None:
                if c[0] != "<" and "<|channel|>" not in c:
                    out.append(ContentDelta(c))
                    return
                splitter = self._splitter = InlineReasoningSplitter()
            out.extend(splitter.feed(c))

    def finish(self) -> list[StreamEvent]:
        out: list[StreamEvent] = self._splitter.flush() if self._splitter is not None else []
        out.append(Finished(self.finish_reason))
        return out


class OpenAIStreamDecoder:
    """Raw bytes of an OpenAI-style SSE stream → stream events, one network read at a time.

    Synchronous and batched per read: at thousands of tokens a second, one async hop per event
    would cost more than the decoding itself.
    """

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._reader = ChunkReader()
        self.done = False
        # An error in the middle of a read: the events before it are delivered first, then this.
        self._error: BackendError | None = None

    def feed(self, data: bytes) -> list[StreamEvent]:
        return self._convert(self._sse.feed_raw(data)) if not self.done else []

    def close(self) -> list[StreamEvent]:
        out = self._convert(self._sse.close_raw()) if not self.done else []
        if self._error is not None:
            raise self._error
        if not self.done and self._reader.finish_reason is None:
            raise StreamBroken(
                "the stream ended before the server finished the reply (no [DONE])",
                hint="did the server crash or restart? see its log",
            )
        return out + self._reader.finish()

    def _convert(self, events: list[tuple[str, str]]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        feed = self._reader.feed
        try:
            for _name, data in events:
                if data[:1] != "{" and data.strip() == "[DONE]":
                    self.done = True
                    break
                chunk = parse_json_object(data)
                if chunk is None:
                    continue
                if isinstance(chunk, Malformed):
                    raise StreamBroken(
                        f"the server sent data that is not JSON: {chunk.raw[:80]!r} ({chunk.error})",
                        hint=NOT_JSON_HINT,
                    )
                out.extend(feed(chunk))
        except BackendError as e:
            self._error, self.done = e, True
        return out


def events_from_sse_bytes(chunks: AsyncIterator[bytes], pace_s: Pace = 0.0) -> AsyncIterator[StreamEvent]:
    """OpenAI-style SSE bytes → stream events. Raises StreamBroken when the stream ends abnormally.
    `pace_s`: see `framing.decode`."""
    return decode(chunks, OpenAIStreamDecoder(), pace_s)
