"""The statistics the tuner decides with: Student's t quantile and CDF, and per-setting intervals.

Run-to-run noise of a decode rate is close to proportional to the rate (the same relative jitter at
10 and at 100 tok/s), so the tuner pools the relative standard deviation (coefficient of variation)
over every setting that has two or more runs: one estimate with many degrees of freedom, usable even
for a setting measured once. Pure Python; no numpy or scipy needed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from statistics import NormalDist

_NORMAL = NormalDist()


def t_ppf(p: float, df: float) -> float:
    """Student's t quantile (Hill 1970, Comm. ACM 13(10) algorithm 396, the Cornish-Fisher series).

    Within 1 % of the exact value for df >= 2 at the usual confidence levels.
    """
    if df <= 0:
        return math.inf
    z = _NORMAL.inv_cdf(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def t_cdf(x: float, df: float) -> float:
    """P(T <= x) for Student's t with df degrees of freedom (Simpson's rule over the density)."""
    if df <= 0:
        return 0.5
    if x < 0:
        return 1.0 - t_cdf(-x, df)
    if x > 60:
        return 1.0
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    n = 400
    h = x / n
    total = 0.0
    for i in range(n + 1):
        w = 1 if i in (0, n) else (4 if i % 2 else 2)
        total += w * (1 + (i * h) ** 2 / df) ** (-(df + 1) / 2)
    return min(1.0, 0.5 + c * total * h / 3)


def pooled_cv(groups: Sequence[Sequence[float]]) -> tuple[float | None, int]:
    """(pooled coefficient of variation, its degrees of freedom) over groups with >= 2 positive values."""
    num, df = 0.0, 0
    for g in groups:
        if len(g) < 2:
            continue
        mean = statistics.fmean(g)
        if mean <= 0:
            continue
        num += (len(g) - 1) * (statistics.stdev(g) / mean) ** 2
        df += len(g) - 1
    if df == 0:
        return None, 0
    return math.sqrt(num / df), df


def robust_cv(groups: Sequence[Sequence[float]]) -> tuple[float | None, int]:
    """Like pooled_cv, from the median absolute deviation: a run slowed by another process barely moves it."""
    devs: list[float] = []
    df = 0
    for g in groups:
        if len(g) < 2:
            continue
        med = statistics.median(g)
        if med <= 0:
            continue
        d = sorted(abs(x / med - 1) for x in g)
        devs += d[1:] if len(g) % 2 else d  # the median's own zero says nothing
        df += len(g) - 1
    if df == 0 or not devs:
        return None, 0
    return max(1.4826 * statistics.median(devs), 1e-9), df


def _rel_var(n: int, cv: float, drift: float, loads: int) -> float:
    """Relative variance of a mean of n runs spread over `loads` loads: run noise cv, load drift."""
    return cv**2 / n + (drift**2 / loads if loads > 0 else 0.0)


def half_width(mean: float, n: int, cv: float, df: int, level: float = 0.95, drift: float = 0.0,
               loads: int = 1) -> float:  # fmt: skip
    """Half the `level` confidence interval of a mean of n runs over `loads` loads, noise cv × mean
    per run and drift × mean per load."""
    if n <= 0 or df <= 0:
        return math.inf
    return t_ppf(0.5 + level / 2, df) * mean * math.sqrt(_rel_var(n, cv, drift, loads))


def confidence_better(a_mean: float, a_n: int, b_mean: float, b_n: int, cv: float, df: int, drift: float = 0.0,
                      a_loads: int = 1, b_loads: int = 1) -> float:  # fmt: skip
    """P(a's true rate > b's), one-sided, from the pooled noise and drift: the winner's "confidence"."""
    se = math.sqrt(a_mean**2 * _rel_var(a_n, cv, drift, a_loads) + b_mean**2 * _rel_var(b_n, cv, drift, b_loads))
    if se <= 0:
        return 1.0 if a_mean > b_mean else 0.5
    return t_cdf((a_mean - b_mean) / se, df)
