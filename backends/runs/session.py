"""One run of one pattern: prepare the backend, stream, meter, sample the hardware, make the record.

A run never raises for anything the server or the network does: every failure becomes a record with
`ok: false`, an `error` that says what happened and an `error_hint` that says what to do, and
whatever text arrived before it is kept. A stopped run (its task cancelled) keeps its partial record
on the `Run` for the sweep to store before the cancellation goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from backends.base import (
    Backend,
    BackendError,
    BackendTimeout,
    ChatRequest,
    ContentDelta,
    LoadedModel,
    LoadSpec,
    Prepared,
    ReasoningDelta,
    StreamEvent,
    redact,
)
from backends.probes.model import Peaks
from backends.probes.remote.registry import missing_telemetry, sampler_for, telemetry_source
from backends.probes.sampler import HardwareSampler
from backends.runs.fit.record import fill_record
from backends.runs.patterns import Pattern
from backends.runs.pool import BackendKey as BackendKey
from backends.runs.pool import BackendPool as BackendPool
from backends.runs.record import RunRecord
from backends.runs.stats import Clock, Meter
from backends.servers.priority import on_this_machine, port_of
from backends.servers.provenance import KnowsProvenance

# --------------------------------------------------------------------------------------------------
# What a run tells while it goes


@dataclass(frozen=True)
class RunStarted:
    index: int  # 1-based position of this run in the sweep
    total: int
    pattern: Pattern
    repeat: int  # 1-based repeat of this pattern


@dataclass(frozen=True)
class RunProgress:
    pattern: Pattern
    text: str  # "A: loading gpt-oss-20b (ctx 4096, gpu 24)", "A: streaming", ...


@dataclass(frozen=True)
class RunFinished:
    index: int
    total: int
    pattern: Pattern
    repeat: int
    record: RunRecord  # stopped runs too (error_kind "cancelled")
    save_error: str | None = None  # the results store could not keep it: why


RunEvent = RunStarted | RunProgress | RunFinished
Report = Callable[[RunEvent], None]


class LiveSink(Protocol):
    """Where a run's stream goes as it arrives (the screen's buffers). Called on the event loop for
    every token, so it must only store, never draw."""

    def start(self, meter: Meter) -> None:
        """The request is sent; `meter` measures this run from now on."""
        ...

    def on_event(self, event: StreamEvent) -> None: ...


@dataclass
class RunContext:
    """What a run may use beyond the pattern; all optional."""

    clock: Clock = time.perf_counter
    sampler: HardwareSampler | None = None
    sampler_clock: Clock = time.monotonic
    live: LiveSink | None = None
    report: Report | None = None
    # Awaited between a sweep's runs: after a run's RunFinished is reported, before the next run's
    # RunStarted. A caller that draws each record (the TUI) finishes that work here, while the server
    # idles, rather than during the next run's prompt processing and first tokens.
    between: Callable[[], Awaitable[None]] | None = None
    # The pause between reads of the run's stream once tokens flow (framing.decode). None: a run nobody
    # watches as it streams (no `live`: `bench`, a tune) on a server on this machine is read at
    # framing.QUIET_READ_PACE_S, any other at the process's pace (framing.read_pace, which the screen
    # sets).
    read_pace_s: float | None = None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def resolve_model_path(value: str | None) -> str | None:
    if not value:
        return None
    from backends.servers.tinymodel import resolve_model_path as resolve

    # Writing a built-in model takes up to a few seconds: keep the event loop free.
    return await asyncio.to_thread(resolve, value)


# --------------------------------------------------------------------------------------------------
# One run


class Run:
    """One run of a pattern on a backend. `record` is filled in as the run goes, so a stopped run
    still has one (see `execute`)."""

    def __init__(self, pattern: Pattern, backend: Backend, repeat: int = 1, ctx: RunContext | None = None) -> None:
        self.pattern = pattern
        self.backend = backend
        self.ctx = ctx or RunContext()
        # The pattern's host decides whose hardware the run's peaks come from (README "Remote hosts").
        self.sampler: HardwareSampler | None = sampler_for(self.ctx.sampler, pattern.host)
        self.record = RunRecord(
            pattern=pattern.name,
            backend=pattern.backend,
            url=pattern.url,
            model=pattern.model,
            context_length=pattern.context_length,
            gpu_layers=pattern.gpu_layers,
            n_cpu_moe=pattern.n_cpu_moe,
            repeat=repeat,
            started_at=now_iso(),
            host=pattern.host,
            telemetry_source=telemetry_source(self.ctx.sampler, pattern.host),
        )
        self.meter = Meter(self.ctx.clock)
        self._reasoning: list[str] = []
        self._answer: list[str] = []
        self._prepared: Prepared | None = None
        self._t_sample0 = self.ctx.sampler_clock()

    async def execute(self) -> RunRecord:
        """Run it; the record is complete whether the run worked or not. When the task is cancelled,
        `record` holds the stopped run (error_kind "cancelled") and the cancellation goes on."""
        rec = self.record
        try:
            await self._stream(await self._prepare())
            rec.ok = True
        except BackendError as e:
            self._failed(e.message, e.code, e.hint)
        except asyncio.CancelledError:
            self.meter.stop()
            self._failed("stopped by the user", "cancelled", None)
            self._finish()
            raise
        except Exception as e:
            self._failed(f"unexpected {type(e).__name__}: {e}", "internal", None)
        finally:
            self.meter.stop()
        self._finish()
        await self._fill_loaded()
        await fill_record(rec, self.pattern, self.sampler)  # predicted beside loaded, on its host
        await self._fill_peaks()
        self._progress("done" if rec.ok else "failed")
        return rec

    async def _prepare(self) -> LoadSpec:
        p = self.pattern
        self._progress(f"loading {p.model} ({p.settings()})")
        spec = LoadSpec(
            model=p.model,
            context_length=p.context_length,
            gpu_layers=p.gpu_layers,
            model_path=await resolve_model_path(p.model_path),
            n_cpu_moe=p.n_cpu_moe,
        )
        self._prepared = await self.backend.prepare(spec)
        self.record.warnings.extend(self._prepared.warnings)
        await self._provenance()
        if self.backend.capabilities.owns_process:
            self.record.url = self.backend.url  # a managed server listens where it was started
        if self.sampler is not None:
            self.sampler.set_backend(self.backend.pid, port_of(self.backend.url))
        return spec

    async def _stream(self, spec: LoadSpec) -> None:
        p = self.pattern
        request = ChatRequest.simple(
            p.model,
            p.prompt,
            system=p.system_prompt,
            max_tokens=p.max_tokens,
            reasoning_effort=p.reasoning_effort,
            temperature=p.temperature,
            seed=p.seed,
            load=spec,
        )
        self._progress("streaming")
        self._t_sample0 = self.ctx.sampler_clock()
        await self._sample()  # the state the run starts in, model loaded: a short run still has a window
        meter, live = self.meter, self.ctx.live
        meter.start()
        if live is not None:
            live.start(meter)
        pace = self.ctx.read_pace_s
        if pace is None and live is None and self._server_here():
            from backends.wire.framing import QUIET_READ_PACE_S

            pace = QUIET_READ_PACE_S
        with _reading_at(pace):
            async for event in _with_first_token_timeout(self.backend.stream(request), p.first_token_timeout_s):
                meter.on_event(event)
                if isinstance(event, ReasoningDelta):
                    self._reasoning.append(event.text)
                elif isinstance(event, ContentDelta):
                    self._answer.append(event.text)
                if live is not None:
                    live.on_event(event)

    def _server_here(self) -> bool:
        return on_this_machine(self.backend.url, self.pattern.host, self.backend.capabilities.owns_process)

    def _failed(self, message: str, kind: str, hint: str | None) -> None:
        secrets = (self.pattern.api_key(),)
        self.record.error = redact(message, secrets)
        self.record.error_hint = redact(hint, secrets) if hint else None
        self.record.error_kind = kind

    def _progress(self, text: str) -> None:
        if self.ctx.report is not None:
            self.ctx.report(RunProgress(self.pattern, f"{self.pattern.name}: {text}"))

    async def _provenance(self) -> None:
        """What produced the run (server version, model identity): asked of adapters that can tell,
        after the load; whatever fails or is slow stays unknown, the run goes on."""
        if not isinstance(self.backend, KnowsProvenance):
            return
        try:
            async with asyncio.timeout(10.0):  # not wait_for: it can lose a stop (wire.light)
                found = await self.backend.provenance(self.pattern.model)
        except Exception:
            return
        found.apply(self.record)

    async def _sample(self) -> None:
        if self.sampler is not None:
            try:
                await asyncio.to_thread(self.sampler.sample_now)
            except Exception:  # probes never raise; still, a record matters more than a sample
                pass

    def _finish(self) -> None:
        rec, f, prepared = self.record, self.meter.figures(), self._prepared
        rec.reasoning = "".join(self._reasoning)
        rec.answer = "".join(self._answer)
        rec.prompt_tokens = f.prompt_tokens
        rec.completion_tokens = f.completion_tokens
        rec.reasoning_tokens = f.reasoning_tokens
        rec.ttft_s = f.ttft_s
        rec.ttft_client_s = f.ttft_client_s
        rec.ttft_answer_s = f.ttft_answer_s
        rec.prompt_tps = f.prompt_tps
        rec.decode_tps = f.decode_tps
        rec.decode_tps_client = f.decode_tps_client
        rec.total_s = f.total_s
        rec.stats_source = f.stats_source if f.decode_tps is not None else None
        rec.finish_reason = f.finish_reason
        rec.load_s = f.load_s if f.load_s is not None else (prepared.load_s if prepared else None)

    async def _fill_loaded(self) -> None:
        rec = self.record
        try:
            async with asyncio.timeout(5.0):
                loaded = await self.backend.loaded()
        except Exception:
            loaded = []
        match: LoadedModel | None = next((m for m in loaded if m.name == rec.model), None)
        if match is None and len(loaded) == 1:
            match = loaded[0]
        if match is None and self._prepared is not None:
            match = self._prepared.loaded
        if match is None:
            return
        rec.loaded_context_length = match.context_length
        rec.loaded_size_bytes = match.size_bytes
        rec.loaded_vram_bytes = match.vram_bytes
        rec.loaded_gpu_bytes = match.gpu_bytes
        rec.loaded_host_bytes = match.host_bytes
        rec.loaded_detail = match.detail or None

    async def _fill_peaks(self) -> None:
        sampler = self.sampler
        if sampler is None:
            return
        await self._sample()
        until = self.ctx.sampler_clock()
        peaks: Peaks = sampler.peaks(self._t_sample0, until)
        rec = self.record
        if note := missing_telemetry(sampler, self._t_sample0, until):
            rec.warnings.append(note)
        rec.peak_vram_bytes = peaks.peak_vram_bytes
        rec.peak_ram_used_bytes = peaks.peak_ram_used_bytes
        rec.memory_pressure_peak = peaks.memory_pressure_peak
        rec.swap_delta_bytes = peaks.swap_delta_bytes


async def run_pattern(pattern: Pattern, backend: Backend, repeat: int = 1, ctx: RunContext | None = None) -> RunRecord:
    """Run the pattern once and return its record (nothing is stored: `run_sweep` stores)."""
    return await Run(pattern, backend, repeat, ctx).execute()


@contextlib.contextmanager
def _reading_at(pace_s: float | None) -> Iterator[None]:
    """The run's stream is read at `pace_s` while it lasts (None: at the process's pace). A run nobody
    watches on a server on this machine reads at framing.QUIET_READ_PACE_S: every wake-up of this
    process is taken from a model computing on the same CPU, and what the reads are for, the client's
    own decode rate, holds at that pace. (The screen paces its own runs: tui.screens.main, `calm`.)"""
    if pace_s is None:
        yield
        return
    from backends.wire import framing

    before = framing.read_pace()
    framing.set_read_pace(pace_s)
    try:
        yield
    finally:
        framing.set_read_pace(before)


async def _with_first_token_timeout(
    events: AsyncIterator[StreamEvent], timeout_s: float | None
) -> AsyncIterator[StreamEvent]:
    """Pass events through; fail if no reasoning or answer token arrives within timeout_s."""
    it = aiter(events)
    try:
        if timeout_s is not None:
            async for ev in _until_first_token(it, timeout_s):
                yield ev
        async for ev in it:
            yield ev
    finally:
        if isinstance(it, AsyncGenerator):  # closing the stream cancels the request
            with contextlib.suppress(Exception):
                await it.aclose()


async def _until_first_token(it: AsyncIterator[StreamEvent], timeout_s: float) -> AsyncIterator[StreamEvent]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                ev = await anext(it)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise BackendTimeout(
                f"no token within {timeout_s:g} s (first_token_timeout_s)",
                hint="the model may be loading or the prompt is long; raise first_token_timeout_s",
            ) from None
        yield ev
        if isinstance(ev, ReasoningDelta | ContentDelta) and ev.text:
            return
