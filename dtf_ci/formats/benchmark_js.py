"""benchmark.js console output: operations per second per benchmark (higher is better).

``fib(20) x 11,465 ops/sec ±1.12% (91 runs sampled)`` gives one sample of ``fib(20)``, the
name being everything before the last `` x ``, as github-action-benchmark reads it.
"""

from __future__ import annotations

import re
from pathlib import Path

from dtf_ci.formats._text import Collector, iter_lines, text_number
from dtf_ci.model import ParseResult

NAME = "benchmark-js"
DESCRIPTION = "benchmark.js output (`NAME x 11,465 ops/sec ±1.12% (91 runs sampled)`): ops/sec"
HINT = "the benchmark-js format reads what a benchmark.js suite prints (`node bench.js > {results}`)"
EXAMPLE = "fib(20) x 11,465 ops/sec ±1.12% (91 runs sampled)"

_REST = re.compile(r"^ x (?P<value>\S+)\s+(?P<unit>\S+)\s+(?:±|\+-)[^%]+% \((?P<runs>\d+) runs? sampled\)\s*$")


def parse(path: Path) -> ParseResult:
    path = Path(path)
    out = Collector(path)
    for n, line in iter_lines(path, HINT):
        idx = line.rfind(" x ")
        if idx <= 0:
            continue
        m = _REST.match(line[idx:])
        if m is None:
            continue
        place = f"line {n}"
        value = text_number(path, place, m["value"], "a number of operations per second")
        out.add(line[:idx], value, m["unit"], "higher", place)
    return out.finish(NAME, EXAMPLE, HINT)
