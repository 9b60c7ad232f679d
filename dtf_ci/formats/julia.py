"""Julia BenchmarkTools results saved with ``BenchmarkTools.save(path, results)``.

Groups nest; a benchmark's name is its keys joined by ``/`` (``fib/20``), as
github-action-benchmark's ``julia`` tool names it. A ``TrialEstimate`` (``median(results)``)
gives one sample, its ``time`` in nanoseconds; a raw ``Trial`` (saved without an estimate,
which that action refuses) gives every one of its ``times`` as samples.
"""

from __future__ import annotations

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

NAME = "julia"
DESCRIPTION = "Julia BenchmarkTools.save JSON: time in ns per benchmark (raw times of a Trial)"
HINT = ('the julia format reads the JSON written by `BenchmarkTools.save("{results}", '
        "median(results))`")


def parse(path: Path) -> ParseResult:
    path = Path(path)
    doc = expect_top(path, load_json(path, HINT), list, "a JSON list [versions, [groups]]", HINT)
    if len(doc) != 2:
        raise fail(path, "top level", f"expected [versions, [groups]], found a list of {len(doc)}; {HINT}")
    groups = expect_list(path, "[1]", doc[1], "the saved benchmark groups")
    out = Collector(path)
    # Iterative walk: a deeply nested (or hostile) file must not exhaust Python's stack.
    stack: list[tuple[Any, list[str], str]] = [
        (g, [], f"[1][{i}]") for i, g in reversed(list(enumerate(groups)))]
    while stack:
        node, labels, place = stack.pop()
        kind, body = _tagged(path, place, node)
        if kind == "BenchmarkGroup":
            data = expect_object(path, f"{place}[1].data", body.get("data"), "the group's benchmarks")
            for key in reversed(list(data)):
                stack.append((data[key], [*labels, key], f"{place}[1].data.{key}"))
        elif kind == "TrialEstimate":
            name = "/".join(labels) or "benchmark"
            value = number(path, f"{place}[1].time", body.get("time"), what="a time in ns",
                           non_negative=True)
            out.add(name, value, "ns", "lower", place)
        elif kind == "Trial":
            name = "/".join(labels) or "benchmark"
            times = expect_list(path, f"{place}[1].times", body.get("times"), "the trial's times")
            for i, t in enumerate(times):
                out.add(name, number(path, f"{place}[1].times[{i}]", t, what="a time in ns",
                                     non_negative=True), "ns", "lower", place, same_series=True)
        else:
            raise fail(path, f"{place}[0]", f"expected BenchmarkGroup, TrialEstimate or Trial, "
                       f"found {describe(kind)}")
    return out.finish(NAME, '[{"Julia": ...}, [["BenchmarkGroup", {...}]]]', HINT)


def _tagged(path: Path, place: str, node: Any) -> tuple[Any, dict[str, Any]]:
    if not isinstance(node, list) or len(node) != 2:
        raise fail(path, place, f"expected a [TYPE, {{...}}] pair, found {describe(node)}")
    return node[0], expect_object(path, f"{place}[1]", node[1], "the value's fields")
