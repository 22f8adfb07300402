"""OpenAI-style SSE streams: recorded llama.cpp traffic and every shape llama.cpp builds have sent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import pytest

from backends.base import ContentDelta, Finished, ReasoningDelta, ServerStats, StreamBroken, StreamEvent
from backends.runs.stats import merge_stats
from backends.wire.openai_stream import InlineReasoningSplitter, events_from_sse_bytes

DATA = Path(__file__).resolve().parent.parent / "data" / "llamacpp"


async def _chunks(data: bytes, size: int | None = None) -> AsyncIterator[bytes]:
    if size is None:
        yield data
        return
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def decode(data: bytes, size: int | None = None) -> list[StreamEvent]:
    return [e async for e in events_from_sse_bytes(_chunks(data, size))]


def split(events: list[StreamEvent]) -> tuple[str, str, ServerStats | None, str | None]:
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, ContentDelta))
    stats: ServerStats | None = None
    for e in events:
        if isinstance(e, ServerStats):
            stats = merge_stats(stats, e)
    fin = [e for e in events if isinstance(e, Finished)]
    return reasoning, answer, stats, fin[-1].reason if fin else None


async def test_recorded_b7010_reasoning_content_and_separate_usage_chunk() -> None:
    reasoning, answer, stats, reason = split(await decode((DATA / "chat_gpt-oss-20b_b7010_simple.sse").read_bytes()))
    assert reasoning.startswith('The user: "Say hi in Portuguese"')
    assert answer == "Olá!"
    assert reason == "stop"
    assert stats is not None
    # usage.prompt_tokens counts cached tokens (cache_n 83 + prompt_n 1); prompt_tps is over prompt_n.
    assert stats.prompt_tokens == 84
    assert stats.prompt_tokens_processed == 1
    assert stats.completion_tokens == 57
    assert stats.decode_tps == pytest.approx(117.76616185616001, abs=0)
    assert stats.prompt_tps == pytest.approx(111.16051578479323, abs=0)


async def test_recorded_b6097_harmony_tags_inside_content() -> None:
    data = (DATA / "chat_gpt-oss-20b_b6097_harmony-in-content.sse").read_bytes()
    reasoning, answer, stats, _ = split(await decode(data))
    assert reasoning == 'User says "test". Likely wants a test response. We\'ll respond acknowledging.'
    assert answer == "Got it! If you have any questions or need assistance, just let me know."
    assert "<|" not in reasoning + answer
    assert stats is not None and stats.decode_tps == pytest.approx(282.703168247832, abs=0)


async def test_recorded_tool_call_stream_finishes_with_tool_calls() -> None:
    reasoning, answer, stats, reason = split(await decode((DATA / "chat_gpt-oss-20b_b7010_tool-call.sse").read_bytes()))
    assert reason == "tool_calls"
    assert "weather" in reasoning and answer == ""
    assert stats is not None and stats.completion_tokens == 42


# -- the variants across builds, from one stream so they must agree ------------------------------------

TIMINGS = {
    "cache_n": 3,
    "prompt_n": 12,
    "prompt_ms": 20.0,
    "prompt_per_token_ms": 1.6667,
    "prompt_per_second": 600.0,
    "predicted_n": 4,
    "predicted_ms": 40.0,
    "predicted_per_token_ms": 10.0,
    "predicted_per_second": 100.0,
}
USAGE = {"completion_tokens": 4, "prompt_tokens": 15, "total_tokens": 19}
DELTAS = [{"reasoning_content": "Thi"}, {"reasoning_content": "nk"}, {"content": "Hel"}, {"content": "lo"}]


def _chunk(delta: Mapping[str, object] | None, finish: str | None = None, **extra: object) -> str:
    choices = [] if delta is None else [{"finish_reason": finish, "index": 0, "delta": delta}]
    return "data: " + json.dumps({"choices": choices, "object": "chat.completion.chunk", **extra}) + "\n\n"


def variant(kind: str) -> bytes:
    out = [_chunk({"role": "assistant", "content": None})]
    for i, d in enumerate(DELTAS):
        if kind == "per_token":
            partial = dict(TIMINGS, predicted_n=i + 1, predicted_per_second=50.0 + i)
            out.append(_chunk(d, timings=partial))
        else:
            out.append(_chunk(d))
    if kind == "finish_chunk":  # <= b6200: usage and timings on the finish chunk
        out.append(_chunk({}, "stop", usage=USAGE, timings=TIMINGS))
    elif kind in ("separate", "per_token"):  # >= b6230: a separate choices: [] chunk
        out.append(_chunk({}, "stop"))
        out.append(_chunk(None, usage=USAGE, timings=TIMINGS))
    elif kind == "no_usage":  # include_usage off: timings still on the finish chunk
        out.append(_chunk({}, "stop", timings=TIMINGS))
    out.append(": ping\n\n")
    out.append("data: [DONE]\n\n")
    return "".join(out).encode()


@pytest.mark.parametrize("kind", ["finish_chunk", "separate", "per_token", "no_usage"])
@pytest.mark.parametrize("size", [None, 1, 7])
async def test_sse_variants_give_the_same_stats(kind: str, size: int | None) -> None:
    reasoning, answer, stats, reason = split(await decode(variant(kind), size))
    assert (reasoning, answer, reason) == ("Think", "Hello", "stop")
    assert stats is not None
    assert stats.decode_tps == 100.0
    assert stats.prompt_tps == 600.0
    assert stats.completion_tokens == 4
    assert stats.prompt_tokens == 15  # from usage, or prompt_n + cache_n when usage is absent
    assert stats.prompt_tokens_processed == 12


async def test_error_event_after_first_chunk_without_done_is_a_broken_stream() -> None:
    data = (
        _chunk({"role": "assistant", "content": None})
        + _chunk({"content": "Hi"})
        + 'data: {"error":{"code":500,"message":"slot died","type":"server_error"}}\n\n'
    ).encode()
    seen: list[StreamEvent] = []
    with pytest.raises(StreamBroken, match="slot died"):
        async for e in events_from_sse_bytes(_chunks(data)):
            seen.append(e)
    assert seen == [ContentDelta("Hi")]


async def test_stream_cut_before_finish_is_a_broken_stream() -> None:
    with pytest.raises(StreamBroken, match="ended before"):
        await decode((_chunk({"content": "Hi"})).encode())


async def test_malformed_json_is_a_broken_stream_with_the_data_shown() -> None:
    with pytest.raises(StreamBroken, match="not JSON"):
        await decode(b"data: {oops\n\ndata: [DONE]\n\n")


async def test_multibyte_characters_split_across_reads() -> None:
    data = (_chunk({"content": "日本語のテキスト"}) + _chunk({}, "stop") + "data: [DONE]\n\n").encode()
    for size in (1, 2, 3, 5):
        _, answer, _, _ = split(await decode(data, size))
        assert answer == "日本語のテキスト"


def test_think_tags_split_one_character_at_a_time() -> None:
    s = InlineReasoningSplitter()
    out: list[StreamEvent] = []
    for ch in "<think>a<b</think>c <x":
        out.extend(s.feed(ch))
    out.extend(s.flush())
    assert "".join(e.text for e in out if isinstance(e, ReasoningDelta)) == "a<b"
    assert "".join(e.text for e in out if isinstance(e, ContentDelta)) == "c <x"


async def test_reads_are_paced_once_tokens_flow_and_not_before() -> None:
    """Once tokens flow, the client waits for the network about once per `pace_s` instead of once per
    token (fewer wake-ups while the model decodes); the first token is read as soon as it is sent."""
    import asyncio
    import time

    def frame(delta: str) -> bytes:
        return b'data: {"choices":[{"index":0,"delta":' + delta.encode() + b"}]}\n\n"

    async def run(pace: float | Callable[[], float]) -> tuple[list[str], int, float]:
        """A server writing a token every 5 ms for 0.3 s; returns the texts, how many reads waited for
        the network, and how long after it was sent the first token was read."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        sent_first = 0.0

        async def server() -> None:
            nonlocal sent_first
            await queue.put(frame('{"role":"assistant","content":null}'))
            for i in range(60):
                await asyncio.sleep(0.005)
                if i == 0:
                    sent_first = time.monotonic()
                await queue.put(frame(json.dumps({"content": f"t{i}"})))
            await queue.put(b"data: [DONE]\n\n")
            await queue.put(None)

        waited = 0

        async def source() -> AsyncIterator[bytes]:
            nonlocal waited
            while True:
                if queue.empty():
                    waited += 1
                chunk = await queue.get()
                if chunk is None:
                    return
                yield chunk

        task = asyncio.create_task(server())
        texts: list[str] = []
        first_read = 0.0
        async for e in events_from_sse_bytes(source(), pace):
            if isinstance(e, ContentDelta):
                first_read = first_read or time.monotonic()
                texts.append(e.text)
        await task
        return texts, waited, first_read - sent_first

    want = [f"t{i}" for i in range(60)]
    texts, unpaced_waits, _ = await run(0.0)
    assert texts == want
    texts, paced_waits, first_lag = await run(0.05)
    assert texts == want
    assert unpaced_waits >= 40  # one wake-up per token
    assert paced_waits <= 20  # about one per 50 ms of a 0.3 s stream
    assert first_lag < 0.03  # the first token is not held back
    # A callable pace is asked at every pause: the TUI lengthens it while a run streams
    asked: list[float] = []

    def pace_now() -> float:
        asked.append(0.0 if len(asked) < 2 else 0.1)  # unpaced for two pauses, then 100 ms
        return asked[-1]

    texts, changed_waits, _ = await run(pace_now)
    assert texts == want
    assert len(asked) >= 3 and changed_waits < unpaced_waits


