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
    assert default_budget(3, 3) == 16  # a small space is measured in full, and one setting loaded again


def drifting(rates: dict[int, float], loads: list[float], noise: float = 0.01, seed: int = 0) -> Measure:
    """Each load (every warm-up starts one) runs at its own speed, `loads[k]` for the k-th: a machine
    whose speed changes from one server start to the next; its runs scatter by `noise` around it."""
    rng = random.Random(seed)
    k = [-1]

    def measure(value: int, warmup: bool) -> Sample:
        if warmup:
            k[0] += 1
        return Sample(rates[value] * loads[k[0] % len(loads)] * rng.gauss(1, noise))

    return measure


def test_drift_between_loads_is_not_taken_for_a_winner() -> None:
    # The same speed at every setting; the first three loads happen to run 0 %, +12 % and -8 %:
    # within each load the runs agree to 1 %, so only a second load of one setting shows the drift.
    out = search(drifting(dict.fromkeys(range(3), 100.0), [1.0, 1.12, 0.92, 1.0, 1.05]), range(3), repeat=2)
    assert out.stopped == "no_difference" and out.best is None
    assert out.drift is not None and out.drift > 0.05
    assert max(s.warmups for s in out.settings) >= 2  # one setting was loaded again


def test_a_real_difference_survives_its_second_load() -> None:
    # 25 % apart, on a machine whose loads drift by 1-2 %: confident, after loading a setting again.
    rates = {0: 100.0, 1: 125.0, 2: 100.0}
    out = search(drifting(rates, [1.0, 0.99, 1.01, 1.02, 0.98]), range(3), repeat=2)
    assert out.best == 1 and out.stopped == "confident"
    assert max(s.warmups for s in out.settings) >= 2
    assert out.drift is not None and out.drift < 0.03


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


def placed(rates: dict[int, float], placement: Callable[[int], object]) -> Measure:
    rng = random.Random(3)
    return lambda v, w: Sample(rates[v] * rng.gauss(1, 0.01), placement=placement(v))


def test_settings_that_load_the_very_same_do_not_differ_whatever_the_rates() -> None:
    # A CPU-only server ignores -ngl: the same bytes in the same places at each end of the range, so a
    # 30 % gap in the rates is the machine, not the setting.
    rates = {v: 100.0 + 15 * v for v in range(5)}
    out = search(placed(rates, lambda v: (0, 9_225_329)), range(5), repeat=2)
    assert out.stopped == "no_difference" and out.best is None and out.same_load
    assert {s.value for s in out.settings if s.n} >= {0, 4}
    # Where the server says the loads differ, the same rates give a winner.
    out = search(placed(rates, lambda v: (v * 2**20, 9_225_329 - v * 2**20)), range(5), repeat=2)
    assert out.best == 4 and not out.same_load
