"""The one run pipeline: a single run is a sweep of one; the sweep stores every record, stopped runs
too, and reports each run's start, progress and end in order; failures keep their hint apart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from backends.base import Health, StreamEvent
from backends.probes.model import Peaks, Snapshot
from backends.probes.sampler import compute_peaks
from backends.runs.health import HealthReport, check, report
from backends.runs.patterns import Pattern
from backends.runs.results import ResultsStore
from backends.runs.session import BackendPool, RunContext, RunEvent, RunFinished, RunProgress, RunStarted
from backends.runs.stats import Meter
from backends.runs.sweep import run_sweep
from tests.fakes.backend import FakeBackend
from tests.probes.fake import FakeClock


def pattern(name: str = "A", **kw: object) -> Pattern:
    base: dict[str, object] = dict(backend="llamacpp", url="http://127.0.0.1:8080", model="m", prompt="hi")
    return Pattern(name=name, **{**base, **kw})  # type: ignore[arg-type]


class Sink:
    """A LiveSink that keeps what it was given."""

    def __init__(self) -> None:
        self.meters: list[Meter] = []
        self.events: list[StreamEvent] = []

    def start(self, meter: Meter) -> None:
        self.meters.append(meter)

    def on_event(self, event: StreamEvent) -> None:
        self.events.append(event)


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    return ResultsStore(tmp_path / "results.jsonl")


async def test_a_single_run_is_a_sweep_of_one_and_is_stored(store: ResultsStore) -> None:
    backend = FakeBackend(clock=FakeClock())
    events: list[RunEvent] = []
    sink = Sink()
    ctx = RunContext(live=sink, report=events.append)
    [rec] = await run_sweep([pattern()], pool=BackendPool(lambda p: backend), store=store, ctx=ctx)
    assert rec.ok and rec.answer
    assert [r.pattern for r in store.load()] == ["A"]
    assert isinstance(events[0], RunStarted) and (events[0].index, events[0].total) == (1, 1)
    assert [e.text for e in events if isinstance(e, RunProgress)] == ["A: loading m (server defaults)", "A: streaming",
                                                                       "A: done"]  # fmt: skip
    assert isinstance(events[-1], RunFinished) and events[-1].record is rec and events[-1].save_error is None
    assert len(sink.meters) == 1 and len(sink.events) > 0


async def test_a_stopped_run_is_stored_and_reported_by_the_sweep(store: ResultsStore) -> None:
    backend = FakeBackend(clock=FakeClock(), hold_after=3)
    events: list[RunEvent] = []
    task = asyncio.create_task(
        run_sweep([pattern(), pattern("B")], pool=BackendPool(lambda p: backend), store=store,
                  ctx=RunContext(report=events.append))
    )  # fmt: skip
    while backend.tokens_sent < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [stored] = store.load()
    assert stored.pattern == "A" and stored.error_kind == "cancelled" and stored.error == "stopped by the user"
    assert stored.reasoning  # what arrived before the stop is kept
    finished = [e for e in events if isinstance(e, RunFinished)]
    assert [f.record.error_kind for f in finished] == ["cancelled"]
    assert not any(isinstance(e, RunStarted) and e.pattern.name == "B" for e in events)  # the sweep stops


async def test_the_hint_is_kept_apart_from_the_error(store: ResultsStore) -> None:
    backend = FakeBackend(clock=FakeClock(), fail="unreachable")
    [rec] = await run_sweep([pattern()], pool=BackendPool(lambda p: backend), store=store)
    assert rec.error_kind == "server_unreachable"
    assert rec.error == "cannot reach llama-server at http://127.0.0.1:8080: connection refused"
    assert rec.error_hint == "start the server or fix the url in the pattern file"
    assert store.load()[0].error_hint == rec.error_hint  # the store keeps it too


class PidSampler:
    """What a run tells the sampler: which process and port to watch."""

    interval_s = 1.0
    latest: Snapshot | None = None
    history: tuple[Snapshot, ...] = ()

    def __init__(self) -> None:
        self.watched: list[tuple[int | None, int | None]] = []

    def set_backend(self, pid: int | None, port: int | None) -> None:
        self.watched.append((pid, port))

    def sample_now(self) -> Snapshot:
        return Snapshot(t=0.0)

    def peaks(self, since: float, until: float | None = None) -> Peaks:
        return compute_peaks(())

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


async def test_the_sampler_watches_the_process_the_backend_declares() -> None:
    sampler = PidSampler()
    backend = FakeBackend(url="http://127.0.0.1:41234", clock=FakeClock(), pid=4242)
    rec = await run_sweep([pattern()], pool=BackendPool(lambda p: backend), ctx=RunContext(sampler=sampler))
    assert rec[0].ok
    assert sampler.watched == [(4242, 41234)]
    assert rec[0].url == "http://127.0.0.1:41234"  # a server it runs listens where it was started


async def test_health_of_a_server_not_started_yet_is_a_note_not_a_failure() -> None:
    backend = FakeBackend(clock=FakeClock(), pid=4242)
    backend.pid = None  # it owns a server process, not started yet
    rep = await report(backend)
    assert rep == HealthReport(rep.health, [], "the server starts on the first run") and not rep.health.ok
    assert backend.calls == []  # nothing was asked of a server that is not there


async def test_a_slow_health_answer_is_an_unhealthy_one() -> None:
    class Slow(FakeBackend):
        async def health(self) -> Health:
            await asyncio.sleep(10)
            raise AssertionError("not reached")

    h = await check(Slow(), timeout_s=0.05)
    assert not h.ok and h.detail == "health check failed (TimeoutError)"


async def test_loaded_models_only_from_a_healthy_server() -> None:
    down = FakeBackend(fail="unreachable")
    rep = await report(down)
    assert not rep.health.ok and rep.loaded == []
    up = FakeBackend(clock=FakeClock())
    await run_sweep([pattern()], pool=BackendPool(lambda p: up))
    rep = await report(up)
    assert rep.health.ok and [m.name for m in rep.loaded] == ["gpt-oss-20b"]


def test_the_pool_key_is_the_one_backend_identity() -> None:
    pool = BackendPool(lambda p: FakeBackend())
    a, b = pattern(model_path="x.gguf"), pattern(url="http://127.0.0.1:9999", model_path="y.gguf")
    assert pool.key(a) == pool.key(b)  # one managed server, wherever the file says it listens
    assert pool.get(a) is pool.get(b)
    assert pool.key(pattern()) != pool.key(pattern(url="http://127.0.0.1:9999"))
    assert pool.peek(pattern(url="http://127.0.0.1:1")) is None
    # Only a kind that launches its own server shares one across URLs.
    ollama = (
        pattern(backend="ollama", model_path="x.gguf"),
        pattern(backend="ollama", url="http://127.0.0.1:1", model_path="x.gguf"),
    )
    assert pool.key(ollama[0]) != pool.key(ollama[1])


async def test_a_sweep_waits_for_its_caller_between_runs_and_not_after_the_last(store: ResultsStore) -> None:
    backend = FakeBackend(clock=FakeClock())
    order: list[str] = []

    def report(event: RunEvent) -> None:
        if isinstance(event, (RunStarted, RunFinished)):
            order.append(f"{type(event).__name__} {event.pattern.name}")

    async def between() -> None:
        await asyncio.sleep(0)
        order.append("between")

    ctx = RunContext(report=report, between=between)
    recs = await run_sweep([pattern("A"), pattern("B")], pool=BackendPool(lambda p: backend), store=store, ctx=ctx)
    assert [r.pattern for r in recs] == ["A", "B"]
    assert order == ["RunStarted A", "RunFinished A", "between", "RunStarted B", "RunFinished B"]
