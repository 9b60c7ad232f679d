"""criterion.rs console output (``cargo bench`` with criterion), and its bencher lines.

criterion prints ``NAME  time: [LOW ESTIMATE HIGH]`` per benchmark (a long name stands on
the line before); the middle value, its point estimate, becomes one sample in seconds, so a
benchmark that moves from µs to ms keeps one series. ``thrpt: [...]`` lines give
``NAME - thrpt`` in the printed unit (higher is better). Lines written with
``--output-format bencher`` (``test NAME ... bench: N ns/iter (+/- M)``) are read as the
cargo-bench format reads them.
"""

from __future__ import annotations

import re
from pathlib import Path

from dtf_ci.formats import cargo_bench
from dtf_ci.formats._common import fail
from dtf_ci.formats._text import Collector, iter_lines, seconds, text_number
from dtf_ci.model import ParseResult

NAME = "criterion"
DESCRIPTION = "criterion.rs console output (`time: [low estimate high]`) or its bencher lines: seconds"
HINT = "the criterion format reads the console output of `cargo bench > {results}` with criterion"
EXAMPLE = "fib 20                  time:   [21.086 µs 21.124 µs 21.161 µs]"

_TIME = re.compile(r"^(?P<name>.*?)\s*time:\s+\[(?P<lo>\S+) (?P<lou>\S+) (?P<v>\S+) (?P<u>\S+) "
                   r"(?P<hi>\S+) (?P<hiu>\S+)\]\s*$")
_THRPT = re.compile(r"^\s*thrpt:\s+\[\S+ \S+ (?P<v>\S+) (?P<u>\S+) \S+ \S+\]\s*$")


def parse(path: Path) -> ParseResult:
    path = Path(path)
    out = Collector(path)
    previous = ""  # the last line that could be a wrapped benchmark name
    current = ""
    for n, line in iter_lines(path, HINT):
        place = f"line {n}"
        if "time:" in line and (m := _TIME.match(line)):
            name = m["name"].strip() or previous
            if not name:
                raise fail(path, place, "a `time:` line without a benchmark name "
                                       "before it; the output looks cut")
            current = name
            out.add(name, seconds(path, place, m["v"], m["u"]), "s", "lower", place)
        elif "thrpt:" in line and current and (t := _THRPT.match(line)):
            value = text_number(path, place, t["v"], "a throughput")
            out.add(f"{current} - thrpt", value, t["u"], "higher", place, count_test=False)
        elif line.startswith("test ") and (b := cargo_bench._LINE.match(line)):
            value = text_number(path, place, b["value"], "a time per iteration")
            out.add(b["name"].strip(), value, f"{b['unit']}/iter", "lower", place)
        stripped = line.strip()
        if stripped and not line[:1].isspace() and not stripped.startswith(
                ("Benchmarking ", "Found ", "Gnuplot ", "Running ", "Compiling ", "Finished ")):
            previous = stripped
    return out.finish(NAME, EXAMPLE, HINT)
