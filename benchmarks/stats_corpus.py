"""Labeled corpora for measuring dtf's statistics (used by ``bench_stats.py``).

Everything is generated from a seed, so a figure can be reproduced exactly.

* :func:`comparison_corpus` — baseline/current sample pairs with a known effect: noise shapes
  normal, lognormal, bimodal and "outliers"; within-run CVs 1–10 %; effects 0, 2, 5, 10, 20 %
  (0 = an A/A pair); n = 3..30 samples per side.
* :func:`run_noise_corpus` — the same, plus run-to-run noise (each run's level moves a little)
  and a history of past runs, to show why the noise band from history matters.
* :func:`changepoint_corpus` — piecewise-constant main-line series (run medians) with known
  change indices and realistic noise.
* :func:`drift_corpus` — per-host log ratios of one run with a drifting host, a code change,
  or neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SHAPES = ("normal", "lognormal", "bimodal", "outliers")
CVS = (0.01, 0.02, 0.05, 0.10)
EFFECTS = (0.0, 0.02, 0.05, 0.10, 0.20)
SIZES = (3, 5, 10, 20, 30)


def noise(rng: np.random.Generator, shape: str, cv: float, size: int | tuple[int, ...]) -> np.ndarray:
    """Multiplicative noise factors with mean about 1 and the given coefficient of variation.

    ``normal``: 1 + cv·Z. ``lognormal``: right-skewed, exact CV. ``bimodal``: two modes (30 %
    of samples in the slow one), a mode gap that makes up most of the CV, as with a frequency
    governor or two cache layouts. ``outliers``: normal body with the given CV, plus 10 % of
    samples slowed by 20–100 % (a GC pause, a noisy neighbour).
    """
    if shape == "normal":
        return np.maximum(1.0 + cv * rng.standard_normal(size), 1e-3)
    if shape == "lognormal":
        s = np.sqrt(np.log1p(cv * cv))
        return np.exp(s * rng.standard_normal(size) - s * s / 2)
    if shape == "bimodal":
        p, body = 0.3, cv / 2
        gap = np.sqrt((cv * cv - body * body) / (p * (1 - p)))
        slow = rng.random(size) < p
        return np.maximum(1.0 + gap * (slow - p) + body * rng.standard_normal(size), 1e-3)
    if shape == "outliers":
        base = np.maximum(1.0 + cv * rng.standard_normal(size), 1e-3)
        hit = rng.random(size) < 0.10
        return base * np.where(hit, 1.0 + rng.uniform(0.2, 1.0, size), 1.0)
    raise ValueError(f"unknown noise shape {shape!r}")


@dataclass
class Pair:
    shape: str
    cv: float
    effect: float
    n: int
    baseline: np.ndarray
    current: np.ndarray
    history: list[float] = field(default_factory=list)


def comparison_corpus(reps: int, seed: int = 1) -> list[Pair]:
    """``reps`` pairs for every (shape, CV, effect, n) cell; the current side is slower by
    ``effect`` (a regression for a lower-is-better metric)."""
    rng = np.random.default_rng(seed)
    out = []
    for shape in SHAPES:
        for cv in CVS:
            for effect in EFFECTS:
                for n in SIZES:
                    b = noise(rng, shape, cv, (reps, n))
                    c = noise(rng, shape, cv, (reps, n)) * (1.0 + effect)
                    level = rng.uniform(0.001, 10.0, (reps, 1))  # the unit must not matter
                    b, c = b * level, c * level
                    out.extend(Pair(shape, cv, effect, n, b[i], c[i]) for i in range(reps))
    return out


def run_noise_corpus(reps: int, *, run_cv: float = 0.01, cv: float = 0.02, n: int = 10,
                     history_runs: int = 15, effects: tuple[float, ...] = (0.0, 0.05, 0.10),
                     seed: int = 2) -> list[Pair]:
    """Pairs whose runs each carry their own level offset (sd ``run_cv``), with the medians of
    ``history_runs`` past runs; the baseline pools the samples of the last 5 of them."""
    rng = np.random.default_rng(seed)
    out = []
    for effect in effects:
        for shape in SHAPES:
            for _ in range(reps):
                offsets = 1.0 + run_cv * rng.standard_normal(history_runs + 1)
                runs = [offsets[i] * noise(rng, shape, cv, n) for i in range(history_runs)]
                current = offsets[-1] * (1.0 + effect) * noise(rng, shape, cv, n)
                baseline = np.concatenate(runs[-5:])
                out.append(Pair(shape, cv, effect, n, baseline, current,
                                history=[float(np.median(r)) for r in runs]))
    return out


@dataclass
class CPSeries:
    values: np.ndarray
    truth: list[int]
    shape: str
    cv: float
    min_step_sigma: float  # smallest change divided by the noise sd


def changepoint_corpus(count: int, seed: int = 3, lengths: tuple[int, ...] = (60, 120, 250, 500)) -> list[CPSeries]:
    """Main-line histories: each point is one run's median; 0–4 level changes of 3–20 % at
    least 15 runs apart, noise of every shape with CV 1–4 %, occasional bad runs."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        n = lengths[i % len(lengths)]
        k = int(rng.integers(0, 5))
        truth: list[int] = []
        for _ in range(200):
            cand = sorted(rng.choice(np.arange(15, n - 15), size=k, replace=False).tolist()) if k else []
            if all(b - a >= 15 for a, b in zip(cand, cand[1:], strict=False)):
                truth = cand
                break
        shape = SHAPES[i % len(SHAPES)]
        cv = float(rng.choice([0.01, 0.02, 0.03, 0.04]))
        level = np.ones(n)
        steps = []
        for cp in truth:
            step = rng.uniform(0.03, 0.20) * rng.choice([-1, 1])
            level[cp:] *= 1.0 + step
            steps.append(abs(step))
        values = 100.0 * level * noise(rng, shape, cv, n)
        out.append(CPSeries(values, truth, shape, cv, min(steps) / cv if steps else float("inf")))
    return out


