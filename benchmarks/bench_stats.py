"""Measure dtf's statistics and print the figures (markdown tables) with the machine.

    python benchmarks/bench_stats.py            # full run, a few minutes on 2 cores
    python benchmarks/bench_stats.py --quick    # smaller corpora, well under a minute

Comparators: github-action-benchmark's fixed-ratio rule (200 %, its default, and 110 %)
against one previous value; a plain Welch t-test at p < 0.05; E-divisive means from MongoDB's
``signal-processing-algorithms`` when it is installed (it pins numpy < 2, so install it in a
separate virtual environment made with ``--system-site-packages``); the Turing Change Point
Dataset from ``../shared/data/tcpd`` when that folder exists (read at run time only).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats as sps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stats_corpus import (  # noqa: E402
    EFFECTS,
    SHAPES,
    changepoint_corpus,
    comparison_corpus,
    drift_corpus,
    run_noise_corpus,
)

from dtf_ci import stats  # noqa: E402

TCPD = ROOT.parent / "shared" / "data" / "tcpd"
#: The 25 univariate series of TCPDBench's v3 table that TCPD ships without a download.
TCPD_EXCLUDE = {"run_log", "uk_coal_employ"} | {f"quality_control_{i}" for i in range(1, 6)}


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.platform()}; {cpu}; {os.cpu_count()} logical cores; "
            f"Python {platform.python_version()}; numpy {np.__version__}")


def table(head: list[str], rows: list[list[object]]) -> str:
    def fmt(v: object) -> str:
        return f"{v:.1%}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------ comparison methods


def ours_single(pairs) -> list[str]:
    return [stats.compare(p.baseline, p.current).verdict for p in pairs]


def ours_run(pairs, run_size: int = 200, seed: int = 7, noises=None) -> list[str]:
    """compare_many over shuffled runs of ``run_size`` series, as aggregate calls it."""
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    out: list[str] = [""] * len(pairs)
    for s in range(0, len(order), run_size):
        idx = order[s : s + run_size]
        res = stats.compare_many(
            [(pairs[i].baseline, pairs[i].current) for i in idx],
            directions=["lower"] * len(idx), thresholds=[0.03] * len(idx),
            noises=None if noises is None else [noises[i] for i in idx])
        for i, r in zip(idx, res, strict=True):
            out[i] = r.verdict
    return out


def fixed_ratio(pairs, ratio: float) -> list[str]:
    """github-action-benchmark: alert when current / previous value >= ratio (one value each,
    here the mean of the run's samples, as tools report)."""
    return ["regression" if p.current.mean() / p.baseline.mean() >= ratio else "unchanged" for p in pairs]


def welch(pairs, alpha: float = 0.05) -> list[str]:
    out = []
    for p in pairs:
        t = sps.ttest_ind(p.current, p.baseline, equal_var=False)
        if t.pvalue < alpha:
            out.append("regression" if t.statistic > 0 else "improvement")
        else:
            out.append("unchanged")
    return out


def rate(verdicts, pairs, pred, what=("regression",)) -> float:
    sel = [v for v, p in zip(verdicts, pairs, strict=True) if pred(p)]
    return sum(v in what for v in sel) / max(1, len(sel))


def comparison_section(reps: int) -> None:
    pairs = comparison_corpus(reps)
    aa = sum(p.effect == 0 for p in pairs)
    print(f"\n## Comparison corpus: {len(pairs)} pairs ({aa} A/A), {reps} per cell "
          "(4 shapes x CV 1/2/5/10% x effect 0/2/5/10/20% x n 3/5/10/20/30)\n")
    with np.errstate(all="ignore"):
        methods = {
            "dtf compare (one series, alpha 1%)": ours_single(pairs),
            "dtf compare_many (runs of 200, BH 5%)": ours_run(pairs),
            "github-action-benchmark 200%": fixed_ratio(pairs, 2.0),
            "github-action-benchmark 110%": fixed_ratio(pairs, 1.1),
            "Welch t-test p<0.05": welch(pairs),
        }
    head = ["method", "A/A false alarms", "A/A any verdict", "recall 5% CV2% n10",
            "worst shape", "recall 2%", "recall 5%", "recall 10%", "recall 20%", "inconclusive"]
    rows = []
    for name, v in methods.items():
        cell = [rate(v, pairs, lambda p, s=s: p.effect == 0.05 and p.cv == 0.02 and p.n == 10 and p.shape == s)
                for s in SHAPES]
        rows.append([
            name,
            rate(v, pairs, lambda p: p.effect == 0),
            rate(v, pairs, lambda p: p.effect == 0, ("regression", "improvement")),
            rate(v, pairs, lambda p: p.effect == 0.05 and p.cv == 0.02 and p.n == 10),
            f"{min(cell):.1%} ({SHAPES[int(np.argmin(cell))]})",
            *[rate(v, pairs, lambda p, e=e: p.effect == e) for e in EFFECTS[1:]],
            rate(v, pairs, lambda p: True, ("inconclusive",)),
        ])
    print(table(head, rows))
    print("\nA/A false alarms: regression verdicts on pairs with no change; 'any verdict' also "
          "counts improvements. Recall: regression verdicts on pairs slowed by that effect "
          "(all shapes, CVs and sizes pooled, so it includes hopeless cells such as CV 10%, n 3).")
    realistic_runs(pairs)
    v = methods["dtf compare_many (runs of 200, BH 5%)"]
    print("\ndtf compare_many, recall by CV and n for a 5% slowdown (all shapes):\n")
    head = ["CV \\ n", *[str(n) for n in (3, 5, 10, 20, 30)]]
    rows = [[f"{cv:.0%}", *[rate(v, pairs, lambda p, cv=cv, n=n: p.effect == 0.05 and p.cv == cv and p.n == n)
                             for n in (3, 5, 10, 20, 30)]] for cv in (0.01, 0.02, 0.05, 0.10)]
    print(table(head, rows))


def realistic_runs(pairs, changed: int = 10, size: int = 200, seed: int = 8) -> None:
    """Runs where most series did not change, so BH is strict: 10 series slowed by 5% (CV 2%,
    n 10) among 190 A/A series per run."""
    rng = random.Random(seed)
    aa = [p for p in pairs if p.effect == 0]
    hit = [p for p in pairs if p.effect == 0.05 and p.cv == 0.02 and p.n == 10]
    rng.shuffle(aa)
    rng.shuffle(hit)
    false = tested = found = 0
    for r, s in enumerate(range(0, len(hit), changed)):
        nulls = [aa[(r * (size - changed) + j) % len(aa)] for j in range(size - changed)]
        run = hit[s : s + changed] + nulls
        res = stats.compare_many([(p.baseline, p.current) for p in run], directions=["lower"] * len(run),
                                 thresholds=[0.03] * len(run))
        k = len(hit[s : s + changed])
        found += sum(x.verdict == "regression" for x in res[:k])
        false += sum(x.verdict in ("regression", "improvement") for x in res[k:])
        tested += len(res) - k
    print(f"\nRealistic runs (each: {changed} series slowed 5% at CV 2%, n 10, among {size - changed} "
          f"unchanged ones): recall {found / max(1, len(hit)):.1%}, false verdicts on unchanged "
          f"series {false / max(1, tested):.2%} ({false} of {tested}).")


def run_noise_section(reps: int) -> None:
    pairs = run_noise_corpus(reps)
    noises = [stats.series_noise(p.history) for p in pairs]
    print(f"\n## Run-to-run noise: {len(pairs)} pairs, each run's level moves with sd 1%, "
          "within-run CV 2%, n 10, baseline = last 5 runs\n")
    with np.errstate(all="ignore"):
        methods = {
            "dtf compare_many, noise=None": ours_run(pairs),
            "dtf compare_many, noise=series_noise(history)": ours_run(pairs, noises=noises),
            "github-action-benchmark 110%": fixed_ratio(pairs, 1.1),
            "Welch t-test p<0.05": welch(pairs),
        }
    head = ["method", "A/A false alarms", "recall 5%", "recall 10%"]
    rows = [[name, rate(v, pairs, lambda p: p.effect == 0), rate(v, pairs, lambda p: p.effect == 0.05),
             rate(v, pairs, lambda p: p.effect == 0.10)] for name, v in methods.items()]
    print(table(head, rows))
    print(f"\nmedian noise band from 15 runs of history: {np.median([n for n in noises if n]):.1%}")


# ------------------------------------------------------------------ change points


def true_positives(truth, pred, margin: int = 5) -> int:
    """One-to-one matches within ``margin`` (each truth takes the nearest free prediction),
    the rule TCPDBench uses."""
    free = set(pred)
    hits = 0
    for tau in sorted(truth):
        close = sorted((abs(tau - x), x) for x in free if abs(tau - x) <= margin)
        if close:
            free.discard(close[0][1])
            hits += 1
    return hits


def tcpd_f1(annotations: dict[str, list[int]], pred: list[int], margin: int = 5) -> float:
    """F1 against several annotators as TCPDBench defines it: 0 is added to every set;
    precision against the union of annotations, recall averaged over annotators."""
    x = set(pred) | {0}
    tks = [set(a) | {0} for a in annotations.values()]
    union = set().union(*tks)
    p = true_positives(union, x, margin) / len(x)
    r = sum(true_positives(t, x, margin) / len(t) for t in tks) / len(tks)
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def edivisive():
    try:
        from signal_processing_algorithms.energy_statistics.energy_statistics import e_divisive
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        print(f"\n(signal-processing-algorithms not importable: {exc!r}; E-divisive column skipped. "
              "Install it with `pip install signal-processing-algorithms` in a venv: it pins numpy<2.)")
        return None

    def run(values) -> list[int]:
        np.random.seed(1234)
        return sorted(int(i) for i in e_divisive(np.asarray(values, dtype=float), pvalue=0.05, permutations=100))

    return run


def cp_methods():
    methods = {"dtf change_points (defaults)": lambda v: stats.change_points(v)}
    methods["dtf, no minimum shift (min_shift=0, min_relative=0)"] = (
        lambda v: stats.change_points(v, min_shift=0.0, min_relative=0.0))
    methods["dtf, no rank test or outlier replacement (robust=False)"] = (
        lambda v: stats.change_points(v, robust=False))
    ed = edivisive()
    if ed is not None:
        methods["E-divisive (signal-processing-algorithms, p 0.05, 100 perms)"] = ed
    return methods


def changepoint_section(count: int) -> None:
    corpus = changepoint_corpus(count)
    ncp = sum(len(s.truth) for s in corpus)
    print(f"\n## Change-point corpus: {len(corpus)} series (60-500 points), {ncp} known changes "
          "of 3-20%, noise CV 1-4% of all 4 shapes; margin 5\n")
    head = ["method", "precision", "recall", "F1", "F1, changes >= 2 sd", "mean TCPD-style F1", "seconds"]
    rows = []
    for name, fn in cp_methods().items():
        tp = npred = ntrue = 0
        tp_big = npred_big = ntrue_big = 0
        per = []
        t0 = time.perf_counter()
        preds = [fn(s.values) for s in corpus]
        secs = time.perf_counter() - t0
        for s, pred in zip(corpus, preds, strict=True):
            hits = true_positives(s.truth, pred)
            tp, npred, ntrue = tp + hits, npred + len(pred), ntrue + len(s.truth)
            if s.min_step_sigma >= 2:
                tp_big, npred_big, ntrue_big = tp_big + hits, npred_big + len(pred), ntrue_big + len(s.truth)
            per.append(tcpd_f1({"truth": s.truth}, pred))
        p, r = tp / max(1, npred), tp / max(1, ntrue)
        pb, rb = tp_big / max(1, npred_big), tp_big / max(1, ntrue_big)
        rows.append([name, p, r, 2 * p * r / max(1e-12, p + r), 2 * pb * rb / max(1e-12, pb + rb),
                     f"{np.mean(per):.3f}", f"{secs:.1f}"])
    print(table(head, rows))


def tcpd_section() -> None:
    if not (TCPD / "annotations.json").is_file():
        print(f"\n## TCPD\n\nskipped: {TCPD} is absent (the Turing Change Point Dataset is read from "
              "../shared at benchmark time only)")
        return
    annotations = json.loads((TCPD / "annotations.json").read_text())
    series = {}
    for path in sorted(TCPD.glob("datasets/*/*.json")):
        d = json.loads(path.read_text())
        if d["name"] in TCPD_EXCLUDE or d["n_dim"] != 1:
            continue
        series[d["name"]] = np.asarray(d["series"][0]["raw"], dtype=float)
    published: dict[str, dict[str, float]] = {}
    with open(TCPD / "tcpdbench_scores" / "default_scores_selected.csv") as fh:
        for row in csv.DictReader(line for line in fh if not line.startswith("#")):
            published[row["dataset"]] = {k: float(v) for k, v in row.items() if k.startswith("f1_") and v}
    print(f"\n## TCPD: {len(series)} univariate series of TCPDBench's table, 5 annotators each; "
          "F1 with margin 5 as TCPDBench defines it (mean over series)\n")
    rows = []
    methods = {"zero (no change point; checks the metric)": lambda v: [], **cp_methods()}
    for name, fn in methods.items():
        scores = [tcpd_f1(annotations[s], fn(v)) for s, v in series.items()]
        rows.append([name + " (measured here)", f"{np.mean(scores):.3f}"])
    for key, label in (("f1_zero", "zero (no change point)"), ("f1_binseg", "binseg"),
                       ("f1_pelt", "pelt"), ("f1_bocpd", "bocpd"), ("f1_ecp", "ecp (R E-divisive)")):
        vals = [published[s][key] for s in series if key in published.get(s, {})]
        rows.append([f"{label}, TCPDBench default (published, same {len(vals)} series)", f"{np.mean(vals):.3f}"])
    print(table(["method", "F1"], rows))


# ------------------------------------------------------------------ drift


def isolation_forest_drift(rows, share: float = 0.7) -> set[str]:
    """The learned alternative: IsolationForest over per-host residuals (each series' log ratio
    minus the median of the other hosts); a host drifts when most of its series are outliers
    on the same side."""
    from sklearn.ensemble import IsolationForest

    by_host = defaultdict(list)
    for r in rows:
        by_host[r["host"]].append(r["log_ratio"])
    resid, owner = [], []
    for h, lrs in by_host.items():
        others = [x for g, v in by_host.items() if g != h for x in v]
        ref = float(np.median(others)) if others else 0.0
        resid += [x - ref for x in lrs]
        owner += [h] * len(lrs)
    x = np.asarray(resid).reshape(-1, 1)
    flags = IsolationForest(random_state=0).fit(x).predict(x) == -1
    found = set()
    for h in by_host:
        sel = [(f, r) for f, r, o in zip(flags, resid, owner, strict=True) if o == h]
        if sum(f and r > 0 for f, r in sel) >= share * len(sel) or sum(f and r < 0 for f, r in sel) >= share * len(sel):
            found.add(h)
    return found


def _right(runs, found) -> float:
    return sum(r.drifting_host in f for r, f in zip(runs, found, strict=True)) / len(runs)


def _any(found) -> float:
    return sum(bool(f) for f in found) / len(found)


def drift_section(reps: int) -> None:
    runs = drift_corpus(reps)
    print(f"\n## Machine drift: {len(runs)} runs, 2-6 hosts per target (or 1), 6-24 series per host\n")
    head = ["scenario", "runs", "dtf detect_drift: right host flagged", "any host flagged",
            "IsolationForest: right host", "IsolationForest: any host", "dtf seconds", "IF seconds"]
    rows = []
    for kind in ("drift", "none", "code", "drift-single-host", "code-single-host"):
        sel = [r for r in runs if r.kind == kind]
        t0 = time.perf_counter()
        ours = [{f.host for f in stats.detect_drift(r.rows)} for r in sel]
        rule_secs = time.perf_counter() - t0
        t0 = time.perf_counter()
        learned = [isolation_forest_drift(r.rows) for r in sel]
        secs = time.perf_counter() - t0
        drifting = kind.startswith("drift")
        rows.append([kind, len(sel), _right(sel, ours) if drifting else "-", _any(ours),
                     _right(sel, learned) if drifting else "-", _any(learned), f"{rule_secs:.3f}",
                     f"{secs:.1f}"])
    print(table(head, rows))
    print("\n'code-single-host' is a commit that slows 90% of one host's series alike: no statistic "
          "can tell it from a machine problem without a second host, so flags there are expected.")


# ------------------------------------------------------------------ speed


def best_of(fn, times: int = 3) -> float:
    out = []
    for _ in range(times):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def speed_section() -> None:
    rng = np.random.default_rng(5)
    flat = 100 + rng.standard_normal(10_000)
    steps = flat + np.repeat(rng.normal(0, 3, 20), 500)
    pairs = [(rng.lognormal(0, 0.03, 10), rng.lognormal(0.01, 0.03, 10)) for _ in range(20_000)]
    k = len(pairs)
    mixed = [(rng.lognormal(0, 0.03, int(rng.integers(3, 31))), rng.lognormal(0, 0.03, int(rng.integers(3, 31))))
             for _ in range(20_000)]
    b, c = pairs[0]
    rows = [
        ["change_points, 10,000 points, no change", f"{best_of(lambda: stats.change_points(flat)):.3f} s", "< 1 s"],
        ["change_points, 10,000 points, 19 changes", f"{best_of(lambda: stats.change_points(steps)):.3f} s", "< 1 s"],
        ["compare_many, 20,000 series x 10 samples per side",
         f"{best_of(lambda: stats.compare_many(pairs, directions=['lower'] * k, thresholds=[0.03] * k)):.3f} s", "< 5 s"],
        ["compare_many, 20,000 series, 3-30 samples per side",
         f"{best_of(lambda: stats.compare_many(mixed, directions=['lower'] * k, thresholds=[0.03] * k)):.3f} s", "-"],
        ["compare, one series (10 + 10 samples), per call",
         f"{best_of(lambda: [stats.compare(b, c) for _ in range(1000)]) * 1000:.0f} µs", "-"],
    ]
    print("\n## Speed (best of 3)\n")
    print(table(["operation", "time", "goal"], rows))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller corpora (about 30 s)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    print("# dtf statistics benchmark" + (" (--quick)" if args.quick else ""))
    print(f"\nmachine: {machine()}")
    comparison_section(reps=25 if args.quick else 150)
    run_noise_section(reps=50 if args.quick else 250)
    changepoint_section(count=40 if args.quick else 160)
    tcpd_section()
    drift_section(reps=10 if args.quick else 60)
    speed_section()
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
