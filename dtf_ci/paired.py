"""Paired statistics for interleaved A/B: the two sides of one job, pair by pair.

In an interleaved unit, pair ``p`` is one base and one head sample taken back to back on the
same machine (:mod:`dtf_ci.interleave`). The job's own speed multiplies both, so the log
ratio ``d_p = log(head_p / base_p)`` is free of it; what is left is the within-job noise.
Under "no change" the two samples of a pair are exchangeable, so ``d_p`` is symmetric
around 0 whatever the noise's shape. That is exactly what the tools below need:

* the **ratio**: ``exp`` of the one-sample Hodges–Lehmann estimate, the median of the Walsh
  averages ``(d_i + d_j) / 2`` (robust to a pair hit by a GC pause);
* its **confidence interval**: the order statistics of the Walsh averages at the signed-rank
  critical value (Tukey's interval; exact, distribution-free);
* the **p-value**: the Wilcoxon signed-rank test (exact without ties up to 50 pairs, normal
  approximation with tie correction otherwise).

The exact test's smallest two-sided p-value is ``2 / 2**n``: below 8 pairs it cannot reach
the 1 % level, so interleaved units always take at least :data:`MIN_PAIRS` pairs.

False-discovery-rate control spans the whole run: :func:`joint_fdr` re-adjusts the
history-compared series and the paired ones together (Benjamini–Hochberg), so adding
interleaved series to a run does not loosen the control for the others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from dtf_ci.signedrank import EXACT_MAX as _EXACT_MAX
from dtf_ci.signedrank import MIN_PAIRS, signed_rank_counts, signed_rank_p, walsh_averages
from dtf_ci.stats import ALPHA, CONFIDENCE, Comparison, bh_adjust

__all__ = ["MIN_PAIRS", "hodges_lehmann", "joint_fdr", "log_ratios", "paired_compare", "signed_rank_p"]


def log_ratios(base: dict[int, float], head: dict[int, float]) -> list[float]:
    """``log(head/base)`` of each pair (repetition) present on both sides with values > 0."""
    out = []
    for rep in sorted(set(base) & set(head)):
        b, h = base[rep], head[rep]
        if b > 0 and h > 0 and math.isfinite(b) and math.isfinite(h):
            out.append(math.log(h / b))
    return out


def _ci_index(n: int, confidence: float) -> int:
    """k such that the Walsh averages' k-th smallest and k-th largest bound the interval."""
    a = (1 - confidence) / 2
    if n <= _EXACT_MAX:
        counts = signed_rank_counts(n)
        total = 2 ** n
        cum, k = 0, 0
        for t, c in enumerate(counts):
            cum += c
            if cum / total > a:
                k = t  # P(T+ <= k - 1) <= a
                break
        return max(k, 0)
    from statistics import NormalDist

    mean, sd = n * (n + 1) / 4, math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    return max(int(math.floor(mean - NormalDist().inv_cdf(1 - a) * sd)), 0)


