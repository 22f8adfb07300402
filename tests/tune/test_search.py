"""The tuner's search on synthetic curves (no server): it finds the best, says when settings do not
differ, skips failed loads, keeps to its budget and never counts a warm-up."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from backends.runs.tune import Run, Sample, Search, StartHint, default_budget, search
from backends.runs.tune_driver import parse_values
from backends.runs.tune_stats import pooled_cv, robust_cv, t_cdf, t_ppf
from tests.fakes.speed import SpeedModel

Measure = Callable[[int, bool], Sample]


def noisy(speed: SpeedModel) -> Measure:
    def measure(value: int, warmup: bool) -> Sample:
        if speed.refuses(value):
            return Sample(None, ok=False, error="load refused")
        return Sample(speed.draw(value) * (0.7 if warmup else 1.0))

    return measure


@pytest.mark.parametrize("seed", range(5))
def test_finds_an_interior_peak_below_the_maximum(seed: int) -> None:
    speed = SpeedModel(fit=20, peak=14, decline=0.05, noise=0.02, seed=seed)
    out = search(noisy(speed), range(25), hint=StartHint(20))
    assert out.best == 14
    assert out.runs <= default_budget(25, 3)


@pytest.mark.parametrize("seed", range(5))
def test_finds_the_last_setting_before_a_cliff_of_refused_loads(seed: int) -> None:
    speed = SpeedModel(fit=18, peak=18, refuse_past_fit=True, noise=0.02, seed=seed)
    out = search(noisy(speed), range(25), hint=StartHint(None))
    assert out.best == 18
    refused = [s for s in out.settings if s.failures]
    assert refused and all(s.value > 18 and s.n == 0 for s in refused)


def test_a_spill_past_the_fit_boundary_is_found_and_avoided() -> None:
    # The Radeon shape: everything fits and the last layer is worth most; one more would spill.
    speed = SpeedModel(layers=24, fit=24, peak=24, cpu_tps=40, top_tps=122, noise=0.02, seed=3)
    out = search(noisy(speed), range(25), hint=StartHint(24))
    assert out.best == 24
    assert out.stopped == "confident"


@pytest.mark.parametrize("seed", range(5))
def test_a_flat_curve_has_no_winner(seed: int) -> None:
    rng = random.Random(seed)
    out = search(lambda v, w: Sample(100 * rng.gauss(1, 0.05)), range(25), hint=StartHint(None))
    assert out.stopped == "no_difference"
    assert out.best is None
    assert out.runs < out.grid_runs / 3


def test_warm_ups_are_run_after_each_load_and_never_counted() -> None:
    seen: list[tuple[int, bool]] = []

    def measure(value: int, warmup: bool) -> Sample:
        seen.append((value, warmup))
        return Sample(1.0 if warmup else 50.0 + value)  # a warm-up this slow would sink any mean

    out = search(measure, [0, 4, 8], repeat=2, budget=9)
    assert all(seen[i][1] for i in range(len(seen)) if i == 0 or seen[i - 1][0] != seen[i][0])
    for s in out.settings:
        assert all(r >= 50 for r in s.rates)
        assert s.warmups >= 1


def test_budget_is_never_exceeded_and_says_so() -> None:
    rng = random.Random(1)
    # Two near-equal settings: never confident, so only the budget ends it.
    out = search(lambda v, w: Sample((100 if v < 2 else 50) * rng.gauss(1, 0.05)), range(4), budget=14)
    assert out.runs <= 14
    assert out.stopped == "budget"
    assert out.best in (0, 1)


def test_a_failed_run_is_recorded_and_the_search_goes_on() -> None:
    s = Search(range(5), hint=StartHint(4), repeat=2, budget=30)
    run = s.next_run()
    assert run == Run(4, True)
    s.observe(run, Sample(None, ok=False, error="out of memory"))
    nxt = s.next_run()
    assert nxt is not None and nxt.value < 4  # never 4 again, nor anything above it
    assert s.settings[4].failures == 1
    assert s.settings[4].error == "out of memory"


def test_n_cpu_moe_runs_the_other_way() -> None:
    # Fewer blocks with experts on the CPU is more on the GPU; past the fit (below 6) loads fail.
    def measure(value: int, warmup: bool) -> Sample:
        return Sample(None, ok=False) if value < 6 else Sample(200.0 - 5 * value + random.Random(value).random())

    out = search(measure, range(25), gpu_ascending=False, hint=StartHint(6))
    assert out.best == 6


def test_every_load_failing_gives_no_winner() -> None:
    out = search(lambda v, w: Sample(None, ok=False), range(10), hint=StartHint(5))
    assert out.best is None
    assert out.stopped == "budget"


def test_default_budget_is_three_eighths_of_the_grid() -> None:
    assert default_budget(25, 3) == 38  # a full grid of 0..24 at 3 repeats with warm-ups is 100
    assert default_budget(3, 3) == 12  # a small space is measured in full


@pytest.mark.parametrize(("text", "values"), [("0:4", (0, 1, 2, 3, 4)), ("20,12, 16", (12, 16, 20)), (" 3:4 ", (3, 4))])
def test_values_are_ranges_or_lists(text: str, values: tuple[int, ...]) -> None:
    assert parse_values(text) == values


@pytest.mark.parametrize(
    ("text", "message"),
    [("4:2", "LO must not be above HI"), ("a:b", "not LO:HI"), ("7", "at least two"), ("-1:3", "negative")],
)
def test_bad_values_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_values(text)


@pytest.mark.parametrize(("df", "exact"), [(2, 4.303), (4, 2.776), (10, 2.228), (60, 2.000)])
def test_t_quantiles_match_the_tables(df: int, exact: float) -> None:
    assert t_ppf(0.975, df) == pytest.approx(exact, rel=0.01)
    assert t_cdf(exact, df) == pytest.approx(0.975, abs=0.002)


def test_noise_is_pooled_relative_to_each_mean() -> None:
    cv, df = pooled_cv([[9.0, 11.0], [90.0, 110.0], [5.0]])
    assert df == 2
    assert cv == pytest.approx((2**0.5) / 10)


def test_a_run_slowed_by_another_process_is_set_apart_not_averaged_in() -> None:
    speed = SpeedModel(fit=20, peak=14, decline=0.05, noise=0.02, seed=4)
    hit = {"n": 0}

    def measure(value: int, warmup: bool) -> Sample:
        rate = speed.draw(value)
        if value == 14 and not warmup:
            hit["n"] += 1
            if hit["n"] == 2:
                return Sample(rate * 0.3)  # a busy machine, once, at the best setting
        return Sample(rate)

    out = search(measure, range(25), hint=StartHint(20))
    best = next(s for s in out.settings if s.value == 14)
    assert out.best == 14
    assert len(best.slow) == 1 and best.slow[0] < 0.5 * (best.mean or 0)


def test_robust_noise_ignores_one_wild_run() -> None:
    groups = [[100.0, 102.0, 98.0], [50.0, 51.0, 10.0], [200.0, 204.0]]
    robust, df = robust_cv(groups)
    classic, _ = pooled_cv(groups)
    assert df == 5
    assert robust is not None and classic is not None
    assert robust < 0.05 < classic
