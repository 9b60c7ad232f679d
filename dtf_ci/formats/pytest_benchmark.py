"""pytest-benchmark's ``--benchmark-json`` file: one sample per benchmark, its median time.

The median (not the mean) is taken because pytest-benchmark's rounds often have a long tail
(GC pauses, a cold cache), and dtf's own repetitions already give the spread.
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
    """Read one pytest-benchmark JSON file into one measurement per benchmark."""
    path = Path(path)
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
