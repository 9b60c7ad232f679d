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

import functools
import re
from pathlib import Path

from dtf_ci.formats._common import fail
from dtf_ci.formats._text import Collector, iter_lines, scan_prefixed, text_number
from dtf_ci.model import Direction, ParseResult

NAME = "go-bench"
DESCRIPTION = "go test -bench output: ns/op, B/op, allocs/op, MB/s and custom metrics per benchmark"
HINT = "the go-bench format reads the console output of `go test -bench . -benchmem ./... > {results}`"
EXAMPLE = "BenchmarkFib20-8   30000   41653 ns/op"

_LINE = re.compile(r"^(?P<name>Benchmark\S*?)(?P<procs>-\d+)?\s+(?P<times>\d+)\s+(?P<rest>\S.*)$")
_PKG = re.compile(r"^pkg:\s+(?P<pkg>\S+)")
_FAIL = re.compile(r"^\s*--- FAIL: (?P<name>Benchmark\S*)")
_HIGHER = ("MB/s", "ops/s", "ops/sec")


@functools.lru_cache(maxsize=1024)
def direction_of(unit: str) -> Direction:
    """Throughput units are better when higher; times, bytes and allocations when lower."""
    return "higher" if unit in _HIGHER or unit.endswith("/s") or unit.endswith("/sec") else "lower"


def _has_package(name: str, pkg: str) -> bool:
    # github-action-benchmark skips the suffix when a name already carries its package
    # (a common workaround for same-named benchmarks): the full path, the path with '/'
    # as '_', or the last two path segments joined by '_'.
    parts = pkg.split("/")
    tail = "_".join(parts[-2:]) if len(parts) >= 2 else None
    return pkg in name or pkg.replace("/", "_") in name or bool(tail and tail in name)


def parse(path: Path) -> ParseResult:
    path = Path(path)
    # The package suffix depends on whether the whole file holds more than one package, so a
    # cheap first pass collects the `pkg:` lines rather than holding the file in memory.
    several = len({p.split()[0] for p in scan_prefixed(path, b"pkg:") if p}) > 1
    out = Collector(path)
    known: dict[tuple[str, str, str], str] = {}  # (name, package, unit) -> series
    pkg = ""
    for n, line in iter_lines(path, HINT):
        if not line.startswith("Benchmark"):
            if line.startswith("pkg:") and (p := _PKG.match(line)):
                pkg = p["pkg"]
            elif (f := _FAIL.match(line)) is not None:
                out.result.failures.append(f["name"])
                out.result.tests += 1
            continue
        m = _LINE.match(line)
        if m is None:
            continue
        fields = m["rest"].split()
        if len(fields) % 2:
            raise fail(path, f"line {n}", f"expected VALUE UNIT pairs after the iteration count, "
                       f"found {len(fields)} fields ({m['rest'][:60]!r})")
        name = m["name"]
        place = f"line {n}"
        full = ""
        for i in range(0, len(fields), 2):
            unit = fields[i + 1]
            value = text_number(path, place, fields[i], "a number before the unit")
            key = (name, pkg, unit)
            metric = known.get(key)
            if metric is not None:  # -count N: another sample of a series already seen
                out.sample(metric, value, unit, direction_of(unit), place)
                continue
            if not full:
                full = f"{name} ({pkg})" if several and pkg and not _has_package(name, pkg) else name
            metric = out.add(full if i == 0 else f"{full} - {unit}", value, unit, direction_of(unit),
                             place, same_series=True, count_test=i == 0)
            known[key] = metric
    return out.finish(NAME, EXAMPLE, HINT)