async def test_a_run_shorter_than_a_pause_is_read_as_it_comes() -> None:
    """A tiny model's whole reply can come within one pause after its first token (384 tokens in 90 ms):
    read a quarter second later in one go, the client could not time it (it said 1,500 tok/s beside the
    server's 4,300). The pause starts once tokens have flowed for as long as it lasts."""
    import asyncio
    import time

    from backends.runs.stats import Meter

    sent: list[float] = []
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def server() -> None:
        await queue.put(b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}\n\n')
        for i in range(30):
            await asyncio.sleep(0.003)
            sent.append(time.monotonic())
            await queue.put(b'data: {"choices":[{"index":0,"delta":{"content":"t%d "}}]}\n\n' % i)
        await queue.put(b"data: [DONE]\n\n")
        await queue.put(None)

    async def source() -> AsyncIterator[bytes]:
        while (chunk := await queue.get()) is not None:
            yield chunk

    meter = Meter(clock=time.monotonic)
    meter.start()
    lags: list[float] = []
    task = asyncio.create_task(server())
    async for e in events_from_sse_bytes(source(), 0.25):
        meter.on_event(e)
        if isinstance(e, ContentDelta):
            lags.append(time.monotonic() - sent[len(lags)])
    await task
    assert len(lags) == 30 and max(lags) < 0.05, lags  # none waited for a quarter-second pause
    span = sent[-1] - sent[0]
    client = meter.figures().decode_tps_client
    assert client is not None and client == pytest.approx(29 / span, rel=0.25)


