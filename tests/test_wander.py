"""A change must stand out from the series' own wander: slow random walks and trends cut into
steps are not changes, real steps on a wandering or trending series still are, and short
histories (too short to know their wander) are judged by the other tests alone."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dtf_ci.changepoints import change_points, detect_changes
from dtf_ci.segmentation import Judge, binseg, clean_outliers, jitter_scale, prune
from dtf_ci.wander import TAU_MIN, _Scales, wander_z


def step_test_only(x: np.ndarray) -> list[int]:
    """What the candidates and the step, rank and size tests keep, before the wander test."""
    n = x.size
    sd = jitter_scale(x)
    y = clean_outliers(x, sd, 3)
    cands = binseg((y - np.median(y)) / sd, math.log(n), 3)
    judge = Judge(x, y, sd, window=60, penalty=4 * math.log(n), min_shift=1.0, min_relative=0.02,
                  rank_test=True)
    return list(prune(judge, cands, n)) if cands else []


def slow_walk(seed: int, n: int = 400, cv: float = 0.02) -> np.ndarray:
    """Noise of 2 % under a random walk whose steps are 0.15 of it: it wanders 2-3 noise SDs
    over the series while neighbouring points still look independent."""
    rng = np.random.default_rng(seed)
    return 100 * (1 + cv * rng.standard_normal(n)) * (1 + np.cumsum(0.15 * cv * rng.standard_normal(n)))


def trend_and_step(seed: int, n: int = 400, at: int = 250) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = 100 * (1 + 0.02 * rng.standard_normal(n)) * (1 + 0.2 * np.linspace(0, 1, n))
    x[at:] *= 1.06
    return x


@pytest.mark.parametrize("seed", [1, 2, 3, 5, 26])
def test_a_slow_random_walk_is_not_a_change(seed: int) -> None:
    walk = slow_walk(seed)
    assert step_test_only(walk) != []  # the step test alone takes some of the wander for steps
    assert change_points(walk, wander=0) == step_test_only(walk)  # 0 turns the test off
    assert change_points(walk) == []


def test_wander_must_be_a_number_at_least_zero() -> None:
    with pytest.raises(ValueError, match="wander"):
        change_points([1.0] * 20, wander=-1)
    with pytest.raises(ValueError, match="wander"):
        change_points([1.0] * 20, wander=math.nan)


@pytest.mark.parametrize("seed", [4, 5, 7, 10, 24])
def test_a_step_on_a_trend_keeps_only_the_step(seed: int) -> None:
    x = trend_and_step(seed)
    assert len(step_test_only(x)) > 1
    (c,) = detect_changes(x)
    assert abs(c.index - 250) <= 1 and c.trend and c.relative is not None and c.relative > 0.04


def test_a_real_step_on_a_wandering_series_is_still_found() -> None:
    x = slow_walk(7)
    x[200:] *= 1.15  # about 7 noise SDs
    assert [abs(i - 200) <= 1 for i in change_points(x)] == [True]


def test_a_long_random_walk_of_ten_thousand_points_has_no_change() -> None:
    walk = 100 + np.cumsum(np.random.default_rng(5).standard_normal(10_000))
    assert change_points(walk) == []


def test_the_spread_leaves_out_places_that_straddle_a_change() -> None:
    rng = np.random.default_rng(3)
    z = rng.standard_normal(2000)
    steps = list(range(50, 2000, 50))
    for s in steps:
        z[s:] += 8.0 * (1 if s % 100 else -1)  # big steps every 50 points
    clean = _Scales(z, steps).spread(20)
    blind = _Scales(z, []).spread(20)
    assert clean is not None and blind is not None
    assert clean[1] == pytest.approx(math.sqrt(2 / 20), rel=0.2)  # white noise at that scale
    assert blind[1] > 2 * clean[1]


def test_a_short_history_is_not_compared_with_its_wander() -> None:
    z = np.random.default_rng(4).standard_normal(60)
    scales = _Scales(z, [30])
    assert wander_z(scales, 0, 30, 60) is None  # no block of TAU_MIN leaves enough places
    assert wander_z(_Scales(np.zeros(8 * TAU_MIN), []), 0, 4 * TAU_MIN, 8 * TAU_MIN) is None  # no spread
    medians = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.3, 1.31, 1.29, 1.3, 1.32]
    assert change_points(medians) == [7]
