"""Change points: real series (copies in tests/data/changepoints), made-up series with a known
answer, invariants, and `dtf history changes` on a real history store."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtf_ci.changepoints import baseline_change, baseline_window, change_points, detect_changes
from dtf_ci.cli import main
from dtf_ci.history import LocalStore
from dtf_ci.history_changes import find_changes, landed_in
from dtf_ci.ranks import mann_whitney_p
from dtf_ci.shard import write_shard

DATA = Path(__file__).parent / "data" / "changepoints"
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sap(name: str) -> np.ndarray:
    with open(DATA / f"sap_hana_{name}.csv", encoding="utf-8") as fh:
        return np.array([float(r["Measurement"]) for r in csv.DictReader(fh)])


def tcpd(name: str) -> dict:
    return json.loads((DATA / f"tcpd_{name}.json").read_text())


def tcpd_f1(annotations: dict[str, list[int]], pred: list[int], margin: int = 5) -> float:
    """TCPDBench's F1: 0 added to every set, precision against the union of annotators,
    recall averaged over annotators, one-to-one matches within ``margin``."""
    def hits(truth: set[int], found: set[int]) -> int:
        free, n = set(found), 0
        for tau in sorted(truth):
            close = sorted((abs(tau - x), x) for x in free if abs(tau - x) <= margin)
            if close:
                free.discard(close[0][1])
                n += 1
        return n

    x = set(pred) | {0}
    sets = [set(a) | {0} for a in annotations.values()]
    p = hits(set().union(*sets), x) / len(x)
    r = sum(hits(t, x) / len(t) for t in sets) / len(sets)
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


# ------------------------------------------------------------------------ real series


def test_sap_hana_regression_is_found_where_sap_says_with_size_and_range() -> None:
    (change,) = detect_changes(sap("0002"))  # SAP: last good 1-based index 54 -> 0-based 54
    assert abs(change.index - 54) <= 1
    assert change.relative == pytest.approx(0.086, abs=0.02)
    assert change.confidence > 0.999 and change.sigmas > 3
    assert change.first <= change.index <= change.last


@pytest.mark.parametrize("name", ["0007", "0008", "0014", "0017"])
def test_sap_hana_stable_spiky_bimodal_and_noisy_series_have_no_change(name: str) -> None:
    # 0007 high deviation (two modes at random), 0008 build-dependent (modes alternate by
    # build), 0014 spikes, 0017 stable: SAP's engineers judged none of them a change.
    assert change_points(sap(name)) == []


def test_a_smooth_trend_is_not_a_staircase() -> None:
    d = tcpd("us_population")  # the old detector cut it 135 times (F1 0.03)
    assert change_points(d["values"]) == []
    assert tcpd_f1(d["annotations"], []) > 0.85


def test_many_real_level_shifts_are_still_found() -> None:
    d = tcpd("well_log")
    cps = change_points(d["values"])
    assert len(cps) >= 6
    assert tcpd_f1(d["annotations"], cps) > 0.75  # binary segmentation's default: 0.60


# ---------------------------------------------------------------- made-up, known answer


def level(n: int = 200, cv: float = 0.01, seed: int = 3) -> np.ndarray:
    return 100 * (1 + cv * np.random.default_rng(seed).standard_normal(n))


def test_a_step_is_found_with_its_size_confidence_and_location() -> None:
    x = level()
    x[120:] *= 1.05
    (c,) = detect_changes(x)
    assert c.index == 120 and c.first <= 120 <= c.last and c.last - c.first <= 3
    assert c.relative == pytest.approx(0.05, abs=0.01) and c.after > c.before
    assert c.p_value < 1e-6 and c.confidence == pytest.approx(1 - c.p_value)
    assert c.to_json()["index"] == 120


@pytest.mark.parametrize("width", [1, 2, 3])
def test_spikes_are_not_changes(width: int) -> None:
    x = level()
    x[50 : 50 + width] *= 1.3
    x[150] *= 0.6
    assert change_points(x) == []


def test_trends_random_walks_and_alternating_modes_are_not_changes() -> None:
    rng = np.random.default_rng(4)
    trend = 100 + 0.05 * np.arange(300) + 0.3 * rng.standard_normal(300)
    walk = 100 + np.cumsum(0.2 * np.random.default_rng(0).standard_normal(500))
    modes = np.repeat(rng.random(80) < 0.4, 5)  # 5 samples per build, a build in one of 2 modes
    bimodal = level(400) * np.where(modes, 1.15, 1.0)
    assert change_points(trend) == []
    assert change_points(walk) == []
    assert change_points(bimodal) == []


def test_a_step_on_top_of_a_trend_is_still_a_change() -> None:
    x = 100 + 0.02 * np.arange(300) + 0.3 * np.random.default_rng(5).standard_normal(300)
    x[150:] += 5
    (c,) = detect_changes(x)
    assert abs(c.index - 150) <= 1 and c.trend


def test_small_shifts_below_the_minimum_are_not_reported_unless_asked() -> None:
    x = level(300, cv=0.002)
    x[150:] *= 1.01  # 5 noise SDs but 1 %: significant, too small to act on by default
    assert change_points(x) == []
    assert change_points(x, min_relative=0.0) == [150]


def test_negative_values_use_noise_units_only() -> None:
    x = -5 + 0.1 * np.random.default_rng(6).standard_normal(200)
    x[120:] += 1
    (c,) = detect_changes(x)
    assert c.index == 120 and c.relative is None and c.sigmas > 5


def test_constant_short_and_invalid_series() -> None:
    assert change_points([5.0] * 50) == []
    assert change_points([1.0, 2.0, 3.0]) == []
    assert change_points([]) == []
    assert change_points([1.0] * 20 + [2.0] * 20) == [20]
    with pytest.raises(ValueError, match="min_relative"):
        change_points([1.0] * 10, min_relative=-0.1)
    with pytest.raises(ValueError, match="penalty"):
        change_points([1.0] * 10, penalty=math.inf)
    with pytest.raises(ValueError, match=r"values\[2\] is infinite"):
        change_points([1.0, 2.0, math.inf])


def test_a_jitter_far_below_the_range_does_not_overflow_the_fits() -> None:
    # Jitter 7e-172 against a range of 1: in noise units the squares would pass 1e308.
    for x in ([-1.0, -2.225073858507203e-309, 0.0, 6.923823704849012e-172],
              [0.0] * 30 + [1e-200, 1.0] * 15):
        changes = detect_changes(x, min_size=2)
        assert all(0 < c.first <= c.index <= c.last < len(x) and 0 <= c.p_value <= 1 for c in changes)


def test_baseline_change_names_a_real_change_only() -> None:
    medians = list(level(40, cv=0.005, seed=7) / 100)
    assert baseline_change(medians) == (20, None)  # full window, no change
    stepped = medians[:30] + [m * 1.2 for m in medians[30:]]
    start, change = baseline_change(stepped)
    assert start == 30 == baseline_window(stepped) and change is not None
    assert change.relative == pytest.approx(0.2, abs=0.03)


def test_a_young_history_trusts_a_clear_change_after_min_runs() -> None:
    # 4 runs, then 3 runs 30 % slower: the rank test cannot reach its level with 7 points,
    # but two sides that do not overlap are all the evidence 7 runs can give.
    medians = [1.0, 1.01, 0.99, 1.0, 1.3, 1.31, 1.29]
    start, change = baseline_change(medians)
    assert start == 4 and change is not None and change.confidence > 0.9
    assert baseline_change(medians[:6]) == (0, None)  # 2 runs after: not trusted yet


def test_landed_in_names_the_first_run_already_on_the_new_level() -> None:
    past = [(f"r{i}", 1.0, [1.0]) for i in range(10)] + [("r10", 1.3, [1.3]), ("r11", 1.31, [1.31])]
    shas = {f"r{i}": f"sha{i}" for i in range(12)}
    row = {"baseline_median": 1.0, "current_median": 1.3}
    assert landed_in(past, row, "sha12", shas) == ("sha10", {"from": "sha9", "to": "sha10"})
    assert landed_in(past[:10], row, "sha12", shas) == ("sha12", {"from": "sha9", "to": "sha12"})


# -------------------------------------------------------------------------- invariants


@PROPS
@given(st.lists(st.floats(min_value=-1e3, max_value=1e3), max_size=150), st.integers(1, 6))
def test_changes_are_sorted_inside_their_range_and_segments_long_enough(x: list[float], k: int) -> None:
    changes = detect_changes(x, min_size=k)
    idx = [c.index for c in changes]
    bounds = [0, *idx, len(x)]
    assert idx == sorted(set(idx))
    assert all(b - a >= k for a, b in zip(bounds, bounds[1:], strict=False)) or not changes
    assert all(0 < c.first <= c.index <= c.last < len(x) and 0 <= c.p_value <= 1 for c in changes)


@PROPS
@given(st.integers(0, 10_000), st.sampled_from([0.01, 0.05, 0.2]), st.integers(20, 180),
       st.sampled_from([1e-300, 1e-3, 7.0, 1e4, 1e300]))
def test_answers_do_not_depend_on_the_unit(seed: int, step: float, at: int, scale: float) -> None:
    x = level(200, seed=seed)
    x[at:] *= 1 + step
    assert change_points(x * scale) == change_points(x)


@PROPS
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=40),
       st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=40))
def test_mann_whitney_p_agrees_with_scipy(a: list[float], b: list[float]) -> None:
    from scipy.stats import mannwhitneyu

    ours = mann_whitney_p(np.array(a), np.array(b))
    ties = len(set(a + b)) < len(a) + len(b)
    method = "asymptotic" if ties or max(len(a), len(b)) > 50 else "exact"
    ref = mannwhitneyu(a, b, alternative="two-sided", method=method).pvalue
    assert ours == pytest.approx(min(1.0, ref), rel=1e-6, abs=1e-9)


# ------------------------------------------------------------------ dtf history changes


def history_store(root: Path, levels: dict[str, list[float]]) -> LocalStore:
    """A history of len(levels[...]) runs on main, each with every series at its level."""
    store = LocalStore(root / "history")
    n = len(next(iter(levels.values())))
    rng = np.random.default_rng(8)
    for i in range(n):
        rid = f"r{i:03d}"
        samples = [(rid, "s1", task, "cpu", "h1", "time", "s", "lower", k, float(v * (1 + 0.005 * e)))
                   for task, vals in levels.items() for k, (v, e) in enumerate(
                       zip([vals[i]] * 5, rng.standard_normal(5), strict=True))]
        units = [(rid, "s1", f"{t}@cpu", t, "cpu", "h1", "passed", "", "", 1, 5, "2026-01-01 00:00:00",
                  1.0, 1.0, 10.0, 0, "") for t in levels]
        shard = root / "shards" / rid
        write_shard(shard, run_id=rid, shard_id="s1", meta={"target": "cpu"},
                    hosts=[("h1", "box", "cpu", "linux", "x86_64", "cpu", 2, 8.0, "[]", "{}")],
                    units=units, samples=samples)
        store.append({"run-id": rid, "sha": f"{i:02d}" * 20, "branch": "main", "ref": "refs/heads/main",
                      "event": "push", "created-at": f"2026-01-{i + 1:02d}T00:00:00Z"},
                     shard / "s1.duckdb")
    return store


def test_history_changes_lists_every_series_change_with_its_commit_range(tmp_path, capsys) -> None:
    n = 24
    spike = [1.0] * n
    spike[8] = 1.5
    store = history_store(tmp_path, {"slow": [1.0] * 12 + [1.25] * 12, "flat": spike,
                                     "fast": [2.0] * 16 + [1.6] * 8})
    result = find_changes(store, branch="main")
    assert result["runs"] == n and result["series"] == 3
    got = {c["task"]: c for c in result["changes"]}
    assert set(got) == {"slow", "fast"}  # the spike is not a change
    slow = got["slow"]
    assert slow["run-id"] == "r012" and slow["kind"] == "regression"
    assert slow["commit-range"]["to"] == "12" * 20 and slow["commit-range"]["from"] == "11" * 20
    assert slow["relative"] == pytest.approx(0.25, abs=0.02) and slow["confidence"] > 0.99
    assert got["fast"]["kind"] == "improvement" and got["fast"]["run-id"] == "r016"
    assert [c["run-id"] for c in result["changes"]] == ["r016", "r012"]  # newest first

    assert main(["history", "changes", "--history", str(tmp_path / "history"), "--json",
                 "--since", "2026-01-14"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["schema"] == "dtf.changes/1" and [c["task"] for c in out["changes"]] == ["fast"]
    assert main(["history", "changes", "--history", str(tmp_path / "history"), "--since", "r012"]) == 0
    text = capsys.readouterr().out
    assert "2 change(s) since r012 in 2 of 3 series, 24 runs" in text
    assert re.search(r"slow/time@cpu +1111111111\.\.1212121212 +r012 +1 -> 1\.2\d+ s +\+2[45]\.\d% regression", text)
    assert main(["history", "changes", "--history", str(tmp_path / "history"), "--since", "someday"]) == 2
    assert "--since 'someday'" in capsys.readouterr().err
    assert main(["history", "changes", "--history", str(tmp_path / "history"), "--branch", "dev"]) == 0
    assert "0 change(s) in 0 of 0 series, 0 runs on dev" in capsys.readouterr().out


def test_history_changes_shows_hostile_names_inert() -> None:
    from dtf_ci.history_changes import render

    change = {"task": "t\n::error::pwned", "metric": "m\x1b[31m", "target": "cpu", "unit": "s",
              "run-id": "r1", "kind": "regression", "before": 1.0, "after": 1.2, "relative": 0.2,
              "sigmas": 5.0, "confidence": 0.999, "p-value": 1e-3,
              "commit-range": {"from": "a" * 40, "to": "b" * 40, "from-run": "r0", "to-run": "r1"}}
    text = render({"changes": [change], "branch": "main", "since": None, "runs": 9, "series": 1})
    assert "\n::error" not in text and "\x1b" not in text
    assert "t\\n::error::pwned/m\\e[31m@cpu" in text
