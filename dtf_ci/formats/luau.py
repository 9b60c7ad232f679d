"""Luau's benchmark runner (``bench.py``) output: one sample per ``SUCCESS:`` line.

``SUCCESS: base64  :  15.041ms +/-  0.636% on luau`` gives ``base64`` = 15.041 in ``ms``,
named and valued as github-action-benchmark's ``benchmarkluau`` tool does.
"""

from __future__ import annotations

import re
from pathlib import Path

from dtf_ci.formats._common import fail
from dtf_ci.formats._text import Collector, iter_lines, text_number
from dtf_ci.model import ParseResult

NAME = "luau"
DESCRIPTION = "Luau bench.py output (`SUCCESS: NAME : 15.041ms +/- 0.636% on luau`): time as printed"
HINT = "the luau format reads the output of Luau's `bench/bench.py > {results}`"
EXAMPLE = "SUCCESS: base64 : 15.041ms +/- 0.636% on luau"

_VALUE = re.compile(r"^(?P<value>[-+]?(?:\d[\d.]*(?:[eE][-+]?\d+)?|nan|inf|NaN|Infinity))(?P<unit>[^\d\s]*)$")


def parse(path: Path) -> ParseResult:
    path = Path(path)
    out = Collector(path)
    for n, line in iter_lines(path, HINT):
        if not line.startswith("SUCCESS"):
            continue
        place = f"line {n}"
        parts = line.split()
        if len(parts) < 4 or parts[2] != ":":
            raise fail(path, place, f"expected {EXAMPLE!r}, found {line[:80]!r}")
        m = _VALUE.match(parts[3])
        if m is None:
            raise fail(path, place, f"expected a time such as 15.041ms, found {parts[3][:40]!r}")
        value = text_number(path, place, m["value"], "a time")
        out.add(parts[1], value, m["unit"], "lower", place)
    return out.finish(NAME, EXAMPLE, HINT)
