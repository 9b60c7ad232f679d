"""The machinery behind :func:`dtf_ci.changepoints.detect_changes`: candidates, then evidence.

Two stages, because finding where a level may have moved is cheap and deciding whether it
really moved is where real series differ from levels plus Gaussian noise:

1. **Candidates.** Binary segmentation on the series scaled by its *jitter* (the robust
   scale of first differences) with a low penalty (ln n): it over-segments on purpose, in
   O(n log n), and never misses a real shift.
2. **Evidence.** Every candidate is judged on the points around it (up to ``window`` on each
   side, never past its neighbouring candidates) and the weakest is merged away, its
   neighbours re-judged, until every change left passes all of:

   * a **step test** with a local trend allowed: ``level + step + slope`` is fitted when the
     slope earns its place (BIC), so a slow trend cut into a staircase shows steps of 0;
     the step's standard error is inflated by the residuals' lag-1 autocorrelation
     ((1 + ρ)/(1 − ρ)), so random walks and several samples per build (correlated
     neighbours) do not pass for independent evidence; z² must reach ``penalty``
     (default 4·ln n, a modified BIC like the 3·ln n of TCPDBench's default methods);
   * a **rank test** (Mann–Whitney) between the two sides at two thirds of that z² (in a
     short history with one change, sides that do not overlap at all also pass):
     distribution-free, so a run of points from the other mode of a bimodal
     (build-dependent) series, or a cluster of outliers, is not a new level;
   * a **minimum shift**: the step is at least ``min_shift`` robust noise SDs and, on a
     series of positive values, at least ``min_relative`` of its level.

Outlying single points (beyond 3 jitter SDs of a running median) are replaced by that
median before both stages, and segments are at least ``min_size`` points long: a spike is
not a change. See docs/change-points.md for how the defaults were chosen.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from dtf_ci.ranks import mann_whitney_p

_MAD_TO_SD = 1.4826
#: Replace points further than this many jitter SDs from the running median.
_OUTLIER_Z = 3.0
#: Lag-1 autocorrelation is capped here: the variance inflation stays finite (19x).
_RHO_MAX = 0.9
#: Largest side for the exact Mann–Whitney table here; beyond it the normal approximation,
#: whose error is small next to a 1/n level (and every table built costs time).
_EXACT_RANKS = 12
#: Share of the length penalty the rank test must reach: ranks lose a little power to the
#: step test on Gaussian noise, and the test only has to rule out outliers and modes.
_RANK_SHARE = 2.0 / 3.0


@dataclass(frozen=True)
class Evidence:
    """What the points around one candidate say. ``z2`` is the weakest test as a z²."""

    z2: float
    p_step: float
    p_rank: float
    step: float  # fitted step in the series' units (after minus before)
    noise: float  # robust noise SD used for the minimum shift
    before: float  # median of the window before
    after: float  # median of the window after
    trend: bool  # whether the local fit needed a slope
    inflation: float  # (1 + ρ) / (1 − ρ)
    passes_size: bool


def jitter_scale(x: np.ndarray) -> float:
    """Noise SD from first differences (1.4826 × MAD / √2): blind to level shifts and, being
    centred on the median difference, to linear trends. 0 only for a constant series."""
    d = np.diff(x)
    if d.size == 0:
        return 0.0
    sd = _MAD_TO_SD * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2.0)
    if sd > 0:
        return sd
    # Quantized data (most consecutive runs equal): fall back to the mean absolute change.
    return 1.2533 * float(np.mean(np.abs(d))) / math.sqrt(2.0)


def clean_outliers(x: np.ndarray, sd: float, half: int) -> np.ndarray:
    """``x`` with points beyond 3 jitter SDs of their running median replaced by that median."""
    padded = np.pad(x, half, mode="edge")
    med = np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1), axis=1)
    return np.where(np.abs(x - med) > _OUTLIER_Z * sd, med, x)


def binseg(z: np.ndarray, penalty: float, min_size: int) -> list[int]:
    """Binary segmentation (CUSUM of a mean change) of unit-noise ``z``: split while the best
    split's z² reaches ``penalty``. Each split is one vector operation over its segment."""
    cs = np.concatenate(([0.0], np.cumsum(z)))
    out: list[int] = []
    stack = [(0, z.size)]
    while stack:
        a, b = stack.pop()
        m = b - a
        if m < 2 * min_size:
            continue
        k = np.arange(min_size, m - min_size + 1)
        s = cs[a + k] - cs[a] - k / m * (cs[b] - cs[a])
        stat = s * s * m / (k * (m - k))
        j = int(stat.argmax())
        if stat[j] < penalty:
            continue
        t = a + int(k[j])
        out.append(t)
        stack += [(a, t), (t, b)]
    return sorted(out)


