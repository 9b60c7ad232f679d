"""A made-up corpus of CI-like histories with known changes, to choose change-point defaults.

Real CI histories are not levels plus Gaussian noise (``stats_corpus.changepoint_corpus``).
Each series here belongs to one *family* that reproduces something real histories do, and
carries labelled changes only where a team would want to hear "the level moved":

* ``levels``: iid noise of one of 4 shapes (normal, lognormal, bimodal, 10 % outliers),
  CV 1–4 %, 0–3 steps of 3–20 %;
* ``builds``: 2–6 samples per build sharing a build effect (correlated neighbours), steps at
  build boundaries;
* ``trend``: a slow drift of 5–30 % over the series (not a change) plus 0–2 steps;
* ``walk``: a random walk (step SD 0.05–0.2 of the noise SD, so it wanders 1–4 noise SDs
  over 400 points): no labelled change;
* ``modes``: each build in one of two modes 5–20 % apart, chosen at random (build-dependent);
  0–1 steps of the whole series;
* ``spikes``: bursts of 1–3 consecutive points 20–100 % high (a GC pause, a noisy neighbour),
  0–2 steps;
* ``wobble``: level shifts of 0.3–1 % (real, but below anything a team acts on) plus 0–2
  steps of 3–20 %.

Everything comes from a seed, so a figure can be reproduced exactly. Changes are 15 or more
points apart and 15 or more from either end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FAMILIES = ("levels", "builds", "trend", "walk", "modes", "spikes", "wobble")
_SHAPES = ("normal", "lognormal", "bimodal", "outliers")
_MAX_STEPS = {"levels": 3, "builds": 3, "trend": 2, "walk": 0, "modes": 1, "spikes": 2, "wobble": 2}


@dataclass
class Series:
    family: str
    values: np.ndarray
    truth: list[int]


def _noise(rng: np.random.Generator, shape: str, cv: float, n: int) -> np.ndarray:
    if shape == "normal":
        return 1.0 + cv * rng.standard_normal(n)
    if shape == "lognormal":
        s = np.sqrt(np.log1p(cv * cv))
        return np.exp(s * rng.standard_normal(n) - s * s / 2)
    if shape == "bimodal":
        slow = rng.random(n) < 0.3
        return 1.0 + cv * (1.8 * (slow - 0.3) + 0.5 * rng.standard_normal(n))
    hit = rng.random(n) < 0.10
    return (1.0 + cv * rng.standard_normal(n)) * np.where(hit, 1.0 + rng.uniform(0.2, 1.0, n), 1.0)


def _positions(rng: np.random.Generator, n: int, k: int, grid: np.ndarray | None = None) -> list[int]:
    """k change positions, 15+ apart and 15+ from the ends (on build boundaries when given)."""
    pool = np.arange(15, n - 15) if grid is None else grid[(grid >= 15) & (grid <= n - 15)]
    for _ in range(200):
        if k == 0 or pool.size < k:
            return []
        cand = sorted(rng.choice(pool, size=k, replace=False).tolist())
        if all(b - a >= 15 for a, b in zip(cand, cand[1:], strict=False)):
            return cand
    return []


def _steps(rng: np.random.Generator, n: int, at: list[int], lo: float = 0.03,
           hi: float = 0.20) -> np.ndarray:
    level = np.ones(n)
    for cp in at:
        level[cp:] *= 1.0 + rng.uniform(lo, hi) * rng.choice([-1, 1])
    return level


def one(rng: np.random.Generator, family: str, n: int) -> Series:
    """One series of ``family`` with about ``n`` points."""
    cv = float(rng.choice([0.01, 0.02, 0.03, 0.04]))
    k = int(rng.integers(0, _MAX_STEPS[family] + 1))
    if family in ("builds", "modes"):
        per = rng.integers(2, 7, size=n)
        starts = np.concatenate(([0], np.cumsum(per)))
        starts = starts[starts < n]
        build = np.searchsorted(starts, np.arange(n), side="right") - 1
        truth = _positions(rng, n, k, starts)
        if family == "builds":
            effect = 1.0 + rng.uniform(0.5, 1.0) * cv * rng.standard_normal(starts.size)
            values = _steps(rng, n, truth) * effect[build] * _noise(rng, "normal", cv, n)
        else:
            mode = rng.random(starts.size) < rng.uniform(0.2, 0.5)
            gap = rng.uniform(0.05, 0.20)
            values = _steps(rng, n, truth) * np.where(mode[build], 1.0 + gap, 1.0) * _noise(rng, "normal", cv / 2, n)
        return Series(family, 100.0 * values, truth)
    truth = _positions(rng, n, k)
    level = _steps(rng, n, truth)
    noise = _noise(rng, str(rng.choice(_SHAPES)) if family == "levels" else "normal", cv, n)
    if family == "trend":
        level *= 1.0 + rng.uniform(0.05, 0.30) * rng.choice([-1, 1]) * np.linspace(0, 1, n)
    elif family == "walk":
        level *= 1.0 + np.cumsum(rng.uniform(0.05, 0.2) * cv * rng.standard_normal(n))
    elif family == "spikes":
        for start in rng.choice(n - 3, size=max(1, n // 40), replace=False):
            noise[start : start + int(rng.integers(1, 4))] *= 1.0 + rng.uniform(0.2, 1.0)
    elif family == "wobble":
        for at in _positions(rng, n, int(rng.integers(1, 4))):
            level[at:] *= 1.0 + rng.uniform(0.003, 0.01) * rng.choice([-1, 1])
    return Series(family, 100.0 * level * noise, truth)


def corpus(per_family: int, seed: int = 12, lengths: tuple[int, ...] = (60, 120, 250, 500)) -> list[Series]:
    """``per_family`` series of every family, lengths cycling through ``lengths``."""
    rng = np.random.default_rng(seed)
    return [one(rng, fam, lengths[i % len(lengths)]) for fam in FAMILIES for i in range(per_family)]