def hodges_lehmann(d: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(estimate, low, high) of the pairs' centre on the log scale, from the Walsh averages."""
    n = len(d)
    walsh = np.asarray(walsh_averages(d))
    est = float(np.median(walsh))
    k = _ci_index(n, confidence)
    if k <= 0:
        return est, float("-inf"), float("inf")
    return est, float(walsh[k - 1]), float(walsh[walsh.size - k])


def _verdict(log_hl: float, direction: str, threshold: float, p: float, q: float | None,
             fdr: float, alpha: float, n: int) -> str:
    if n < 2:
        return "inconclusive"
    worse = log_hl if direction == "lower" else -log_hl
    if abs(worse) <= math.log1p(threshold):
        return "unchanged"
    significant = p <= alpha and (q is None or q <= fdr)
    if not significant:
        return "inconclusive"
    return "regression" if worse > 0 else "improvement"


def _reason(verdict: str, ratio: float, p: float, q: float | None, thr: float, n: int) -> str:
    if n < 2:
        return f"too few A/B pairs ({n}): need at least 2 (and {MIN_PAIRS} to reach the 1% level)"
    change = f"{(ratio - 1) * 100:+.1f}%"
    sig = f"p={p:.2g}" + (f", q={q:.2g}" if q is not None else "")
    where = f"against the base in the same job ({n} A/B pairs)"
    if verdict == "unchanged":
        return f"{change} {where} is within the {thr * 100:.1f}% threshold"
    if verdict == "inconclusive":
        return f"{change} {where} is beyond the {thr * 100:.1f}% threshold but not significant ({sig})"
    return f"{change} {where}, beyond the {thr * 100:.1f}% threshold and significant ({sig})"


def paired_compare(d: Sequence[float], *, direction: str = "lower", threshold: float = 0.03,
                   alpha: float = ALPHA) -> Comparison:
    """Compare one interleaved series from its pairs' log ratios (no multiplicity control)."""
    n = len(d)
    if n == 0:
        return Comparison("inconclusive", math.nan, math.nan, math.nan, math.nan, threshold=threshold,
                          reason=_reason("inconclusive", math.nan, math.nan, None, threshold, 0))
    est, lo, hi = hodges_lehmann(d)
    p = signed_rank_p(d) if n >= 2 else 1.0
    verdict = _verdict(est, direction, threshold, p, None, 1.0, alpha, n)
    ratio = math.exp(est)
    return Comparison(verdict, ratio, math.exp(lo), math.exp(hi), p, None, threshold, n, n, 0,
                      _reason(verdict, ratio, p, None, threshold, n))


def joint_fdr(history: list[Comparison], paired: list[Comparison], *, history_directions: list[str],
              paired_directions: list[str], fdr: float = 0.05, alpha: float = ALPHA,
              ) -> tuple[list[Comparison], list[Comparison]]:
    """Benjamini–Hochberg over both kinds of series of one run; verdicts re-decided with it.

    History comparisons that could not be tested (invalid or too few samples) keep their
    verdict and reason; every tested one gets the run-wide q-value.
    """
    everything = [(c, d, "history") for c, d in zip(history, history_directions, strict=True)]
    everything += [(c, d, "paired") for c, d in zip(paired, paired_directions, strict=True)]
    tested = [i for i, (c, _, _) in enumerate(everything)
              if math.isfinite(c.p_value) and min(c.baseline_n, c.current_n) >= 2]
    q = bh_adjust([everything[i][0].p_value for i in tested]) if tested else np.zeros(0)
    out = [c for c, _, _ in everything]
    for qi, i in zip(q, tested, strict=True):
        c, direction, kind = everything[i]
        verdict = _verdict(math.log(c.ratio), direction, c.threshold, c.p_value, float(qi), fdr, alpha,
                           min(c.baseline_n, c.current_n))
        if kind == "paired":
            reason = _reason(verdict, c.ratio, c.p_value, float(qi), c.threshold, c.current_n)
        else:
            reason = _history_reason(c, verdict, float(qi))
        out[i] = replace(c, verdict=verdict, q_value=float(qi), reason=reason)
    return out[: len(history)], out[len(history):]


def _history_reason(c: Comparison, verdict: str, q: float) -> str:
    change = f"{(c.ratio - 1) * 100:+.1f}%"
    sig = f"p={c.p_value:.2g}, q={q:.2g}"
    thr = c.threshold * 100
    if verdict == "unchanged":
        text = f"{change} is within the {thr:.1f}% threshold"
    elif verdict == "inconclusive":
        text = f"{change} is beyond the {thr:.1f}% threshold but not significant ({sig})"
    else:
        text = f"{change}, beyond the {thr:.1f}% threshold and significant ({sig})"
    if c.outliers:
        text += f"; {c.outliers} far outlier{'s' if c.outliers > 1 else ''} set aside"
    return text


def read_pairs(merged_db: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Series with base samples in the merged shards: their pairs' log ratios and base values."""
    import duckdb

    con = duckdb.connect(merged_db, read_only=True)
    try:
        rows = con.execute(
            """WITH ab AS (SELECT DISTINCT task, target FROM samples WHERE side = 'base')
               SELECT s.task, s.metric, s.target, s.side, list(s.repetition ORDER BY s.repetition),
                      list(s.value ORDER BY s.repetition)
               FROM samples s JOIN ab ON s.task = ab.task AND s.target = ab.target
               WHERE isfinite(s.value) AND s.side IN ('base', 'head')
               GROUP BY s.task, s.metric, s.target, s.side"""
        ).fetchall()
    finally:
        con.close()
    sides: dict[tuple[str, str, str], dict[str, dict[int, float]]] = {}
    for task, metric, target, side, reps, values in rows:
        sides.setdefault((task, metric, target), {})[side] = dict(zip(reps, values, strict=True))
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for key, by_side in sides.items():
        base, head = by_side.get("base", {}), by_side.get("head", {})
        out[key] = {"d": log_ratios(base, head), "base": [base[r] for r in sorted(base)]}
    return out


def decide_paired(to_compare: list[tuple[Any, ...]], comparisons: list[Comparison],
                  to_pair: list[tuple[dict[str, Any], dict[str, Any]]], *, fdr: float,
                  out: list[dict[str, Any]]) -> list[Comparison]:
    """Decide the interleaved series' rows (appended to ``out``) and re-adjust the history
    series' comparisons under one run-wide FDR; returns the history comparisons."""
    import statistics

    pcs = [paired_compare(p["d"], direction=row["direction"], threshold=row["threshold"]) for row, p in to_pair]
    history, pcs = joint_fdr(list(comparisons), pcs, history_directions=[r[0]["direction"] for r in to_compare],
                             paired_directions=[row["direction"] for row, _ in to_pair], fdr=fdr)
    for (row, p), c in zip(to_pair, pcs, strict=True):
        base = [v for v in p["base"] if math.isfinite(v)]
        row.update(verdict=c.verdict, ratio=_num(c.ratio), ci_low=_num(c.ci_low), ci_high=_num(c.ci_high),
                   p_value=_num(c.p_value), q_value=_num(c.q_value), effective_threshold=_num(c.threshold),
                   outliers=0, reason=c.reason, baseline="interleaved", pairs=len(p["d"]),
                   baseline_n=len(base), baseline_median=statistics.median(base) if base else None,
                   baseline_runs=0)
        out.append(row)
    return history


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None
