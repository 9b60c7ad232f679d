"""The Wilcoxon signed-rank test and the Walsh-average median, in plain Python.

Kept apart from :mod:`dtf_ci.paired` (which uses numpy for the run-wide FDR) because
``dtf run`` needs them on the runner, where only the slim install is present: an
interleaved unit decides there whether its pairs are enough or it should take more.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from functools import lru_cache

EXACT_MAX = 50
MIN_PAIRS = 8  # the exact test's smallest two-sided p is 2 / 2**n: below 8 pairs never <= 1 %
ALPHA = 0.01  # the same raw level as dtf_ci.stats.ALPHA


@lru_cache(maxsize=256)
def signed_rank_counts(n: int) -> tuple[int, ...]:
    """Number of sign patterns giving each signed-rank sum T+ = 0..n(n+1)/2 (no ties)."""
    top = n * (n + 1) // 2
    counts = [0] * (top + 1)
    counts[0] = 1
    for r in range(1, n + 1):
        for t in range(top, r - 1, -1):
            counts[t] += counts[t - r]
    return tuple(counts)


def _ranks(values: list[float]) -> tuple[list[float], list[int]]:
    """Average ranks of ``values`` (1-based) and the sizes of their tie groups."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    groups = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        groups.append(j - i + 1)
        i = j + 1
    return ranks, groups


def signed_rank_p(d: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value; zeros dropped (Wilcoxon's convention).

    Exact without ties up to 50 pairs; otherwise the normal approximation with tie
    correction and continuity correction (as scipy's ``method="approx"``).
    """
    x = [float(v) for v in d if v != 0.0]
    n = len(x)
    if n == 0:
        return 1.0
    ranks, groups = _ranks([abs(v) for v in x])
    t_plus = sum(r for r, v in zip(ranks, x, strict=True) if v > 0)
    if n <= EXACT_MAX and all(g == 1 for g in groups):
        counts = signed_rank_counts(n)
        total = 2 ** n
        t = int(round(t_plus))
        lo = sum(counts[: t + 1]) / total
        hi = sum(counts[t:]) / total
        return min(1.0, 2 * min(lo, hi))
    mean = n * (n + 1) / 4
    var = n * (n + 1) * (2 * n + 1) / 24 - sum(g ** 3 - g for g in groups) / 48
    if var <= 0:
        return 1.0
    z = (abs(t_plus - mean) - 0.5) / math.sqrt(var)
    return min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))


def walsh_averages(d: Sequence[float]) -> list[float]:
    x = list(d)
    return sorted((x[i] + x[j]) / 2 for i in range(len(x)) for j in range(i, len(x)))


def walsh_median(d: Sequence[float]) -> float:
    """The one-sample Hodges–Lehmann estimate: the median of the Walsh averages."""
    return statistics.median(walsh_averages(d)) if d else math.nan


def undecided(d: Sequence[float], threshold: float, alpha: float = ALPHA) -> bool:
    """Should an interleaved unit take more pairs? The change looks material but is not yet
    significant: its estimate is beyond half the threshold and the signed-rank p above alpha.

    A clearly unchanged series (estimate within half the threshold) or a settled one stops,
    so the extra pairs go only where they can change the verdict (a pause that flipped a pair,
    a change close to the threshold).
    """
    if len(d) < 2:
        return True
    return abs(walsh_median(d)) > math.log1p(threshold) / 2 and signed_rank_p(d) > alpha
