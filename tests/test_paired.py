"""Paired statistics for interleaved A/B: the test, the estimate, the run-wide FDR."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from dtf_ci.paired import (
    MIN_PAIRS,
    hodges_lehmann,
    joint_fdr,
    log_ratios,
    paired_compare,
    signed_rank_p,
)
from dtf_ci.stats import compare_many


@settings(max_examples=60)
@given(st.lists(st.floats(-0.5, 0.5, allow_nan=False).filter(lambda x: x != 0), min_size=1, max_size=40,
                unique=True))
def test_signed_rank_p_matches_scipy_exact(d: list[float]) -> None:
    if len({abs(x) for x in d}) < len(d):
        return  # ties in |d|: scipy and we both leave the exact path
    ours = signed_rank_p(d)
    theirs = sps.wilcoxon(d, method="exact").pvalue
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)


def test_signed_rank_with_ties_and_zeros_is_a_p_value() -> None:
    p = signed_rank_p([0.0, 0.01, 0.01, -0.01, 0.02, 0.02, 0.03, 0.0])
    assert 0 < p <= 1
    assert signed_rank_p([0.0, 0.0]) == 1.0


def test_eight_pairs_all_one_way_reach_the_one_percent_level_and_seven_cannot() -> None:
    assert signed_rank_p([0.01 * (i + 1) for i in range(MIN_PAIRS)]) == pytest.approx(2 / 2 ** 8)
    assert signed_rank_p([0.01 * (i + 1) for i in range(MIN_PAIRS - 1)]) > 0.01


def test_hodges_lehmann_interval_covers_the_true_shift_about_95_percent() -> None:
    rng = random.Random(7)
    hits = 0
    trials = 400
    for _ in range(trials):
        d = [0.05 + rng.gauss(0, 0.02) for _ in range(10)]
        _, lo, hi = hodges_lehmann(d)
        hits += lo <= 0.05 <= hi
    assert 0.92 <= hits / trials <= 0.99


def test_log_ratios_pair_by_repetition_and_skip_unpaired() -> None:
    d = log_ratios({0: 100.0, 1: 100.0, 2: 50.0}, {0: 110.0, 1: 90.0, 3: 1.0})
    assert d == pytest.approx([math.log(1.1), math.log(0.9)])


def test_paired_verdicts() -> None:
    rng = random.Random(1)
    slow = [math.log(1.05) + rng.gauss(0, 0.014) for _ in range(8)]
    same = [rng.gauss(0, 0.014) for _ in range(8)]
    assert paired_compare(slow).verdict == "regression"
    assert paired_compare(slow, direction="higher").verdict == "improvement"
    assert paired_compare(same).verdict == "unchanged"
    few = paired_compare(slow[:5])
    assert few.verdict == "inconclusive" and "not significant" in few.reason
    assert paired_compare([]).verdict == "inconclusive"


def test_joint_fdr_adjusts_history_and_paired_series_together() -> None:
    rng = np.random.default_rng(3)
    base = list(np.exp(rng.normal(0, 0.01, 10)))
    cur = list(np.exp(rng.normal(math.log(1.06), 0.01, 10)))
    hist = compare_many([(base, cur)], directions=["lower"], thresholds=[0.03])
    pairs = [paired_compare([math.log(1.05) + 0.001 * i for i in range(8)])] + \
        [paired_compare([(-1) ** i * 0.001 * (i + 1) for i in range(8)]) for _ in range(30)]
    h2, p2 = joint_fdr(hist, pairs, history_directions=["lower"], paired_directions=["lower"] * 31)
    assert h2[0].verdict == "regression"
    assert h2[0].q_value is not None and h2[0].q_value >= hist[0].p_value
    # 32 tests in the run: the paired one ranks second, so q = p * 32 / 2 = 0.125 > 5 %,
    # and alone (one test) it would have been a regression.
    assert pairs[0].verdict == "regression"
    assert p2[0].q_value == pytest.approx(pairs[0].p_value * 32 / 2)
    assert p2[0].verdict == "inconclusive" and "q=0.12" in p2[0].reason
    assert all(c.verdict == "unchanged" for c in p2[1:])


def test_interleaved_series_moving_together_are_the_code_not_machine_drift() -> None:
    """Six series on one host all 10 % slower: in history mode that looks like a drifting
    machine; interleaved, the base ran on the same machine, so it is the commit."""
    from dtf_ci.verdicts import RunData, decide

    run = RunData()
    paired = {}
    for i in range(6):
        key = ("t", f"m{i}", "cpu")
        base = [100.0 * (1 + 0.002 * ((j * 7 + i) % 5)) for j in range(8)]
        head = [b * 1.10 for b in base]
        run.series[key] = {"unit": "s", "direction": "lower", "values": head, "hosts": ["h1"]}
        paired[key] = {"d": [math.log(1.10) + 0.001 * j + 0.0001 * i for j in range(8)], "base": base}
    run.units = [{"task": "t", "target": "cpu", "status": "passed", "error_category": "", "reason": ""}]
    rows, drift = decide(run, {}, thresholds={"t": 0.03}, missing_units=[], paired=paired)
    assert drift == []
    assert [r["verdict"] for r in rows] == ["regression"] * 6
    assert all(r["baseline"] == "interleaved" and r["pairs"] == 8 for r in rows)
