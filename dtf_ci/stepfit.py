"""Closed-form step test: ``level + step`` or ``level + step + slope`` around one candidate.

:class:`dtf_ci.segmentation.Judge` fits these two models thousands of times on a long
series (a random walk of 10,000 points gives a thousand candidates, each judged two or three
times while the weakest are merged away). Both models are least squares with two groups (the
points before and after the candidate) and, for the second, one slope shared by both groups
(analysis of covariance), so every quantity the test needs, the step, its variance factor,
the residual sum of squares and the residuals' lag-1 autocovariance, follows from a handful
of per-side sums. Those sums come either from running sums over the whole series
(:class:`PrefixSums`, O(1) per side: the fast path) or from the side's values themselves
(:func:`side_from_values`, exact: used where the decision matters or where the running sums
would lose precision to cancellation).

A *side* is the tuple ``(k, mean, ss, w, first, last, lag)`` of one group of ``k``
consecutive points: their mean, the sum of squares about it, ``w`` = Σ (i − ī)(z_i − z̄) over
positions i, the first and last deviations from the mean, and ``lag`` = Σ (z_i − z̄)(z_{i+1} − z̄)
over neighbouring pairs.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = ["Fit", "PrefixSums", "Side", "side_from_values", "step_fit"]

#: Lag-1 autocorrelation is capped here: the variance inflation stays finite (19x).
RHO_MAX = 0.9

Side = tuple[int, float, float, float, float, float, float]


class Fit(NamedTuple):
    """One fitted model: ``step`` (after minus before, at the candidate, in z units), the
    variance factor of the step (σ² × ``inv``), the residual sum of squares, the slope per
    point (0 without a trend), ``inflation`` = (1 + ρ)/(1 − ρ) and the step's ``z2``.
    ``rss_floor`` is the smaller residual sum of squares of the two models, which the fast
    path compares with the running sums' size to know whether cancellation could matter."""

    step: float
    inv: float
    rss: float
    slope: float
    trend: bool
    inflation: float
    z2: float
    rss_floor: float


class PrefixSums:
    """Running sums of z, i·z, z² and z_i·z_{i+1}, as Python lists (indexing a list is
    several times cheaper than indexing a numpy array one element at a time)."""

    def __init__(self, z: np.ndarray) -> None:
        zero = np.zeros(1)
        self.z: list[float] = z.tolist()
        self.s0: list[float] = np.concatenate((zero, np.cumsum(z))).tolist()
        self.s1: list[float] = np.concatenate((zero, np.cumsum(np.arange(z.size) * z))).tolist()
        self.s2: list[float] = np.concatenate((zero, np.cumsum(z * z))).tolist()
        self.lag: list[float] = np.concatenate((zero, zero, np.cumsum(z[:-1] * z[1:]))).tolist()

    def scale(self, hi: int) -> float:
        """Σ z² up to ``hi``: the size of the running sums a window's sums are taken from."""
        return self.s2[hi]

    def quick_fit(self, lo: int, t: int, hi: int, allow_trend: bool) -> Fit:
        """:func:`step_fit` for sides ``lo..t-1`` and ``t..hi-1`` straight from the running
        sums: the same algebra written out in scalars, because this runs a few thousand times
        per long series and each function call or tuple costs about as much as the arithmetic
        (tests hold it equal to step_fit)."""
        s0, s1, s2, lag, z = self.s0, self.s1, self.s2, self.lag, self.z
        k1, k2 = t - lo, hi - t
        m = k1 + k2
        a0, c0 = s0[t] - s0[lo], s0[hi] - s0[t]
        m1, m2 = a0 / k1, c0 / k2
        ss1 = s2[t] - s2[lo] - a0 * m1
        ss2 = s2[hi] - s2[t] - c0 * m2
        w1 = s1[t] - s1[lo] - 0.5 * (lo + t - 1) * a0
        w2 = s1[hi] - s1[t] - 0.5 * (t + hi - 1) * c0
        step = m2 - m1
        inv = 1.0 / k1 + 1.0 / k2
        rss = floor = ss1 + ss2
        sx1, sx2 = k1 * (k1 * k1 - 1) / 12.0, k2 * (k2 * k2 - 1) / 12.0
        b = 0.0
        dof, trend = m - 2, False
        if allow_trend:
            sxx = sx1 + sx2
            b = (w1 + w2) / sxx
            rss3 = rss - (w1 + w2) * b
            floor = min(rss, rss3)
            if m * math.log(max(rss3, 1e-300) / m) + math.log(m) < m * math.log(max(rss, 1e-300) / m):
                step -= b * 0.5 * m
                inv += 0.25 * m * m / sxx
                rss, dof, trend = rss3, m - 3, True
            else:
                b = 0.0
        num = den = 0.0
        if k1 >= 3:
            f, last = z[lo] - m1, z[t - 1] - m1
            pairs = sx1 - 0.25 * (k1 - 1) ** 2 - 0.5 * (k1 - 1)
            num += (lag[t] - lag[lo + 1] - m1 * (2.0 * a0 - z[lo] - z[t - 1]) + (k1 - 1) * m1 * m1
                    - b * (2.0 * w1 - 0.5 * (k1 + 1) * (last - f)) + b * b * pairs)
            den += ss1 - 2.0 * b * w1 + b * b * sx1
        if k2 >= 3:
            f, last = z[t] - m2, z[hi - 1] - m2
            pairs = sx2 - 0.25 * (k2 - 1) ** 2 - 0.5 * (k2 - 1)
            num += (lag[hi] - lag[t + 1] - m2 * (2.0 * c0 - z[t] - z[hi - 1]) + (k2 - 1) * m2 * m2
                    - b * (2.0 * w2 - 0.5 * (k2 + 1) * (last - f)) + b * b * pairs)
            den += ss2 - 2.0 * b * w2 + b * b * sx2
        rho = min(max(num / den if den > 0 else 0.0, 0.0), RHO_MAX)
        inflation = (1.0 + rho) / (1.0 - rho)
        var = rss / max(1, dof) * inv * inflation
        z2 = step * step / var if var > 0 else (math.inf if step != 0 else 0.0)
        return Fit(step, inv, rss, b, trend, inflation, z2, floor)


