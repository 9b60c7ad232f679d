"""Ruby's ``Benchmark.bm`` / ``Benchmark.bmbm`` report: the real (wall) time per label.

``label:  0.010000   0.000000   0.010000 (  0.011000)`` gives ``label`` = 0.011 s (the
figure in parentheses; user, system and total are CPU times). ``bmbm``'s rehearsal table is
skipped: only the second, measured run counts. ``Benchmark.benchmark``'s summary rows
(labels starting with ``>``, as ``>total:`` and ``>avg:`` in Ruby's documentation) are sums
or means of the rows above: they are left out (a note says so), or one slower benchmark
would show as two regressions.
"""

from __future__ import annotations

import re
from pathlib import Path

from dtf_ci.formats._text import Collector, iter_lines, text_number
from dtf_ci.model import ParseResult

NAME = "ruby-benchmark"
DESCRIPTION = "Ruby Benchmark.bm / bmbm report: real seconds per label"
HINT = "the ruby-benchmark format reads what `ruby bench.rb > {results}` prints with Benchmark.bm"
EXAMPLE = "sort:   0.010000   0.000000   0.010000 (  0.011000)"

_ROW = re.compile(r"^(?P<label>.*?)\s*(?P<user>-?\d+\.\d+)\s+(?P<system>-?\d+\.\d+)\s+"
                  r"(?P<total>-?\d+\.\d+)\s+\(\s*(?P<real>\S+)\s*\)\s*$")
_REHEARSAL_END = re.compile(r"^-+\s*total:\s*\S+sec\s*$")


def parse(path: Path) -> ParseResult:
    path = Path(path)
    out = Collector(path)
    rehearsal = False
    unnamed = 0
    summaries: list[str] = []
    for n, line in iter_lines(path, HINT):
        if line.startswith("Rehearsal -"):
            rehearsal = True
            continue
        if rehearsal:
            rehearsal = not _REHEARSAL_END.match(line)
            continue
        m = _ROW.match(line)
        if m is None:
            continue
        place = f"line {n}"
        label = m["label"].strip().removesuffix(":").strip()
        if label.startswith(">"):  # Benchmark.benchmark's summary rows (">total:", ">avg:")
            summaries.append(label)
            continue
        if not label:
            unnamed += 1
            label = f"benchmark {unnamed}"
        value = text_number(path, place, m["real"], "a number of seconds")
        out.add(label, value, "s", "lower", place)
    if summaries:
        out.result.notes.append(f"summary rows {', '.join(repr(s) for s in summaries[:5])} "
                                "(sums or means of the rows above them) are not series")
    return out.finish(NAME, EXAMPLE, HINT)
