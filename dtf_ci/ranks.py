"""Mann–Whitney machinery shared by verdicts (:mod:`dtf_ci.stats`) and change points.

It lives a floor below both so neither imports the other: the exact null distribution of U
(cached per pair of sample sizes) and a rank-based two-sided p-value for samples of any size.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

__all__ = ["_EXACT_MAX", "_u_cdf", "mann_whitney_p"]

#: Largest sample size per side for which the exact Mann–Whitney distribution is used.
_EXACT_MAX = 50


@lru_cache(maxsize=256)
def _u_cdf(n: int, m: int) -> np.ndarray:
    """P(U <= u) for u = 0..n*m under no change, exact (no ties).

    Built from the recursion p(i, j, u) = i/(i+j) p(i-1, j, u-j) + j/(i+j) p(i, j-1, u):
    only additions of probabilities, so the far tails stay accurate in floating point.
    """
    prev = [np.ones(1) for _ in range(m + 1)]  # i = 0: U is 0 for every j
    for i in range(1, n + 1):
        cur = [np.ones(1)]  # j = 0: U is 0
        for j in range(1, m + 1):
            a = prev[j]  # p(i-1, j): last item from the first sample, adds j
            b = cur[j - 1]  # p(i, j-1)
            out = np.zeros(i * j + 1)
            out[j : j + a.size] += a * (i / (i + j))
            out[: b.size] += b * (j / (i + j))
            cur.append(out)
        prev = cur
    cdf = np.cumsum(prev[m])
    cdf.setflags(write=False)
    return cdf


def mann_whitney_p(a: np.ndarray, b: np.ndarray, exact_max: int = _EXACT_MAX) -> float:
    """Two-sided Mann–Whitney p for two samples of any size, from ranks (O(n log n)).

    Exact without ties up to ``exact_max`` per side (the exact table costs O((n·m)²) to build
    once per pair of sizes), otherwise the normal approximation with tie correction. Segments of a history can hold thousands of points, so this ranks
    instead of pairing every value.
    """
    n, m = a.size, b.size
    if n == 0 or m == 0:
        return 1.0
    x = np.concatenate([a, b])
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    new = np.empty(x.size, dtype=bool)
    new[0] = True
    np.not_equal(xs[1:], xs[:-1], out=new[1:])
    size = n + m
    if new.all():
        # No ties (the common case with timings): the sorted position is the rank, and
        # nothing needs averaging. Change points call this on short windows thousands of
        # times, where each numpy call costs more than the arithmetic.
        u = float(np.flatnonzero(order < n).sum()) + n - n * (n + 1) / 2.0
        if max(n, m) <= exact_max:
            ui = int(round(u))
            return float(min(1.0, 2.0 * _u_cdf(n, m)[min(ui, n * m - ui)]))
        var = n * m / 12.0 * (size + 1)
    else:
        first = np.flatnonzero(new)
        counts = np.diff(np.append(first, x.size))
        ranks = np.empty(x.size)
        ranks[order] = (first + (counts + 1) / 2.0)[np.cumsum(new) - 1]
        u = float(ranks[:n].sum()) - n * (n + 1) / 2.0
        var = n * m / 12.0 * ((size + 1) - float((counts**3 - counts).sum()) / (size * (size - 1)))
    if var <= 0:
        return 1.0
    z = max(abs(u - n * m / 2.0) - 0.5, 0.0) / math.sqrt(var)
    return min(1.0, math.erfc(z / math.sqrt(2.0)))
