"""vitest bench's JSON report (``vitest bench --run --outputJson {results}``).

A benchmark's name is its group's ``fullName`` and its own name,
``sort.bench.js > sort > normal``, as vitest prints them. Its raw ``samples`` (milliseconds
per call) are taken when the report holds them, else its ``median`` (or ``mean`` in older
reports): one sample in ``ms``, lower is better.
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

NAME = "vitest"
DESCRIPTION = "vitest bench --outputJson report: milliseconds per call (median or raw samples)"
HINT = "the vitest format reads the JSON written by `vitest bench --run --outputJson {results}`"


def parse(path: Path) -> ParseResult:
    path = Path(path)
    doc = expect_top(path, load_json(path, HINT), dict, "a JSON object with a `files` list", HINT)
    if "files" not in doc:
        raise fail(path, "files", f"missing; {HINT}")
    out = Collector(path)
    for i, raw_file in enumerate(expect_list(path, "files", doc["files"], "one entry per bench file")):
        fplace = f"files[{i}]"
        file_ = expect_object(path, fplace, raw_file, "one bench file")
        for j, raw_group in enumerate(expect_list(path, f"{fplace}.groups", file_.get("groups"), "its groups")):
            gplace = f"{fplace}.groups[{j}]"
            group = expect_object(path, gplace, raw_group, "one group")
            prefix = expect_name(path, f"{gplace}.fullName", group.get("fullName"))
            for k, raw in enumerate(expect_list(path, f"{gplace}.benchmarks", group.get("benchmarks"),
                                                "its benchmarks")):
                place = f"{gplace}.benchmarks[{k}]"
                bench = expect_object(path, place, raw, "one benchmark")
                name = f"{prefix} > {expect_name(path, f'{place}.name', bench.get('name'))}"
                samples = bench.get("samples")
                if isinstance(samples, list) and samples:
                    for s, v in enumerate(samples):
                        out.add(name, number(path, f"{place}.samples[{s}]", v, what="a time in ms",
                                             non_negative=True), "ms", "lower", place, same_series=True)
                    continue
                key = "median" if "median" in bench else "mean"
                value = number(path, f"{place}.{key}", bench.get(key), what="a time in ms",
                               non_negative=True)
                out.add(name, value, "ms", "lower", place)
    return out.finish(NAME, '{"files": [{"groups": [{"benchmarks": [...]}]}]}', HINT)
