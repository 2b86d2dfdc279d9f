"""Confidence intervals: bootstrap over test examples (one run), t-interval over seeds (a leaderboard row).

Pure functions on lists of floats; seeded, so the same numbers give the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

NEAR_ZERO = 1e-3
"""A metric whose |mean| is below this over a whole split scores nothing: eval warns, a board notes it."""


def bootstrap_ci(values: Sequence[float], num_resamples: int = 1000, confidence: float = 0.95,
                 seed: int = 0) -> dict[str, float | int | None]:
    """{mean, ci_low, ci_high, n}: percentile bootstrap of the mean. One value: the interval is the point.

    >>> bootstrap_ci([1.0, 1.0, 1.0])
    {'mean': 1.0, 'ci_low': 1.0, 'ci_high': 1.0, 'n': 3}
    >>> bootstrap_ci([])
    {'mean': None, 'ci_low': None, 'ci_high': None, 'n': 0}
    """
    import numpy as np

    n = len(values)
    if n == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
    data = np.asarray(values, dtype=np.float64)                                 # (n,)
    mean = float(data.mean())
    if n == 1:
        return {"mean": mean, "ci_low": mean, "ci_high": mean, "n": 1}
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, n, size=(num_resamples, n))].mean(axis=1)      # (num_resamples,)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return {"mean": mean, "ci_low": float(low), "ci_high": float(high), "n": n}


# two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom (scipy-free)
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042]


def seed_ci(values: Sequence[float]) -> dict[str, float | int | None]:
    """{mean, ci_low, ci_high, n}: 95 % t-interval of the mean over seeds (one seed: no interval).

    >>> seed_ci([0.5, 0.7])["ci_high"] > 0.7 and seed_ci([0.5])["ci_low"] is None
    True
    """
    n = len(values)
    if n == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
    mean = sum(values) / n
    if n == 1:
        return {"mean": mean, "ci_low": None, "ci_high": None, "n": 1}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = (_T975[n - 2] if n - 1 <= len(_T975) else 1.96) * sd / math.sqrt(n)
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": n}
