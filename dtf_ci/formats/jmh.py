"""JMH's JSON result file (``-rf json -rff {results}``).

A benchmark's name is ``benchmark`` plus its parameters as compact JSON,
``com.example.Bench.sort ( {"size":"100"} )``, exactly as github-action-benchmark shows it.
``jmh`` (that action's name) takes ``primaryMetric.score``, as it shows it; ``jmh-raw``
takes every measurement iteration (``primaryMetric.rawData``, all forks) as samples. The
unit is ``scoreUnit``; throughput modes (``thrpt``) are better when higher, time modes when
lower. Secondary metrics (GC profilers) are not read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dtf_ci.formats._common import (
    expect_list,
    expect_name,
    expect_object,
    expect_top,
    load_json,
    number,
)
from dtf_ci.formats._text import Collector
from dtf_ci.model import Direction, ParseResult

NAME = "jmh"
DESCRIPTION = "JMH JSON (`-rf json`): the score per benchmark and parameters"
RAW_DESCRIPTION = "JMH JSON (`-rf json`): every iteration's score per benchmark and parameters"
HINT = "the jmh format reads the JSON written by `java -jar benchmarks.jar -rf json -rff {results}`"


def parse(path: Path) -> ParseResult:
    """github-action-benchmark's view (``jmh``): one ``primaryMetric.score`` per benchmark."""
    return _parse(Path(path), gab=True)


def parse_raw(path: Path) -> ParseResult:
    """``jmh-raw``: every measurement iteration of every fork as a sample."""
    return _parse(Path(path), gab=False)


def _direction(mode: Any, unit: str) -> Direction:
    if mode == "thrpt" or unit.startswith("ops/"):
        return "higher"
    return "lower"


def _parse(path: Path, *, gab: bool) -> ParseResult:
    rows = expect_top(path, load_json(path, HINT), list, "a JSON list of benchmark results", HINT)
    out = Collector(path)
    for i, raw in enumerate(rows):
        place = f"[{i}]"
        row = expect_object(path, place, raw, "one benchmark result")
        name = expect_name(path, f"{place}.benchmark", row.get("benchmark"))
        params = row.get("params")
        if params:
            name += " ( " + json.dumps(params, separators=(",", ":"), ensure_ascii=False) + " )"
        metric = expect_object(path, f"{place}.primaryMetric", row.get("primaryMetric"),
                               "the primary metric")
        unit = metric.get("scoreUnit")
        unit = unit if isinstance(unit, str) else ""
        direction = _direction(row.get("mode"), unit)
        raw_data = metric.get("rawData")
        if gab or not raw_data:
            score = number(path, f"{place}.primaryMetric.score", metric.get("score"), what="a score")
            out.add(name, score, unit, direction, place)
            continue
        for f, fork in enumerate(expect_list(path, f"{place}.primaryMetric.rawData", raw_data,
                                             "one list of iteration scores per fork")):
            for k, value in enumerate(expect_list(path, f"{place}.primaryMetric.rawData[{f}]",
                                                  fork, "the fork's iteration scores")):
                v = number(path, f"{place}.primaryMetric.rawData[{f}][{k}]", value, what="a score")
                out.add(name, v, unit, direction, place, same_series=True)
    return out.finish(NAME, '[{"benchmark": ..., "primaryMetric": {"score": ...}}]', HINT)
