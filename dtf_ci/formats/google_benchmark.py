"""Google Benchmark's JSON output: one sample per benchmark name, its real time in seconds.

Real (wall) time rather than CPU time is taken because it is what a user waits for, and for
GPU or multi-threaded benchmarks CPU time misses most of the work. Times are converted to
seconds so that a change of ``->Unit(...)`` in the benchmark does not break the series'
history. Per-repetition rows are preferred over the library's aggregates so that the median
is taken the same way whatever flags the user passed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dtf_ci.formats._common import (
    UniqueNames,
    describe,
    expect_list,
    expect_name,
    expect_object,
    expect_top,
    fail,
    load_json,
    number,
)
from dtf_ci.model import Measurement, ParseResult

NAME = "google-benchmark"
DESCRIPTION = (
    "Google Benchmark JSON (`BENCH --benchmark_out={results} --benchmark_out_format=json`): "
    "real time in seconds per benchmark"
)
HINT = (
    "the google-benchmark format reads the JSON written by "
    "`BENCH --benchmark_out={results} --benchmark_out_format=json`"
)

TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def _seconds(path: Path, place: str, row: dict[str, Any]) -> float:
    if "real_time" not in row:
        raise fail(
            path, f"{place}.real_time", f"missing: expected the benchmark's real time; {HINT}"
        )
    value = number(path, f"{place}.real_time", row["real_time"], what="a time", non_negative=True)
    unit = row.get("time_unit")
    if not isinstance(unit, str) or unit not in TIME_UNITS:
        known = ", ".join(TIME_UNITS)
        raise fail(path, f"{place}.time_unit", f"expected one of {known}, found {describe(unit)}")
    return value * TIME_UNITS[unit]


def _median(values: list[float]) -> float:
    # Not statistics.median: that module pulls in fractions, decimal and random at import.
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    low, high = ordered[middle - 1], ordered[middle]
    return low + (high - low) / 2  # never overflows, unlike (low + high) / 2


def _is_aggregate(row: dict[str, Any]) -> bool:
    # Old releases wrote no run_type; their aggregate rows still carried aggregate_name.
    return row.get("run_type") == "aggregate" or "aggregate_name" in row


def _metric(path: Path, place: str, row: dict[str, Any]) -> str:
    if not _is_aggregate(row):
        return expect_name(path, f"{place}.name", row.get("name"))
    # The median row is called NAME_median; its run_name is the benchmark's own name, which
    # keeps the series the same as in a run that wrote per-repetition rows.
    run_name = row.get("run_name")
    if isinstance(run_name, str) and run_name.strip():
        return run_name
    return expect_name(path, f"{place}.name", row.get("name")).removesuffix("_median")


def parse_gab(path: Path) -> ParseResult:
    """github-action-benchmark's ``googlecpp`` view: every row under its own name.

    Values stay in the row's ``time_unit`` with unit ``{time_unit}/iter``; aggregate rows
    (``BM_x_mean``, ``BM_x_median``...) are series of their own, as that action shows them,
    and repetition rows of one name are samples of one series.
    """
    from dtf_ci.formats._text import Collector

    path = Path(path)
    shape = "a JSON object with a `benchmarks` list"
    doc: dict[str, Any] = expect_top(path, load_json(path, HINT), dict, shape, HINT)
    if "benchmarks" not in doc:
        raise fail(path, "benchmarks", f"missing; {HINT}")
    rows = expect_list(path, "benchmarks", doc["benchmarks"], "one entry per benchmark run")
    out = Collector(path)
    for i, raw in enumerate(rows):
        place = f"benchmarks[{i}]"
        row = expect_object(path, place, raw, "one benchmark run")
        name = expect_name(path, f"{place}.name", row.get("name"))
        if row.get("error_occurred") is True:
            out.result.failures.append(name)
            out.result.tests += 1
            continue
        value = number(path, f"{place}.real_time", row.get("real_time"), what="a time",
                       non_negative=True)
        unit = row.get("time_unit")
        if not isinstance(unit, str) or unit not in TIME_UNITS:
            raise fail(path, f"{place}.time_unit",
                       f"expected one of {', '.join(TIME_UNITS)}, found {describe(unit)}")
        out.add(name, value, f"{unit}/iter", "lower", place, same_series=True)
    return out.finish("googlecpp", '{"benchmarks": [{"name": ..., "real_time": ...}]}', HINT)


def parse(path: Path) -> ParseResult:
    """Read Google Benchmark JSON: per benchmark, the median of its repetition rows.

    A benchmark with no repetition rows (``--benchmark_report_aggregates_only``) falls back
    to its ``median`` aggregate row; its other aggregates (mean, stddev, cv, BigO) are ignored.
    """
    path = Path(path)
    shape = "a JSON object with a `benchmarks` list"
    doc: dict[str, Any] = expect_top(path, load_json(path, HINT), dict, shape, HINT)
    if "benchmarks" not in doc:
        raise fail(path, "benchmarks", f"missing; {HINT}")
    rows = expect_list(path, "benchmarks", doc["benchmarks"], "one entry per benchmark run")

    seen: dict[str, None] = {}  # benchmark names in first-seen order (a dict keeps order)
    times: dict[str, list[float]] = {}
    medians: dict[str, tuple[str, dict[str, Any]]] = {}  # read only when there is no row
    failed: dict[str, None] = {}
    for i, raw in enumerate(rows):
        place = f"benchmarks[{i}]"
        row = expect_object(path, place, raw, "one benchmark run")
        if _is_aggregate(row) and row.get("aggregate_name") != "median":
            continue
        metric = _metric(path, place, row)
        seen[metric] = None
        if _is_aggregate(row):
            medians.setdefault(metric, (place, row))
        elif row.get("error_occurred") is True:  # SkipWithError: the benchmark failed
            failed[metric] = None
        elif row.get("skipped") is True:  # SkipWithMessage (1.8+): neither fails nor measures
            continue
        else:
            times.setdefault(metric, []).append(_seconds(path, place, row))

    if rows and not seen:
        raise fail(
            path,
            "benchmarks",
            "holds only aggregate rows and none is a `median`; run without "
            "`--benchmark_report_aggregates_only`, or keep the median statistic",
        )
    names = UniqueNames()
    result = ParseResult(tests=len(seen), failures=list(failed))
    for metric in seen:
        if metric in times:
            value = _median(times[metric])
        elif metric in medians and metric not in failed:
            value = _seconds(path, *medians[metric])
        else:
            continue
        # Names are distinct here (grouped by name); UniqueNames only guards the contract.
        result.measurements.append(Measurement(names.add(metric), value, "s", "lower"))
    return result
