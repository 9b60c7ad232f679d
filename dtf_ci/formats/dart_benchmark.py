"""Dart ``benchmark_harness`` output: ``NAME(RunTime): 12.345 us.`` per benchmark.

The harness reports the mean time of one ``run()`` call in microseconds; it becomes one
sample of ``NAME`` in ``us``.
"""

from __future__ import annotations

import re
from pathlib import Path

from dtf_ci.formats._text import Collector, iter_lines, text_number
from dtf_ci.model import ParseResult

NAME = "dart-benchmark"
DESCRIPTION = "Dart benchmark_harness output (`NAME(RunTime): 12.3 us.`): microseconds per run"
HINT = "the dart-benchmark format reads what `dart run benchmark/main.dart > {results}` prints"
EXAMPLE = "Template(RunTime): 0.7532 us."

_LINE = re.compile(r"^(?P<name>\S.*?)\((?P<kind>RunTime|[A-Za-z]+)\): (?P<value>\S+) (?P<unit>us|µs)\.?\s*$")


def parse(path: Path) -> ParseResult:
    path = Path(path)
    out = Collector(path)
    for n, line in iter_lines(path, HINT):
        if "): " not in line:
            continue
        m = _LINE.match(line)
        if m is None:
            continue
        place = f"line {n}"
        value = text_number(path, place, m["value"], "a number of microseconds")
        name = m["name"] if m["kind"] == "RunTime" else f"{m['name']}({m['kind']})"
        out.add(name, value, "us", "lower", place)
    return out.finish(NAME, EXAMPLE, HINT)
