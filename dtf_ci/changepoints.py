"""Change points on the main line: where a series' level moved for good, and by how much.

A series' history (one median per run, oldest first) is cut into segments of constant level.
Real histories are not levels plus Gaussian noise: they hold spikes, slow trends, random
walks, several correlated samples per build and two alternating modes (build-dependent
series). :func:`detect_changes` reports a change only where all of these agree (the machinery
is in :mod:`dtf_ci.segmentation`):

* a step test calibrated to the series' own noise, its dependence and its length (an
  MBIC-like penalty of 4·ln n on z², with a local trend allowed so a trend is not a staircase);
* a rank test between the two sides (z² ≥ 2.7·ln n; outliers and a second mode are not a level);
* a minimum shift of 1 robust noise SD and, for positive series, 2 % of the level;
* at least ``min_size`` points on each side (a spike is not a change);
* a step of at least 3 robust SDs of the series' own differences of block means at the
  change's scale, measured where no change lies (:mod:`dtf_ci.wander`: a random walk or a
  trend cut into steps is not a change), where the history is long enough to measure it.

Each change carries its size, its confidence and the indices where the new level may start
(so a caller can name the commit range it landed in). :func:`change_points` keeps the plain
list of indices. Measured on TCPD, SAP HANA's CI series and synthetic corpora in
``benchmarks/bench_changepoints.py``; see ``docs/change-points.md``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from dtf_ci.segmentation import Judge, binseg, clean_outliers, jitter_scale, prune
from dtf_ci.wander import WANDER_Z, drop_wander

__all__ = ["ChangePoint", "baseline_change", "baseline_window", "change_points", "detect_changes", "series_noise"]

#: Runs of history needed before :func:`series_noise` gives an answer.
_NOISE_MIN_RUNS = 5
#: Multiple of the robust run-to-run standard deviation that makes the noise band.
_NOISE_Z = 2.5
#: Default penalty per change, times ln n (z² the step test must reach).
_PENALTY = 4.0
#: Points on each side of a candidate that its tests look at.
_WINDOW = 60


@dataclass(frozen=True)
class ChangePoint:
    """One change of level. ``index`` is the first point of the new level (0-based, never 0).

    ``before``/``after`` are the medians of the points next to the change (up to 60 each
    side); ``relative`` is after ÷ before − 1 (None unless the series is positive);
    ``sigmas`` the step in robust noise SDs; ``p_value`` the weaker of the step and rank
    tests' p-values and ``confidence`` 1 − p_value; ``first``..``last`` the indices where the
    new level may start (95 % likelihood set), so the change landed after point ``first − 1``
    and at or before point ``last``; ``trend`` whether a local trend was fitted around it.
    """

    index: int
    before: float
    after: float
    relative: float | None
    sigmas: float
    p_value: float
    confidence: float
    first: int
    last: int
    trend: bool

    def to_json(self) -> dict[str, object]:
        return {"index": self.index, "before": self.before, "after": self.after,
                "relative": self.relative, "sigmas": round(self.sigmas, 3),
                "p-value": self.p_value, "confidence": self.confidence,
                "first": self.first, "last": self.last, "trend": self.trend}


def _as_series(values: Sequence[float]) -> np.ndarray:
    try:
        x = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"values must be numbers ({exc})") from None
    if x.ndim != 1:
        raise ValueError(f"values: expected a flat sequence of numbers, got shape {x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"values[{i}] is {'NaN' if np.isnan(x[i]) else 'infinite'}")
    return x


def detect_changes(
    values: Sequence[float],
    *,
    min_size: int = 3,
    penalty: float | None = None,
    min_shift: float = 1.0,
    min_relative: float = 0.02,
    robust: bool = True,
    wander: float = WANDER_Z,
) -> list[ChangePoint]:
    """The changes of level in one series (time order), with size, confidence and location.

    ``min_size``: shortest segment in points (a spike shorter than that is never a level).
    ``penalty``: z² the step test must reach, after the noise is scaled by the series' own
    robust noise and inflated for correlated neighbours; default 4·ln n (a modified BIC, a
    little stricter than the 3·ln n of TCPDBench's defaults: chosen on the made-up corpus of
    ``benchmarks/cp_corpus.py``). The rank test must reach two thirds of it.
    ``min_shift``: smallest step in robust noise SDs. ``min_relative``: smallest step as a
    fraction of the level, applied only when every value is positive (0 turns it off).
    ``robust=False`` keeps outlying points and skips the rank test (plain Gaussian model).
    ``wander``: smallest step in robust SDs of the series' own differences of block means at
    the change's scale, taken where no change lies (:mod:`dtf_ci.wander`: random walks and
    trends cut into steps are not changes); 0 turns it off. The defaults are the same for
    every series; docs/change-points.md says why.
    """
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 1:
        raise ValueError(f"min_size must be an integer >= 1, got {min_size!r}")
    for name, v in (("min_shift", min_shift), ("min_relative", min_relative), ("wander", wander)):
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    x = _as_series(values)
    n = x.size
    pen = _PENALTY * math.log(max(n, 2)) if penalty is None else penalty
    if not isinstance(pen, (int, float)) or not math.isfinite(pen) or pen < 0:
        raise ValueError(f"penalty must be a finite number >= 0, got {penalty!r}")
    if n < 2 * min_size:
        return []
    sd = jitter_scale(x)
    if sd == 0:
        return []  # constant series
    # The fits square the series in noise units: a jitter under 1e-100 of the range (no real
    # series, but [-1, 0, 0, 1e-172] is one) would overflow them, so it counts as that much.
    sd = max(sd, float(np.ptp(x)) * 1e-100)
    y = clean_outliers(x, sd, max(2, min_size)) if robust else x
    candidates = binseg((y - np.median(y)) / sd, math.log(n), min_size)
    if not candidates:
        return []
    judge = Judge(x, y, sd, window=_WINDOW, penalty=float(pen), min_shift=min_shift, min_relative=min_relative,
                  rank_test=robust)
    kept = prune(judge, candidates, n)
    if wander > 0:
        kept = drop_wander(judge, candidates, kept, n, float(wander))
    out = []
    bounds = [0, *kept, n]
    for i, (t, ev) in enumerate(kept.items(), start=1):
        first, last = judge.location(bounds[i - 1], t, bounds[i + 1], ev)
        p = max(ev.p_step, ev.p_rank)
        rel = ev.after / ev.before - 1.0 if judge.min_relative > 0 or bool((x > 0).all()) else None
        out.append(ChangePoint(t, ev.before, ev.after, rel, abs(ev.step) / ev.noise, p, 1.0 - p,
                               first, last, ev.trend))
    return out


def change_points(
    values: Sequence[float],
    *,
    min_size: int = 3,
    penalty: float | None = None,
    min_shift: float = 1.0,
    min_relative: float = 0.02,
    robust: bool = True,
    wander: float = WANDER_Z,
) -> list[int]:
    """Indices where a new level starts, for one series in time order (see detect_changes).

    An empty list means one level throughout. Indices are 0-based and never 0: ``[40]`` means
    values[40] is the first point of the new level. About O(n log n): 10,000 points take a
    small fraction of a second.
    """
    return [c.index for c in detect_changes(values, min_size=min_size, penalty=penalty,
                                            min_shift=min_shift, min_relative=min_relative,
                                            robust=robust, wander=wander)]


def baseline_window(
    run_medians: Sequence[float],
    *,
    min_runs: int = 3,
    max_runs: int = 20,
) -> int:
    """Index into ``run_medians`` (oldest first) where the baseline window starts.

    The window holds the runs after the most recent change point, so a level that changed
    for good (a regression that was accepted, a faster runner fleet) is not compared with the
    old level. A change point with fewer than ``min_runs`` runs after it is not trusted yet
    (too recent to tell from a spike), and the window never reaches back more than
    ``max_runs`` runs. Pass the history of the main line without the run being judged.
    """
    return baseline_change(run_medians, min_runs=min_runs, max_runs=max_runs)[0]


def baseline_change(
    run_medians: Sequence[float],
    *,
    min_runs: int = 3,
    max_runs: int = 20,
) -> tuple[int, ChangePoint | None]:
    """:func:`baseline_window`'s start, and the change point that put it there (None when the
    window starts where it does only because it holds ``max_runs`` runs, or at 0)."""
    if min_runs < 1 or max_runs < min_runs:
        raise ValueError(f"need 1 <= min_runs <= max_runs, got {min_runs} and {max_runs}")
    n = len(run_medians)
    floor = max(0, n - max_runs)
    if n < 2 * min_runs:
        return floor, None
    # Look back a little further than the window so a change near its start is still seen.
    look = max(0, n - 3 * max_runs)
    changes = [replace(c, index=look + c.index, first=look + c.first, last=look + c.last)
               for c in detect_changes(list(run_medians)[look:], min_size=min_runs)]
    trusted = [c for c in changes if n - c.index >= min_runs]
    if trusted and trusted[-1].index >= floor:
        return trusted[-1].index, trusted[-1]
    return floor, None


def series_noise(run_medians: Sequence[float]) -> float | None:
    """The series' noise band: a relative change that run-to-run variation alone rarely reaches.

    Computed from the log changes between consecutive run medians (oldest first), which are
    blind to slow drifts and to a single level shift, with a robust standard deviation
    (1.4826 × MAD) times 2.5. Because consecutive changes carry the noise of two runs, the band
    is about 3.5 standard deviations of one run's median: ordinary noise crosses it in well
    under 1 % of runs. Returns None with fewer than 5 runs, where no honest estimate exists.
    Pass the medians of the baseline window (after the last change point).
    """
    if isinstance(run_medians, (list, tuple)) and len(run_medians) < 64:
        # Plain Python is 20x faster than numpy on a few dozen values, and aggregate calls
        # this once per series (20,000 times on a large run).
        xs = [float(v) for v in run_medians] if all(isinstance(v, (int, float)) for v in run_medians) else None
        if xs is not None and all(math.isfinite(v) and v > 0 for v in xs):
            if len(xs) < _NOISE_MIN_RUNS:
                return None
            logs = [math.log(v) for v in xs]
            d = [b - a for a, b in zip(logs, logs[1:])]  # noqa: B905 - lengths differ by one
            mid = statistics.median(d)
            sd = 1.4826 * statistics.median([abs(v - mid) for v in d])
            return math.expm1(_NOISE_Z * sd)
    x = np.asarray(run_medians, dtype=float)
    bad = ~np.isfinite(x) | (x <= 0)
    if x.ndim != 1 or bad.any():
        where = f" (run_medians[{int(np.argmax(bad))}] = {x[np.argmax(bad)]!r})" if x.ndim == 1 else ""
        raise ValueError(f"run_medians must be finite numbers > 0{where}")
    if x.size < _NOISE_MIN_RUNS:
        return None
    d = np.diff(np.log(x))
    sd = 1.4826 * float(np.median(np.abs(d - np.median(d))))
    return float(np.expm1(_NOISE_Z * sd))
