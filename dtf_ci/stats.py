"""Verdicts a team can trust: compare a series' samples with its baseline.

A verdict rests on four numbers, all on the log scale so that "twice as slow" and "half as
slow" are equally far from "unchanged" and multiplying every value by a constant changes
nothing:

* the **ratio** current ÷ baseline, estimated by Hodges–Lehmann (the median of all pairwise
  log ratios): robust to outliers, exact on tiny samples, no random resampling;
* its **confidence interval** (95 %), the Moses interval that belongs to that estimator (order
  statistics of the pairwise ratios at the Mann–Whitney critical value);
* a **p-value** from the Mann–Whitney U test (exact null distribution for small samples
  without ties, normal approximation with tie correction otherwise);
* a **material threshold**: the larger of the user's threshold and the series' own noise band
  from history (:func:`series_noise`).

A change is a regression (or improvement) only when it is both significant and material; a
change that looks material but is not significant is "inconclusive"; anything inside the
threshold is "unchanged". Across one run, :func:`compare_many` adds Benjamini–Hochberg
false-discovery-rate control.

Zero and negative values are measurements too (allocs/op = 0, a signed offset). Where either
side holds one, the log scale does not exist, so that series is compared on the **difference
scale** instead: the same estimator, interval and test on current − baseline (the test is the
same one: ranks do not care about the scale), and "material" means the difference exceeds the
threshold times the baseline's magnitude (any difference from a baseline of exactly 0). Change points and machine drift live in
:mod:`dtf_ci.changepoints` and :mod:`dtf_ci.drift` and are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from dtf_ci.changepoints import baseline_window, change_points
from dtf_ci.changepoints import series_noise as _log_noise
from dtf_ci.drift import DriftFinding, detect_drift
from dtf_ci.ranks import _EXACT_MAX, _u_cdf

__all__ = [
    "ALPHA", "CONFIDENCE", "Comparison", "DriftFinding", "baseline_window", "benjamini_hochberg",
    "bh_adjust", "change_points", "compare", "compare_many", "detect_drift", "series_noise",
]

#: Raw significance level of a single :func:`compare`. 1 % keeps the false-alarm rate of one
#: series at or below 1 % whatever the noise shape (the test is exact under no change).
ALPHA = 0.01
#: Level of the reported confidence interval.
CONFIDENCE = 0.95
#: Pairwise differences held in memory at once by the batch path (elements).
_CHUNK = 2_000_000
#: Far outliers: samples beyond this many robust standard deviations from their own side's
#: median are set aside (a GC pause, a noisy neighbour), when each side has _TRIM_MIN samples.
_TRIM_Z = 5.0
_TRIM_MIN = 5

VERDICTS = ("regression", "improvement", "unchanged", "inconclusive")


@dataclass(frozen=True)
class Comparison:
    """The verdict of one series and the numbers behind it.

    ``ratio`` is current ÷ baseline whatever the direction (above 1: the metric grew);
    ``ci_low``/``ci_high`` bound it at 95 %; ``p_value`` is the raw two-sided Mann–Whitney
    p-value; ``q_value`` the Benjamini–Hochberg adjusted one (only from :func:`compare_many`);
    ``threshold`` the material threshold that was applied (a fraction, 0.03 = 3 %);
    ``baseline_n``/``current_n`` the samples used and ``outliers`` the far outliers set aside.

    ``scale`` is ``"log"`` (all values > 0) or ``"difference"`` (a side held a zero or a
    negative value); on the difference scale ``difference``/``diff_low``/``diff_high`` are the
    Hodges–Lehmann shift current − baseline and its interval, and ``ratio`` is
    1 + difference / |baseline median| (NaN when that median is 0). A ratio too large for a
    float (values from 1e-300 to 1e300) is ``inf``; ``log_ratio`` keeps it exactly.
    """

    verdict: str
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    q_value: float | None = None
    threshold: float = 0.0
    baseline_n: int = 0
    current_n: int = 0
    outliers: int = 0
    reason: str = ""
    scale: str = "log"
    difference: float | None = None
    diff_low: float | None = None
    diff_high: float | None = None
    log_ratio: float | None = None

    @property
    def effective_threshold(self) -> float:
        """Alias of ``threshold``: max(user threshold, noise band)."""
        return self.threshold


# --------------------------------------------------------------------------- validation


def _check_values(values: object, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D float array, or raise a ValueError that names the problem.

    Zero and negative values are accepted (they select the difference scale); NaN and
    infinities are not measurements.
    """
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: values must be numbers ({exc})") from None
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a flat sequence of numbers, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: a comparison needs at least one sample per side")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name}[{i}] {'is NaN' if np.isnan(arr[i]) else 'is infinite'}")
    return arr