@dataclass
class DriftRun:
    rows: list[dict]
    kind: str  # "drift", "code", "none", "code-single-host", "drift-single-host"
    drifting_host: str | None


def drift_corpus(reps: int, seed: int = 4) -> list[DriftRun]:
    """One run's per-host log ratios for several scenarios.

    ``drift``: one of 2–6 hosts of a target has all series slowed by 5–20 % (a few series
    escape). ``code``: a commit slows 30–60 % of the series by 5–20 % on every host that runs
    them. ``none``: noise only. ``code-single-host`` / ``drift-single-host``: one host for the
    target, a commit slowing 90 % of series alike, or a drifting machine — the case that
    cannot be told apart.
    """
    rng = np.random.default_rng(seed)
    out: list[DriftRun] = []
    kinds = ("drift", "code", "none", "code-single-host", "drift-single-host")
    for kind in kinds:
        for _ in range(reps):
            single = kind.endswith("single-host")
            hosts = 1 if single else int(rng.integers(2, 7))
            per_host = int(rng.integers(6, 25))
            sd = float(rng.uniform(0.005, 0.02))
            names = [f"s{j}" for j in range(per_host * hosts)]
            code_hit = np.zeros(len(names))
            if kind == "code":
                hit = rng.random(len(names)) < rng.uniform(0.3, 0.6)
                code_hit = np.where(hit, np.log1p(rng.uniform(0.05, 0.20, len(names))), 0.0)
            if kind == "code-single-host":
                hit = rng.random(len(names)) < 0.9
                code_hit = np.where(hit, np.log1p(0.10) + 0.01 * rng.standard_normal(len(names)), 0.0)
            drifting = None
            factor = 0.0
            if kind.startswith("drift"):
                drifting = f"h{int(rng.integers(0, hosts))}"
                factor = float(np.log1p(rng.uniform(0.05, 0.20)))
            rows = []
            for h in range(hosts):
                host = f"h{h}"
                for j in range(per_host):
                    s = h * per_host + j
                    lr = code_hit[s] + sd * rng.standard_normal()
                    if host == drifting and rng.random() < 0.9:
                        lr += factor
                    rows.append({"host": host, "target": "t", "series": names[s], "log_ratio": float(lr)})
            out.append(DriftRun(rows, kind, drifting))
    return out
