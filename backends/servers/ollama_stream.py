"""Ollama's `/api/chat` (and `/api/generate`) NDJSON stream → stream events.

Every figure on the final `done: true` line is in nanoseconds and left out when zero (Go
`omitempty`), so a missing figure is unknown (None), never 0 tok/s. Servers from before thinking
support send reasoning inline as `<think>…</think>` in the text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from backends.base import BackendError, ContentDelta, Finished, ReasoningDelta, ServerStats, StreamBroken, StreamEvent
from backends.fields import positive_int
from backends.wire.framing import Malformed, NDJSONDecoder, Pace, decode
from backends.wire.openai_stream import InlineReasoningSplitter

_NS = 1e9


def stats_from_final(line: dict[str, Any]) -> ServerStats:
    """ServerStats from the `done: true` line; every figure the server left out stays None."""
    prompt_n, prompt_ns = positive_int(line.get("prompt_eval_count")), positive_int(line.get("prompt_eval_duration"))
    eval_n, eval_ns = positive_int(line.get("eval_count")), positive_int(line.get("eval_duration"))
    load_ns, total_ns = positive_int(line.get("load_duration")), positive_int(line.get("total_duration"))
    return ServerStats(
        prompt_tokens=prompt_n,
        prompt_tokens_processed=prompt_n,
        completion_tokens=eval_n,
        prompt_tps=prompt_n / prompt_ns * _NS if prompt_n and prompt_ns else None,
        decode_tps=eval_n / eval_ns * _NS if eval_n and eval_ns else None,
        # Ollama has no TTFT of its own (load + prefill is only an estimate): the client measures it.
        load_s=load_ns / _NS if load_ns else None,
        decode_s=eval_ns / _NS if eval_ns else None,
        total_s=total_ns / _NS if total_ns else None,
    )


class LineReader:
    """Turns decoded NDJSON lines of `/api/chat` (or `/api/generate`) into stream events."""

    def __init__(self) -> None:
        # Servers from before thinking support send reasoning inline as <think>…</think> in the text.
        self._splitter: InlineReasoningSplitter | None = None
        self.started = False
        self.done = False

    def feed(self, line: dict[str, Any] | Malformed) -> Iterator[StreamEvent]:
        if isinstance(line, Malformed):
            raise StreamBroken(
                f"Ollama sent a line that is not JSON: {line.raw[:80]!r} ({line.error})",
                hint="is the URL an Ollama server (not a proxy or another backend)?",
            )
        if "error" in line:
            raise StreamBroken(
                f"Ollama reported an error mid-stream: {line['error']}",
                hint="see the Ollama server log (the runner may have crashed or run out of memory)",
            )
        msg = line.get("message")
        src = msg if isinstance(msg, dict) else line
        thinking = src.get("thinking")
        text = src.get("content") if isinstance(msg, dict) else line.get("response")
        if isinstance(thinking, str) and thinking:
            self.started = True
            yield ReasoningDelta(thinking)
        if isinstance(text, str) and text:
            self.started = True
            yield from self._text(text)
        if line.get("done") is True:
            self.done = True
            if self._splitter is not None:
                yield from self._splitter.flush()
            yield stats_from_final(line)
            reason = line.get("done_reason")
            yield Finished(reason if isinstance(reason, str) and reason else None)

    def _text(self, text: str) -> Iterator[StreamEvent]:
        if self._splitter is None and ("<think>" in text or "<|channel|>" in text):
            self._splitter = InlineReasoningSplitter()
        if self._splitter is not None:
            yield from self._splitter.feed(text)
        else:
            yield ContentDelta(text)


class OllamaStreamDecoder:
    """Raw bytes of an Ollama stream → events; StreamBroken if it ends before its `done: true` line."""

    def __init__(self) -> None:
        self._lines = NDJSONDecoder()
        self._reader = LineReader()
        # An error in the middle of a read: the events before it are delivered first, then this.
        self._error: BackendError | None = None

    @property
    def done(self) -> bool:
        return self._reader.done or self._error is not None

    def feed(self, data: bytes) -> list[StreamEvent]:
        return self._events(self._lines.feed(data)) if not self.done else []

    def close(self) -> list[StreamEvent]:
        out = self._events(self._lines.close()) if not self.done else []
        if self._error is not None:
            raise self._error
        if not self._reader.done:
            what = "after it started" if self._reader.started else "before the first token"
            raise StreamBroken(
                f"the Ollama stream ended {what} without its final `done` line",
                hint="did the server crash or restart? see the Ollama server log",
            )
        return out

    def _events(self, lines: list[dict[str, Any] | Malformed]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        try:
            for line in lines:
                out.extend(self._reader.feed(line))
                if self._reader.done:
                    break
        except BackendError as e:
            self._error = e
        return out


def events_from_ndjson(chunks: AsyncIterator[bytes], pace_s: Pace = 0.0) -> AsyncIterator[StreamEvent]:
    """Raw bytes of an Ollama stream → events. Raises StreamBroken if it ends before `done: true`.
    `pace_s`: see `framing.decode`."""
    return decode(chunks, OllamaStreamDecoder(), pace_s)