def _check_direction(direction: object, name: str = "direction") -> bool:
    """True when lower is better."""
    if direction not in ("lower", "higher"):
        raise ValueError(f"{name} must be 'lower' or 'higher', got {direction!r}")
    return direction == "lower"


def _check_fraction(value: object, name: str, *, allow_none: bool = False) -> float:
    if value is None and allow_none:
        return 0.0
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite fraction >= 0 (0.03 = 3 %), got {value!r}")
    return v


def _set_aside(lb: np.ndarray, lc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Far outliers in rows of log samples: beyond 5 robust SDs of their own side's median.

    Returns keep-masks for ``lb`` (k, n) and ``lc`` (k, m) and the count set aside per row. The
    scale is the MAD of both sides' residuals pooled, so a shift between the sides does not
    inflate it. Ordinary noise (normal, skewed, bimodal up to a CV of 10 %) is never that far
    out; a 20 % GC pause on a 2 %-noise benchmark is, and left in it costs the Mann–Whitney
    test most of its power (it takes the top rank whatever its side).
    """
    kb, kc = np.ones(lb.shape, dtype=bool), np.ones(lc.shape, dtype=bool)
    if min(lb.shape[1], lc.shape[1]) < _TRIM_MIN:
        return kb, kc, np.zeros(lb.shape[0], dtype=np.int64)
    rb = lb - np.median(lb, axis=1, keepdims=True)
    rc = lc - np.median(lc, axis=1, keepdims=True)
    scale = 1.4826 * np.median(np.abs(np.concatenate([rb, rc], axis=1)), axis=1, keepdims=True)
    kb = (np.abs(rb) <= _TRIM_Z * scale) | (scale == 0)
    kc = (np.abs(rc) <= _TRIM_Z * scale) | (scale == 0)
    ok = (kb.sum(axis=1) >= 2) & (kc.sum(axis=1) >= 2)
    kb[~ok], kc[~ok] = True, True
    return kb, kc, (~kb).sum(axis=1) + (~kc).sum(axis=1)


# ------------------------------------------------------------------ Mann–Whitney machinery


def _ci_rank(n: int, m: int) -> int:
    """The Moses interval's rank C: CI = [D_(C), D_(nm+1-C)] over sorted pairwise differences."""
    half = (1.0 - CONFIDENCE) / 2.0
    if max(n, m) <= _EXACT_MAX:
        c = int(np.searchsorted(_u_cdf(n, m), half, side="right"))
    else:
        sd = math.sqrt(n * m * (n + m + 1) / 12.0)
        c = int(math.floor(n * m / 2.0 - NormalDist().inv_cdf(1.0 - half) * sd + 0.5))
    return max(1, min(c, (n * m + 1) // 2))


_erfc = np.frompyfunc(math.erfc, 1, 1)


def _norm_sf(z: np.ndarray) -> np.ndarray:
    """Upper tail of the standard normal (no scipy import: ``dtf`` should start fast)."""
    return 0.5 * np.asarray(_erfc(np.asarray(z, dtype=float) / math.sqrt(2.0)), dtype=float)


def _tie_term(pooled_sorted: np.ndarray) -> np.ndarray:
    """Per row, sum over tie groups of (t^3 - t) for the tie-corrected U variance."""
    k, size = pooled_sorted.shape
    new_group = np.ones((k, size), dtype=bool)
    new_group[:, 1:] = pooled_sorted[:, 1:] != pooled_sorted[:, :-1]
    gid = np.cumsum(new_group, axis=1) - 1 + (np.arange(k) * size)[:, None]
    counts = np.bincount(gid.ravel(), minlength=k * size).reshape(k, size).astype(float)
    return (counts**3 - counts).sum(axis=1)


def _core(lb: np.ndarray, lc: np.ndarray) -> tuple[np.ndarray, ...]:
    """HL log ratio, Moses CI bounds and Mann–Whitney p for rows of equal sizes.

    ``lb`` (k, n) and ``lc`` (k, m) are log samples. Everything is vectorized over the k rows:
    one array of pairwise differences, one partition, no resampling loop.
    """
    k, n = lb.shape
    m = lc.shape[1]
    nm = n * m
    diffs = (lc[:, None, :] - lb[:, :, None]).reshape(k, nm)
    u = (diffs > 0).sum(axis=1) + 0.5 * (diffs == 0).sum(axis=1)
    c = _ci_rank(n, m)
    kth = sorted({c - 1, (nm - 1) // 2, nm // 2, nm - c})
    part = np.partition(diffs, kth, axis=1)
    hl = 0.5 * (part[:, (nm - 1) // 2] + part[:, nm // 2])
    lo, hi = part[:, c - 1], part[:, nm - c]

    pooled = np.sort(np.concatenate([lb, lc], axis=1), axis=1)
    ties = (pooled[:, 1:] == pooled[:, :-1]).any(axis=1)
    p = np.empty(k)
    exact = ~ties if max(n, m) <= _EXACT_MAX else np.zeros(k, dtype=bool)
    if exact.any():
        cdf = _u_cdf(n, m)
        ui = np.rint(u[exact]).astype(np.int64)
        # U is symmetric about nm/2: the two-sided p is twice the nearer tail, and swapping
        # the samples gives exactly the same p.
        p[exact] = np.minimum(1.0, 2.0 * cdf[np.minimum(ui, nm - ui)])
    approx = ~exact
    if approx.any():
        size = n + m
        tie = _tie_term(pooled[approx])
        var = nm / 12.0 * ((size + 1) - tie / (size * (size - 1)))
        dev = np.abs(u[approx] - nm / 2.0) - 0.5
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(var > 0, np.maximum(dev, 0.0) / np.sqrt(np.maximum(var, 1e-300)), 0.0)
        p[approx] = np.minimum(1.0, 2.0 * _norm_sf(z))
    return hl, lo, hi, p


# ------------------------------------------------------------------------ public API


def _verdicts(
    hl: np.ndarray,
    lower_better: np.ndarray,
    thr: np.ndarray,
    significant: np.ndarray,
    too_few: np.ndarray,
    ref: np.ndarray | None = None,
) -> np.ndarray:
    """Verdict per row. ``ref`` is NaN on log-scale rows and |baseline median| on difference rows.

    Log rows are material beyond log1p(threshold); difference rows beyond threshold × ref,
    or at any difference when the baseline's median is exactly 0.
    """
    worse = np.where(lower_better, hl, -hl)
    out = np.full(hl.shape, "unchanged", dtype=object)
    if ref is None:
        ref = np.full(hl.shape, np.nan)
    diff_rows = ~np.isnan(ref)
    with np.errstate(invalid="ignore", over="ignore"):
        material = np.where(diff_rows, np.abs(worse) > thr * np.nan_to_num(ref), np.abs(worse) > np.log1p(thr))
    out[material & ~significant] = "inconclusive"
    out[material & significant & (worse > 0)] = "regression"
    out[material & significant & (worse < 0)] = "improvement"
    out[too_few] = "inconclusive"
    return out


def _change_text(log_ratio: float, diff: float | None, ref: float | None) -> str:
    """The change in words: a percent, a fold change past float range, or a difference."""
    if diff is not None:
        if ref:
            return f"{diff / ref * 100:+.1f}% ({diff:+.4g} on a baseline median of magnitude {ref:.4g})"
        return f"{diff:+.4g} from a baseline median of 0"
    if abs(log_ratio) > 700:  # exp would overflow: say it in powers of ten
        return f"×1e{log_ratio / math.log(10):+.0f}"
    return f"{math.expm1(log_ratio) * 100:+.1f}%"


def _reason(verdict: str, ratio: float, p: float, q: float | None, thr: float, nb: int, nc: int,
            removed: int = 0, change: str | None = None) -> str:
    if change is None:
        change = f"{(ratio - 1) * 100:+.1f}%"
    if min(nb, nc) < 2:
        return f"too few samples ({nb} baseline, {nc} current): need at least 2 on each side"
    sig = f"p={p:.2g}" + (f", q={q:.2g}" if q is not None else "")
    if verdict == "unchanged":
        text = f"{change} is within the {thr * 100:.1f}% threshold"
    elif verdict == "inconclusive":
        text = f"{change} is beyond the {thr * 100:.1f}% threshold but not significant ({sig})"
    else:
        text = f"{change}, beyond the {thr * 100:.1f}% threshold and significant ({sig})"
    if removed:
        text += f"; {removed} far outlier{'s' if removed > 1 else ''} set aside"
    return text


def compare(
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    direction: str = "lower",
    threshold: float = 0.03,
    noise: float | None = None,
    alpha: float = ALPHA,
) -> Comparison:
    """Compare one series' current samples with its baseline samples.

    ``direction="lower"`` means smaller is better (times); ``"higher"`` means bigger is better
    (throughput). ``threshold`` is the smallest relative change worth reporting (0.03 = 3 %),
    ``noise`` the series' own noise band from :func:`series_noise`; the material threshold is
    the larger of the two. A single call uses the raw significance level ``alpha`` (1 %), no
    multiplicity correction: for all series of a run use :func:`compare_many`. Fewer than 2
    samples on either side always gives "inconclusive". Bad input raises ValueError.
    """
    return _run([(baseline, current)], [direction], [threshold], [noise], None, alpha, "raise",
                single=True)[0]


def compare_many(
    pairs: Sequence[tuple[Sequence[float], Sequence[float]]],
    *,
    directions: Sequence[str],
    thresholds: Sequence[float],
    noises: Sequence[float | None] | None = None,
    fdr: float = 0.05,
    alpha: float = ALPHA,
    on_invalid: str = "raise",
) -> list[Comparison]:
    """Compare every series of one run: ``pairs[i] = (baseline, current)``.

    Vectorized: series are grouped by sample sizes and each group is one numpy computation.
    A series is a regression or improvement only when the change is material, its raw p is at
    most ``alpha`` (as in :func:`compare`) **and** its Benjamini–Hochberg adjusted p (``q_value``)
    is at most ``fdr`` over all series of the run. The first rule bounds the false-alarm rate
    of each series, the second the share of false alarms among all alarms of a large run.

    ``on_invalid="raise"`` raises ValueError naming the first bad series (``pairs[17]``);
    ``"inconclusive"`` turns such a series into an inconclusive Comparison whose ``reason``
    says what was wrong, so one bad series cannot sink a whole run's report.
    """
    k = len(pairs)
    if len(directions) != k or len(thresholds) != k or (noises is not None and len(noises) != k):
        raise ValueError("compare_many: directions, thresholds and noises need one entry per pair")
    if on_invalid not in ("raise", "inconclusive"):
        raise ValueError(f"on_invalid must be 'raise' or 'inconclusive', got {on_invalid!r}")
    return _run(pairs, directions, thresholds, [None] * k if noises is None else noises,
                _check_fraction(fdr, "fdr"), alpha, on_invalid)


def _by_size(logs: list[tuple[np.ndarray, np.ndarray]]) -> dict[tuple[int, int], list[int]]:
    groups: dict[tuple[int, int], list[int]] = {}
    for j, (lb, lc) in enumerate(logs):
        groups.setdefault((lb.size, lc.size), []).append(j)
    return groups


def _run(pairs, directions, thresholds, noises, fdr: float | None, alpha: float, on_invalid: str,
         single: bool = False) -> list[Comparison]:
    """Validate, set far outliers aside, group by sizes, test, adjust, decide."""
    alpha = _check_fraction(alpha, "alpha")
    k = len(pairs)
    results: list[Comparison | None] = [None] * k
    lower, thr = np.zeros(k, dtype=bool), np.zeros(k)
    ref = np.full(k, np.nan)  # |baseline median| of difference-scale rows, NaN on log rows
    logs: list[tuple[np.ndarray, np.ndarray]] = []
    valid: list[int] = []
    removed = [0] * k
    for i, pair in enumerate(pairs):
        try:
            if len(pair) != 2:
                raise ValueError("expected a (baseline, current) pair")
            lower[i] = _check_direction(directions[i])
            thr[i] = max(_check_fraction(thresholds[i], "threshold"),
                         _check_fraction(noises[i], "noise", allow_none=True))
            lb = _check_values(pair[0], "baseline")
            lc = _check_values(pair[1], "current")
        except ValueError as exc:
            if on_invalid == "raise":
                raise ValueError(str(exc) if single else f"pairs[{i}]: {exc}") from None
            results[i] = Comparison("inconclusive", math.nan, math.nan, math.nan, math.nan,
                                    reason=f"invalid samples: {exc}")
            continue
        if (lb > 0).all() and (lc > 0).all():
            lb, lc = np.log(lb), np.log(lc)
        else:  # a zero or a negative value: no log scale, compare differences
            ref[i] = abs(float(np.median(lb)))
        if lb.size * lc.size > _CHUNK:
            # Thousands of samples per side: evenly spaced quantiles keep the pairwise array
            # in memory and make the test, if anything, conservative.
            side = int(math.isqrt(_CHUNK))
            lb, lc = (np.quantile(x, np.linspace(0, 1, min(x.size, side))) for x in (lb, lc))
        logs.append((lb, lc))
        valid.append(i)
    vix = np.asarray(valid, dtype=np.int64)
    for idx in _by_size(logs).values():  # set far outliers aside, then regroup
        ix = np.asarray(idx)
        lb, lc = np.stack([logs[j][0] for j in ix]), np.stack([logs[j][1] for j in ix])
        kb, kc, rem = _set_aside(lb, lc)
        for r in np.flatnonzero(rem):
            logs[ix[r]] = (lb[r][kb[r]], lc[r][kc[r]])
            removed[vix[ix[r]]] = int(rem[r])
    groups = _by_size(logs)
    sizes = np.array([(lb.size, lc.size) for lb, lc in logs], dtype=np.int64).reshape(-1, 2)
    hl, lo, hi, p = (np.zeros(len(valid)) for _ in range(4))
    for (n, m), idx in sorted(groups.items()):
        step = max(1, _CHUNK // (n * m))
        for s in range(0, len(idx), step):
            ix = np.asarray(idx[s : s + step])
            with np.errstate(over="ignore", invalid="ignore"):
                hl[ix], lo[ix], hi[ix], p[ix] = _core(np.stack([logs[j][0] for j in ix]),
                                                      np.stack([logs[j][1] for j in ix]))
    q = bh_adjust(p) if fdr is not None else None
    significant = (p <= alpha) & (q <= fdr if q is not None else True)
    too_few = (sizes.min(axis=1) if len(logs) else np.zeros(0)) < 2
    verdicts = _verdicts(hl, lower[vix], thr[vix], significant, too_few, ref[vix])
    for j, i in enumerate(valid):
        v, nb, nc = str(verdicts[j]), int(sizes[j, 0]), int(sizes[j, 1])
        qj = None if q is None else float(q[j])
        results[i] = _comparison(v, float(hl[j]), float(lo[j]), float(hi[j]), float(p[j]), qj,
                                 float(thr[i]), nb, nc, removed[i], float(ref[i]))
    return results  # type: ignore[return-value]


def _comparison(v: str, hl: float, lo: float, hi: float, p: float, q: float | None, thr: float,
                nb: int, nc: int, removed: int, ref: float) -> Comparison:
    """One result row on its scale: log ratios become ratios, differences stay differences."""
    if math.isnan(ref):  # log scale; exp past ~1e308 is inf, the log ratio stays exact
        ratio, cl, ch = (math.exp(x) if x < 709.0 else math.inf for x in (hl, lo, hi))
        change = _change_text(hl, None, None)
        return Comparison(v, ratio, cl, ch, p, q, thr, nb, nc, removed,
                          _reason(v, ratio, p, q, thr, nb, nc, removed, change), log_ratio=hl)
    if ref > 0:
        ratio, cl, ch = (1.0 + x / ref for x in (hl, lo, hi))
    else:
        ratio = cl = ch = math.nan
    change = _change_text(0.0, hl, ref)
    return Comparison(v, ratio, cl, ch, p, q, thr, nb, nc, removed,
                      _reason(v, ratio, p, q, thr, nb, nc, removed, change), scale="difference",
                      difference=hl, diff_low=lo, diff_high=hi)


def series_noise(run_medians: Sequence[float]) -> float | None:
    """The series' noise band as a fraction (see :func:`dtf_ci.changepoints.series_noise`).

    All medians > 0: the band of the log changes between consecutive runs. A zero or a
    negative median (allocs/op = 0) has no log: the band then comes from the plain changes
    between consecutive runs, 2.5 robust standard deviations of them, relative to the
    magnitude of the median run (None when that is 0: the user's threshold alone applies).
    NaN and infinite medians are left out rather than failing every later run.
    """
    xs = [float(v) for v in run_medians if isinstance(v, (int, float)) and math.isfinite(v)]
    if all(v > 0 for v in xs):
        try:
            with np.errstate(over="ignore"):
                band = _log_noise(xs)
        except OverflowError:  # runs 1e166 apart: no band a threshold could use
            return None
        return band if band is None or math.isfinite(band) else None
    if len(xs) < 5:
        return None
    x = np.asarray(xs)
    level = abs(float(np.median(x)))
    if level == 0:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        d = np.diff(x)
        sd = 1.4826 * float(np.median(np.abs(d - np.median(d))))
        band = 2.5 * sd / level
    return band if math.isfinite(band) else None


def bh_adjust(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), in the input order.

    q_(i) = min over j >= i of p_(j) * m / j, capped at 1: a series is a discovery at false
    discovery rate ``f`` exactly when its q is at most ``f``.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError("p_values must be a flat sequence")
    if p.size and (np.isnan(p).any() or (p < 0).any() or (p > 1).any()):
        raise ValueError("p_values must lie in [0, 1] (NaN is not a p-value)")
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="mergesort")
    scaled = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def benjamini_hochberg(p_values: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Which hypotheses are discoveries at false discovery rate ``alpha`` (step-up BH)."""
    a = _check_fraction(alpha, "alpha")
    bh_adjust(p_values)  # validates: finite values in [0, 1]
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return []
    # The step-up rule on the raw p-values, not q <= alpha: q = p·m/k can round above alpha
    # when p_(k) equals k·alpha/m exactly.
    order = np.argsort(p, kind="mergesort")
    passing = np.flatnonzero(p[order] <= np.arange(1, m + 1) * a / m)
    out = np.zeros(m, dtype=bool)
    if passing.size:
        out[order[: passing[-1] + 1]] = True
    return [bool(x) for x in out]