async def test_a_steady_stream_is_read_once_a_pause_not_twice() -> None:
    """After each pause one read takes what arrived meanwhile. The reader used to pause only after a
    read that waited for the network, so each drain was followed by a read that waited for the next
    single token (a wake-up of its own, on a machine whose cores all run the model) before the pause."""
    import asyncio
    import time

    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    first: list[float] = []

    async def server() -> None:
        await queue.put(b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}\n\n')
        for i in range(100):  # a token every 5 ms for half a second
            await asyncio.sleep(0.005)
            await queue.put(b'data: {"choices":[{"index":0,"delta":{"content":"t%d "}}]}\n\n' % i)
        await queue.put(b"data: [DONE]\n\n")
        await queue.put(None)

    waited_after: list[float] = []  # reads that found nothing and waited, by time since the first token

    async def source() -> AsyncIterator[bytes]:
        while True:
            if queue.empty() and first:
                waited_after.append(time.monotonic() - first[0])
            parts = [await queue.get()]
            while not queue.empty():  # what a read after a pause gets: everything that came
                parts.append(queue.get_nowait())
            if parts[-1] is None:
                if len(parts) > 1:
                    yield b"".join(p for p in parts if p is not None)
                return
            yield b"".join(p for p in parts if p is not None)

    task = asyncio.create_task(server())
    texts: list[str] = []
    async for e in events_from_sse_bytes(source(), 0.05):
        if isinstance(e, ContentDelta):
            first = first or [time.monotonic()]
            texts.append(e.text)
    await task
    assert texts == [f"t{i} " for i in range(100)]
    steady = [t for t in waited_after if t > 0.06]  # after the first pause's unpaced window
    assert len(steady) <= 2, waited_after
