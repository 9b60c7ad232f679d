"""airspeed velocity (asv) results: one ``results/MACHINE/COMMIT-ENV.json`` file.

Each benchmark (``benchmarks.TimeSuite.time_keys``) gives its result; a parametrized one
gives one series per combination, named as asv's web pages write it,
``benchmarks.ParamSuite.time_build(10, 'list')``. Raw samples (``asv run
--record-samples``) are taken when present, else the result value. Units come from the
``benchmarks.json`` asv keeps beside the machine folders (``time_`` benchmarks are seconds,
``mem_``/``peakmem_`` bytes, ``track_`` what the benchmark declares). A benchmark whose
result is null (it failed) is a failed test. ``dtf history import --from asv`` reads a whole
results folder.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from dtf_ci.formats._common import (
    describe,
    expect_list,
    expect_object,
    expect_top,
    fail,
    load_json,
    number,
)
from dtf_ci.formats._text import Collector
from dtf_ci.model import ParseResult

NAME = "asv"
DESCRIPTION = "asv (airspeed velocity) results JSON: seconds, bytes or the declared unit per benchmark"
HINT = "the asv format reads one `.asv/results/MACHINE/COMMIT-ENV.json` written by `asv run`"

_UNITS = {"seconds": "s", "bytes": "B"}


def parse(path: Path) -> ParseResult:
    path = Path(path)
    out = Collector(path)
    add_results(path, load_results(path), out, read_units(path.parent.parent / "benchmarks.json"))
    return out.finish(NAME, '{"results": {...}, "result_columns": [...]}', HINT)


def load_results(path: Path) -> dict[str, Any]:
    doc = expect_top(path, load_json(path, HINT), dict, "a JSON object with `results`", HINT)
    if "results" not in doc:
        raise fail(path, "results", f"missing; {HINT}")
    expect_object(path, "results", doc["results"], "one entry per benchmark")
    return doc


def read_units(path: Path) -> dict[str, str]:
    """Benchmark name -> unit from asv's ``benchmarks.json``; empty when it is absent."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict):
        return {}
    units: dict[str, str] = {}
    for name, info in doc.items():
        if isinstance(info, dict) and isinstance(info.get("unit"), str):
            unit: str = info["unit"]
            units[name] = _UNITS.get(unit, unit)
    return units


def _unit(name: str, units: dict[str, str]) -> str:
    if name in units:
        return units[name]
    short = name.rsplit(".", 1)[-1]
    if short.startswith("time_"):
        return "s"
    if short.startswith(("mem_", "peakmem_")):
        return "B"
    return ""


def add_results(path: Path, doc: dict[str, Any], out: Collector, units: dict[str, str]) -> None:
    """Add every benchmark of one asv results document to ``out``."""
    columns = doc.get("result_columns")
    if columns is None:  # results format 1: {"results": {name: value or {"result": [...], "params": [...]}}}
        columns = ["result", "params"]
    columns = expect_list(path, "result_columns", columns, "the column names")
    col = {c: i for i, c in enumerate(columns) if isinstance(c, str)}
    for name, row in doc["results"].items():
        place = f"results.{name}"
        if isinstance(row, dict):  # format 1
            row = [row.get("result"), row.get("params") or []]
        elif not isinstance(row, list):
            row = [row, []]
        result = row[col["result"]] if "result" in col and col["result"] < len(row) else None
        params = row[col["params"]] if "params" in col and col["params"] < len(row) else []
        samples = row[col["samples"]] if "samples" in col and col["samples"] < len(row) else None
        unit = _unit(name, units)
        if result is None:
            out.result.failures.append(name)
            out.result.tests += 1
            continue
        values = result if isinstance(result, list) else [result]
        combos = _combinations(path, f"{place}.params", params)
        if len(combos) != len(values):
            raise fail(path, f"{place}.result", f"expected {len(combos)} results (one per parameter "
                       f"combination), found {len(values)}")
        for k, (combo, value) in enumerate(zip(combos, values, strict=True)):
            series = f"{name}({', '.join(combo)})" if combo else name
            if value is None:  # this combination failed or was skipped
                out.result.failures.append(series)
                out.result.tests += 1
                continue
            raw = samples[k] if isinstance(samples, list) and k < len(samples) else None
            if isinstance(raw, list) and raw:
                for j, s in enumerate(raw):
                    out.add(series, number(path, f"{place}.samples[{k}][{j}]", s), unit, "lower",
                            place, same_series=True)
            else:
                out.add(series, number(path, f"{place}.result[{k}]", value), unit, "lower", place)


def _combinations(path: Path, place: str, params: Any) -> list[tuple[str, ...]]:
    if not params:
        return [()]
    lists = expect_list(path, place, params, "one list of values per parameter")
    for i, values in enumerate(lists):
        if not isinstance(values, list) or not values:
            raise fail(path, f"{place}[{i}]", f"expected a list of parameter values, found {describe(values)}")
    return [tuple(str(v) for v in combo) for combo in itertools.product(*lists)]
