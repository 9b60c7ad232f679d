"""criterion.rs console output (``cargo bench`` with criterion), and its bencher lines.

criterion prints ``NAME  time: [LOW ESTIMATE HIGH]`` per benchmark (a long name stands on
the line before); the middle value, its point estimate, becomes one sample in seconds, so a
benchmark that moves from µs to ms keeps one series. ``thrpt: [...]`` lines give
``NAME - thrpt`` in bytes or elements per second (criterion prints the unit that suits
the size, ``MiB/s`` in one run and ``GiB/s`` in the next; higher is better). Lines written with
``--output-format bencher`` (``test NAME ... bench: N ns/iter (+/- M)``) are read as the
cargo-bench format reads them.
"""

from __future__ import annotations

import re
from pathlib import Path

from dtf_ci.formats import cargo_bench
from dtf_ci.formats._common import fail
from dtf_ci.formats._text import TIME_UNITS, Collector, iter_lines, text_number
from dtf_ci.model import ParseResult

NAME = "criterion"
DESCRIPTION = "criterion.rs console output (`time: [low estimate high]`) or its bencher lines: seconds"
HINT = "the criterion format reads the console output of `cargo bench > {results}` with criterion"
EXAMPLE = "fib 20                  time:   [21.086 µs 21.124 µs 21.161 µs]"

# criterion prints each value as `{:>6} {unit}`, and some units with leading spaces
# (`  B/s`, ` elem/s`): the gaps are one space or more.
_TIME = re.compile(r"^(?P<name>.*?)\s*time:\s+\[\s*(?P<lo>\S+)\s+(?P<lou>\S+)\s+(?P<v>\S+)\s+"
                   r"(?P<u>\S+)\s+(?P<hi>\S+)\s+(?P<hiu>\S+)\s*\]\s*$")
_THRPT = re.compile(r"^\s*thrpt:\s+\[\s*\S+\s+\S+\s+(?P<v>\S+)\s+(?P<u>\S+)\s+\S+\s+\S+\s*\]\s*$")
# criterion scales a throughput to the unit that suits its size (MiB/s in one run, GiB/s in
# the next): every value becomes bytes or elements per second, so a series keeps one unit.
_THROUGHPUT: dict[str, tuple[float, str]] = {
    "B/s": (1.0, "B/s"), "KiB/s": (1024.0, "B/s"), "MiB/s": (1024.0 ** 2, "B/s"),
    "GiB/s": (1024.0 ** 3, "B/s"), "TiB/s": (1024.0 ** 4, "B/s"),
    "KB/s": (1e3, "B/s"), "MB/s": (1e6, "B/s"), "GB/s": (1e9, "B/s"), "TB/s": (1e12, "B/s"),
    "elem/s": (1.0, "elem/s"), "Kelem/s": (1e3, "elem/s"), "Melem/s": (1e6, "elem/s"),
    "Gelem/s": (1e9, "elem/s"),
}
_TIMES = {**TIME_UNITS, "ps": 1e-12}


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
            factor = _TIMES.get(m["u"])
            if factor is None:
                raise fail(path, place, "expected a time unit (ps, ns, µs, ms or s), found "
                           f"{m['u']!r}")
            out.add(name, text_number(path, place, m["v"], "a time") * factor, "s", "lower", place)
        elif "thrpt:" in line and current and (t := _THRPT.match(line)):
            value = text_number(path, place, t["v"], "a throughput")
            scale, unit = _THROUGHPUT.get(t["u"], (1.0, t["u"]))
            out.add(f"{current} - thrpt", value * scale, unit, "higher", place, count_test=False)
        elif line.startswith("test ") and (b := cargo_bench._LINE.match(line)):
            value = text_number(path, place, b["value"], "a time per iteration")
            out.add(b["name"].strip(), value, f"{b['unit']}/iter", "lower", place)
        stripped = line.strip()
        if stripped and not line[:1].isspace() and not stripped.startswith(
                ("Benchmarking ", "Found ", "Gnuplot ", "Running ", "Compiling ", "Finished ")):
            previous = stripped
    return out.finish(NAME, EXAMPLE, HINT)