def _p_from_z2(z2: float) -> float:
    return math.erfc(math.sqrt(max(z2, 0.0) / 2.0))


def _z2_from_p(p: float) -> float:
    if p >= 1.0:
        return 0.0
    from statistics import NormalDist

    return NormalDist().inv_cdf(max(p / 2.0, 1e-300)) ** 2


class Judge:
    """Scores candidate changes of one series; the settings are documented on detect_changes."""

    def __init__(self, x: np.ndarray, y: np.ndarray, sd: float, *, window: int, penalty: float,
                 min_shift: float, min_relative: float, rank_test: bool) -> None:
        self.x, self.y, self.sd, self.window, self.penalty = x, y, sd, window, penalty
        # Fits run in noise units around the median: no overflow at 1e300, no loss at 1e-300.
        self.z = (y - _median(y)) / sd
        self.min_shift, self.rank_test = min_shift, rank_test
        self.min_relative = min_relative if bool((x > 0).all()) else 0.0

    def evidence(self, a: int, t: int, b: int) -> Evidence:
        """The change at ``t`` between neighbouring boundaries ``a`` and ``b``."""
        lo, hi = max(a, t - self.window), min(b, t + self.window)
        seg = self.z[lo:hi]
        m = seg.size
        step = (np.arange(lo, hi) >= t).astype(float)
        u = (np.arange(lo, hi) - t) / m
        x2 = np.column_stack([np.ones(m), step])
        x3 = np.column_stack([x2, u])
        beta, rss, inv = _fit(x2, seg)
        trend = False
        if m >= 8:
            beta3, rss3, inv3 = _fit(x3, seg)
            if m * math.log(max(rss3, 1e-300) / m) + math.log(m) < m * math.log(max(rss, 1e-300) / m):
                beta, rss, inv, trend = beta3, rss3, inv3, True
        fitted = (x3 if trend else x2) @ beta
        resid = seg - fitted
        k = 3 if trend else 2
        sigma2 = rss / max(1, m - k)
        inflation = _inflation(resid, t - lo)
        var = sigma2 * inv * inflation
        c = float(beta[1])
        z2 = c * c / var if var > 0 else (math.inf if c != 0 else 0.0)
        p_step = _p_from_z2(z2)
        if z2 < self.penalty:  # merged whatever the rest says: skip the costly parts
            return Evidence(z2, p_step, 1.0, c * self.sd, self.sd, math.nan, math.nan, trend,
                            inflation, True)
        noise = max(_MAD_TO_SD * _median(np.abs(resid - _median(resid))), 1.0)
        before, after = _median(self.y[lo:t]), _median(self.y[t:hi])
        passes = abs(c) >= self.min_shift * noise and (
            self.min_relative <= 0 or abs(after - before) >= self.min_relative * min(before, after))
        p_rank = 0.0
        if self.rank_test and passes:
            left, right = self.x[lo:t], self.x[t:hi]
            p_rank = mann_whitney_p(left, right, _EXACT_RANKS)
            # In a short history with one change (4 runs, then 3 on a new level) two sides that
            # do not overlap at all are the strongest rank evidence there can be; anywhere else
            # (sides cut short by other candidates) that would let two modes pass for levels.
            whole = lo == 0 and hi == self.x.size
            apart = whole and (left.max() < right.min() or left.min() > right.max())
            if not apart:
                z2 = min(z2, _z2_from_p(p_rank) / _RANK_SHARE)
        return Evidence(z2, p_step, p_rank, c * self.sd, noise * self.sd, before, after, trend,
                        inflation, passes)

    def location(self, a: int, t: int, b: int, ev: Evidence) -> tuple[int, int]:
        """Indices where the new level may start: two-level fits on [a, b) whose cost is within
        3.84 noise variances (inflated as in the test) of the best, the 95 % likelihood set."""
        lo, hi = max(a, t - self.window), min(b, t + self.window)
        seg = self.z[lo:hi]
        cs = np.concatenate(([0.0], np.cumsum(seg)))
        m = seg.size
        k = np.arange(1, m)
        gain = cs[k] ** 2 / k + (cs[m] - cs[k]) ** 2 / (m - k)  # higher is a better split
        var = (ev.noise / self.sd) ** 2 * ev.inflation
        ok = np.flatnonzero(gain >= gain[t - lo - 1] - 3.84 * var) + 1 + lo
        # The set is contiguous around t in practice; keep the run that holds t.
        left, right = t, t
        okset = set(ok.tolist())
        while left - 1 in okset and left - 1 > a:
            left -= 1
        while right + 1 in okset and right + 1 < b:
            right += 1
        return left, right


