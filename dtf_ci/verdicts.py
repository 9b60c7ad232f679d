"""Decide a verdict for every series of a run, against its baseline in history.

The statistics live in ``dtf_ci.stats``; this module only gathers the inputs (current
samples, baseline window, noise), calls it once for the whole run (so the false discovery
rate is controlled across all series), and adds the verdicts statistics cannot give:
``new``, ``missing``, ``failed``, and series set aside because their machine drifted.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

SeriesKey = tuple[str, str, str]  # task, metric, target
ORDER = ("failed", "regression", "missing", "inconclusive", "improvement", "new", "unchanged")
BASELINE_RUNS = 10  # at most this many runs' samples form the baseline
SIDE_CAP = 96  # a side with more samples is summarized by this many evenly spaced order statistics


@dataclass
class RunData:
    """What the merged shards say about this run."""

    series: dict[SeriesKey, dict[str, Any]] = field(default_factory=dict)  # unit, direction, values, hosts
    units: list[dict[str, Any]] = field(default_factory=list)
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    host_load: dict[str, Any] = field(default_factory=dict)  # unit -> dtf_ci.busy.UnitLoad


def read_run(merged_db: str) -> RunData:
    import duckdb

    data = RunData()
    con = duckdb.connect(merged_db, read_only=True)
    try:
        rows = con.execute(
            """SELECT task, metric, target, any_value(unit), any_value(direction),
                      list(value ORDER BY repetition) FILTER (WHERE isfinite(value)), list(DISTINCT host_id)
               FROM samples WHERE side IS DISTINCT FROM 'base'
               GROUP BY task, metric, target ORDER BY task, target, metric"""
        ).fetchall()
        for task, metric, target, unit, direction, values, hosts in rows:
            data.series[(task, metric, target)] = {
                "unit": unit or "", "direction": direction or "lower",
                "values": list(values or []), "hosts": sorted(h for h in hosts if h),
            }
        cols = ["unit", "task", "target", "host_id", "status", "error_category", "reason",
                "attempts", "repeat", "wall_s", "cpu_s", "peak_rss_mb", "exit_code", "output_tail", "shard_id",
                "gpu_peak_mem_mb", "gpu_util_pct"]
        for row in con.execute(f"SELECT {', '.join(cols)} FROM units ORDER BY unit").fetchall():
            data.units.append(dict(zip(cols, row, strict=True)))
        for host_id, hostname, target in con.execute("SELECT host_id, hostname, target FROM hosts").fetchall():
            data.hosts[host_id] = {"hostname": hostname, "target": target}
        from dtf_ci.busy import META_KEY, decode

        for (value,) in con.execute("SELECT value FROM dtf_meta WHERE starts_with(key, ?)", [META_KEY + ":"]).fetchall():
            data.host_load.update(decode(value))
    finally:
        con.close()
    return data


def _finite(xs: list[float]) -> list[float]:
    return [x for x in xs if isinstance(x, (int, float)) and math.isfinite(x)]


def decide(
    run: RunData,
    history: dict[SeriesKey, list[tuple[str, float, list[float]]]],
    *,
    thresholds: dict[str, float],
    missing_units: list[dict[str, Any]],
    fdr: float = 0.05,
    main_line: bool = False,
    sha: str = "",
    run_shas: dict[str, str] | None = None,
    paired: dict[SeriesKey, dict[str, Any]] | None = None,
    series_thresholds: dict[SeriesKey, float] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """All series verdicts (sorted worst first) and drift findings.

    On the main line a regression or improvement is attributed to this run's commit
    (``landed_in``); every series whose baseline window starts after a change point in its
    history names that run (``change_point``), so a reader sees where the level moved.
    A series in ``paired`` (interleaved A/B, :mod:`dtf_ci.paired`) is compared with its base
    in the same job instead of history, under the same run-wide FDR.
    """
    run_shas = run_shas or {}
    paired = paired or {}
    from dtf_ci import stats
    from dtf_ci.history_changes import describe, landed_in
    from dtf_ci.history_marks import changes_and_window

    unit_status = {(u["task"], u["target"]): u for u in run.units}
    out: list[dict[str, Any]] = []
    to_compare: list[tuple[dict[str, Any], list[float], list[float], float, float | None]] = []
    to_pair: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for key, cur in run.series.items():
        task, metric, target = key
        past = history.get(key, [])
        row = _row(key, cur["unit"], cur["direction"], cur["values"], past)
        row["threshold"] = (series_thresholds or {}).get(key, thresholds.get(task, 0.03))
        row["hosts"] = cur["hosts"]
        status = unit_status.get((task, target))
        if status and status["status"] != "passed":
            row.update(verdict="failed", reason=status["reason"] or status["status"])
            out.append(row)
            continue
        if status and status.get("error_category") == "infrastructure":
            # It ran, but what it is compared with could not be (an interleaved unit's base).
            row.update(verdict="inconclusive", reason=status["reason"] or "infrastructure")
            out.append(row)
            continue
        if key in paired:
            to_pair.append((row, paired[key]))
            continue
        if not past:
            row.update(verdict="new", reason="no history for this series yet")
            out.append(row)
            continue
        medians = [m for _, m, _ in past]
        # One detector call gives the baseline window and the change points the chart marks.
        changes, start, moved = changes_and_window(medians)
        window = past[start:][-BASELINE_RUNS:]
        run_ids = [rid for rid, _, _ in past]
        row["change_points"] = [describe(c, run_ids, run_shas, cur["direction"]) for c in changes]
        if window:
            row["baseline_window"] = {"from-run": window[0][0], "to-run": window[-1][0], "runs": len(window)}
        baseline = [v for _, _, vals in window for v in vals if math.isfinite(v)]
        noise = stats.series_noise([m for _, m, _ in past[start:]])
        row["baseline_n"] = len(baseline)
        row["baseline_median"] = statistics.median(baseline) if baseline else None
        row["baseline_runs"] = len(window)
        row["noise"] = noise
        if moved is not None:  # the level moved: name the run, its commit range, size, confidence
            row["change_point"] = describe(moved, run_ids, run_shas, cur["direction"])
        to_compare.append((row, _summarize(baseline), _summarize(cur["values"]), row["threshold"], noise))
    comparisons: list[Any] = []
    if to_compare:
        comparisons = stats.compare_many(
            [(b, c) for _, b, c, _, _ in to_compare],
            directions=[r["direction"] for r, *_ in to_compare],
            thresholds=[t for *_, t, _ in to_compare],
            noises=[n for *_, n in to_compare],
            fdr=fdr,
            on_invalid="inconclusive",
        )
    if to_pair:
        from dtf_ci.paired import decide_paired

        comparisons = decide_paired(to_compare, comparisons, to_pair, fdr=fdr, out=out)
    if to_compare:
        for (row, *_), comp in zip(to_compare, comparisons, strict=True):
            row.update(verdict=comp.verdict, ratio=_num(comp.ratio), ci_low=_num(comp.ci_low),
                       ci_high=_num(comp.ci_high), p_value=_num(comp.p_value),
                       q_value=_num(comp.q_value), effective_threshold=_num(comp.threshold),
                       outliers=comp.outliers, reason=comp.reason, scale=comp.scale)
            if comp.scale == "difference":  # a side had zeros or negatives: no log ratio
                row.update(difference=_num(comp.difference),
                           difference_ci=[_num(comp.diff_low), _num(comp.diff_high)])
            elif comp.log_ratio is not None and not math.isfinite(comp.ratio):
                row["log_ratio"] = _num(comp.log_ratio)  # past float range (1e-300 -> 1e300)
            if main_line and sha and comp.verdict in ("regression", "improvement"):
                row["landed_in"], row["landed_range"] = landed_in(past, row, sha, run_shas)
            out.append(row)
    drift = _drift(out, run)
    out.extend(_missing(run, history, missing_units, thresholds))
    _failed_without_samples(run, out, thresholds)
    out.sort(key=lambda r: (ORDER.index(r["verdict"]), r["task"], r["target"], r["metric"]))
    return out, drift


def _summarize(values: list[float], cap: int = SIDE_CAP) -> list[float]:
    """At most ``cap`` evenly spaced order statistics of ``values``.

    Hodges–Lehmann and its interval cost n·m pairwise differences: 10 runs of 50 repetitions
    against 50 would be 25,000 per series. The quantiles keep the distribution's shape; the
    test's p-value only grows (fewer points), so no regression is made up by the summary.
    """
    n = len(values)
    if n <= cap:
        return values
    ordered = sorted(values)
    return [ordered[round(i * (n - 1) / (cap - 1))] for i in range(cap)]


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def _row(key: SeriesKey, unit: str, direction: str, values: list[float],
         past: list[tuple[str, float, list[float]]]) -> dict[str, Any]:
    task, metric, target = key
    finite = _finite(values)
    return {
        "task": task, "metric": metric, "target": target, "unit": unit, "direction": direction,
        "verdict": "inconclusive", "ratio": None, "ci_low": None, "ci_high": None, "p_value": None,
        "baseline_n": 0, "current_n": len(finite), "baseline_median": None,
        "current_median": statistics.median(finite) if finite else None,
        "reason": "", "current_values": finite,
        "history": [{"run-id": rid, "median": med} for rid, med, _ in past[-30:]],
    }


def _drift(rows: list[dict[str, Any]], run: RunData) -> list[dict[str, Any]]:
    """Find hosts whose series moved together; set their regressions aside as a machine problem."""
    from dtf_ci import stats

    inputs = []
    for r in rows:
        # An interleaved series compared base and head on the same machine: a drifting host
        # moved both sides, so a change there is the code's, never set aside as drift.
        if r.get("baseline") == "interleaved":
            continue
        if r.get("ratio") and len(r["hosts"]) == 1 and r["ratio"] > 0 and r.get("scale") != "difference":
            inputs.append({"host": r["hosts"][0], "target": r["target"],
                           "series": f"{r['task']}/{r['metric']}", "log_ratio": math.log(r["ratio"])})
    if not inputs:
        return []
    findings = stats.detect_drift(inputs)
    out = []
    for f in findings:
        hostname = run.hosts.get(f.host, {}).get("hostname", f.host)
        affected = set(f.series)
        for r in rows:
            if r["hosts"] == [f.host] and f"{r['task']}/{r['metric']}" in affected and r["verdict"] in ("regression", "improvement"):
                r["reason"] = f"set aside: machine drift on {hostname} (×{f.factor:.2f} across {f.series_count} series)"
                r["verdict"] = "inconclusive"
                r["drift"] = True
        out.append({"host": f.host, "hostname": hostname, "target": f.target, "factor": f.factor,
                    "series_count": f.series_count, "share": f.share, "series": sorted(f.series)})
    return out


def _missing(run: RunData, history: dict[SeriesKey, list[tuple[str, float, list[float]]]],
             missing_units: list[dict[str, Any]], thresholds: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    gone = {(u["task"], u["target"]): u for u in missing_units}
    for key, past in history.items():
        task, metric, target = key
        if key in run.series or (task, target) not in gone:
            continue
        row = _row(key, "", "lower", [], past)
        row.update(verdict="missing", reason=gone[(task, target)]["reason"], threshold=thresholds.get(task, 0.03))
        row["hosts"] = []
        rows.append(row)
    covered = {(r["task"], r["target"]) for r in rows}
    for (task, target), u in gone.items():
        if (task, target) not in covered:
            row = _row((task, "", target), "", "lower", [], [])
            row.update(verdict="missing", reason=u["reason"], threshold=thresholds.get(task, 0.03))
            row["hosts"] = []
            rows.append(row)
    return rows


def _failed_without_samples(run: RunData, rows: list[dict[str, Any]], thresholds: dict[str, float]) -> None:
    have = {(r["task"], r["target"]) for r in rows}
    for u in run.units:
        if u["status"] == "failed" and (u["task"], u["target"]) not in have:
            row = _row((u["task"], "", u["target"]), "", "lower", [], [])
            row.update(verdict="failed", reason=u["reason"] or u["status"], threshold=thresholds.get(u["task"], 0.03))
            row["hosts"] = [u["host_id"]] if u.get("host_id") else []
            rows.append(row)


def overall(counts: dict[str, int]) -> str:
    for verdict in ORDER:
        if counts.get(verdict):
            return verdict
    return "unchanged"
