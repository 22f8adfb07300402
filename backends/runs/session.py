"""One run of one pattern: prepare the backend, stream, meter, sample the hardware, make the record.

A run never raises for anything the server or the network does: every failure becomes a record with
`ok: false` and an `error` a user can act on, and whatever text arrived before it is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from backends.base import (
    Backend,
    BackendError,
    BackendTimeout,
    ChatRequest,
    ContentDelta,
    Endpoint,
    LoadedModel,
    LoadSpec,
    Prepared,
    ReasoningDelta,
    StreamEvent,
    redact,
)
from backends.runs.patterns import Pattern
from backends.runs.record import RunRecord
from backends.runs.stats import Clock, Meter
from backends.servers.registry import make_backend


class PeakSource(Protocol):
    """What the session needs from the hardware sampler (backends.probes.Sampler)."""

    def peaks(self, since: float, until: float | None = None) -> Any: ...

    def set_backend(self, pid: int | None, port: int | None = None) -> None: ...

    def sample_now(self) -> Any: ...


EventCallback = Callable[[StreamEvent, Meter], None]
StatusCallback = Callable[[str], None]


def _backend_key(p: Pattern) -> tuple[Any, ...]:
    # One backend object per server; a managed llama-server is shared by the patterns that use it.
    managed = p.backend == "llamacpp" and bool(p.model_path)
    return (p.backend, "managed" if managed else p.url, p.api_key_env, p.server_bin, p.timeout_s)


class BackendPool:
    """Backends for patterns, reused across runs; closes them (and managed servers) on exit."""

    def __init__(self, factory: Callable[[Pattern], Backend] | None = None) -> None:
        self._factory = factory or self._make
        self._backends: dict[tuple[Any, ...], Backend] = {}

    @staticmethod
    def _make(p: Pattern) -> Backend:
        endpoint = Endpoint(p.url, p.api_key(), timeout_s=p.timeout_s)
        options: dict[str, Any] = {}
        if p.backend == "llamacpp":
            options["server_bin"] = p.server_bin
        return make_backend(p.backend, endpoint, **options)  # type: ignore[arg-type]

    def get(self, p: Pattern) -> Backend:
        key = _backend_key(p)
        if key not in self._backends:
            self._backends[key] = self._factory(p)
        return self._backends[key]

    def all(self) -> list[Backend]:
        return list(self._backends.values())

    async def aclose(self) -> None:
        for b in self._backends.values():
            with contextlib.suppress(Exception):
                await b.aclose()
        self._backends.clear()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def resolve_model_path(value: str | None) -> str | None:
    if not value:
        return None
    from backends.servers.tinymodel import resolve_model_path as resolve

    # Writing a built-in model takes up to a few seconds: keep the event loop free.
    return await asyncio.to_thread(resolve, value)


@dataclass
class RunContext:
    """What a run may use beyond the pattern; all optional."""

    clock: Clock = time.perf_counter
    sampler: PeakSource | None = None
    sampler_clock: Clock = time.monotonic
    on_event: EventCallback | None = None
    on_status: StatusCallback | None = None
    on_meter: Callable[[Meter], None] | None = None
    # A stopped run (its task cancelled) still produces a record: it is handed here before the
    # cancellation goes on, so the caller can store it.
    on_cancelled: Callable[[RunRecord], None] | None = None


async def run_pattern(pattern: Pattern, backend: Backend, repeat: int = 1, ctx: RunContext | None = None) -> RunRecord:
    """Run the pattern once; the record is complete whether the run worked or not."""
    ctx = ctx or RunContext()
    rec = RunRecord(
        pattern=pattern.name,
        backend=pattern.backend,
        url=pattern.url,
        model=pattern.model,
        context_length=pattern.context_length,
        gpu_layers=pattern.gpu_layers,
        repeat=repeat,
        started_at=now_iso(),
    )
    secrets = (pattern.api_key(),)
    meter = Meter(ctx.clock)
    if ctx.on_meter:
        ctx.on_meter(meter)
    reasoning: list[str] = []
    answer: list[str] = []
    t_sample0 = ctx.sampler_clock()
    prepared: Prepared | None = None
    try:
        status(ctx, f"{pattern.name}: loading {pattern.model} ({pattern.settings()})")
        spec = LoadSpec(
            model=pattern.model,
            context_length=pattern.context_length,
            gpu_layers=pattern.gpu_layers,
            model_path=await resolve_model_path(pattern.model_path),
        )
        prepared = await backend.prepare(spec)
        rec.warnings.extend(prepared.warnings)
        if ctx.sampler is not None:
            ctx.sampler.set_backend(getattr(backend, "pid", None), _port(backend.url))
        if pattern.backend == "llamacpp" and backend.url != rec.url:
            rec.url = backend.url  # managed: the port it was given
        request = ChatRequest.simple(
            pattern.model,
            pattern.prompt,
            system=pattern.system_prompt,
            max_tokens=pattern.max_tokens,
            reasoning_effort=pattern.reasoning_effort,
            temperature=pattern.temperature,
            seed=pattern.seed,
            load=spec,
        )
        status(ctx, f"{pattern.name}: streaming")
        t_sample0 = ctx.sampler_clock()
        await _sample(ctx)  # the state the run starts in, model loaded: a short run still has a window
        meter.start()
        async for event in _with_first_token_timeout(backend.stream(request), pattern.first_token_timeout_s):
            meter.on_event(event)
            if isinstance(event, ReasoningDelta):
                reasoning.append(event.text)
            elif isinstance(event, ContentDelta):
                answer.append(event.text)
            if ctx.on_event:
                ctx.on_event(event, meter)
        rec.ok = True
    except BackendError as e:
        rec.error = redact(str(e), secrets)
        rec.error_kind = e.code
    except asyncio.CancelledError:
        rec.error = "stopped by the user"
        rec.error_kind = "cancelled"
        _finish(rec, meter, reasoning, answer, prepared)
        if ctx.on_cancelled:
            ctx.on_cancelled(rec)
        raise
    except Exception as e:
        rec.error = redact(f"unexpected {type(e).__name__}: {e}", secrets)
        rec.error_kind = "internal"
    finally:
        meter.stop()
    _finish(rec, meter, reasoning, answer, prepared)
    await _fill_loaded(rec, backend, prepared)
    if ctx.sampler is not None:
        await _sample(ctx)
        _fill_peaks(rec, ctx.sampler.peaks(t_sample0, ctx.sampler_clock()))
    status(ctx, f"{pattern.name}: {'done' if rec.ok else 'failed'}")
    return rec


async def _sample(ctx: RunContext) -> None:
    if ctx.sampler is not None:
        try:
            await asyncio.to_thread(ctx.sampler.sample_now)
        except Exception:  # probes never raise; still, a record matters more than a sample
            pass


def status(ctx: RunContext, text: str) -> None:
    if ctx.on_status:
        ctx.on_status(text)


def _port(url: str) -> int | None:
    import urllib.parse

    try:
        return urllib.parse.urlsplit(url).port
    except ValueError:
        return None


async def _with_first_token_timeout(
    events: AsyncIterator[StreamEvent], timeout_s: float | None
) -> AsyncIterator[StreamEvent]:
    """Pass events through; fail if no reasoning or answer token arrives within timeout_s."""
    try:
        if timeout_s is None:
            async for ev in events:
                yield ev
            return
        it = aiter(events)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                ev = await asyncio.wait_for(anext(it), max(remaining, 0.001))
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise BackendTimeout(
                    f"no token within {timeout_s:g} s (first_token_timeout_s)",
                    hint="the model may be loading or the prompt is long; raise first_token_timeout_s",
                ) from None
            yield ev
            if isinstance(ev, ReasoningDelta | ContentDelta) and ev.text:
                break
        async for ev in it:
            yield ev
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


def _finish(rec: RunRecord, meter: Meter, reasoning: list[str], answer: list[str], prepared: Prepared | None) -> None:
    f = meter.figures()
    rec.reasoning = "".join(reasoning)
    rec.answer = "".join(answer)
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


async def _fill_loaded(rec: RunRecord, backend: Backend, prepared: Prepared | None) -> None:
    try:
        loaded = await asyncio.wait_for(backend.loaded(), 5.0)
    except Exception:
        loaded = []
    match: LoadedModel | None = next((m for m in loaded if m.name == rec.model), None)
    if match is None and len(loaded) == 1:
        match = loaded[0]
    if match is None and prepared is not None:
        match = prepared.loaded
    if match is None:
        return
    rec.loaded_context_length = match.context_length
    rec.loaded_size_bytes = match.size_bytes
    rec.loaded_vram_bytes = match.vram_bytes
    rec.loaded_detail = match.detail or None


def _fill_peaks(rec: RunRecord, peaks: Any) -> None:
    for name in ("peak_vram_bytes", "peak_ram_used_bytes", "memory_pressure_peak", "swap_delta_bytes"):
        setattr(rec, name, getattr(peaks, name, None))
