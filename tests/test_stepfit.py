"""The fast paths of change-point detection agree with the plain computations they replace:
the closed-form step fit with a least-squares fit on a design matrix, the running-sum fit with
the fit from the values, the one-pass-per-depth binary segmentation with the recursive one."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dtf_ci.changepoints import change_points, detect_changes
from dtf_ci.segmentation import _CANCELLATION, Judge, binseg
from dtf_ci.stepfit import PrefixSums, side_from_values, step_fit

PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference_fit(seg: np.ndarray, split: int) -> tuple[float, float, bool]:
    """Step and z² the way a textbook would: least squares on [1, step, (slope)], slope kept
    when BIC prefers it, the step's variance inflated by the residuals' lag-1 correlation."""
    m = seg.size
    idx = np.arange(m)
    step = (idx >= split).astype(float)
    designs = [np.column_stack([np.ones(m), step])]
    if m >= 8:
        designs.append(np.column_stack([np.ones(m), step, (idx - split) / m]))
    fits = []
    for x in designs:
        beta = np.linalg.lstsq(x, seg, rcond=None)[0]
        r = seg - x @ beta
        fits.append((x, beta, r, float(r @ r)))
    x, beta, r, rss = fits[0]
    trend = False
    if len(fits) == 2 and m * math.log(max(fits[1][3], 1e-300) / m) + math.log(m) < m * math.log(max(rss, 1e-300) / m):
        x, beta, r, rss = fits[1]
        trend = True
    num = den = 0.0
    for part in (r[:split], r[split:]):
        if part.size >= 3:
            num += float(part[1:] @ part[:-1])
            den += float(part @ part)
    rho = min(max(num / den if den > 0 else 0.0, 0.0), 0.9)
    var = rss / max(1, m - x.shape[1]) * float(np.linalg.inv(x.T @ x)[1, 1]) * (1 + rho) / (1 - rho)
    c = float(beta[1])
    return c, c * c / var, trend


windows = st.tuples(st.integers(0, 10_000), st.integers(1, 60), st.integers(1, 60),
                    st.sampled_from(["noise", "trend", "step", "walk", "builds"]))


def make(seed: int, n: int, kind: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)
    if kind == "trend":
        z += 0.05 * np.arange(n)
    elif kind == "step":
        z[n // 2 :] += 4
    elif kind == "walk":
        z = np.cumsum(z)
    elif kind == "builds":
        z += np.repeat(rng.standard_normal(n // 4 + 1), 4)[:n]
    return z


@PROPS
@given(windows)
def test_closed_form_step_fit_matches_least_squares(case: tuple[int, int, int, str]) -> None:
    seed, k1, k2, kind = case
    seg = make(seed, k1 + k2, kind)
    fit = step_fit(side_from_values(seg[:k1]), side_from_values(seg[k1:]), seg.size >= 8)
    assume(fit.rss_floor > 1e-9 * float(seg @ seg))  # a perfect fit: z² is infinite or rounding
    c, z2, trend = reference_fit(seg, k1)
    assert fit.trend == trend
    assert fit.step == pytest.approx(c, rel=1e-7, abs=1e-9)
    assert fit.z2 == pytest.approx(z2, rel=1e-6, abs=1e-9)


@PROPS
@given(windows, st.integers(0, 400), st.sampled_from([0.0, 50.0, -3e3]))
def test_running_sums_give_the_same_fit_anywhere_in_a_long_series(
        case: tuple[int, int, int, str], offset: int, level: float) -> None:
    seed, k1, k2, kind = case
    z = make(seed, offset + k1 + k2 + 7, kind) + level
    sums = PrefixSums(z)
    lo, t, hi = offset, offset + k1, offset + k1 + k2
    quick = sums.quick_fit(lo, t, hi, hi - lo >= 8)
    if quick.rss_floor <= _CANCELLATION * sums.scale(hi):
        return  # the judge does not trust the running sums here and fits from the values
    exact = step_fit(side_from_values(z[lo:t]), side_from_values(z[t:hi]), hi - lo >= 8)
    assert quick.trend == exact.trend
    for got, want in zip(quick[:4] + quick[5:7], exact[:4] + exact[5:7], strict=True):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-6)


def recursive_binseg(z: np.ndarray, penalty: float, min_size: int) -> list[int]:
    """Binary segmentation one segment at a time (what binseg computes depth by depth)."""
    cs = np.concatenate(([0.0], np.cumsum(z)))
    out, stack = [], [(0, z.size)]
    while stack:
        a, b = stack.pop()
        m = b - a
        if m < 2 * min_size:
            continue
        k = np.arange(min_size, m - min_size + 1)
        s = cs[a + k] - cs[a] - k / m * (cs[b] - cs[a])
        stat = s * s * m / (k * (m - k))
        j = int(stat.argmax())
        if stat[j] >= penalty:
            t = a + int(k[j])
            out.append(t)
            stack += [(a, t), (t, b)]
    return sorted(out)


@PROPS
@given(st.integers(0, 10_000), st.integers(0, 600), st.integers(1, 6),
       st.sampled_from(["noise", "trend", "step", "walk", "builds"]))
def test_binseg_depth_by_depth_splits_where_the_recursive_one_does(seed: int, n: int, min_size: int,
                                                                    kind: str) -> None:
    z = make(seed, n, kind) if n else np.zeros(0)
    pen = math.log(max(n, 2))
    assert binseg(z, pen, min_size) == recursive_binseg(z, pen, min_size)


def test_ties_in_binseg_pick_the_first_best_split() -> None:
    z = np.array([0.0, 0, 0, 5, 5, 5, 0, 0, 0])  # splits at 3 and 6 score the same
    assert binseg(z, 1.0, 1) == recursive_binseg(z, 1.0, 1) == [3, 6]


def test_windows_dwarfed_by_the_running_sums_are_fitted_exactly() -> None:
    # A level 10^7 noise SDs away early on makes the running sum of squares ~10^17: a later
    # window's residuals (~100) would be lost to rounding, so the judge refits from values.
    rng = np.random.default_rng(2)
    x = rng.standard_normal(600)
    x[:200] += 1e7
    x[400:] += 3.0
    judge = Judge(x, x, 1.0, window=60, penalty=4 * math.log(600), min_shift=1.0, min_relative=0.0,
                  rank_test=True)
    lo, t, hi = 240, 300, 360  # no step here
    assert judge.sums.quick_fit(lo, t, hi, True).z2 != pytest.approx(judge.evidence(200, 300, 400).z2, rel=0.01)
    score, ev = judge.score(200, 300, 400)
    assert ev is not None and score == judge.evidence(200, 300, 400).z2
    assert change_points(x) == [200, 400]


def test_the_same_series_gives_the_same_answer_every_time() -> None:
    walk = 100 + np.cumsum(0.3 * np.random.default_rng(11).standard_normal(3000))
    first = [c.to_json() for c in detect_changes(walk)]
    assert all([c.to_json() for c in detect_changes(walk.copy())] == first for _ in range(3))
