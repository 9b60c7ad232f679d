"""Issue 9, items 7 and 14: zero, negative and extreme values are measurements, never crashes.

allocs/op = 0 is the most common value a memory benchmark reports; one such value in history
used to make every later aggregate fail ("run_medians must be finite numbers > 0").
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtf_ci import stats
from tests.robustness.loud_shards import noisy, one_run

PROPS = settings(max_examples=120, deadline=None)


def test_zero_baseline_and_zero_current_are_unchanged() -> None:
    r = stats.compare([0.0] * 6, [0.0] * 6)
    assert r.verdict == "unchanged" and r.scale == "difference" and r.difference == 0.0


def test_zero_to_some_allocations_is_a_regression_on_the_difference_scale() -> None:
    r = stats.compare([0.0] * 8, [3.0] * 8)
    assert r.verdict == "regression" and r.scale == "difference"
    assert r.difference == 3.0 and r.diff_low == 3.0 and r.diff_high == 3.0
    assert "+3 from a baseline median of 0" in r.reason
    better = stats.compare([3.0] * 8, [0.0] * 8)
    assert better.verdict == "improvement" and better.ratio == pytest.approx(0.0)


def test_negative_values_compare_relative_to_the_baseline_magnitude() -> None:
    base = [-10.0, -10.1, -9.9, -10.0, -10.05, -9.95, -10.02, -9.98]
    small = stats.compare(base, [x + 0.1 for x in base])  # +1 % of |baseline|: within 3 %
    assert small.verdict == "unchanged" and small.scale == "difference"
    big = stats.compare(base, [x + 2.0 for x in base])  # +20 % of |baseline|: a regression
    assert big.verdict == "regression" and big.ratio == pytest.approx(1.2, abs=0.01)


def test_extreme_magnitudes_give_a_finite_answer_in_powers_of_ten() -> None:
    r = stats.compare([1e-300] * 6, [1e300] * 6)
    assert r.verdict == "regression"
    assert r.log_ratio == pytest.approx(600 * math.log(10))
    assert "×1e+600" in r.reason


def test_series_noise_accepts_zero_and_negative_medians() -> None:
    assert stats.series_noise([0.0] * 10) is None  # no level: the user's threshold applies
    band = stats.series_noise([5.0, 5.1, 0.0, 4.9, 5.0, 5.05, 4.95])
    assert band is not None and 0 <= band < 1
    assert stats.series_noise([-2.0, -2.1, -1.9, -2.0, -2.05, -1.95]) is not None
    wild = stats.series_noise([1.0, 1e100, 1e200, 1e50, 1e250, 1e10, 1e300, 1.0])
    assert wild is None or math.isfinite(wild)  # a band past float range is no band


finite = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False)


@PROPS
@given(st.lists(finite, min_size=1, max_size=12), st.lists(finite, min_size=1, max_size=12),
       st.sampled_from(["lower", "higher"]))
def test_any_finite_values_give_a_verdict_and_a_reason(b: list[float], c: list[float], d: str) -> None:
    r = stats.compare(b, c, direction=d)
    assert r.verdict in stats.VERDICTS
    assert r.reason and 0.0 <= r.p_value <= 1.0
    assert r.scale == ("log" if min(b + c) > 0 else "difference")
    noise = stats.series_noise(b)
    assert noise is None or (math.isfinite(noise) and noise >= 0)


# --------------------------------------------------------------------- through aggregate


def test_one_zero_in_history_never_breaks_later_aggregates(tmp_path) -> None:
    history = tmp_path / "history"
    for i in range(7):
        allocs = [0.0] * 8
        time = noisy(1.0, seed=i) if i != 3 else [0.0] + noisy(1.0, n=7, seed=i)  # one 0 time too
        mixed = noisy(5.0, seed=100 + i) if i != 2 else [0.0] * 8  # one run whose median is 0
        res = one_run(tmp_path, f"r{i}", {("bench", "allocs"): allocs, ("bench", "time"): time,
                                          ("bench", "mixed"): mixed}, history=history)
        assert res.appended, res.notes
    res = one_run(tmp_path, "r7", {("bench", "allocs"): [0.0] * 8, ("bench", "time"): noisy(1.0, seed=7),
                                   ("bench", "mixed"): noisy(5.0, seed=107)}, history=history)
    rows = {r["metric"]: r for r in res.verdicts["series"]}
    assert rows["allocs"]["verdict"] == "unchanged" and rows["allocs"]["scale"] == "difference"
    assert rows["time"]["verdict"] in ("unchanged", "inconclusive")
    assert rows["mixed"]["verdict"] in ("unchanged", "inconclusive")
    assert all("invalid samples" not in r["reason"] for r in rows.values())
    # and a real change from 0 allocations is caught
    res = one_run(tmp_path, "r8", {("bench", "allocs"): [2.0] * 8, ("bench", "time"): noisy(1.0, seed=8),
                                   ("bench", "mixed"): noisy(5.0, seed=108)}, history=history)
    rows = {r["metric"]: r for r in res.verdicts["series"]}
    assert rows["allocs"]["verdict"] == "regression"
    assert rows["allocs"]["difference"] == 2.0
    assert res.verdicts["overall"] == "regression"
    report = (tmp_path / "report-r8" / "report.md").read_text()
    assert "+2.00 count" in report  # the change from 0 reads as a difference, not a blank


def test_values_from_1e_minus_300_to_1e300_keep_the_report(tmp_path) -> None:
    history = tmp_path / "history"
    for i in range(2):
        one_run(tmp_path, f"r{i}", {("x", "tiny"): [1e-300 * (1 + 0.01 * k) for k in range(6)],
                                    ("x", "huge"): [1e300 * (1 + 0.01 * k) for k in range(6)]},
                history=history)
    res = one_run(tmp_path, "r2", {("x", "tiny"): [1e300 * (1 + 0.01 * k) for k in range(6)],
                                   ("x", "huge"): [1e-300 * (1 + 0.01 * k) for k in range(6)]},
                  history=history)
    rows = {r["metric"]: r for r in res.verdicts["series"]}
    assert rows["tiny"]["verdict"] == "regression" and rows["huge"]["verdict"] == "improvement"
    assert rows["tiny"]["log_ratio"] == pytest.approx(600 * math.log(10), rel=1e-3)
    report_dir = tmp_path / "report-r2"
    text = (report_dir / "verdicts.json").read_text()
    assert "Infinity" not in text and "NaN" not in text  # strict JSON for every reader
    json.loads(text)
    md = (report_dir / "report.md").read_text()
    assert "regression" in md and "x" in md and len(md) > 200
    assert "1e+600" in md or "1e+600" in rows["tiny"]["reason"]
