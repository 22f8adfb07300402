"""The observer benchmark's method: every client run is set against the bare runs right beside it.

The host's speed drifts within a minute, so a ratio to one bare run per round carried that drift
whole (benchmarks/observer.py). These check the order of a round's runs and the ratios drawn from it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from benchmarks.observer import bracketed, median_interval, neighbour_ratios, pooled_rows, summarise, verdict


def rows_of(runs: list[tuple[int, str, float]]) -> list[dict[str, Any]]:
    return [
        {"round": rnd, "case": "decode", "client": client, "decode_tps": rate, "cpu_s": 0.1, "tokens": 9, "prompt_n": 5}
        for rnd, client, rate in runs
    ]


def test_a_round_puts_a_bare_run_on_both_sides_of_every_client_run() -> None:
    assert bracketed(["tui120", "tui80"]) == ["bare", "tui120", "bare", "tui80", "bare"]
    assert bracketed([]) == ["bare"]


def test_a_run_is_measured_against_the_mean_of_its_neighbouring_bare_runs() -> None:
    # The host slows down through the round: each client lost exactly 5 % against the bare runs beside it.
    rows = rows_of([(0, "bare", 100.0), (0, "tui120", 99.75), (0, "bare", 110.0), (0, "tui80", 109.25),
                    (0, "bare", 120.0)])  # fmt: skip
    ratios = {(r["client"], r["decode_tps"]): round(x, 4) for r, x in neighbour_ratios(rows, "decode", "decode_tps")}
    assert ratios[("tui120", 99.75)] == 0.95
    assert ratios[("tui80", 109.25)] == 0.95
    # A bare run against the bare runs beside it: the edges have one neighbour, the middle two.
    assert ratios[("bare", 100.0)] == round(100 / 110, 4)
    assert ratios[("bare", 110.0)] == 1.0
    assert ratios[("bare", 120.0)] == round(120 / 110, 4)
    summary = {s["client"]: s for s in summarise(rows, ["bare", "tui120", "tui80"], ["decode"])}
    assert round(summary["tui120"]["ratio_median"], 4) == 0.95
    assert round(summary["tui80"]["ratio_median"], 4) == 0.95  # against the round's first bare run: 1.09


def test_neighbours_never_come_from_another_round_or_another_case() -> None:
    rows = rows_of([(0, "bare", 100.0), (0, "tui120", 95.0), (1, "tui120", 10.0), (1, "bare", 50.0)])
    rows.insert(2, {"round": 0, "case": "prefill", "client": "bare", "prompt_tps": 1.0, "cpu_s": 0.1,
                    "tokens": 1, "prompt_n": 1})  # fmt: skip
    ratios = [
        (r["round"], round(x, 4)) for r, x in neighbour_ratios(rows, "decode", "decode_tps") if r["client"] != "bare"
    ]
    assert ratios == [(0, 0.95), (1, 0.2)]


def test_the_median_comes_with_an_interval_that_narrows_as_runs_are_added() -> None:
    rng = random.Random(1)
    few = [rng.gauss(0.985, 0.05) for _ in range(12)]
    many = few + [rng.gauss(0.985, 0.05) for _ in range(60)]
    lo, hi = median_interval(few)
    assert lo < sorted(few)[6] <= hi or lo <= sorted(few)[5] < hi  # the median lies inside
    assert (lo, hi) == median_interval(few)  # the same rows, the same interval
    lo2, hi2 = median_interval(many)
    assert hi2 - lo2 < 0.6 * (hi - lo)
    assert median_interval([1.0]) == (1.0, 1.0)


def test_a_goal_is_met_or_missed_only_where_the_whole_interval_says_so() -> None:
    assert verdict(0.99, 1.02, 0.98) == "OK"
    assert verdict(0.95, 0.975, 0.98) == "MISS"
    assert verdict(0.96, 1.01, 0.98) == "noise"
    assert verdict(0.99, 1.0, None) == ""
    # Twelve rounds scattered like this host's (sd 5 %) around 0.985 cannot tell a 0.98 goal
    rng = random.Random(7)
    assert verdict(*median_interval([rng.gauss(0.985, 0.05) for _ in range(12)]), 0.98) == "noise"


def test_pooled_runs_keep_each_files_rounds_apart(tmp_path: Path) -> None:
    # Two runs of the benchmark, each one round long (the second cut short before its first bare run):
    # pooled, its client run must not take the first file's last bare run, of a round 0 as well, for
    # a neighbour.
    first = rows_of([(0, "bare", 100.0), (0, "tui120", 95.0), (0, "bare", 100.0)])
    second = rows_of([(0, "tui120", 49.0), (0, "bare", 50.0)])
    paths = []
    for i, rows in enumerate((first, second)):
        path = tmp_path / f"run{i}.json"
        path.write_text(json.dumps({"rows": rows}))
        paths.append(str(path))
    pooled = pooled_rows(paths)
    ratios = sorted(round(x, 3) for r, x in neighbour_ratios(pooled, "decode", "decode_tps") if r["client"] != "bare")
    assert ratios == [0.95, 0.98]
    summary = {s["client"]: s for s in summarise(pooled, ["bare", "tui120"], ["decode"])}
    assert summary["tui120"]["runs"] == 2 and summary["tui120"]["ratio_lo"] <= 0.95
