"""``dtf calibrate``: measure how noisy each series is, so thresholds rest on numbers.

The suite runs A/A ``--runs N`` times on this machine: every task interleaved against
itself (the head in both sides, ABBA, ``repeat`` pairs), one job after the other. From that
dtf knows, per series:

* ``pair-noise``: the spread (robust SD) of the pairs' log ratios, the noise an interleaved
  comparison has to see through;
* ``job-noise``: the spread of the head's medians from job to job, the noise a
  history comparison has to see through (needs 2 runs or more);
* ``detectable``: the smallest change each mode would call a regression in 9 jobs of 10
  at the suite's significance (1 %), and never below the task's threshold;
* ``false-alarms``: how many A/A jobs were called anything but unchanged (should be 0).

The file (``dtf-calibration.json`` next to the suite, schema ``dtf.calibration/1``) is meant
to be committed: ``threshold: auto`` then takes each series' ``auto-threshold`` from it (the
smallest change its mode can detect), the plan carries those numbers to aggregate, and the
report names the file they came from.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import statistics
from pathlib import Path
from typing import Any

from dtf_ci import log

SCHEMA = "dtf.calibration/1"
FILE_NAME = "dtf-calibration.json"
AUTO_MIN = 0.005  # `threshold: auto` never goes below 0.5 %: smaller changes are rarely worth a report
_Z_ALPHA = 2.576  # two-sided 1 %
_Z_POWER = 1.282  # 90 % power
_WILCOXON_ARE = math.sqrt(math.pi / 3)  # the signed-rank test's efficiency cost vs the t-test


def _robust_sd(xs: list[float]) -> float:
    if len(xs) < 2:
        return math.nan
    med = statistics.median(xs)
    mad = statistics.median(abs(x - med) for x in xs)
    sd = 1.4826 * mad
    return sd if sd > 0 else statistics.stdev(xs)


def detectable_interleaved(pair_noise: float, pairs: int) -> float:
    """Smallest change (fraction) a signed-rank test on ``pairs`` pairs finds 9 times in 10."""
    if not math.isfinite(pair_noise) or pairs < 2:
        return math.nan
    from dtf_ci.paired import MIN_PAIRS

    if pairs < MIN_PAIRS:
        return math.inf
    return math.expm1((_Z_ALPHA + _Z_POWER) * _WILCOXON_ARE * pair_noise / math.sqrt(pairs))


def detectable_history(job_noise: float, sample_noise: float, repeat: int) -> float:
    """The same for a history comparison: one job's median against the baseline jobs'."""
    if not math.isfinite(job_noise):
        return math.nan
    per_job = math.sqrt(job_noise ** 2 + sample_noise ** 2 / max(repeat, 1))
    return math.expm1((_Z_ALPHA + _Z_POWER) * per_job * math.sqrt(1 + 1 / 10))


def summarize(runs: list[dict[tuple[str, str, str], dict[str, Any]]], plan: dict[str, Any],
              verdicts: list[dict[tuple[str, str, str], str]]) -> list[dict[str, Any]]:
    """Per series: the noises and detectable changes over the A/A runs."""
    keys = sorted({k for run in runs for k in run})
    out = []
    for key in keys:
        task, metric, target = key
        spec = plan.get("tasks", {}).get(task, {})
        # `threshold: auto` has no threshold of its own yet: only the floor applies.
        threshold = AUTO_MIN if spec.get("threshold-auto") else float(spec.get("threshold") or 0.03)
        ds = [d for run in runs for d in run.get(key, {}).get("d", [])]
        per_run_d = [run[key]["d"] for run in runs if key in run and run[key]["d"]]
        medians = [math.log(statistics.median(run[key]["head"])) for run in runs
                   if key in run and run[key]["head"]]
        pairs = round(statistics.mean(len(d) for d in per_run_d)) if per_run_d else 0
        pair_noise = _robust_sd(ds)
        sample_noise = pair_noise / math.sqrt(2) if math.isfinite(pair_noise) else math.nan
        job_noise = _robust_sd(medians) if len(medians) >= 2 else math.nan
        inter = detectable_interleaved(pair_noise, pairs)
        hist = detectable_history(job_noise, sample_noise if math.isfinite(sample_noise) else 0.0, pairs or 1)
        mode = spec.get("baseline") or "history"
        own = inter if mode == "interleaved" else hist
        alarms = sum(1 for v in verdicts if v.get(key) not in (None, "unchanged"))
        out.append({
            "task": task, "metric": metric, "target": target, "baseline": mode,
            "runs": len(medians), "pairs": pairs,
            "pair-noise": _round(pair_noise), "sample-noise": _round(sample_noise),
            "job-noise": _round(job_noise),
            "detectable": {"interleaved": _round(_floor(inter, threshold)), "history": _round(_floor(hist, threshold))},
            "auto-threshold": _round(max(own, AUTO_MIN)) if math.isfinite(own) else None,
            "threshold": threshold, "false-alarms": alarms,
        })
    return out


def _floor(x: float, threshold: float) -> float:
    return max(x, threshold) if math.isfinite(x) else x


def _round(x: float) -> float | None:
    return round(x, 5) if isinstance(x, float) and math.isfinite(x) else None


def _aa_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan with every task interleaved (A/A needs pairs) and adaptive repeats off."""
    tasks = {tid: dict(t, baseline="interleaved") for tid, t in plan.get("tasks", {}).items()}
    return dict(plan, tasks=tasks)


