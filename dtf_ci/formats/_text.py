"""Helpers for the formats that read a tool's console output: streamed lines and a collector.

Console output can be large (a CI log captured with ``| tee``), so text formats never read a
file whole: lines are streamed with a bounded length, and the collector bounds how many
measurements one file may give. Every problem is a ``ResultsFormatError`` naming the line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

from dtf_ci.formats._common import RESULTS_HINT, UniqueNames, fail, number
from dtf_ci.model import Direction, Measurement, ParseResult

MAX_LINE_BYTES = 1024 * 1024
MAX_MEASUREMENTS = 500_000
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

TIME_UNITS: dict[str, float] = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
}


def scan_prefixed(path: Path, prefix: bytes) -> list[str]:
    """The rest of every line that starts with ``prefix``, read as raw bytes (a cheap first
    pass; unreadable files give nothing here and their error in the main pass)."""
    found: list[str] = []
    try:
        with open(path, "rb") as fh:
            while raw := fh.readline(MAX_LINE_BYTES + 1):
                if raw.startswith(prefix):
                    found.append(raw[len(prefix):].decode("utf-8", errors="replace").strip())
    except OSError:
        return []
    return found


def iter_lines(path: Path, hint: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` with line ends and ANSI colour codes removed.

    Lines are read with a length limit, so a file without newlines cannot fill the memory; a
    NUL byte means the file is not console output at all.
    """
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below; errors must be ours
    except FileNotFoundError:
        raise fail(path, "", f"no such file: {RESULTS_HINT}; {hint}") from None
    except IsADirectoryError:
        raise fail(path, "", f"is a folder, not a file; {hint}") from None
    except OSError as exc:
        raise fail(path, "", f"cannot be read ({exc.strerror or exc}); {hint}") from None
    blank = True
    with fh:
        number_ = 0
        while True:
            try:
                raw = fh.readline(MAX_LINE_BYTES + 1)
            except OSError as exc:
                raise fail(path, f"line {number_ + 1}", f"cannot be read ({exc})") from None
            if not raw:
                break
            number_ += 1
            if len(raw) > MAX_LINE_BYTES:
                raise fail(path, f"line {number_}", f"is longer than {MAX_LINE_BYTES // 1024} KiB; "
                           f"this is not a tool's console output; {hint}")
            if b"\x00" in raw:
                raise fail(path, f"line {number_}", f"holds a NUL byte: the file is binary, "
                           f"not a tool's text output; {hint}")
            text = raw.decode("utf-8", errors="replace")
            if number_ == 1:
                text = text.removeprefix("\ufeff")
            text = text.rstrip("\r\n")
            if "\x1b" in text:
                text = _ANSI.sub("", text)
            if blank and text.strip():
                blank = False
            yield number_, text
    if blank:
        raise fail(path, "", "the file is empty; the tool wrote no results (did it crash, or "
                   f"write them elsewhere?); {hint}")


def text_number(path: Path, place: str, token: str, what: str = "a number") -> float:
    """A number as consoles print it: ``18,149``, ``1.5e3``; NaN and infinity are refused."""
    if "," in token:
        token = token.replace(",", "")
    try:
        value = float(token)
    except ValueError:
        value = math.nan
    if value - value == 0:  # finite: the common case, without the general checks' cost
        return value
    return number(path, place, token, what=what, allow_string=True)  # raises the clear error


def seconds(path: Path, place: str, value: str, unit: str) -> float:
    """A printed time in one of ``ns us µs ms s``, as seconds."""
    factor = TIME_UNITS.get(unit)
    if factor is None:
        raise fail(path, place, f"expected a time unit (ns, us, µs, ms or s), found {unit!r}")
    return text_number(path, place, value, "a time") * factor


class Collector:
    """Collects measurements of one file: bounded in number, duplicate names kept apart.

    ``add(..., same_series=True)`` is for tools that print one benchmark several times on
    purpose (``go test -count``): those lines are samples of one series. Otherwise a second
    benchmark with a taken name becomes ``NAME#2`` and a note says so.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.result = ParseResult()
        self._names = UniqueNames()
        self._first: dict[str, str] = {}  # name as printed -> place of its first appearance
        self._series: dict[tuple[str, str], str] = {}

    def add(self, name: str, value: float, unit: str, direction: Direction, place: str, *,
            same_series: bool = False, count_test: bool = True) -> str:
        measurements = self.result.measurements
        if len(measurements) >= MAX_MEASUREMENTS:
            raise fail(self.path, place, f"more than {MAX_MEASUREMENTS:,} measurements in one "
                       "file; split the benchmarks over several tasks")
        metric = self._series.get((name, unit)) if same_series else None
        if metric is None:
            if name in self._first:  # taken: the rare path, with its note
                metric = self._names.add(name)
                self.result.notes.append(
                    f"{name!r} appears again at {place} (first at {self._first[name]}): "
                    f"kept apart as {metric!r}")
            else:
                metric = self._names.add(name)
                self._first[name] = place
            if same_series:
                self._series[(name, unit)] = metric
            if count_test:
                self.result.tests += 1
        measurements.append(Measurement(metric, value, unit, direction))
        return metric

    def sample(self, metric: str, value: float, unit: str, direction: Direction, place: str | int) -> None:
        """Another sample of a series ``add`` already returned: the hot path of large files."""
        measurements = self.result.measurements
        if len(measurements) >= MAX_MEASUREMENTS:
            where = f"line {place}" if isinstance(place, int) else place
            raise fail(self.path, where, f"more than {MAX_MEASUREMENTS:,} measurements in one "
                       "file; split the benchmarks over several tasks")
        measurements.append(Measurement(metric, value, unit, direction))

    def finish(self, fmt: str, example: str, hint: str) -> ParseResult:
        """The result, or a clear error when the file held no benchmark at all."""
        if not self.result.measurements and not self.result.tests:
            raise nothing_found(self.path, fmt, example, hint)
        return self.result


def nothing_found(path: Path, fmt: str, example: str, hint: str) -> Exception:
    """The error for a file without one benchmark: says which tool's output it looks like."""
    from dtf_ci.formats.detect import guess

    looks = guess(path)
    if looks and not (looks.startswith(fmt) or fmt.startswith(looks)):
        told = f"; it looks like {looks} output: set `format: {looks}` (or `format: auto`)"
    else:
        told = ""
    return fail(path, "", f"no benchmark results found (expected lines like {example!r}){told}; "
                f"{hint}")
