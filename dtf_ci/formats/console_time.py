"""``console.time(label)`` / ``console.timeEnd(label)`` output of Node.js and browsers.

``label: 1.234ms``, ``label: 2.5s``, ``label: 1:02.345 (m:ss.mmm)`` and the browsers'
``label: 1.234 ms - timer ended`` each give one sample of ``label``, in seconds (Node.js
switches units as times grow, and the series must not). A label timed twice gives two
samples of one series (a loop around ``console.time`` is the usual way to repeat).
"""

from __future__ import annotations

import re
from pathlib import Path

from dtf_ci.formats._text import Collector, iter_lines, seconds, text_number
from dtf_ci.model import ParseResult

NAME = "console-time"
DESCRIPTION = "console.time / console.timeEnd output (`label: 1.234ms`): seconds per label"
HINT = "the console-time format reads what `node bench.js > {results}` prints with console.timeEnd"
EXAMPLE = "parse: 12.345ms"

_PLAIN = re.compile(r"^(?P<label>.+?): (?P<value>[-+]?(?:\d+(?:\.\d+)?(?:e[-+]?\d+)?|NaN|Infinity))"
                    r" ?(?P<unit>ms|s)(?: - timer ended)?\s*$")
_CLOCK = re.compile(r"^(?P<label>.+?): (?P<clock>\d+(?::\d{2}){1,2}\.\d+) \((?:h:)?mm?:ss\.mmm\)\s*$")


def parse(path: Path) -> ParseResult:
    path = Path(path)
    out = Collector(path)
    for n, line in iter_lines(path, HINT):
        if ": " not in line:
            continue
        place = f"line {n}"
        m = _PLAIN.match(line)
        if m is not None:
            value = seconds(path, place, m["value"], m["unit"])
            out.add(m["label"], value, "s", "lower", place, same_series=True)
            continue
        c = _CLOCK.match(line)
        if c is not None:
            total = 0.0
            for part in c["clock"].split(":"):
                total = total * 60 + text_number(path, place, part, "a clock time")
            out.add(c["label"], total, "s", "lower", place, same_series=True)
    return out.finish(NAME, EXAMPLE, HINT)
