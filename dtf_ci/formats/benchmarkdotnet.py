"""BenchmarkDotNet's JSON export (``--exporters json``).

A benchmark's name is its ``FullName`` (namespace, type, method and parameters), as
github-action-benchmark shows it. ``benchmarkdotnet`` (that action's name) takes ``Statistics.Mean``
in nanoseconds, as it shows it; ``benchmarkdotnet-raw`` takes every measured iteration
(``Statistics.OriginalValues``, ns per operation) as samples. A benchmark
without statistics (it failed to run) is a failed test.
"""

from __future__ import annotations

from pathlib import Path

from dtf_ci.formats._common import (
    expect_list,
    expect_name,
    expect_object,
    expect_top,
    fail,
    load_json,
    number,
)
from dtf_ci.formats._text import Collector
from dtf_ci.model import ParseResult

NAME = "benchmarkdotnet"
DESCRIPTION = "BenchmarkDotNet JSON export (`--exporters json`): mean ns per operation"
RAW_DESCRIPTION = "BenchmarkDotNet JSON export: every iteration's ns per operation"
HINT = ("the benchmarkdotnet format reads `BenchmarkDotNet.Artifacts/results/*-report-full.json`"
        " (`--exporters json`); copy it to {results}")


def parse(path: Path) -> ParseResult:
    """github-action-benchmark's view (``benchmarkdotnet``): ``Statistics.Mean`` in ns."""
    return _parse(Path(path), gab=True)


def parse_raw(path: Path) -> ParseResult:
    """``benchmarkdotnet-raw``: every measured iteration as a sample."""
    return _parse(Path(path), gab=False)


def _parse(path: Path, *, gab: bool) -> ParseResult:
    doc = expect_top(path, load_json(path, HINT), dict, "a JSON object with a `Benchmarks` list", HINT)
    if "Benchmarks" not in doc:
        raise fail(path, "Benchmarks", f"missing; {HINT}")
    out = Collector(path)
    for i, raw in enumerate(expect_list(path, "Benchmarks", doc["Benchmarks"], "one entry per benchmark")):
        place = f"Benchmarks[{i}]"
        bench = expect_object(path, place, raw, "one benchmark")
        name = expect_name(path, f"{place}.FullName", bench.get("FullName"))
        stats = bench.get("Statistics")
        if stats is None:
            out.result.failures.append(name)
            out.result.tests += 1
            continue
        stats = expect_object(path, f"{place}.Statistics", stats, "the benchmark's statistics")
        originals = stats.get("OriginalValues")
        if gab or not originals:
            mean = number(path, f"{place}.Statistics.Mean", stats.get("Mean"), what="a time in ns")
            out.add(name, mean, "ns", "lower", place)
            continue
        for k, v in enumerate(expect_list(path, f"{place}.Statistics.OriginalValues", originals,
                                          "the measured iterations")):
            out.add(name, number(path, f"{place}.Statistics.OriginalValues[{k}]", v,
                                 what="a time in ns"), "ns", "lower", place, same_series=True)
    return out.finish(NAME, '{"Benchmarks": [{"FullName": ..., "Statistics": {...}}]}', HINT)
