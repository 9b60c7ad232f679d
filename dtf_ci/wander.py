"""A change must stand out from the series' own wander at its scale.

The step test (:mod:`dtf_ci.segmentation`) measures noise at the smallest scales: the
residuals around the fit and their lag-1 correlation. A random walk under the noise, a slow
cycle or a season hardly shows there (neighbouring points still look independent), yet over a
window of 60 points it moves the level by one or two noise SDs, and a step test at 4·ln n
takes that for a change (most false alarms left on the made-up corpus's random walks and
trends were of this kind, 1–2 noise SDs). So each change that passed is also compared with
the series itself: the same difference of block means, taken at every other place that no
change straddles, gives the spread that wander alone produces at that scale, whatever its
dependence. A change whose step is not at least :data:`WANDER_Z` times that spread (robust SD,
centred on the median difference, so a linear trend is no wander) is merged away, weakest
first, and the rest re-judged.

Where no block of at least :data:`TAU_MIN` points leaves enough such places (a short
history, or one cut by many changes) the series cannot say what its wander is and the change
stands on the other tests alone: young histories behave as before.
"""

from __future__ import annotations

import numpy as np

from dtf_ci.segmentation import Evidence, Judge, prune

__all__ = ["TAU_MIN", "WANDER_Z", "drop_wander", "wander_z"]

_MAD_TO_SD = 1.4826
#: A change's step must reach this many robust SDs of the series' own block differences.
WANDER_Z = 3.0
#: Smallest block (points each side) at which the comparison is made.
TAU_MIN = 10
#: Places needed per point of the two blocks (about two independent replicas of the step).
_PLACES_PER_POINT = 2.0


class _Scales:
    """Block differences of one series, for one set of changes, cached per block size."""

    def __init__(self, z: np.ndarray, changes: list[int]) -> None:
        self.cs = np.concatenate(([0.0], np.cumsum(z)))
        self.n = z.size
        # count[k]: changes at positions < k, to tell in O(1) whether a block pair straddles one.
        marks = np.zeros(self.n + 1, dtype=np.int64)
        marks[np.asarray(changes, dtype=np.int64) + 1] = 1
        self.count = np.cumsum(marks)
        self.cache: dict[int, tuple[float, float] | None] = {}

    def spread(self, tau: int) -> tuple[float, float] | None:
        """Median and robust SD of (mean of tau after − mean of tau before) over the places
        i whose blocks [i − tau, i + tau) hold no change, but at their edges; None when too few."""
        if tau not in self.cache:
            i = np.arange(tau, self.n - tau + 1)
            clean = self.count[i + tau] - self.count[i - tau + 1] == 0
            i = i[clean]
            if i.size < _PLACES_PER_POINT * 2 * tau:
                self.cache[tau] = None
            else:
                d = (self.cs[i + tau] - 2.0 * self.cs[i] + self.cs[i - tau]) / tau
                mid = float(np.median(d))
                self.cache[tau] = (mid, _MAD_TO_SD * float(np.median(np.abs(d - mid))))
        return self.cache[tau]

    def step(self, t: int, tau: int) -> float:
        return float(self.cs[t + tau] - 2.0 * self.cs[t] + self.cs[t - tau]) / tau


def wander_z(scales: _Scales, lo: int, t: int, hi: int) -> float | None:
    """The step at ``t`` in robust SDs of the series' own block differences, at the largest
    block (up to the window's shorter side, shrinking by a third) that leaves enough places;
    None when even :data:`TAU_MIN` does not, or the spread is 0."""
    tau = min(t - lo, hi - t)
    while tau >= TAU_MIN:
        got = scales.spread(tau)
        if got is not None:
            mid, sd = got
            return abs(scales.step(t, tau) - mid) / sd if sd > 0 else None
        tau = tau * 2 // 3
    return None


def drop_wander(judge: Judge, candidates: list[int], kept: dict[int, Evidence], n: int,
                threshold: float = WANDER_Z) -> dict[int, Evidence]:
    """``kept`` (what :func:`prune` left of ``candidates``) less the changes that do not stand
    out from the series' wander: the least unusual is struck from the candidates and the rest
    pruned again, until every change left stands out (or cannot be compared)."""
    struck: set[int] = set()
    while kept:
        ts = list(kept)
        scales = _Scales(judge.z, ts)
        bounds = [0, *ts, n]
        worst: tuple[float, int] | None = None
        for i, t in enumerate(ts, start=1):
            lo, hi = max(bounds[i - 1], t - judge.window), min(bounds[i + 1], t + judge.window)
            wz = wander_z(scales, lo, t, hi)
            if wz is not None and wz < threshold and (worst is None or wz < worst[0]):
                worst = (wz, t)
        if worst is None:
            break
        struck.add(worst[1])
        kept = prune(judge, [t for t in candidates if t not in struck], n)
    return kept