def _median(a: np.ndarray) -> float:
    """np.median without its NaN checks and dispatch (a few µs instead of 30 on short arrays)."""
    k = a.size // 2
    if a.size % 2:
        return float(np.partition(a, k)[k])
    part = np.partition(a, (k - 1, k))
    return 0.5 * float(part[k - 1] + part[k])


def _fit(design: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Least squares: coefficients, residual sum of squares, and (X'X)^-1 for the step."""
    xtx = design.T @ design
    try:
        inv = np.linalg.inv(xtx)
    except np.linalg.LinAlgError:
        inv = np.linalg.pinv(xtx)
    beta = inv @ (design.T @ y)
    r = y - design @ beta
    return beta, float(r @ r), float(inv[1, 1])


def _inflation(resid: np.ndarray, split: int) -> float:
    """(1 + ρ)/(1 − ρ) from the lag-1 autocorrelation of the residuals on each side."""
    num = den = 0.0
    for part in (resid[:split], resid[split:]):
        if part.size >= 3:
            num += float(part[1:] @ part[:-1])
            den += float(part @ part)
    rho = min(max(num / den if den > 0 else 0.0, 0.0), _RHO_MAX)
    return (1.0 + rho) / (1.0 - rho)


def prune(judge: Judge, candidates: list[int], n: int) -> dict[int, Evidence]:
    """Merge away the weakest candidate until every change passes; return the survivors."""
    bounds = [0, *candidates, n]
    prev = {bounds[i]: bounds[i - 1] for i in range(1, len(bounds))}
    nxt = {bounds[i]: bounds[i + 1] for i in range(len(bounds) - 1)}
    alive = set(candidates)
    version = dict.fromkeys(candidates, 0)
    ev: dict[int, Evidence] = {}
    heap: list[tuple[float, int, int]] = []

    def judge_at(t: int) -> None:
        e = judge.evidence(prev[t], t, nxt[t])
        ev[t] = e
        version[t] += 1
        heapq.heappush(heap, (e.z2 if e.passes_size else -1.0, version[t], t))

    for t in candidates:
        judge_at(t)
    while heap:
        score, ver, t = heapq.heappop(heap)
        if t not in alive or ver != version[t]:
            continue
        if score >= judge.penalty:
            break
        alive.discard(t)
        a, b = prev.pop(t), nxt.pop(t)
        nxt[a], prev[b] = b, a
        for u in (a, b):
            if u in alive:
                judge_at(u)
    return {t: ev[t] for t in sorted(alive)}


__all__ = ["Evidence", "Judge", "binseg", "clean_outliers", "jitter_scale", "prune"]
