"""A faithful in-process fake of the Backend protocol, for the TUI's tests and anyone else's.

It streams a scripted reasoning and answer word by word at a given rate, then reports ServerStats
and Finished, as a real server does. Time can be real (it sleeps between tokens) or virtual: given a
`FakeClock`, it advances that clock by 1/tps per token instead, so every figure the meter derives
(TTFT, live and final tok/s) is the same on every run and machine.

Failure modes, as the real adapters raise them:
    fail="unreachable"  health() says so; prepare() raises ServerUnreachable
    fail="load_refused" prepare() raises LoadRefused (LM Studio's guardrails)
    fail="mid_stream"   stream() raises StreamBroken after `fail_after` tokens
`hold_after=N` parks the stream after N tokens until `release()` (or until cancelled), so a test can
press "stop" at a known point.

    backend = FakeBackend(tps=200, clock=FakeClock())
    pool = BackendPool(lambda pattern: backend)
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, Literal

from backends.base import (
    BackendKind,
    Capabilities,
    ChatRequest,
    ContentDelta,
    Finished,
    Health,
    LoadedModel,
    LoadRefused,
    LoadSpec,
    ModelInfo,
    Prepared,
    ReasoningDelta,
    ServerStats,
    ServerUnreachable,
    StreamBroken,
    StreamEvent,
)

FailMode = Literal["unreachable", "load_refused", "mid_stream"]

REASONING = (
    "The user asks why the sky is blue. Rayleigh scattering: shorter wavelengths scatter more "
    "strongly off air molecules, so blue light reaches the eye from every direction. Keep it to "
    "three sentences."
)
ANSWER = (
    "Sunlight is scattered by the molecules of the air, and blue light, with its short wavelength, "
    "is scattered far more than red.\n\nSo wherever you look away from the sun, scattered blue light "
    "reaches your eyes. At sunset the light crosses more air, the blue is scattered away, and reds remain."
)
GIB = 1 << 30


def words(text: str) -> list[str]:
    """Token-sized pieces: a word with the whitespace after it (what a server streams)."""
    return re.findall(r"\S+\s*|\s+", text)


class FakeBackend:
    kind: ClassVar[BackendKind] = "llamacpp"

    def __init__(
        self,
        url: str = "http://127.0.0.1:8080",
        *,
        reasoning: str = REASONING,
        answer: str = ANSWER,
        tps: float = 200.0,
        ttft_s: float = 0.25,
        prompt_tokens: int = 84,
        prompt_tps: float | None = 410.0,
        server_stats: bool = True,
        clock: Any | None = None,
        fail: FailMode | None = None,
        fail_after: int = 5,
        hold_after: int | None = None,
        model_name: str = "gpt-oss-20b",
        version: str = "b7010",
        tps_for: Callable[[LoadSpec], float] | None = None,
        pid: int | None = None,
    ) -> None:
        # A llama-server that times itself; given a pid, one this backend started and owns (managed).
        self.capabilities = Capabilities(load_applies="server_start", owns_process=pid is not None, server_timings=True)
        self.pid = pid
        self.url = url
        self.reasoning = reasoning
        self.answer = answer
        self.tps = tps
        self.ttft_s = ttft_s
        self.prompt_tokens = prompt_tokens
        self.prompt_tps = prompt_tps
        self.server_stats = server_stats
        # A FakeClock (anything with advance()): time is virtual and nothing sleeps for long.
        self.clock = clock
        self.fail = fail
        self.fail_after = fail_after
        self.hold_after = hold_after
        self.model_name = model_name
        self.version = version
        # The rate for a load (e.g. by gpu_layers), so a sweep shows patterns that differ.
        self.tps_for = tps_for
        self.calls: list[tuple[str, Any]] = []
        self.closed = False
        self.streams_started = 0
        self.tokens_sent = 0
        self._loaded: LoadedModel | None = None
        self._release = asyncio.Event()
        self.on_token: Callable[[int], None] | None = None

    # -- protocol -----------------------------------------------------------------------------------

    async def health(self) -> Health:
        self.calls.append(("health", None))
        if self.fail == "unreachable":
            return Health(False, "unreachable (ConnectError)")
        return Health(True, "ok", self.version)

    async def list_models(self) -> list[ModelInfo]:
        self._check_reachable()
        return [ModelInfo(self.model_name, size_bytes=13 * GIB, context_length=131072, block_count=24)]

    async def prepare(self, spec: LoadSpec) -> Prepared:
        self.calls.append(("prepare", spec))
        self._check_reachable()
        if self.tps_for is not None:
            self.tps = self.tps_for(spec)
        if self.fail == "load_refused":
            raise LoadRefused(
                f"LM Studio refused to load {spec.model} with context {spec.context_length}: "
                "model loading was stopped due to insufficient system resources",
                hint="lower context_length or gpu_layers, or relax the guardrails in LM Studio's settings",
            )
        layers = spec.gpu_layers if isinstance(spec.gpu_layers, int) else (0 if spec.gpu_layers == "off" else 24)
        self._loaded = LoadedModel(
            name=self.model_name,
            context_length=spec.context_length,
            size_bytes=13 * GIB,
            vram_bytes=13 * GIB * layers // 24,
            gpu_layers=layers,
            detail=f"{layers}/24 layers on the GPU",
        )
        return Prepared(load_s=0.5, loaded=self._loaded)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.calls.append(("stream", request))
        self._check_reachable()
        self.streams_started += 1
        pieces = [ReasoningDelta(w) for w in words(self.reasoning)] + [ContentDelta(w) for w in words(self.answer)]
        await self._wait(self.ttft_s)
        for i, ev in enumerate(pieces):
            if i:
                await self._wait(1 / self.tps)
            if self.fail == "mid_stream" and i == self.fail_after:
                raise StreamBroken("the connection was reset mid-stream", hint="check the server's log, then rerun")
            if self.hold_after is not None and i == self.hold_after:
                await self._release.wait()
            self.tokens_sent += 1
            if self.on_token is not None:
                self.on_token(self.tokens_sent)
            yield ev
        if self.server_stats:
            n = len(pieces)
            yield ServerStats(
                prompt_tokens=self.prompt_tokens,
                completion_tokens=n,
                reasoning_tokens=len(words(self.reasoning)),
                prompt_tps=self.prompt_tps,
                decode_tps=self.tps,
                decode_s=(n - 1) / self.tps,
            )
        yield Finished("stop")

    async def loaded(self) -> list[LoadedModel]:
        return [self._loaded] if self._loaded is not None and self.fail != "unreachable" else []

    async def aclose(self) -> None:
        self.closed = True

    # -- test controls ------------------------------------------------------------------------------

    def release(self) -> None:
        """Let a held stream go on."""
        self._release.set()

    def _check_reachable(self) -> None:
        if self.fail == "unreachable":
            raise ServerUnreachable(
                f"cannot reach llama-server at {self.url}: connection refused",
                hint="start the server or fix the url in the pattern file",
            )

    async def _wait(self, seconds: float) -> None:
        if self.clock is not None:
            # Yield to the loop so the UI gets its turn, but spend virtual time only.
            await asyncio.sleep(0)
            self.clock.advance(seconds)
        else:
            await asyncio.sleep(seconds)
