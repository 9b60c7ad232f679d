"""pytest-benchmark's ``--benchmark-json`` file: the raw rounds, or the median time.

When the file holds each round's time (``stats.data``, written with
``--benchmark-save-data``), every round is a sample, so dtf compares distributions. Without
them the median (not the mean) is the one sample, because pytest-benchmark's rounds often
have a long tail (GC pauses, a cold cache). Under github-action-benchmark's name
(``pytest``) the value is what that action shows: ``stats.ops`` in ``iter/sec``, higher
is better.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dtf_ci.formats._common import (
    UniqueNames,
    expect_list,
    expect_name,
    expect_object,
    expect_top,
    fail,
    load_json,
    number,
)
from dtf_ci.model import Measurement, ParseResult

NAME = "pytest-benchmark"
DESCRIPTION = (
    "pytest-benchmark JSON (`pytest --benchmark-json {results}`): median seconds per benchmark"
)
HINT = "the pytest-benchmark format reads the JSON written by `pytest --benchmark-json {results}`"


def parse(path: Path) -> ParseResult:
    """Read one pytest-benchmark JSON file: raw rounds when saved, else the median."""
    return _parse(Path(path), gab=False)


def parse_gab(path: Path) -> ParseResult:
    """github-action-benchmark's view: ``stats.ops`` (iter/sec) per benchmark ``fullname``."""
    return _parse(Path(path), gab=True)


def _parse(path: Path, *, gab: bool) -> ParseResult:
    shape = "a JSON object with a `benchmarks` list"
    doc: dict[str, Any] = expect_top(path, load_json(path, HINT), dict, shape, HINT)
    if "benchmarks" not in doc:
        raise fail(path, "benchmarks", f"missing; {HINT}")
    benchmarks = expect_list(path, "benchmarks", doc["benchmarks"], "one entry per benchmark")
    names = UniqueNames()
    result = ParseResult(tests=len(benchmarks))
    for i, raw in enumerate(benchmarks):
        place = f"benchmarks[{i}]"
        bench = expect_object(path, place, raw, "one benchmark")
        fullname = bench.get("fullname")
        if isinstance(fullname, str) and fullname.strip():
            metric = fullname
        else:
            metric = expect_name(path, f"{place}.name", bench.get("name"))
        if "stats" not in bench:
            raise fail(path, f"{place}.stats", f"missing; {HINT}")
        stats = expect_object(path, f"{place}.stats", bench["stats"], "the benchmark's statistics")
        if gab:
            ops = number(path, f"{place}.stats.ops", stats.get("ops"),
                         what="a number of iterations per second", non_negative=True)
            result.measurements.append(Measurement(names.add(metric), ops, "iter/sec", "higher"))
            continue
        data = stats.get("data")
        if isinstance(data, list) and data:
            metric = names.add(metric)
            for k, raw_value in enumerate(data):
                value = number(path, f"{place}.stats.data[{k}]", raw_value,
                               what="a number of seconds", non_negative=True)
                result.measurements.append(Measurement(metric, value, "s", "lower"))
            continue
        if "median" not in stats:
            raise fail(
                path,
                f"{place}.stats.median",
                f"missing: expected the median time in seconds; {HINT}",
            )
        value = number(
            path,
            f"{place}.stats.median",
            stats["median"],
            what="a number of seconds",
            non_negative=True,
        )
        result.measurements.append(Measurement(names.add(metric), value, "s", "lower"))
    return result
