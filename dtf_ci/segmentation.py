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

Speed: the step test of a candidate comes from running sums in O(1) (:mod:`dtf_ci.stepfit`);
only a candidate that may pass is refitted from its values and given the medians and the rank
test, so a random walk's thousand candidates cost milliseconds, not a second.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from dtf_ci.ranks import mann_whitney_p
from dtf_ci.stepfit import Fit, PrefixSums, side_from_values, step_fit

_MAD_TO_SD = 1.4826
_NORMAL = NormalDist()
#: Replace points further than this many jitter SDs from the running median.
_OUTLIER_Z = 3.0
#: The running sums are trusted for a rejection only while a window's residual sum of squares
#: is above this share of the running sum of squares it was taken from: below it, rounding in
#: the running sums could be a noticeable part of the answer, and the window is fitted exactly.
_CANCELLATION = 1e-7
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
    split's z² reaches ``penalty``. Splits of one segment never depend on another's, so every
    segment of one depth is scored at once, in one vector pass over the series: a random walk
    of 10,000 points (a thousand splits) costs some twenty passes, not two thousand small ones."""
    cs = np.concatenate(([0.0], np.cumsum(z)))
    out: list[int] = []
    starts, ends = np.array([0]), np.array([z.size])
    while starts.size:
        keep = ends - starts >= 2 * min_size
        starts, ends = starts[keep], ends[keep]
        if not starts.size:
            break
        m = ends - starts
        counts = m - 2 * min_size + 1
        offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
        seg = np.repeat(np.arange(starts.size), counts)
        k = np.arange(seg.size) - offsets[seg] + min_size
        a, b, mm = starts[seg], ends[seg], m[seg]
        s = cs[a + k] - cs[a] - k / mm * (cs[b] - cs[a])
        stat = s * s * mm / (k * (mm - k))
        best = np.maximum.reduceat(stat, offsets)
        # The first position of each segment's maximum, as argmax would pick it.
        first = np.minimum.reduceat(np.where(stat == best[seg], np.arange(seg.size), seg.size), offsets)
        split = best >= penalty
        cut = starts[split] + k[first[split]]
        out += cut.tolist()
        starts = np.concatenate((starts[split], cut))
        ends = np.concatenate((cut, ends[split]))
    return sorted(out)


def _p_from_z2(z2: float) -> float:
    return math.erfc(math.sqrt(max(z2, 0.0) / 2.0))


def _z2_from_p(p: float) -> float:
    if p >= 1.0:
        return 0.0
    return _NORMAL.inv_cdf(max(p / 2.0, 1e-300)) ** 2


class Judge:
    """Scores candidate changes of one series; the settings are documented on detect_changes."""

    def __init__(self, x: np.ndarray, y: np.ndarray, sd: float, *, window: int, penalty: float,
                 min_shift: float, min_relative: float, rank_test: bool) -> None:
        self.x, self.y, self.sd, self.window, self.penalty = x, y, sd, window, penalty
        # Fits run in noise units around the median: no overflow at 1e300, no loss at 1e-300.
        self.z = (y - _median(y)) / sd
        self.sums = PrefixSums(self.z)
        # A window's score depends on nothing else: pruning again after a change was struck
        # (dtf_ci.wander) meets the same windows and finds them here.
        self._scores: dict[tuple[int, int, int], tuple[float, Evidence | None]] = {}
        self.min_shift, self.rank_test = min_shift, rank_test
        self.min_relative = min_relative if bool((x > 0).all()) else 0.0

    def score(self, a: int, t: int, b: int) -> tuple[float, Evidence | None]:
        """The change at ``t``'s score for :func:`prune` (its z², or −1 when it fails the
        minimum shift), with its :class:`Evidence` when the full tests had to run. The running
        sums decide a rejection alone (O(1), the common case); a change that may pass, or a
        window whose residuals are tiny next to the running sums they come from (cancellation),
        goes through :meth:`evidence`."""
        lo, hi = max(a, t - self.window), min(b, t + self.window)
        key = (lo, t, hi)
        known = self._scores.get(key)
        if known is not None:
            return known
        fit = self.sums.quick_fit(lo, t, hi, hi - lo >= 8)
        got: tuple[float, Evidence | None]
        if fit.rss_floor <= _CANCELLATION * self.sums.scale(hi):
            ev = self.evidence(a, t, b)  # cancellation: fit exactly
            got = (ev.z2 if ev.passes_size else -1.0), ev
        elif fit.z2 < self.penalty:
            got = fit.z2, None
        else:
            ev = self.evidence(a, t, b, fit)
            got = (ev.z2 if ev.passes_size else -1.0), ev
        self._scores[key] = got
        return got

    def evidence(self, a: int, t: int, b: int, fit: Fit | None = None) -> Evidence:
        """The change at ``t`` between neighbouring boundaries ``a`` and ``b``; ``fit`` is its
        step fit when already known, else it is fitted exactly from the window's values."""
        lo, hi = max(a, t - self.window), min(b, t + self.window)
        left, right = self.z[lo:t], self.z[t:hi]
        if fit is None:
            fit = step_fit(side_from_values(left), side_from_values(right), hi - lo >= 8)
        z2, c, inflation = fit.z2, fit.step, fit.inflation
        p_step = _p_from_z2(z2)
        if z2 < self.penalty:  # merged whatever the rest says: skip the costly parts
            return Evidence(z2, p_step, 1.0, c * self.sd, self.sd, math.nan, math.nan, fit.trend,
                            inflation, True)
        resid = np.concatenate((_detrended(left, fit.slope), _detrended(right, fit.slope)))
        noise = max(_MAD_TO_SD * _median(np.abs(resid - _median(resid))), 1.0)
        before, after = _median(self.y[lo:t]), _median(self.y[t:hi])
        passes = abs(c) >= self.min_shift * noise and (
            self.min_relative <= 0 or abs(after - before) >= self.min_relative * min(before, after))
        p_rank = 0.0
        if self.rank_test and passes:
            xl, xr = self.x[lo:t], self.x[t:hi]
            p_rank = mann_whitney_p(xl, xr, _EXACT_RANKS)
            # In a short history with one change (4 runs, then 3 on a new level) two sides that
            # do not overlap at all are the strongest rank evidence there can be; anywhere else
            # (sides cut short by other candidates) that would let two modes pass for levels.
            whole = lo == 0 and hi == self.x.size
            apart = whole and (xl.max() < xr.min() or xl.min() > xr.max())
            if not apart:
                z2 = min(z2, _z2_from_p(p_rank) / _RANK_SHARE)
        return Evidence(z2, p_step, p_rank, c * self.sd, noise * self.sd, before, after, fit.trend,
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
    part = a.copy()
    if a.size % 2:
        part.partition(k)
        return float(part[k])
    part.partition((k - 1, k))
    return 0.5 * float(part[k - 1] + part[k])


def _detrended(side: np.ndarray, slope: float) -> np.ndarray:
    """A side's residuals about its own mean and the shared slope."""
    d = side - float(np.add.reduce(side)) / side.size
    return d - slope * (np.arange(side.size) - 0.5 * (side.size - 1)) if slope else d


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
        score, e = judge.score(prev[t], t, nxt[t])
        if e is None:
            ev.pop(t, None)
        else:
            ev[t] = e
        version[t] += 1
        heapq.heappush(heap, (score, version[t], t))

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