def _read_run(shards_dir: Path, thresholds: dict[str, float]) -> tuple[dict[tuple[str, str, str], dict[str, Any]], dict[tuple[str, str, str], str]]:
    """One A/A run's pairs and head values per series, and its paired verdicts."""
    import duckdb

    from dtf_ci.paired import log_ratios, paired_compare

    sides: dict[tuple[str, str, str], dict[str, dict[int, float]]] = {}
    directions: dict[tuple[str, str, str], str] = {}
    for db in sorted(shards_dir.glob("*.duckdb")):
        con = duckdb.connect(str(db), read_only=True)
        try:
            rows = con.execute("SELECT task, metric, target, side, repetition, value, direction FROM samples "
                               "WHERE isfinite(value) AND value > 0").fetchall()
        finally:
            con.close()
        for task, metric, target, side, rep, value, direction in rows:
            key = (task, metric, target)
            sides.setdefault(key, {}).setdefault(side, {})[int(rep)] = float(value)
            directions[key] = direction or "lower"
    data, verdicts = {}, {}
    for key, by_side in sides.items():
        d = log_ratios(by_side.get("base", {}), by_side.get("head", {}))
        data[key] = {"d": d, "head": list(by_side.get("head", {}).values())}
        verdicts[key] = paired_compare(d, direction=directions[key],
                                      threshold=thresholds.get(key[0], 0.03)).verdict if d else "inconclusive"
    return data, verdicts


