"""cargo-criterion's ``--message-format=json`` output: one JSON message per line.

Each ``benchmark-complete`` message gives the benchmark ``id``'s raw samples: every measured
value divided by its iteration count (nanoseconds per iteration, or the message's unit), so
dtf compares distributions rather than one estimate. Other messages (``group-complete``, compiler messages) are skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dtf_ci.formats._common import describe, expect_list, expect_name, fail, number
from dtf_ci.formats._text import Collector, iter_lines
from dtf_ci.model import ParseResult

NAME = "cargo-criterion"
DESCRIPTION = "cargo-criterion --message-format=json: raw ns per iteration per benchmark id"
HINT = ("the cargo-criterion format reads the JSON lines of "
        "`cargo criterion --message-format=json > {results}`")
EXAMPLE = '{"reason":"benchmark-complete","id":"fib 20",...}'


def parse(path: Path) -> ParseResult:
    path = Path(path)
    out = Collector(path)
    for n, line in iter_lines(path, HINT):
        text = line.strip()
        if not text.startswith("{"):
            continue
        place = f"line {n}"
        try:
            msg: Any = json.loads(text)
        except ValueError as exc:
            raise fail(path, place, f"invalid JSON ({exc}); {HINT}") from None
        if not isinstance(msg, dict) or msg.get("reason") != "benchmark-complete":
            continue
        name = expect_name(path, f"{place}.id", msg.get("id"))
        unit = msg.get("unit", "ns")
        if not isinstance(unit, str) or not unit:
            raise fail(path, f"{place}.unit", f"expected a unit such as \"ns\", found {describe(unit)}")
        values = expect_list(path, f"{place}.measured_values", msg.get("measured_values"),
                             "the measured values")
        counts = expect_list(path, f"{place}.iteration_count", msg.get("iteration_count"),
                             "the iteration counts")
        if len(values) != len(counts) or not values:
            raise fail(path, f"{place}.measured_values", f"expected one value per iteration count, "
                       f"found {len(values)} values and {len(counts)} counts")
        for i, (v, c) in enumerate(zip(values, counts, strict=True)):
            total = number(path, f"{place}.measured_values[{i}]", v, what="a measured value",
                           non_negative=True)
            iters = number(path, f"{place}.iteration_count[{i}]", c, what="an iteration count")
            if iters <= 0:
                raise fail(path, f"{place}.iteration_count[{i}]", "expected a positive count")
            out.add(name, total / iters, f"{unit}", "lower", place, same_series=True)
    return out.finish(NAME, EXAMPLE, HINT)
