"""The tuner's search: which value of one offload setting gives the fastest decode, by measurement.

A pure core, with no server in it: `Search` hands out runs (`next_run`) and is told what each gave
(`observe`); `search(measure, ...)` runs that loop over a plain callable, which is how the benchmark
drives it on synthetic curves and how the driver (`backends.runs.tune_driver`) drives it on servers.

Settings are kept in GPU order: index 0 puts the least on the GPU (gpu_layers 0, or n_cpu_moe = all
blocks), the last index the most. The plan:

1. Anchors. With a fit prediction: the setting with the most on the GPU that still fits, the first
   one past it (where spilling begins) and one halfway down; without: five points across the range.
2. Whenever three or more settings measured so far all lie within each other's noise, measure the
   two ends; if they too agree the settings do not differ: stop `no_difference`, with no winner.
   Where the server says what it loaded (`Sample.placement`: the bytes it put on the GPU and in host
   memory) and the two ends loaded the very same, every setting between is the same load too — a
   CPU-only server ignores the offload — and the search stops `no_difference` at once, whatever the
   rates (`Outcome.same_load`): a difference between identical loads is the machine's drift.
3. Walk where the curve rises: the best setting so far is bracketed by its nearest neighbours tried
   and the untried settings between are probed — towards the GPU first where the neighbour failed
   to load or there is none, else nearer the best on the side of the faster neighbour — until both
   neighbours of the best are adjacent to it (or refused to load). A visit is cut short once its
   runs are clearly behind the best's: repeats go where settings are close.
4. Stop `confident` when the best's confidence interval clears the runner-up's and the machine's
   load-to-load drift has been measured (below); else spend repeats on the best and the settings
   whose intervals overlap it, fewest runs first.
5. Stop `budget` when the next visit no longer fits in the budget (`no_difference` if by then every
   setting tried, the ends included, is within the others' noise). Budget counts every run: warm-ups
   (the first run after each load, not counted in the means) and failed loads included.

Two kinds of noise. Runs of one load scatter around that load's speed (the pooled run-to-run noise);
and a machine can run the same setting at a different speed after each server start: clocks, memory
placement, a shared or thermally limited CPU (10-15 % on a shared 2-core VM). Settings are measured
one load after another, so that drift looks like a difference between settings however tight each
load's runs are. It is measured by loading a setting a second time, and every interval widens by it:
before a winner is called `confident`, the best (or, when the best is loaded now, the runner-up) is
loaded again unless some setting already was. If the second load disagrees with the first, the
settings drift apart by themselves and the search goes on, or ends `no_difference`.

A load that fails is recorded and skipped; settings that put even more on the GPU are not tried.
A run far slower than its setting's others (another process took the machine: interference only
ever slows a run) is set apart from the statistics and reported (`Setting.slow`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from backends.runs.tune_stats import confidence_better, half_width, pooled_cv, robust_cv

STOP_REASONS = ("confident", "no_difference", "budget")
MIN_DF = 2  # degrees of freedom of the pooled noise before any interval is trusted
SLOW_SDS = 5.0  # a run this many robust noise sds below its setting's median was slowed by something else
SLOW_MIN = 0.15  # ... and at least this much below it


@dataclass(frozen=True)
class StartHint:
    """Where a fit prediction points: the value with the most on the GPU that still fits (None: unknown)."""

    max_fit: int | None = None
    source: str = ""  # what the prediction came from, for the report


@dataclass(frozen=True)
class Sample:
    """What one run gave: a decode rate, or a failure (the load was refused, the run broke)."""

    rate: float | None
    ok: bool = True
    record: Any = None  # the driver's RunRecord; the core never looks inside
    error: str | None = None
    placement: Any = None  # what the server says it loaded where (hashable), None: it does not say


@dataclass(frozen=True)
class Run:
    value: int
    warmup: bool


@dataclass
class Setting:
    value: int
    rates: list[float] = field(default_factory=list)
    warmups: int = 0
    failures: int = 0
    records: list[Any] = field(default_factory=list)
    error: str | None = None

    slow: list[float] = field(default_factory=list)  # runs set apart as slowed by something else (see `keep`)
    loads: list[int] = field(default_factory=list)  # the load each of `rates` ran in (the search's count)
    placement: Any = None  # what the server loaded for this setting (the last run that said)
    slow_loads: list[int] = field(default_factory=list)  # ... and each of `slow`

    @property
    def n(self) -> int:
        return len(self.rates)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.rates) if self.rates else None

    @property
    def sd(self) -> float | None:
        return statistics.stdev(self.rates) if len(self.rates) > 1 else None

    @property
    def n_loads(self) -> int:
        return len(set(self.loads))

    def load_means(self) -> list[tuple[float, int]]:
        """(mean rate, runs) of each load this setting's counted runs came from."""
        by: dict[int, list[float]] = {}
        for load, x in zip(self.loads, self.rates, strict=True):
            by.setdefault(load, []).append(x)
        return [(statistics.fmean(xs), len(xs)) for xs in by.values()]

    def keep(self, cv: float | None) -> None:
        """Set apart the runs far slower than the others of their load — more than SLOW_SDS robust
        noise sds below its median (of two runs, the faster): another process took the machine.
        Interference only ever slows a run, so a run far above the others is never set apart; a whole
        load slower than another is drift, not interference, and stays in (see the module docstring)."""
        if cv is None:
            return
        every = list(zip(self.loads + self.slow_loads, self.rates + self.slow, strict=True))
        kept: list[tuple[int, float]] = []
        apart: list[tuple[int, float]] = []
        for load in dict.fromkeys(lo for lo, _ in every):
            xs = [x for lo, x in every if lo == load]
            ref = statistics.median(xs) if len(xs) >= 3 else max(xs)
            floor = ref * (1 - max(SLOW_SDS * cv, SLOW_MIN))
            kept += [(load, x) for x in xs if x >= floor]
            apart += [(load, x) for x in xs if x < floor]
        self.loads, self.rates = [lo for lo, _ in kept], [x for _, x in kept]
        self.slow_loads, self.slow = [lo for lo, _ in apart], [x for _, x in apart]