def calibrate(suite_path: str, runs: int, out: Path | None, state: Path) -> Path:
    from dtf_ci.basetree import BaseTree
    from dtf_ci.errors import UsageError
    from dtf_ci.inventory import build_inventory
    from dtf_ci.local import run_waves
    from dtf_ci.plan import make_plan, write_plan
    from dtf_ci.suite import load_suite

    if runs < 1:
        raise UsageError(f"--runs must be at least 1, got {runs}")
    suite = load_suite(suite_path)
    original = make_plan(suite, build_inventory(suite, "local", workers=1), run_id="calibrate")
    plan = _aa_plan(original)
    root = str(Path(suite.root).resolve())
    # A/A: the "base" is the head's own folder, so both sides run the same code.
    same = BaseTree("HEAD (A/A)", sha="", worktree="", root=root)
    work = state / "calibrate"
    per_run, verdicts = [], []
    for i in range(runs):
        shards = work / f"run-{i + 1}"
        shards.mkdir(parents=True, exist_ok=True)
        for old in shards.glob("*"):
            old.unlink()
        plan_path = work / "plan.json"
        write_plan(dict(plan, **{"run-id": f"calibrate-{i + 1}"}), plan_path)
        log.info(f"dtf calibrate: A/A run {i + 1} of {runs}")
        run_waves(json.loads(plan_path.read_text(encoding="utf-8")), plan_path, shards, 1,
                  show_progress=False, base=same)
        data, verdict = _read_run(shards, {t: float(v.get("threshold") or 0.03)
                                           for t, v in plan["tasks"].items()})
        per_run.append(data)
        verdicts.append(verdict)
    series = summarize(per_run, original, verdicts)
    target = out or Path(suite.root) / FILE_NAME
    doc = {"schema": SCHEMA, "created-at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "suite": suite.path, "runs": runs, "series": series}
    from dtf_ci.hardware import probe

    host = probe()
    doc["host"] = {"hostname": host.hostname, "cpu-model": host.cpu_model, "cpu-count": host.cpu_count}
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


def load_calibration(path: Path) -> dict[tuple[str, str, str], float]:
    """(task, metric, target) -> auto threshold from a calibration file; {} when unusable."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("series"), list):
        log.warning(f"{path}: not a {SCHEMA} file; threshold: auto falls back to 3%")
        return {}
    out = {}
    for s in doc["series"]:
        if not isinstance(s, dict):
            continue
        value = s.get("auto-threshold")
        if isinstance(value, (int, float)) and math.isfinite(value) and 0 < value < 10:
            out[(str(s.get("task")), str(s.get("metric")), str(s.get("target")))] = float(value)
    return out


def attach_calibration(plan: dict[str, Any], suite_root: str) -> None:
    """Carry the calibrated thresholds of ``threshold: auto`` tasks in the plan, for aggregate."""
    auto = {tid for tid, t in plan.get("tasks", {}).items() if t.get("threshold-auto")}
    if not auto:
        return
    path = Path(suite_root) / FILE_NAME
    found = load_calibration(path) if path.is_file() else {}
    if not path.is_file():
        log.warning(f"threshold: auto but no {FILE_NAME} next to the suite: run `dtf calibrate` and commit "
                    "the file; until then those tasks use 3%")
    plan["calibration"] = {"file": FILE_NAME if path.is_file() else "",
                           "thresholds": [{"task": k[0], "metric": k[1], "target": k[2], "threshold": v}
                                          for k, v in sorted(found.items()) if k[0] in auto]}


def series_thresholds(plan: dict[str, Any] | None) -> dict[tuple[str, str, str], float]:
    cal = (plan or {}).get("calibration") or {}
    out = {}
    for item in cal.get("thresholds") or []:
        if isinstance(item, dict) and isinstance(item.get("threshold"), (int, float)):
            out[(str(item.get("task")), str(item.get("metric")), str(item.get("target")))] = float(item["threshold"])
    return out


def run_calibrate_command(args: Any) -> int:
    target = calibrate(args.suite, args.runs, Path(args.out) if args.out else None, Path(args.dir))
    doc = json.loads(target.read_text(encoding="utf-8"))
    for s in doc["series"]:
        det = s["detectable"]
        log.info(f"{s['task']}/{s['metric']} on {s['target']}: pair noise {_pct(s['pair-noise'])}, "
                 f"job noise {_pct(s['job-noise'])}; detectable: interleaved {_pct(det['interleaved'])}, "
                 f"history {_pct(det['history'])}; A/A false alarms {s['false-alarms']} of {s['runs']}")
    log.info(f"wrote {target} ({doc['runs']} A/A runs); commit it so `threshold: auto` can use it")
    return 0


def _pct(x: Any) -> str:
    return f"{x * 100:.2f}%" if isinstance(x, (int, float)) else "n/a"
