"""``go test -bench`` console output: every metric of every line, named as
github-action-benchmark names them.

A result line is ``NAME[-PROCS] ITERATIONS VALUE UNIT [VALUE UNIT]...`` (the Go benchmark
data format). The first metric (``ns/op``) is the series ``NAME``; every further metric
(``B/op``, ``allocs/op``, ``MB/s``, custom ``b.ReportMetric`` units) is ``NAME - UNIT``.
When the file holds benchmarks of several packages (``go test ./...``), names get the
package: ``NAME (example.com/mod/pkg)``, unless the name already carries it. ``-PROCS`` (the
GOMAXPROCS suffix) is dropped from names. A benchmark printed several times (``-count N``)
gives N samples of one series. ``--- FAIL: BenchmarkX`` is a failed test.
"""

from __future__ import annotations

import re
from pathlib import Path

from dtf_ci.formats._common import fail
from dtf_ci.formats._text import (
    MAX_MEASUREMENTS,
    Collector,
    iter_lines,
    new_measurement,
    scan_prefixed,
    text_number,
)
from dtf_ci.model import Direction, Measurement, ParseResult

NAME = "go-bench"
DESCRIPTION = "go test -bench output: ns/op, B/op, allocs/op, MB/s and custom metrics per benchmark"
HINT = "the go-bench format reads the console output of `go test -bench . -benchmem ./... > {results}`"
EXAMPLE = "BenchmarkFib20-8   30000   41653 ns/op"

_PKG = re.compile(r"^pkg:\s+(?P<pkg>\S+)")
_FAIL = re.compile(r"^\s*--- FAIL: (?P<name>Benchmark\S*)")
_HIGHER = ("MB/s", "ops/s", "ops/sec")


_DIRECTIONS: dict[str, Direction] = {}  # unit -> direction, filled as units are met


def direction_of(unit: str) -> Direction:
    """Throughput units are better when higher; times, bytes and allocations when lower."""
    found: Direction = "higher" if unit in _HIGHER or unit.endswith(("/s", "/sec")) else "lower"
    if len(_DIRECTIONS) < 1024:  # a bounded cache: units come from the file
        _DIRECTIONS[unit] = found
    return found


def _has_package(name: str, pkg: str) -> bool:
    # github-action-benchmark skips the suffix when a name already carries its package
    # (a common workaround for same-named benchmarks): the full path, the path with '/'
    # as '_', or the last two path segments joined by '_'.
    parts = pkg.split("/")
    tail = "_".join(parts[-2:]) if len(parts) >= 2 else None
    return pkg in name or pkg.replace("/", "_") in name or bool(tail and tail in name)


def _several_packages(path: Path) -> bool:
    """Whether the file holds benchmarks of more than one package (a cheap first pass over the
    ``pkg:`` lines, rather than holding the whole file in memory)."""
    return len({p.split()[0] for p in scan_prefixed(path, b"pkg:") if p}) > 1


def parse(path: Path) -> ParseResult:
    path = Path(path)
    several = _several_packages(path)
    out = Collector(path)
    add, append = out.adder(), out.result.measurements.append
    # package -> benchmark name -> {unit: series}: a benchmark printed again (-count N) adds
    # samples to the series of its first line without any naming work.
    known: dict[str, dict[str, dict[str, str]]] = {"": {}}
    in_pkg = known[""]
    pkg = ""
    directions = _DIRECTIONS
    # One str.split per line rather than a regular expression, and one dict lookup per line
    # for a benchmark not seen before: this loop is the whole cost of a large go log (issue 11:
    # 100,000 lines in under 1 s).
    for n, line in iter_lines(path, HINT):
        if not line.startswith("Benchmark"):
            if line.startswith("pkg:") and (p := _PKG.match(line)):
                pkg = p["pkg"]
                in_pkg = known.setdefault(pkg, {})
            elif "--- FAIL" in line and (f := _FAIL.match(line)) is not None:
                out.result.failures.append(f["name"])
                out.result.tests += 1
            continue
        fields = line.split()
        count = len(fields)
        if count < 3 or not fields[1].isdecimal():
            continue  # a name alone (-v, or the benchmark's own output broke the line)
        name = fields[0]
        head, dash, procs = name.rpartition("-")
        if dash and procs.isdecimal() and head.startswith("Benchmark"):
            name = head  # the GOMAXPROCS suffix
        if count % 2:
            raise fail(path, f"line {n}", "expected VALUE UNIT pairs after the iteration count, "
                       f"found {count - 2} fields ({' '.join(fields[2:])[:60]!r})")
        units = in_pkg.get(name)
        full = ""
        if units is None:
            units = in_pkg[name] = {}
        for i in range(2, count, 2):
            token, unit = fields[i], fields[i + 1]
            try:
                value = float(token)
                if value - value:  # NaN or infinity: the general check says so
                    raise ValueError
            except ValueError:
                value = text_number(path, f"line {n}", token, "a number before the unit")
            direction = directions.get(unit) or direction_of(unit)
            metric = units.get(unit)
            if metric is None:
                if not full:
                    full = f"{name} ({pkg})" if several and pkg and not _has_package(name, pkg) else name
                # `units` maps repeats, so no same_series: a second package's benchmark that
                # takes an existing name is kept apart (NAME#2, with a note), not mixed in.
                units[unit] = add(full if i == 2 else f"{full} - {unit}", value, unit, direction,
                                  n, i == 2)
            else:  # -count N: another sample of a series already seen
                if len(out.result.measurements) >= MAX_MEASUREMENTS:
                    out.sample(metric, value, unit, direction, n)  # raises the clear error
                append(new_measurement(Measurement, (metric, value, unit, direction)))
    return out.finish(NAME, EXAMPLE, HINT)
