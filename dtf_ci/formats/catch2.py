"""Catch2 benchmarks (v2 and v3): the console reporter's table, or the XML reporter.

Console: after a ``benchmark name  samples  iterations  estimated`` header, each benchmark
takes three lines (name with samples, the mean line, the std dev line) and a blank one,
as github-action-benchmark's ``catch2`` tool reads them; a name Catch2 wrapped over several
lines (longer than its column) is joined with spaces, where that action loses the benchmark. ``catch2`` (that action's name)
keeps the mean as printed, in the unit printed; ``catch2-seconds`` converts it to seconds,
because Catch2 switches between ns, us, ms and s as a benchmark's time grows and a series
should keep one unit. XML (``-r xml``): each ``<BenchmarkResults name=...>``'s
``<mean value=...>``, in ns (``catch2``) or seconds (``catch2-seconds``).
A failed test case (``<OverallResult success="false">``) is a failed test.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dtf_ci.formats._common import fail, head_bytes, number, read_bytes
from dtf_ci.formats._text import TIME_UNITS, Collector, iter_lines, text_number
from dtf_ci.model import ParseResult

NAME = "catch2"
DESCRIPTION = "Catch2 v2/v3 benchmark console output or XML (`-r xml`): the mean as printed"
SECONDS_DESCRIPTION = "Catch2 v2/v3 benchmark console output or XML (`-r xml`): the mean in seconds"
HINT = ("the catch2 format reads what a Catch2 test binary prints (`./tests '[!benchmark]' > "
        "{results}`) or writes with `-r xml -o {results}`")
EXAMPLE = "Fibonacci 20      100      2     8.3712 ms"

_HEADER = re.compile(r"^benchmark name +samples +iterations +(estimated|est run time)")
_START = re.compile(r"(?P<samples>\d+) +(?P<iterations>\d+) +(?:\S+) (?:ns|us|µs|ms|s)\s*$")
_VALUES = re.compile(r"^ +(?P<value>\S+) (?P<unit>ns|us|µs|ms|s) +\S+ (?:ns|us|µs|ms|s) +\S+ (?:ns|us|µs|ms|s)")
_SEPARATOR = re.compile(r"^-+$")
_MAX_WRAP = 8  # lines of one wrapped name; more is not a benchmark table


def parse(path: Path) -> ParseResult:
    """github-action-benchmark's view (``catch2``): the mean in the unit Catch2 printed."""
    return _parse(Path(path), as_printed=True)


def parse_seconds(path: Path) -> ParseResult:
    """``catch2-seconds``: the mean in seconds, whatever unit Catch2 printed."""
    return _parse(Path(path), as_printed=False)


def _parse(path: Path, *, as_printed: bool) -> ParseResult:
    if _is_xml(path):
        return _parse_xml(path, as_printed=as_printed)
    out = Collector(path)
    state = "search"  # search -> header -> name -> mean -> stddev -> blank -> name ...
    name = ""
    wrapped: list[str] = []  # the first lines of a name Catch2 wrapped
    for n, line in iter_lines(path, HINT):
        place = f"line {n}"
        if state == "search":
            if _HEADER.match(line):
                state = "header"
        elif state == "header":
            if _SEPARATOR.match(line):
                state = "name"
        elif state == "name":
            m = _START.search(line)
            if m is None:
                # Catch2 wraps a name longer than its column over several lines; the last
                # one carries the numbers. A blank line or a separator ends the table.
                if line.strip() and not _SEPARATOR.match(line) and len(wrapped) < _MAX_WRAP:
                    wrapped.append(line.strip())
                else:
                    state, wrapped = "search", []
                continue
            name = " ".join([*wrapped, line[: m.start()].strip()]).strip()
            wrapped = []
            if not name:
                state = "search"
                continue
            state = "mean"
        elif state == "mean":
            v = _VALUES.match(line)
            if v is None:
                raise fail(path, place, f"expected the mean line of benchmark {name!r} "
                           f"(like '  43.186 us  41.402 us  46.246 us'), found {line.strip()[:60]!r}")
            value = text_number(path, place, v["value"], "a mean time")
            if as_printed:
                out.add(name, value, v["unit"], "lower", place)
            else:
                out.add(name, value * TIME_UNITS[v["unit"]], "s", "lower", place)
            state = "stddev"
        elif state == "stddev":
            if _VALUES.match(line) is None:
                raise fail(path, place, f"expected the std dev line of benchmark {name!r}, "
                           f"found {line.strip()[:60]!r}; the output looks cut")
            state = "blank"
        elif state == "blank":
            if line.strip():
                raise fail(path, place, f"expected a blank line after benchmark {name!r}, "
                           f"found {line.strip()[:60]!r}")
            state = "name"
    if state in ("mean", "stddev"):
        raise fail(path, "end of file", f"benchmark {name!r} is cut off; the output is truncated")
    return out.finish(NAME, EXAMPLE, HINT)


def _is_xml(path: Path) -> bool:
    head = head_bytes(path, 512)
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def _parse_xml(path: Path, *, as_printed: bool) -> ParseResult:
    from dtf_ci.formats.junit import _parse_xml as parse_xml_document

    root = parse_xml_document(path, read_bytes(path, HINT))
    if root.tag not in ("Catch", "Catch2TestRun"):
        raise fail(path, f"<{root.tag}>", f"expected a <Catch> (v2) or <Catch2TestRun> (v3) root "
                   f"element; {HINT}")
    out = Collector(path)
    for index, case in enumerate(root.iter("TestCase")):
        case_place = f"TestCase[{index}]"
        case_name = case.get("name") or case_place
        for j, bench in enumerate(case.iter("BenchmarkResults")):
            place = f"{case_place}/BenchmarkResults[{j}]"
            _add_xml(path, out, bench, place, as_printed)
        result = case.find("OverallResult")
        if result is not None and result.get("success") == "false":
            out.result.failures.append(case_name)
            out.result.tests += 1
    return out.finish(NAME, "<BenchmarkResults name=...><mean value=...>", HINT)


def _add_xml(path: Path, out: Collector, bench: Any, place: str, as_printed: bool) -> None:
    name = (bench.get("name") or "").strip()
    if not name:
        raise fail(path, f"{place}@name", "missing: every <BenchmarkResults> needs a name")
    mean = bench.find("mean")
    if mean is None or mean.get("value") is None:
        raise fail(path, f"{place}/mean", "missing: expected <mean value=...> in nanoseconds")
    ns = number(path, f"{place}/mean@value", mean.get("value"), what="a number of nanoseconds",
                allow_string=True, non_negative=True)
    if as_printed:
        out.add(name, ns, "ns", "lower", place)
    else:
        out.add(name, ns * 1e-9, "s", "lower", place)
