"""Tests of dtf_ci.stats: verdicts, FDR, change points, baseline window, noise, drift.

Unit tests pin behaviour on hand-made cases; hypothesis property tests check the promises
the docs make (swap symmetry, unit invariance, identical samples, clear errors). No timing
assertions: speed is measured by benchmarks/bench_stats.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from dtf_ci import stats
from dtf_ci.stats import Comparison, DriftFinding

PROPS = settings(max_examples=150, deadline=None)


def noisy(level: float, n: int, cv: float = 0.02, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(level * (1.0 + cv * rng.standard_normal(n)))


# ------------------------------------------------------------------------ compare


def test_clear_slowdown_is_a_regression_with_its_ratio_and_interval() -> None:
    c = stats.compare(noisy(1.0, 10), noisy(1.10, 10, seed=1))
    assert isinstance(c, Comparison)
    assert c.verdict == "regression"
    assert c.ci_low < c.ratio < c.ci_high
    assert 1.05 < c.ratio < 1.15
    assert c.ci_low > 1.0
    assert c.p_value < 0.01
    assert c.q_value is None
    assert c.threshold == 0.03
    assert (c.baseline_n, c.current_n) == (10, 10)
    assert "significant" in c.reason


def test_direction_higher_turns_a_drop_into_the_regression() -> None:
    base, cur = noisy(1000.0, 10), noisy(900.0, 10, seed=1)
    assert stats.compare(base, cur, direction="higher").verdict == "regression"
    assert stats.compare(base, cur, direction="lower").verdict == "improvement"
    assert stats.compare(base, cur, direction="higher").ratio < 1


def test_small_change_within_threshold_is_unchanged_even_when_significant() -> None:
    c = stats.compare(noisy(1.0, 30, cv=0.002), noisy(1.01, 30, cv=0.002, seed=1))
    assert c.p_value < 0.001
    assert c.verdict == "unchanged"


def test_material_but_not_significant_is_inconclusive() -> None:
    c = stats.compare([1.0, 1.3, 0.8], [1.2, 1.5, 1.0])
    assert c.verdict == "inconclusive"
    assert "not significant" in c.reason


@pytest.mark.parametrize("base,cur", [([1.0], [1.0, 2.0, 3.0]), ([1.0, 1.1, 0.9], [5.0]), ([1.0], [9.0])])
def test_one_sample_on_either_side_is_inconclusive(base: list[float], cur: list[float]) -> None:
    c = stats.compare(base, cur)
    assert c.verdict == "inconclusive"
    assert "too few samples" in c.reason
    assert math.isfinite(c.ratio)


def test_identical_samples_are_unchanged() -> None:
    c = stats.compare([2.0, 2.0, 2.0], [2.0, 2.0, 2.0])
    assert (c.verdict, c.ratio, c.p_value) == ("unchanged", 1.0, 1.0)


def test_noise_band_raises_the_material_threshold() -> None:
    base, cur = noisy(1.0, 20, cv=0.005), noisy(1.05, 20, cv=0.005, seed=1)
    assert stats.compare(base, cur).verdict == "regression"
    quiet = stats.compare(base, cur, noise=0.08)
    assert quiet.verdict == "unchanged"
    assert quiet.threshold == 0.08
    assert quiet.effective_threshold == 0.08
    assert stats.compare(base, cur, noise=0.01).threshold == 0.03


def test_far_outlier_is_set_aside_and_reported() -> None:
    base = noisy(1.0, 10)
    cur = noisy(1.05, 10, seed=1)
    cur[3] *= 1.8  # a GC pause
    c = stats.compare(base, cur)
    assert c.outliers == 1
    assert c.current_n == 9
    assert c.verdict == "regression"
    assert "far outlier" in c.reason


def test_thousands_of_samples_are_summarized_not_paired() -> None:
    rng = np.random.default_rng(9)
    c = stats.compare(list(rng.lognormal(0, 0.02, 20_000)), list(rng.lognormal(0.05, 0.02, 3_000)))
    assert c.verdict == "regression"
    assert c.ratio == pytest.approx(math.exp(0.05), rel=0.005)
    assert c.baseline_n == c.current_n == 1414


def test_exact_p_value_matches_scipy_for_small_samples() -> None:
    base, cur = [1.0, 1.2, 1.4, 0.9], [1.3, 1.5, 1.7, 1.6, 1.45]
    ours = stats.compare(base, cur).p_value
    ref = sps.mannwhitneyu(cur, base, alternative="two-sided", method="exact").pvalue
    assert ours == pytest.approx(ref, rel=1e-12)


def test_p_value_with_ties_matches_scipy_asymptotic() -> None:
    base = [1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0]
    cur = [2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0, 5.0]
    ours = stats.compare(base, cur).p_value
    ref = sps.mannwhitneyu(cur, base, alternative="two-sided", method="asymptotic").pvalue
    assert ours == pytest.approx(ref, rel=1e-9)


def test_hodges_lehmann_ratio_is_the_median_of_pairwise_ratios() -> None:
    base, cur = [1.0, 2.0, 4.0], [3.0, 5.0]
    expected = math.exp(float(np.median([math.log(c / b) for b in base for c in cur])))
    assert stats.compare(base, cur).ratio == pytest.approx(expected)


@pytest.mark.parametrize(
    "values,words",
    [
        ([], "baseline is empty"),
        ([1.0, float("nan")], "baseline[1] is NaN"),
        ([1.0, float("inf")], "baseline[1] is infinite"),
        (["fast"], "must be numbers"),
        ([[1.0, 2.0]], "flat sequence"),
    ],
)
def test_bad_baseline_values_raise_a_clear_error(values: list, words: str) -> None:
    with pytest.raises(ValueError) as err:
        stats.compare(values, [1.0, 2.0])
    assert words in str(err.value)


def test_bad_current_and_options_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"current\[2\] is NaN"):
        stats.compare([1.0, 2.0], [1.0, 2.0, float("nan")])
    with pytest.raises(ValueError, match="direction must be 'lower' or 'higher'"):
        stats.compare([1.0, 2.0], [1.0, 2.0], direction="smaller")
    with pytest.raises(ValueError, match="threshold"):
        stats.compare([1.0, 2.0], [1.0, 2.0], threshold=-0.1)
    with pytest.raises(ValueError, match="noise"):
        stats.compare([1.0, 2.0], [1.0, 2.0], noise=float("nan"))


# ------------------------------------------------------------------- compare_many and FDR


def test_compare_many_agrees_with_compare_without_fdr() -> None:
    pairs = [(noisy(1.0, n, seed=s), noisy(1.0 + e, m, seed=s + 1))
             for s, (n, m, e) in enumerate([(10, 10, 0.1), (5, 8, 0.0), (3, 3, 0.2), (12, 7, -0.1)])]
    many = stats.compare_many(pairs, directions=["lower"] * 4, thresholds=[0.03] * 4, fdr=1.0)
    for (b, c), m in zip(pairs, many, strict=True):
        one = stats.compare(b, c)
        assert (m.verdict, m.ratio, m.ci_low, m.ci_high, m.p_value) == pytest.approx(
            (one.verdict, one.ratio, one.ci_low, one.ci_high, one.p_value))
        assert m.q_value is not None


def test_fdr_control_removes_a_lone_marginal_finding_in_a_large_run() -> None:
    rng = np.random.default_rng(3)
    marginal = ([1.0, 1.01, 0.99, 1.02, 0.98, 1.0], [1.06, 1.07, 1.05, 1.08, 1.06, 1.04])
    alone = stats.compare(*marginal)
    assert alone.verdict == "regression" and alone.p_value > 0.001
    nulls = [(list(rng.lognormal(0, 0.02, 6)), list(rng.lognormal(0, 0.02, 6))) for _ in range(200)]
    res = stats.compare_many([marginal, *nulls], directions=["lower"] * 201, thresholds=[0.03] * 201)
    assert res[0].verdict == "inconclusive"
    assert res[0].q_value > 0.05
    assert res[0].p_value == pytest.approx(alone.p_value)


def test_compare_many_names_the_bad_series_or_marks_it_inconclusive() -> None:
    pairs = [([1.0, 1.1], [1.0, 1.2]), ([1.0, 1.1], [float("nan"), 1.0])]
    with pytest.raises(ValueError, match=r"pairs\[1\]: current\[0\] is NaN"):
        stats.compare_many(pairs, directions=["lower"] * 2, thresholds=[0.03] * 2)
    res = stats.compare_many(pairs, directions=["lower"] * 2, thresholds=[0.03] * 2,
                             on_invalid="inconclusive")
    assert res[1].verdict == "inconclusive" and "current[0] is NaN" in res[1].reason
    assert math.isnan(res[1].ratio)
    assert res[0].verdict in stats.VERDICTS


def test_compare_many_checks_lengths_and_accepts_an_empty_run() -> None:
    with pytest.raises(ValueError, match="one entry per pair"):
        stats.compare_many([([1.0], [1.0])], directions=[], thresholds=[0.03])
    assert stats.compare_many([], directions=[], thresholds=[]) == []


def test_compare_many_mixed_sizes_and_noises() -> None:
    pairs = [(noisy(1.0, n), noisy(1.2, m, seed=1)) for n, m in [(3, 30), (30, 3), (10, 10), (51, 60)]]
    res = stats.compare_many(pairs, directions=["lower"] * 4, thresholds=[0.03] * 4,
                             noises=[None, 0.5, None, None])
    assert [r.baseline_n for r in res] == [3, 30, 10, 51]
    assert res[1].verdict == "unchanged" and res[1].threshold == 0.5
    assert res[2].verdict == res[3].verdict == "regression"


def test_benjamini_hochberg_matches_scipy() -> None:
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    assert stats.bh_adjust(p) == pytest.approx(sps.false_discovery_control(p, method="bh"))
    assert stats.benjamini_hochberg(p, 0.05) == [True, True] + [False] * 8
    assert stats.benjamini_hochberg([], 0.05) == []
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.bh_adjust([0.1, float("nan")])


# ------------------------------------------------------------- change points, history


def test_change_points_finds_a_step_and_ignores_a_spike() -> None:
    rng = np.random.default_rng(1)
    x = 100 * (1 + 0.01 * rng.standard_normal(120))
    x[60:] *= 1.08
    x[25] *= 1.5  # one bad run
    cps = stats.change_points(x)
    assert len(cps) == 1 and abs(cps[0] - 60) <= 1


def test_change_points_on_flat_constant_and_short_series() -> None:
    rng = np.random.default_rng(2)
    assert stats.change_points(100 + rng.standard_normal(300)) == []
    assert stats.change_points([5.0] * 50) == []
    assert stats.change_points([1.0, 2.0, 3.0]) == []
    assert stats.change_points([]) == []


def test_change_points_handles_quantized_values_and_options() -> None:
    x = [1.0] * 20 + [2.0] * 20
    assert stats.change_points(x) == [20]
    assert stats.change_points(x, robust=False) == [20]
    with pytest.raises(ValueError, match=r"values\[1\] is NaN"):
        stats.change_points([1.0, float("nan"), 2.0])
    with pytest.raises(ValueError, match="min_size"):
        stats.change_points(x, min_size=0)
    with pytest.raises(ValueError, match="min_shift"):
        stats.change_points(x, min_shift=-1.0)


def test_baseline_window_starts_after_the_last_trusted_change() -> None:
    rng = np.random.default_rng(4)
    medians = list(1.0 + 0.005 * rng.standard_normal(40))
    assert stats.baseline_window(medians) == 20  # no change: the last max_runs runs
    stepped = medians[:30] + [m * 1.2 for m in medians[30:]]
    assert stats.baseline_window(stepped) == 30
    recent = medians[:38] + [m * 1.2 for m in medians[38:]]  # only 2 runs after: not trusted
    assert stats.baseline_window(recent) == 20
    assert stats.baseline_window(medians[:4]) == 0
    assert stats.baseline_window([]) == 0
    with pytest.raises(ValueError):
        stats.baseline_window(medians, min_runs=5, max_runs=3)


def test_series_noise_is_relative_robust_and_needs_history() -> None:
    assert stats.series_noise([1.0, 1.1, 0.9, 1.0]) is None
    rng = np.random.default_rng(5)
    medians = list(1.0 + 0.01 * rng.standard_normal(30))
    band = stats.series_noise(medians)
    assert band is not None and 0.01 < band < 0.08
    assert stats.series_noise([m * 1000 for m in medians]) == pytest.approx(band)
    stepped = medians[:15] + [m * 1.3 for m in medians[15:]]
    assert stats.series_noise(stepped) == pytest.approx(band, rel=0.35)
    # a zero or negative median (allocs/op = 0) gives a band, never an error
    assert stats.series_noise([1.0, -1.0, 1.0, 1.0, 1.0]) is not None


# ------------------------------------------------------------------------- drift


def drift_rows(factors: dict[str, float], per_host: int = 10, target: str = "gpu", seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"host": h, "target": target, "series": f"{h}-s{i}",
             "log_ratio": math.log(f) + 0.005 * rng.standard_normal()}
            for h, f in factors.items() for i in range(per_host)]


def test_drift_names_the_host_and_the_common_factor() -> None:
    found = stats.detect_drift(drift_rows({"a": 1.0, "b": 1.12, "c": 1.0}))
    assert len(found) == 1
    f = found[0]
    assert isinstance(f, DriftFinding)
    assert (f.host, f.target, f.series_count) == ("b", "gpu", 10)
    assert f.factor == pytest.approx(1.12, rel=0.01)
    assert f.share == 1.0 and len(f.series) == 10 and f.peers == 2
    assert "b" in f.reason


def test_no_drift_when_every_host_moved_or_none_did() -> None:
    assert stats.detect_drift(drift_rows({"a": 1.12, "b": 1.12, "c": 1.1})) == []
    assert stats.detect_drift(drift_rows({"a": 1.0, "b": 1.0})) == []
    assert stats.detect_drift(drift_rows({"a": 1.0, "b": 1.2}, per_host=4)) == []  # too few series


def test_single_host_needs_a_strong_coherent_shift() -> None:
    strong = stats.detect_drift(drift_rows({"only": 1.15}))
    assert len(strong) == 1 and "only host" in strong[0].reason
    weak = drift_rows({"only": 1.15})
    for r in weak[:3]:
        r["log_ratio"] = 0.0  # 70 % coherent: enough with peers, not alone
    assert stats.detect_drift(weak) == []
    assert stats.detect_drift(drift_rows({"only": 1.04})) == []  # under 5 %


def test_drift_rejects_malformed_rows() -> None:
    with pytest.raises(ValueError, match="missing key 'log_ratio'"):
        stats.detect_drift([{"host": "a", "target": "t", "series": "s"}])
    with pytest.raises(ValueError, match="must be finite"):
        stats.detect_drift([{"host": "a", "target": "t", "series": "s", "log_ratio": float("nan")}])


# ------------------------------------------------------------------- property tests

# Values on a grid, so that distinct values stay distinct after any rescaling.
value = st.integers(min_value=1, max_value=100_000).map(lambda i: i / 1000.0)
sample = st.lists(value, min_size=1, max_size=25)
MIRROR = {"regression": "improvement", "improvement": "regression",
          "unchanged": "unchanged", "inconclusive": "inconclusive"}


def not_on_an_edge(c: Comparison) -> bool:
    """True unless the ratio sits on the threshold or p on alpha, where rounding may decide."""
    edge = abs(abs(math.log(c.ratio)) - math.log1p(c.threshold)) < 1e-9
    return not edge and abs(c.p_value - stats.ALPHA) > 1e-9


@PROPS
@given(sample, sample, st.sampled_from(["lower", "higher"]))
def test_swapping_baseline_and_current_inverts_everything(b: list[float], c: list[float], d: str) -> None:
    ab, ba = stats.compare(b, c, direction=d), stats.compare(c, b, direction=d)
    assert ba.ratio == pytest.approx(1 / ab.ratio, rel=1e-9)
    assert ba.ci_low == pytest.approx(1 / ab.ci_high, rel=1e-9)
    assert ba.ci_high == pytest.approx(1 / ab.ci_low, rel=1e-9)
    assert ba.p_value == pytest.approx(ab.p_value, rel=1e-9, abs=1e-15)
    assume(not_on_an_edge(ab))
    assert ba.verdict == MIRROR[ab.verdict]


@PROPS
@given(sample, sample, st.floats(min_value=1e-3, max_value=1e3), st.sampled_from(["lower", "higher"]))
def test_rescaling_all_values_changes_nothing(b: list[float], c: list[float], k: float, d: str) -> None:
    one = stats.compare(b, c, direction=d)
    scaled = stats.compare([k * x for x in b], [k * x for x in c], direction=d)
    assert scaled.ratio == pytest.approx(one.ratio, rel=1e-9)
    assert scaled.p_value == pytest.approx(one.p_value, rel=1e-9, abs=1e-15)
    assert scaled.outliers == one.outliers
    assume(not_on_an_edge(one))
    assert scaled.verdict == one.verdict


@PROPS
@given(st.lists(value, min_size=2, max_size=30))
def test_identical_samples_are_always_unchanged(x: list[float]) -> None:
    c = stats.compare(x, list(x))
    assert c.verdict == "unchanged"
    assert c.ratio == pytest.approx(1.0)
    assert c.p_value == pytest.approx(1.0)


@PROPS
@given(st.lists(value, min_size=1, max_size=4), st.lists(value, min_size=1, max_size=4))
def test_tiny_samples_never_crash_and_stay_coherent(b: list[float], c: list[float]) -> None:
    r = stats.compare(b, c)
    assert r.verdict in stats.VERDICTS
    assert r.ci_low <= r.ratio * (1 + 1e-12) and r.ratio <= r.ci_high * (1 + 1e-12)
    assert 0.0 <= r.p_value <= 1.0
    if min(len(b), len(c)) == 1:
        assert r.verdict == "inconclusive"


@PROPS
@given(sample, st.data(), st.sampled_from([float("nan"), float("inf"), -float("inf")]),
       st.booleans())
def test_invalid_values_raise_a_value_error_naming_the_problem(x: list[float], data, bad: float,
                                                                on_current: bool) -> None:
    i = data.draw(st.integers(min_value=0, max_value=len(x)))
    broken = x[:i] + [bad] + x[i:]
    args = ([1.0, 2.0], broken) if on_current else (broken, [1.0, 2.0])
    with pytest.raises(ValueError) as err:
        stats.compare(*args)
    side = "current" if on_current else "baseline"
    word = "NaN" if math.isnan(bad) else "infinite"
    assert f"{side}[{i}]" in str(err.value) and word in str(err.value)


@PROPS
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=50), st.floats(0.001, 0.5))
def test_bh_q_values_are_monotone_and_never_below_p(p: list[float], alpha: float) -> None:
    q = stats.bh_adjust(p)
    assert all(qi >= pi - 1e-15 for qi, pi in zip(q, p, strict=True))
    order = np.argsort(p, kind="mergesort")
    assert all(np.diff(q[order]) >= -1e-15)
    # Step-up definition: the largest k with p_(k) <= k·alpha/m, and everything below it.
    ps = sorted(p)
    k = max([i + 1 for i, pi in enumerate(ps) if pi <= (i + 1) * alpha / len(ps)], default=0)
    assert sum(stats.benjamini_hochberg(p, alpha)) == k


@PROPS
@given(st.lists(st.floats(min_value=-1e3, max_value=1e3), max_size=200), st.integers(1, 6))
def test_change_points_are_sorted_segments_of_at_least_min_size(x: list[float], min_size: int) -> None:
    cps = stats.change_points(x, min_size=min_size)
    bounds = [0, *cps, len(x)]
    assert cps == sorted(set(cps))
    assert all(b - a >= min_size for a, b in zip(bounds, bounds[1:], strict=False)) or not cps