@dataclass(frozen=True)
class Outcome:
    """The answer: the winner (None when the settings do not differ), why the search stopped, the evidence."""

    best: int | None
    stopped: str
    runner_up: int | None
    margin: float | None  # best mean − runner-up mean, tok/s
    confidence: float | None  # P(best is faster than the runner-up), from the pooled noise
    cv: float | None  # pooled run-to-run noise, relative
    drift: float | None  # load-to-load drift, relative sd (None: no setting was loaded twice)
    settings: list[Setting]  # in the order given
    runs: int  # every run made, warm-ups and failures included
    grid_runs: int  # what a full grid at the same repeats would take, warm-ups included
    history: list[tuple[int, bool, float | None]]  # (value, warm-up, rate) in run order
    same_load: bool = False  # no_difference because the ends loaded the very same (see `Sample.placement`)


# A winner must be faster than the runner-up by at least this share as well as beyond the noise: a
# machine's own drift between two server starts (memory placement, clocks) can be consistent within a
# setting's few runs and still mean nothing to the user choosing a setting.
MIN_GAIN = 0.02


def _gains(best: Setting, other: Setting) -> bool:
    return best.mean is not None and other.mean is not None and best.mean >= other.mean * (1 + MIN_GAIN)


class Search:
    """Plans runs one at a time; see the module docstring for the plan."""

    def __init__(
        self,
        values: Sequence[int],
        *,
        gpu_ascending: bool = True,
        hint: StartHint | None = None,
        repeat: int = 3,
        budget: int | None = None,
        level: float = 0.95,
    ) -> None:
        if len(set(values)) < 2:
            raise ValueError("the tuner needs at least two different values")
        if repeat < 1:
            raise ValueError("repeat must be 1 or more")
        self.order = sorted(set(values), reverse=not gpu_ascending)  # index 0: least on the GPU
        self.settings = {v: Setting(v) for v in sorted(set(values))}
        self.repeat, self.level = repeat, level
        self._wide = level  # "clearly behind", and a visit is cut short: its interval is below the best's
        self.grid_runs = len(self.order) * (repeat + 1)
        self.budget = budget if budget is not None else default_budget(len(self.order), repeat)
        self.hint = hint or StartHint()
        self.spent = 0
        self.loaded: int | None = None  # the value the last run used (a load keeps until it changes)
        self.load_no = 0  # loads so far (every warm-up starts one)
        self.queue: list[Run] = []
        self.pruned: set[int] = set()  # indices not worth a load: more on the GPU than one that failed
        self.anchors = self._anchors()
        self.history: list[tuple[int, bool, float | None]] = []
        self.stopped: str | None = None

    # -- the loop ------------------------------------------------------------------------------------

    def next_run(self) -> Run | None:
        """The next run to make, or None when the search has stopped (`stopped` says why)."""
        if self.stopped is not None:
            return None
        if not self.queue:
            self._plan()
        if not self.queue:
            return None
        return self.queue.pop(0)

    def observe(self, run: Run, result: Sample | float | None) -> None:
        s = result if isinstance(result, Sample) else Sample(result, ok=result is not None)
        st = self.settings[run.value]
        self.spent += 1
        self.history.append((run.value, run.warmup, s.rate if s.ok else None))
        if s.record is not None:
            st.records.append(s.record)
        if not s.ok or s.rate is None or s.rate <= 0:
            st.failures += 1
            st.error = s.error or st.error or "the run failed"
            self.loaded = None
            self.queue = [r for r in self.queue if r.value != run.value]
            if not st.rates:  # never worked: skip it, and everything that needs even more memory
                idx = self.order.index(run.value)
                self.pruned.update(range(idx, len(self.order)))
            return
        self.loaded = run.value
        if s.placement is not None:
            st.placement = s.placement
        if run.warmup:
            st.warmups += 1
            self.load_no += 1
            return
        st.rates.append(s.rate)
        st.loads.append(self.load_no)
        robust, rdf = robust_cv([x.rates + x.slow for x in self.settings.values()])
        for x in self.settings.values():
            x.keep(robust if rdf >= 6 else None)
        if self.queue and self._clearly_behind(st):
            self.queue = []  # no contender: its repeats are better spent where settings are close

    def _clearly_behind(self, st: Setting) -> bool:
        ok = self._ranked()
        if not ok or ok[0] is st:
            return False
        mine, top = self.interval(st, self._wide), self.interval(ok[0], self._wide)
        return mine is not None and top is not None and mine[1] < top[0]

    def outcome(self) -> Outcome:
        ok = self._ranked()
        cv, df = self._noise()
        best = ok[0] if ok and self.stopped != "no_difference" else None
        runner = ok[1] if len(ok) > 1 else None
        margin = conf = None
        drift, drift_df = self._drift(cv)
        if best is not None and runner is not None and best.mean is not None and runner.mean is not None:
            margin = best.mean - runner.mean
            if cv is not None and df >= MIN_DF:
                conf = confidence_better(best.mean, best.n, runner.mean, runner.n, cv, df,
                                         drift, best.n_loads, runner.n_loads)  # fmt: skip
        return Outcome(
            best=best.value if best else None,
            stopped=self.stopped or "budget",
            runner_up=runner.value if runner and best else None,
            margin=margin,
            confidence=conf,
            cv=cv,
            drift=drift if drift_df else None,
            settings=list(self.settings.values()),
            runs=self.spent,
            grid_runs=self.grid_runs,
            history=list(self.history),
            same_load=self.stopped == "no_difference" and self._ends_load_the_same(),
        )

    def interval(self, s: Setting, level: float | None = None) -> tuple[float, float] | None:
        """The setting's confidence interval of the mean decode rate, from the pooled noise."""
        cv, df = self._noise()
        if s.mean is None or cv is None or df < MIN_DF:
            return None
        h = half_width(s.mean, s.n, cv, df, level or self.level, self._drift(cv)[0], s.n_loads)
        return s.mean - h, s.mean + h

    def _reloaded(self) -> bool:
        """Some setting's runs came from two loads or more: the drift between loads is measured."""
        return any(s.n_loads > 1 for s in self.settings.values())

    def _drift(self, cv: float | None) -> tuple[float, int]:
        """(load-to-load drift, relative sd; its degrees of freedom) from the settings loaded twice or
        more: how far their loads' means scatter beyond what their runs' own noise (`cv`, the pooled
        run-to-run noise) explains. (0.0, 0) while no setting was loaded twice."""
        num = den = 0.0
        df = 0
        for s in self.settings.values():
            means = s.load_means()
            if len(means) < 2:
                continue
            centre = statistics.fmean(m for m, _ in means)
            between = statistics.variance([m / centre for m, _ in means])
            within = (cv or 0.0) ** 2 * statistics.fmean(1 / k for _, k in means)
            num += (len(means) - 1) * between
            den += (len(means) - 1) * within
            df += len(means) - 1
        # The method-of-moments estimate, kept at zero when the loads agree within their runs' noise.
        return (math.sqrt(max(0.0, num - den) / df), df) if df else (0.0, 0)

    # -- planning ------------------------------------------------------------------------------------

    def _anchors(self) -> list[int]:
        last = len(self.order) - 1
        h = self._hint_index()
        if h is None:
            picks = [round(last * f) for f in (1.0, 0.5, 0.0, 0.75, 0.25)]
        else:
            picks = [h, h + 1, h // 2] if h < last else [h, h // 2]
        return [i for i in dict.fromkeys(picks) if 0 <= i <= last]

    def _hint_index(self) -> int | None:
        """The index of the hinted value, or of the nearest one with less on the GPU."""
        h = self.hint.max_fit
        if h is None:
            return None
        up = self.order[0] < self.order[-1]
        fits = [i for i, v in enumerate(self.order) if (v <= h if up else v >= h)]
        return max(fits) if fits else 0

    def _plan(self) -> None:
        ok = self._ranked()
        if self._ends_load_the_same():
            return self._stop("no_difference")
        if len(ok) >= 3 and self._all_within_noise(ok):
            end = next((i for i in (0, len(self.order) - 1) if self._visitable(i)), None)
            return self._visit(end) if end is not None else self._stop("no_difference")
        while self.anchors:
            i = self.anchors.pop(0)
            if self._visitable(i):
                return self._visit(i)
        if not ok:
            rest = [i for i in range(len(self.order)) if self._visitable(i)]
            return self._visit(rest[-1]) if rest else self._stop("budget")
        gap = self._gap_to_probe(ok[0])
        if gap is not None:
            return self._visit(gap)
        if self._clears(ok):
            if self._reloaded() or len(ok) < 2:
                return self._stop("confident")
            return self._confirm(ok)
        return self._exploit(ok)

    def _confirm(self, ok: list[Setting]) -> None:
        """Load the best again (the runner-up when the best is loaded now, so that a visit is always a
        new load): the drift between the two loads is what the win must clear."""
        target = ok[1] if self.loaded == ok[0].value else ok[0]
        if self.budget - self.spent < 2:
            return self._stop("budget")
        self._visit(self.order.index(target.value), runs=self.repeat)

    def _visit(self, idx: int, runs: int | None = None) -> None:
        value = self.order[idx]
        warm = self.loaded != value
        left = self.budget - self.spent - (1 if warm else 0)
        n = min(runs or self.repeat, left)
        if n < 1:
            return self._stop("budget")
        self.queue = ([Run(value, True)] if warm else []) + [Run(value, False)] * n

    def _stop(self, why: str) -> None:
        if why == "budget" and self._flat_at_the_end():
            why = "no_difference"
        self.stopped = why
        self.queue = []

    def _flat_at_the_end(self) -> bool:
        """Out of budget with every setting tried, the ends included, still within the others' noise."""
        ok = self._ranked()
        ends_done = not any(self._visitable(i) for i in (0, len(self.order) - 1))
        return len(ok) >= 2 and ends_done and self._all_within_noise(ok)

    def _ends_load_the_same(self) -> bool:
        """Both ends measured, and every setting measured loaded the very same bytes in the same places."""
        ends = [self.settings[self.order[i]] for i in (0, len(self.order) - 1)]
        seen = {s.placement for s in self.settings.values() if s.n > 0}
        return all(e.n > 0 and e.placement is not None for e in ends) and len(seen) == 1

    def _visitable(self, idx: int) -> bool:
        st = self.settings[self.order[idx]]
        return idx not in self.pruned and st.n == 0 and st.failures == 0

    def _ranked(self) -> list[Setting]:
        ok = [s for s in self.settings.values() if s.n > 0]
        return sorted(ok, key=lambda s: -(s.mean or 0.0))

    def _noise(self) -> tuple[float | None, int]:
        return pooled_cv([s.rates for s in self.settings.values()])

    def _all_within_noise(self, ok: list[Setting]) -> bool:
        """No setting's interval clears another's, or the fastest gains less than MIN_GAIN over the
        slowest: the curve so far is flat."""
        top = self.interval(ok[0])
        low = self.interval(ok[-1])
        return top is not None and low is not None and (top[0] <= low[1] or not _gains(ok[0], ok[-1]))

    def _clears(self, ok: list[Setting]) -> bool:
        if len(ok) < 2:
            return len(ok) == 1 and all(not self._visitable(i) for i in range(len(self.order)))
        a, b = self.interval(ok[0]), self.interval(ok[1])
        return a is not None and b is not None and a[0] > b[1] and _gains(ok[0], ok[1])

    def _gap_to_probe(self, best: Setting) -> int | None:
        """An unmeasured setting between the best and its neighbours, where the peak may be.

        A neighbour is the nearest setting tried. Towards the GPU, a side whose neighbour failed to
        load, or that has none, may still rise: it goes first, probed halfway to find where the loads
        start to fail. A side with a measured neighbour is probed nearer the best (golden section),
        the side with the faster neighbour first. An open side away from the GPU goes last: less on
        the GPU is rarely faster than the slowest setting measured.
        """
        b = self.order.index(best.value)
        known = [i for i in range(len(self.order)) if not self._visitable(i)]
        left = max((i for i in known if i < b), default=None)
        right = min((i for i in known if i > b), default=None)
        sides = []
        for nb, open_end, gpu_ward in ((left, -1, False), (right, len(self.order), True)):
            end = nb if nb is not None else open_end
            free = [i for i in range(min(b, end) + 1, max(b, end)) if self._visitable(i)]
            if not free:
                continue
            near = free[::-1] if end < b else free  # nearest the best first
            nb_mean = self.settings[self.order[nb]].mean if nb is not None else None
            if nb_mean is None:  # open, or bounded by a failed load: promising towards the GPU only
                sides.append((math.inf if gpu_ward else -1.0, gpu_ward, near[len(near) // 2]))
            else:
                sides.append((nb_mean, gpu_ward, near[min(len(near) - 1, round(0.38 * len(near)))]))
        return max(sides)[2] if sides else None

    def _exploit(self, ok: list[Setting]) -> None:
        """More runs where the best and a close runner-up cannot yet be told apart."""
        top = self.interval(ok[0])
        close = [s for s in ok[1:] if top is None or (iv := self.interval(s)) is None or iv[1] >= top[0]]
        pair = [ok[0], *close[:1]] if close else ok[:2]
        # Fewest runs first; on a tie, the one loaded now (no warm-up), then the better one. While no
        # setting was loaded twice, more runs of the load at hand cannot tell drift from a difference:
        # the one not loaded now goes first.
        fresh = not self._reloaded()
        target = min(pair, key=lambda s: (fresh and s.value == self.loaded, s.n, s.value != self.loaded,
                                          -(s.mean or 0.0)))  # fmt: skip
        warm = self.loaded != target.value
        if self.budget - self.spent < (2 if warm else 1):
            return self._stop("budget")
        self._visit(self.order.index(target.value), runs=self.repeat)


def default_budget(n_values: int, repeat: int) -> int:
    """Three eighths of a full grid at these repeats (warm-ups included), but never under three
    settings' worth and a second load of one of them (see `_confirm`)."""
    per = repeat + 1
    return max((min(n_values, 3) + 1) * per, math.ceil(n_values * per * 3 / 8))


def search(
    measure: Callable[[int, bool], Sample | float | None],
    values: Sequence[int],
    *,
    gpu_ascending: bool = True,
    hint: StartHint | None = None,
    repeat: int = 3,
    budget: int | None = None,
    on_run: Callable[[Search, Run, Sample | float | None], None] | None = None,
) -> Outcome:
    """Run the search with `measure(value, warmup)`; returns the outcome."""
    s = Search(values, gpu_ascending=gpu_ascending, hint=hint, repeat=repeat, budget=budget)
    while (run := s.next_run()) is not None:
        result = measure(run.value, run.warmup)
        s.observe(run, result)
        if on_run is not None:
            on_run(s, run, result)
    return s.outcome()
