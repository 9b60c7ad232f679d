"""Change points on the main line, and the baseline window they choose.

A series' history (one median per run, oldest first) is cut into segments of constant level
in three steps:

1. **Outlier rejection.** The noise scale is estimated from first differences
   (1.4826 × MAD / √2, barely moved by a level shift), and points further than 3 noise
   standard deviations from a running median are replaced by that median: one bad run (a
   noisy neighbour, a GC pause) must not become two change points.
2. **Penalized segmentation.** PELT (Killick, Fearnhead & Eckley, 2012) finds the exact
   minimum of within-segment squared deviations plus a penalty per change; the default
   penalty is 3·ln(n) noise variances, the "modified BIC" that TCPDBench's best default
   method (binary segmentation) uses. On very long unchanged stretches at most 500
   candidates are carried (exact whenever fewer survive pruning).
3. **Significance pruning.** Each change must separate its two neighbouring segments by a
   Mann–Whitney test at ``alpha`` (default 0.001); the least significant change is merged
   away until all pass. This is distribution-free, so skewed, bimodal and outlier-ridden
   noise does not produce changes that the Gaussian cost alone would accept. (The location
   was chosen to make the segments differ, so p is optimistic: hence the strict level.)

Measured on labeled corpora and TCPD in ``benchmarks/bench_stats.py``; see
``docs/statistics.md``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import numpy as np

__all__ = ["baseline_window", "change_points", "series_noise"]

_MAD_TO_SD = 1.4826
#: Most candidates PELT carries from one point to the next (bounds the worst case to O(n·beam)).
_BEAM = 500
#: Least evidence a perfectly separated pair of short segments must still carry (5 vs 5 runs).
_SEPARATION_P = 0.01
#: Runs of history needed before :func:`series_noise` gives an answer.
_NOISE_MIN_RUNS = 5
#: Multiple of the robust run-to-run standard deviation that makes the noise band.
_NOISE_Z = 2.5


def _robust_scale(x: np.ndarray) -> float:
    """Noise standard deviation from first differences; 0 only for a constant series."""
    d = np.diff(x)
    if d.size == 0:
        return 0.0
    sd = _MAD_TO_SD * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2.0)
    if sd > 0:
        return sd
    # Quantized data (most consecutive runs equal): fall back to the mean absolute change.
    return 1.2533 * float(np.mean(np.abs(d))) / math.sqrt(2.0)


def _running_median(x: np.ndarray, half: int) -> np.ndarray:
    padded = np.pad(x, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return np.median(windows, axis=1)


def _pelt(z: np.ndarray, penalty: float, min_size: int) -> list[int]:
    """Exact penalized segmentation of ``z`` (unit noise) by PELT with pruning.

    For a segment start c and end t the cost is S2(c,t) - S1(c,t)^2 / (t-c) with cumulative
    sums S1, S2; each candidate carries best[c] - cs2[c] and cs[c] so that one step is a few
    vector operations over the surviving candidates.
    """
    n = z.size
    cs = np.concatenate(([0.0], np.cumsum(z)))
    cs2 = np.concatenate(([0.0], np.cumsum(z * z)))
    best = np.full(n + 1, np.inf)
    best[0] = -penalty
    last = np.zeros(n + 1, dtype=np.int64)
    pos = np.zeros(0, dtype=np.int64)
    base = np.zeros(0)
    csum = np.zeros(0)
    for t in range(min_size, n + 1):
        new = t - min_size
        if new == 0 or new >= min_size:
            pos = np.append(pos, new)
            base = np.append(base, best[new] - cs2[new])
            csum = np.append(csum, cs[new])
        d = cs[t] - csum
        total = base + (cs2[t] - d * d / (t - pos))
        j = int(total.argmin())
        best[t] = total[j] + penalty
        last[t] = pos[j]
        keep = total <= best[t]  # PELT pruning: the others can never win again
        if keep.sum() > _BEAM:
            # Long stretches without a change prune nothing and make PELT quadratic: keep the
            # _BEAM best candidates (exact whenever fewer survive, as on any shorter series).
            keep &= total <= np.partition(total, _BEAM - 1)[_BEAM - 1]
        if not keep.all():
            pos, base, csum = pos[keep], base[keep], csum[keep]
    out: list[int] = []
    t = n
    while t > 0:
        t = int(last[t])
        if t > 0:
            out.append(t)
    return sorted(out)


def _mw_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Mann–Whitney p for two samples of any size, from ranks (O(n log n)).

    Segments can hold thousands of points, so this ranks instead of pairing every value.
    """
    from dtf_ci.stats import _EXACT_MAX, _u_cdf  # late: stats imports this module

    n, m = a.size, b.size
    x = np.concatenate([a, b])
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    new = np.concatenate(([True], xs[1:] != xs[:-1]))
    first = np.flatnonzero(new)
    counts = np.diff(np.append(first, x.size))
    ranks = np.empty(x.size)
    ranks[order] = (first + (counts + 1) / 2.0)[np.cumsum(new) - 1]
    u = float(ranks[:n].sum()) - n * (n + 1) / 2.0
    ties = bool((counts > 1).any())
    if not ties and max(n, m) <= _EXACT_MAX:
        ui = int(round(u))
        return float(min(1.0, 2.0 * _u_cdf(n, m)[min(ui, n * m - ui)]))
    size = n + m
    var = n * m / 12.0 * ((size + 1) - float((counts**3 - counts).sum()) / (size * (size - 1)))
    if var <= 0:
        return 1.0
    z = max(abs(u - n * m / 2.0) - 0.5, 0.0) / math.sqrt(var)
    return min(1.0, math.erfc(z / math.sqrt(2.0)))


