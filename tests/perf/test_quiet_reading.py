"""A run nobody watches as it streams (`bench`, a tune) reads a server on this machine four times a
second: each read wakes this process on the CPU the model may be computing on. A run the screen shows,
or one on another host's server, keeps the pace it had. Real llama-server with the tiny model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from backends.base import ChatRequest, StreamEvent
from backends.runs.patterns import Pattern
from backends.runs.session import BackendPool, RunContext, run_pattern
from backends.runs.stats import Meter
from backends.wire import framing


class Watching:
    """A screen's sink: it shows the tokens as they come."""

    def start(self, meter: Meter) -> None:
        pass

    def on_event(self, event: StreamEvent) -> None:
        pass


def spy_on_pace(backend: Any) -> list[float]:
    """The read pace in force while the backend's stream yields its events."""
    paces: list[float] = []
    real = backend.stream

    async def stream(request: ChatRequest) -> AsyncIterator[StreamEvent]:
        async for event in real(request):
            paces.append(framing.read_pace())
            yield event

    backend.stream = stream
    return paces


@pytest.fixture
def earlier_pace() -> Any:
    framing.set_read_pace(0.1)  # whatever the process had before the run
    yield 0.1
    framing.set_read_pace(None)


async def test_an_unwatched_run_on_a_local_server_is_read_quietly_and_the_pace_comes_back(
    llama_server: Any, earlier_pace: float
) -> None:
    pattern = Pattern(name="q", backend="llamacpp", url=llama_server.url, model="m", prompt="hi", max_tokens=16)
    pool = BackendPool()
    try:
        paces = spy_on_pace(await pool.open(pattern))
        rec = await run_pattern(pattern, pool.get(pattern))
    finally:
        await pool.aclose()
    assert rec.ok, rec.error
    assert paces and set(paces) == {framing.QUIET_READ_PACE_S}
    assert framing.read_pace() == earlier_pace


@pytest.mark.parametrize("case", ["watched", "another host"])
async def test_a_watched_run_or_one_on_another_host_keeps_the_pace(
    llama_server: Any, earlier_pace: float, case: str
) -> None:
    # A pattern of another host reaches its server through a loopback tunnel in the fleet tests; here
    # too: the URL is local, the server is not this machine's.
    host = "mini" if case == "another host" else None
    pattern = Pattern(name="q", backend="llamacpp", url=llama_server.url, model="m", prompt="hi", max_tokens=16,
                      host=host)  # fmt: skip
    ctx = RunContext(live=Watching()) if case == "watched" else RunContext()
    pool = BackendPool()
    try:
        paces = spy_on_pace(await pool.open(pattern))
        rec = await run_pattern(pattern, pool.get(pattern), ctx=ctx)
    finally:
        await pool.aclose()
    assert rec.ok, rec.error
    assert paces and set(paces) == {earlier_pace}


async def test_a_run_that_fails_mid_stream_gives_the_pace_back(llama_server: Any, earlier_pace: float) -> None:
    pattern = Pattern(name="q", backend="llamacpp", url=llama_server.url, model="m", prompt="hi", max_tokens=64)
    pool = BackendPool()
    try:
        backend = await pool.open(pattern)
        real = backend.stream

        async def breaks(request: ChatRequest) -> AsyncIterator[StreamEvent]:
            async for event in real(request):
                yield event
                raise ConnectionResetError("the server went away")

        backend.stream = breaks  # type: ignore[method-assign]
        rec = await run_pattern(pattern, backend)
    finally:
        await pool.aclose()
    assert not rec.ok and "ConnectionResetError" in (rec.error or "")
    assert framing.read_pace() == earlier_pace


async def test_a_run_given_a_pace_is_read_at_it(llama_server: Any, earlier_pace: float) -> None:
    # benchmarks/fidelity.py times the client at each of the product's paces in turn.
    pattern = Pattern(name="q", backend="llamacpp", url=llama_server.url, model="m", prompt="hi", max_tokens=16)
    pool = BackendPool()
    try:
        paces = spy_on_pace(await pool.open(pattern))
        rec = await run_pattern(pattern, pool.get(pattern), ctx=RunContext(read_pace_s=0.05))
    finally:
        await pool.aclose()
    assert rec.ok, rec.error
    assert paces and set(paces) == {0.05}
    assert framing.read_pace() == earlier_pace
