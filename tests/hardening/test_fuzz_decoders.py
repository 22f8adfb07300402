"""Fuzzed decoders: random bytes and random splits never raise anything but a BackendError, and a
well-formed stream decodes the same however the network splits it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backends.base import BackendError, StreamEvent
from backends.servers.ollama_stream import events_from_ndjson
from backends.wire.framing import NDJSONDecoder, SSEDecoder
from backends.wire.openai_stream import OpenAIStreamDecoder, events_from_sse_bytes

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return out


async def _aiter(parts: list[bytes]) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


def collect_async(gen: AsyncIterator[StreamEvent]) -> tuple[list[StreamEvent], BackendError | None]:
    async def go() -> tuple[list[StreamEvent], BackendError | None]:
        out: list[StreamEvent] = []
        try:
            async for e in gen:
                out.append(e)
        except BackendError as e:  # the only kind of failure a decoder may report
            return out, e
        return out, None

    return asyncio.run(go())


texts = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12)


def sse_stream(deltas: list[tuple[str, str]], crlf: bool) -> bytes:
    nl = "\r\n" if crlf else "\n"
    out = [f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'role': 'assistant', 'content': None}}]})}{nl}{nl}"]
    for kind, text in deltas:
        key = "reasoning_content" if kind == "r" else "content"
        out.append(f"data: {json.dumps({'choices': [{'index': 0, 'delta': {key: text}}]}, ensure_ascii=False)}{nl}{nl}")
        out.append(f": ping{nl}{nl}")
    end = {
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "timings": {"predicted_n": len(deltas), "predicted_per_second": 12.5},
    }
    out.append(f"data: {json.dumps(end)}{nl}{nl}data: [DONE]{nl}{nl}")
    return "".join(out).encode()


def ndjson_stream(deltas: list[tuple[str, str]]) -> bytes:
    lines = []
    for kind, text in deltas:
        msg = {"role": "assistant", "content": "" if kind == "r" else text}
        if kind == "r":
            msg["thinking"] = text
        lines.append(json.dumps({"model": "m", "message": msg, "done": False}, ensure_ascii=False))
    lines.append(
        json.dumps(
            {
                "model": "m",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "eval_count": 5,
                "eval_duration": 1_000_000_000,
            }
        )
    )
    return ("\n".join(lines) + "\n").encode()


deltas_st = st.lists(st.tuples(st.sampled_from(["r", "c"]), texts.filter(lambda t: "<" not in t)), max_size=15)


@FAST
@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_sse_decoder_takes_any_bytes(data: bytes, cuts: list[int]) -> None:
    dec = SSEDecoder()
    for part in splits(data, cuts):
        dec.feed(part)
    dec.close()


@FAST
@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_ndjson_decoder_takes_any_bytes(data: bytes, cuts: list[int]) -> None:
    dec = NDJSONDecoder()
    for part in splits(data, cuts):
        dec.feed(part)
    dec.close()


@FAST
@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_openai_stream_decoder_only_raises_backend_errors(data: bytes, cuts: list[int]) -> None:
    dec = OpenAIStreamDecoder()
    try:
        for part in splits(data, cuts):
            dec.feed(part)
        dec.close()
    except BackendError:
        pass


@FAST
@given(
    junk=st.lists(
        st.sampled_from(
            [
                b"data: ",
                b"{",
                b"}",
                b'"choices"',
                b":",
                b"[",
                b"]",
                b"\n",
                b"\r\n",
                b"null",
                b'"delta"',
                b'"content"',
                b'"x"',
                b",",
                b"[DONE]",
                b"\xff",
                b"\xe6\x97",
            ]
        ),
        max_size=60,
    )
)
def test_openai_stream_decoder_on_near_json_only_raises_backend_errors(junk: list[bytes]) -> None:
    collect_async(events_from_sse_bytes(_aiter(junk)))


@FAST
@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_ollama_decoder_only_raises_backend_errors(data: bytes, cuts: list[int]) -> None:
    collect_async(events_from_ndjson(_aiter(splits(data, cuts))))


@FAST
@given(deltas=deltas_st, cuts=st.lists(st.integers(0, 5000), max_size=12), crlf=st.booleans())
def test_well_formed_sse_decodes_the_same_however_split(
    deltas: list[tuple[str, str]], cuts: list[int], crlf: bool
) -> None:
    data = sse_stream(deltas, crlf)
    whole, err1 = collect_async(events_from_sse_bytes(_aiter([data])))
    parts, err2 = collect_async(events_from_sse_bytes(_aiter(splits(data, cuts))))
    bytewise, err3 = collect_async(events_from_sse_bytes(_aiter([data[i : i + 1] for i in range(len(data))])))
    assert err1 is None and err2 is None and err3 is None
    assert whole == parts == bytewise
    assert "".join(getattr(e, "text", "") for e in whole) == "".join(t for _, t in deltas)


@FAST
@given(deltas=deltas_st, cuts=st.lists(st.integers(0, 5000), max_size=12))
def test_well_formed_ndjson_decodes_the_same_however_split(deltas: list[tuple[str, str]], cuts: list[int]) -> None:
    data = ndjson_stream(deltas)
    whole, err1 = collect_async(events_from_ndjson(_aiter([data])))
    parts, err2 = collect_async(events_from_ndjson(_aiter(splits(data, cuts))))
    assert err1 is None and err2 is None
    assert whole == parts
    assert "".join(getattr(e, "text", "") for e in whole) == "".join(t for _, t in deltas)