def side_from_values(g: np.ndarray) -> Side:
    """The same sums from the side's values (exact: no cancellation between running sums)."""
    k = g.size
    mean = float(np.add.reduce(g)) / k
    d = g - mean
    pos = np.arange(k) - 0.5 * (k - 1)
    return (k, mean, float(d @ d), float(d @ pos), float(d[0]), float(d[-1]),
            float(d[:-1] @ d[1:]) if k >= 2 else 0.0)


def _centred_sxx(k: int) -> float:
    """Σ (i − ī)² over k consecutive positions."""
    return k * (k * k - 1) / 12.0


def step_fit(left: Side, right: Side, allow_trend: bool) -> Fit:
    """The step between ``left`` and ``right`` (adjacent: left ends where right starts), with a
    shared slope when ``allow_trend`` and it earns its place by BIC; z² with the residuals'
    variance inflated by their lag-1 autocorrelation on each side (sides of 3+ points)."""
    k1, m1, ss1, w1, _, _, _ = left
    k2, m2, ss2, w2, _, _, _ = right
    m = k1 + k2
    step = m2 - m1
    inv = 1.0 / k1 + 1.0 / k2
    rss = ss1 + ss2
    floor = rss
    slope, trend = 0.0, False
    if allow_trend:
        sxx = _centred_sxx(k1) + _centred_sxx(k2)
        if sxx > 0:
            b = (w1 + w2) / sxx
            rss3 = rss - (w1 + w2) * b
            floor = min(rss, rss3)
            if m * math.log(max(rss3, 1e-300) / m) + math.log(m) < m * math.log(max(rss, 1e-300) / m):
                # The sides' mean positions are m/2 apart, so the lines' gap at the
                # candidate is the means' gap less the slope times m/2.
                step -= b * 0.5 * m
                inv += 0.25 * m * m / sxx
                rss, slope, trend = rss3, b, True
    sigma2 = rss / max(1, m - (3 if trend else 2))
    num = den = 0.0
    for k, _, ss, w, first, last, lag in (left, right):
        if k >= 3:
            sxx_k = _centred_sxx(k)
            pairs = sxx_k - 0.25 * (k - 1) ** 2 - 0.5 * (k - 1)  # Σ (i − ī)(i + 1 − ī)
            num += lag - slope * (2.0 * w - 0.5 * (k + 1) * (last - first)) + slope * slope * pairs
            den += ss - 2.0 * slope * w + slope * slope * sxx_k
    rho = min(max(num / den if den > 0 else 0.0, 0.0), RHO_MAX)
    inflation = (1.0 + rho) / (1.0 - rho)
    var = sigma2 * inv * inflation
    z2 = step * step / var if var > 0 else (math.inf if step != 0 else 0.0)
    return Fit(step, inv, rss, slope, trend, inflation, z2, floor)
