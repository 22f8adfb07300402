"""exo's benchmark endpoint: `POST /bench/chat/completions` answers a whole chat completion (no
stream) with `generation_stats` that exo timed itself: `prompt_tps`, `generation_tps`,
`prompt_tokens`, `generation_tokens`, `peak_memory_usage`, `prefix_cache_hit`
(exo-explore/exo, src/exo/shared/types/api.py; bench/exo_bench.py uses it the same way).

Asked for with the pattern key `server_stats = "exo-bench"`. The answer arrives in one piece, so
the client's time to first token and live rate mean nothing here; the rates are exo's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from backends.base import BackendError, ContentDelta, Finished, ReasoningDelta, ServerStats, StreamEvent
from backends.fields import count, number, obj, text
from backends.wire.http import Http

BENCH_PATH = "/bench/chat/completions"


def bench_body(body: dict[str, Any]) -> dict[str, Any]:
    """The streaming chat body, as the one-piece request the bench endpoint takes."""
    out = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    out["stream"] = False
    return out


def events_from_bench(answer: Any) -> list[StreamEvent]:
    """The answer's reasoning and text, then exo's figures, then how it finished."""
    if not isinstance(answer, dict) or not isinstance(answer.get("choices"), list) or not answer["choices"]:
        raise BackendError(f"exo's {BENCH_PATH} answered without choices: {str(answer)[:120]!r}",
                           hint="is this an exo server? the bench endpoint is exo's own")  # fmt: skip
    choice = obj(answer["choices"][0])
    message = obj(choice.get("message"))
    events: list[StreamEvent] = []
    reasoning = text(message.get("reasoning_content")) or text(message.get("thinking"))
    if reasoning:
        events.append(ReasoningDelta(reasoning))
    content = text(message.get("content"))
    if content:
        events.append(ContentDelta(content))
    stats, usage = obj(answer.get("generation_stats")), obj(answer.get("usage"))
    gen_tps, prompt_tps = number(stats.get("generation_tps")), number(stats.get("prompt_tps"))
    events.append(ServerStats(
        prompt_tokens=count(usage.get("prompt_tokens")) or count(stats.get("prompt_tokens")),
        completion_tokens=count(usage.get("completion_tokens")) or count(stats.get("generation_tokens")),
        reasoning_tokens=count(obj(usage.get("completion_tokens_details")).get("reasoning_tokens")),
        prompt_tps=prompt_tps if prompt_tps else None,
        decode_tps=gen_tps if gen_tps else None,
    ))  # fmt: skip
    events.append(Finished(text(choice.get("finish_reason"))))
    return events


async def bench_chat(http: Http, body: dict[str, Any]) -> AsyncIterator[StreamEvent]:
    answer = await http.request("POST", BENCH_PATH, json=bench_body(body))
    for event in events_from_bench(answer):
        yield event
