"""``cargo bench`` with Rust's built-in libtest harness (``#[bench]``), and criterion's
``--output-format bencher``, which prints the same lines.

``test NAME ... bench:  18,149 ns/iter (+/- 755)`` gives one sample of ``NAME`` in
``ns/iter``, exactly as github-action-benchmark's ``cargo`` tool names and values it. A
benchmark that sets ``b.bytes`` also prints ``= 830 MB/s``: that throughput becomes a second
series ``NAME - MB/s`` (higher is better). ``test NAME ... FAILED`` is a failed test.
"""

from __future__ import annotations

import re
from pathlib import Path

from dtf_ci.formats._text import Collector, iter_lines, text_number
from dtf_ci.model import ParseResult

NAME = "cargo-bench"
DESCRIPTION = "cargo bench (libtest `ns/iter`, also criterion's bencher output): ns per iteration"
HINT = "the cargo-bench format reads the console output of `cargo bench > {results}`"
EXAMPLE = "test bench_fib_20 ... bench:      18,149 ns/iter (+/- 755)"

_LINE = re.compile(
    r"^test (?P<name>.+?)\s+\.\.\. bench:\s+(?P<value>\S+) (?P<unit>\S+)/iter"
    r" \(\+/- (?P<range>\S+)\)(?: = (?P<tp>\S+) (?P<tpu>\S+))?\s*$")
_FAILED = re.compile(r"^test (?P<name>.+?) \.\.\. FAILED\s*$")


def parse(path: Path) -> ParseResult:
    path = Path(path)
    out = Collector(path)
    for n, line in iter_lines(path, HINT):
        if not line.startswith("test "):
            continue
        m = _LINE.match(line)
        if m is None:
            f = _FAILED.match(line)
            if f:
                out.result.failures.append(f["name"].strip())
                out.result.tests += 1
            continue
        place = f"line {n}"
        name = m["name"].strip()
        value = text_number(path, place, m["value"], "a time per iteration")
        unit = f"{m['unit']}/iter"
        out.add(name, value, unit, "lower", place)
        if m["tp"]:
            tp = text_number(path, place, m["tp"], "a throughput")
            out.add(f"{name} - {m['tpu']}", tp, m["tpu"], "higher", place, count_test=False)
    return out.finish(NAME, EXAMPLE, HINT)
