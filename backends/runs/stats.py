"""The meter: turns a timed stream of events into the figures of one run.

The clock is injected so tests can drive time by hand. Client figures are always measured; the
server's own figures, where it reports them, are kept beside them and preferred in the record
(`stats_source`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

from backends.base import ContentDelta, Finished, ReasoningDelta, ServerStats, StreamEvent

Clock = Callable[[], float]


@dataclass(frozen=True)
class Figures:
    """Everything measured for one run. None is unknown, never 0."""

    ttft_s: float | None  # server's where it reports one, else the client's
    ttft_client_s: float | None  # request sent -> first reasoning or answer token
    ttft_answer_s: float | None  # request sent -> first answer token (gpt-oss reasons first)
    prompt_tokens: int | None
    completion_tokens: int | None
    reasoning_tokens: int | None
    prompt_tps: float | None
    decode_tps: float | None
    decode_tps_client: float | None
    load_s: float | None
    total_s: float | None
    stats_source: str  # "server" | "client"
    finish_reason: str | None
    deltas: int  # token-bearing events seen by the client


@dataclass(frozen=True)
class LiveFigures:
    """The figures of a run while it streams, as the live panel shows them. None is unknown."""

    tps: float | None  # rolling decode rate over the meter's window
    ttft_s: float | None
    prompt_tps: float | None
    completion_tokens: int | None
    reasoning_tokens: int | None
    elapsed_s: float


def merge_stats(old: ServerStats | None, new: ServerStats) -> ServerStats:
    """Later non-None figures replace earlier ones (timings per token, then the final chunk)."""
    if old is None:
        return new
    return replace(old, **{f.name: v for f in fields(new) if (v := getattr(new, f.name)) is not None})


# Deltas handled further apart than this came by different reads: a read's deltas are handled back to
# back, within microseconds, and reads are a token's time apart at least (50 ms while paced).
BATCH_GAP_S = 0.002
# The rate of a run's end is taken over about this long before its last read mark (see
# `Meter.client_decode_tps`): long enough to hold a hundred tokens at ordinary rates, short enough that
# the slowing of decode as the context fills is what it sees of the end.
TAIL_RATE_S = 0.5


class Meter:
    """Feed it every event as it arrives; ask for `live_tps()` while streaming and `figures()` after."""

    def __init__(self, clock: Clock = time.perf_counter, window_s: float = 2.0) -> None:
        self._clock = clock
        self._window_s = window_s
        self._t0: float | None = None
        self._t_first: float | None = None
        self._t_first_answer: float | None = None
        self._t_last: float | None = None
        self._t_end: float | None = None
        self._deltas = 0
        self._reasoning_deltas = 0
        self._t_read: float | None = None  # when the read that brought the current batch of deltas came
        # Read marks (deltas by a read, and its time), the newest last: those of the last TAIL_RATE_S
        # and the one before them, for the rate of the run's end
        self._marks: deque[tuple[int, float]] = deque()
        self._recent: deque[float] = deque()
        self.server: ServerStats | None = None
        self.finish_reason: str | None = None

    def start(self) -> None:
        """Call when the request is sent."""
        self._t0 = self._clock()

    @property
    def tokens(self) -> int:
        return self._deltas

    def on_event(self, event: StreamEvent) -> None:
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        if isinstance(event, ReasoningDelta | ContentDelta):
            if not event.text:
                return
            if self._t_first is None:
                self._t_first = now
            if self._t_read is None or (self._t_last is not None and now - self._t_last > BATCH_GAP_S):
                # A new read (a batch's deltas are handled back to back): every delta before it had
                # arrived by the time the previous read was taken.
                if self._t_read is not None:
                    mark = (self._deltas, self._t_read)
                    marks = self._marks
                    marks.append(mark)
                    while len(marks) > 2 and marks[1][1] <= mark[1] - TAIL_RATE_S:
                        marks.popleft()
                self._t_read = now
            if isinstance(event, ContentDelta):
                if self._t_first_answer is None:
                    self._t_first_answer = now
            else:
                self._reasoning_deltas += 1
            self._t_last = now
            self._deltas += 1
            self._recent.append(now)
            cutoff = now - self._window_s
            while self._recent and self._recent[0] < cutoff:
                self._recent.popleft()
        elif isinstance(event, ServerStats):
            self.server = merge_stats(self.server, event)
        elif isinstance(event, Finished):
            self.finish_reason = event.reason
            self._t_end = now

    def stop(self) -> None:
        """Call when the stream ended for any reason (the end time of a failed run)."""
        if self._t_end is None:
            self._t_end = self._clock()

    def elapsed(self) -> float:
        if self._t0 is None:
            return 0.0
        end = self._t_end if self._t_end is not None else self._clock()
        return end - self._t0

    def live_tps(self) -> float | None:
        """Rolling decode rate over the last `window_s` seconds; None before two tokens."""
        now = self._clock()
        cutoff = now - self._window_s
        while self._recent and self._recent[0] < cutoff:
            self._recent.popleft()
        if len(self._recent) < 2:
            return None
        # The rate across the window that ends now, so a stall shows as a falling rate.
        span = now - self._recent[0]
        return (len(self._recent) - 1) / span if span > 0 else None

    def live(self) -> LiveFigures:
        """What the meter knows now, frozen: the live panel reads this, never the meter."""
        f = self.figures()
        return LiveFigures(
            tps=self.live_tps(),
            ttft_s=f.ttft_s,
            prompt_tps=f.prompt_tps,
            completion_tokens=f.completion_tokens,
            reasoning_tokens=f.reasoning_tokens,
            elapsed_s=self.elapsed(),
        )

    def client_decode_tps(self, tokens: int | None = None) -> float | None:
        """Tokens after the first, over the time from the first token to the last.

        A paced reader (framing.decode) takes the tokens of an interval in one read, so the last read
        comes up to an interval after the stream ended: the time from first to last read ran long by
        that much (0.6-2 % of a 256-token run at 50 ms). The read before it is exact (every token
        counted by then had arrived by its time), but ending there leaves out the run's last interval,
        where decode is slowest (it slows as the context fills). So the span ends at that read, plus
        the time the tokens after it took at the rate of the last TAIL_RATE_S before it: over 256-token
        runs read at 250 ms (the calm TUI's pace) the client's rate went from +2.2 to +1.7 % of the
        server's on average over 8 runs; at 50 ms it stayed at +0.7 % (benchmarks/fidelity.py). The
        server's count (`tokens`) scales the deltas counted, where a delta may hold several tokens."""
        n = tokens if tokens is not None else self._deltas
        if self._t_first is None or self._t_last is None or n < 2:
            return None
        mark = self._marks[-1] if self._marks else None
        if mark is None or mark[0] < 2 or mark[1] <= self._t_first or not self._deltas:
            span = self._t_last - self._t_first
            return (n - 1) / span if span > 0 else None
        scale = n / self._deltas
        counted, t = mark[0] * scale, mark[1]
        c0, t0 = 1.0, self._t_first  # the rate since the first token, unless the run is long enough
        if (older := self._marks[0]) is not mark and older[1] <= t - TAIL_RATE_S:
            c0, t0 = older[0] * scale, older[1]
        rate = (counted - c0) / (t - t0)
        if rate <= 0:
            return (counted - 1) / (t - self._t_first)
        end = min(t + (n - counted) / rate, max(self._t_last, t))  # not after the last token was read
        return (n - 1) / (end - self._t_first)

    def figures(self) -> Figures:
        s = self.server or ServerStats()
        ttft_client = None if self._t_first is None or self._t0 is None else self._t_first - self._t0
        ttft_answer = None if self._t_first_answer is None or self._t0 is None else self._t_first_answer - self._t0
        # The server's token count is exact; the client counts deltas (a final burst can hold several).
        client_tps = self.client_decode_tps(s.completion_tokens)
        completion = s.completion_tokens if s.completion_tokens is not None else (self._deltas or None)
        reasoning = s.reasoning_tokens
        return Figures(
            ttft_s=s.ttft_s if s.ttft_s is not None else ttft_client,
            ttft_client_s=ttft_client,
            ttft_answer_s=ttft_answer,
            prompt_tokens=s.prompt_tokens,
            completion_tokens=completion,
            reasoning_tokens=reasoning,
            prompt_tps=s.prompt_tps,
            decode_tps=s.decode_tps if s.decode_tps is not None else client_tps,
            decode_tps_client=client_tps,
            load_s=s.load_s,
            total_s=self.elapsed() if self._t0 is not None else None,
            stats_source="server" if s.decode_tps is not None else "client",
            finish_reason=self.finish_reason,
            deltas=self._deltas,
        )