def _segment_p(x: np.ndarray, bounds: list[int], i: int, alpha: float = 0.0) -> float:
    """Mann–Whitney p between the segments on either side of change ``bounds[i]``.

    Short segments cannot reach a strict ``alpha`` at all (6 runs against 5 give p >= 0.0043),
    which would hide every change in a young history. So a change whose segments are
    perfectly separated, the strongest evidence their sizes allow, is scored as passing.
    """
    a, b = x[bounds[i - 1] : bounds[i]], x[bounds[i] : bounds[i + 1]]
    p = _mw_p(a, b)
    if p > alpha and (a.max() < b.min() or a.min() > b.max()):
        floor = 2.0 / math.comb(a.size + b.size, a.size)
        if alpha < floor <= _SEPARATION_P:
            return alpha
    return p


def _prune(x: np.ndarray, cps: list[int], alpha: float) -> list[int]:
    """Merge away the least significant change until every change passes ``alpha``."""
    bounds = [0, *cps, x.size]
    ps = [_segment_p(x, bounds, i, alpha) for i in range(1, len(bounds) - 1)]
    while ps:
        j = int(np.argmax(ps))
        if ps[j] <= alpha:
            break
        del bounds[j + 1], ps[j]
        # Only the changes next to the merged segment see different neighbours.
        for k in (j - 1, j):
            if 0 <= k < len(ps):
                ps[k] = _segment_p(x, bounds, k + 1, alpha)
    return bounds[1:-1]


def change_points(
    values: Sequence[float],
    *,
    min_size: int = 3,
    penalty: float | None = None,
    alpha: float | None = 0.001,
    robust: bool = True,
) -> list[int]:
    """Indices where a new segment (a new level) starts, for one series in time order.

    ``min_size`` is the shortest segment (in points) that may be reported; ``penalty`` the
    cost of one change in noise variances (default 3·ln n); ``alpha`` the significance each
    change must reach between its neighbouring segments (None: no pruning); ``robust=False``
    keeps outlying points as they are. An empty list means one level throughout. Indices are
    0-based and never 0: ``[40]`` means values[40] is the first point of the new level.
    Roughly linear in the length: 10,000 points take well under a second.
    """
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 1:
        raise ValueError(f"min_size must be an integer >= 1, got {min_size!r}")
    if alpha is not None and not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1] or None, got {alpha!r}")
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
    n = x.size
    if n < 2 * min_size:
        return []
    pen = 3.0 * math.log(n) if penalty is None else float(penalty)
    if not math.isfinite(pen) or pen < 0:
        raise ValueError(f"penalty must be a finite number >= 0, got {penalty!r}")
    sd = _robust_scale(x)
    if sd == 0:
        return []  # constant series
    y = x
    if robust:
        med = _running_median(x, max(2, min_size))
        y = np.where(np.abs(x - med) > 3.0 * sd, med, x)
    cps = _pelt((y - np.median(y)) / sd, pen, min_size)
    if alpha is not None and cps:
        cps = _prune(x, cps, alpha)
    return cps


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
    if min_runs < 1 or max_runs < min_runs:
        raise ValueError(f"need 1 <= min_runs <= max_runs, got {min_runs} and {max_runs}")
    n = len(run_medians)
    floor = max(0, n - max_runs)
    if n < 2 * min_runs:
        return floor
    # Look back a little further than the window so a change near its start is still seen.
    look = max(0, n - 3 * max_runs)
    cps = [look + c for c in change_points(list(run_medians)[look:], min_size=min_runs)]
    trusted = [c for c in cps if n - c >= min_runs]
    start = max(trusted) if trusted else 0
    return max(start, floor)


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
