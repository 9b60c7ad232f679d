"""iai and iai-callgrind console output: instruction counts and cache events per benchmark.

Each benchmark prints its name on a line of its own, then indented ``KEY: VALUE`` lines
(``Instructions``, ``L1 Accesses`` or ``L1 Hits``, ``RAM Hits``, ``Estimated Cycles`` ...).
iai-callgrind adds the previous run's value after a ``|`` and a change in parentheses; only
the first value, this run's, is read. Each line becomes the series ``NAME - KEY`` (lower is
better). These counts hardly vary between runs, which makes them good on noisy CI runners.
"""

from __future__ import annotations

import re
from pathlib import Path

from dtf_ci.formats._text import Collector, iter_lines, text_number
from dtf_ci.model import ParseResult

NAME = "iai"
DESCRIPTION = "iai / iai-callgrind output: instructions, cache hits and estimated cycles per benchmark"
HINT = "the iai format reads the console output of `cargo bench > {results}` with iai or iai-callgrind"
EXAMPLE = "  Instructions:                1735"

_METRIC = re.compile(r"^\s+(?P<key>[A-Za-z][A-Za-z0-9 +/_-]*?):\s+(?P<value>[^\s|]+)(?:\|\S*)?(?:\s.*)?$")
_UNITS = {"instructions": "instructions", "estimated cycles": "cycles"}


def parse(path: Path) -> ParseResult:
    path = Path(path)
    out = Collector(path)
    name = ""
    seen_in_block: set[str] = set()
    for n, line in iter_lines(path, HINT):
        if not line.strip():
            continue
        if not line[:1].isspace():
            name = line.strip()
            seen_in_block = set()
            continue
        m = _METRIC.match(line)
        if m is None or not name:
            continue
        token = m["value"]
        if not (token[:1].isdigit() or token.lower() in ("nan", "inf", "-inf", "infinity")):
            continue  # e.g. "Comparison with ..." or "N/A"
        key = m["key"].strip()
        place = f"line {n}"
        value = text_number(path, place, token, f"a count for {key!r}")
        unit = _UNITS.get(key.lower(), "count")
        out.add(f"{name} - {key}", value, unit, "lower", place,
                count_test=not seen_in_block)
        seen_in_block.add(key)
    return out.finish(NAME, EXAMPLE, HINT)
