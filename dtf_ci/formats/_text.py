"""Helpers for the formats that read a tool's console output: streamed lines and a collector.

Console output can be large (a CI log captured with ``| tee``), so text formats never read a
file whole: lines are streamed with a bounded length, and the collector bounds how many
measurements one file may give. Every problem is a ``ResultsFormatError`` naming the line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from dtf_ci.errors import ResultsFormatError
from dtf_ci.formats._common import empty_file, fail, number, open_results
from dtf_ci.model import Direction, Measurement, ParseResult

MAX_LINE_BYTES = 1024 * 1024
BLOCK_BYTES = 256 * 1024
MAX_MEASUREMENTS = 500_000
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

new_measurement = tuple.__new__
"""``new_measurement(Measurement, (metric, value, unit, direction))`` builds a Measurement
without the Python-level ``__new__`` a named tuple's call runs: a third of the cost of one
measurement, which the hot loops of large files pay hundreds of thousands of times."""

TIME_UNITS: dict[str, float] = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
}


def _blocks(path: Path, hint: str) -> Iterator[tuple[int, bytes]]:
    """``(number of the block's first line, whole lines as bytes)``, about ``BLOCK_BYTES`` at
    a time: splitting and decoding a block at once costs a fraction of a ``readline`` per line.

    Memory stays bounded (a block plus one unfinished line of at most ``MAX_LINE_BYTES``); a
    line over that bound or a NUL byte ends the read with the error naming its line.
    """
    first = 1
    pending = b""
    with open_results(path, hint) as fh:
        while True:
            try:
                block = fh.read(BLOCK_BYTES)
            except OSError as exc:
                raise fail(path, f"line {first}", f"cannot be read ({exc})") from None
            if not block:
                break
            data = pending + block if pending else block
            cut = data.rfind(b"\n") + 1
            whole, pending = data[:cut], data[cut:]
            if len(pending) > MAX_LINE_BYTES:
                raise _too_long(path, first + whole.count(b"\n"), hint)
            if whole:
                _check_block(path, first, whole, hint)
                yield first, whole
                first += whole.count(b"\n")
    if pending:
        _check_block(path, first, pending, hint)
        yield first, pending


def _check_block(path: Path, first: int, data: bytes, hint: str) -> None:
    if len(data) >= MAX_LINE_BYTES:  # only a block this long can hold a line this long
        lines = data.split(b"\n")
        limit = MAX_LINE_BYTES if data.endswith(b"\n") else MAX_LINE_BYTES + 1  # with its newline
        if max(map(len, lines)) >= limit:
            at = next(i for i, raw in enumerate(lines) if len(raw) >= limit)
            raise _too_long(path, first + at, hint)
    if b"\x00" in data:
        line = first + data.count(b"\n", 0, data.index(b"\x00"))
        raise fail(path, f"line {line}", "holds a NUL byte: the file is binary, not a tool's "
                   f"text output; {hint}")


def _too_long(path: Path, line: int, hint: str) -> Exception:
    return fail(path, f"line {line}", f"is longer than {MAX_LINE_BYTES // 1024} KiB; this is "
                f"not a tool's console output; {hint}")


def scan_prefixed(path: Path, prefix: bytes) -> list[str]:
    """The rest of every line that starts with ``prefix``, read as raw bytes (a cheap first
    pass; unreadable files give nothing here and their error in the main pass)."""
    pattern = re.compile(b"^" + re.escape(prefix) + b"(.*)$", re.MULTILINE)
    found: list[str] = []
    try:
        for _, data in _blocks(path, ""):
            found.extend(m.decode("utf-8", errors="replace").strip()
                         for m in pattern.findall(data))
    except (OSError, ResultsFormatError):
        return []
    return found


def iter_lines(path: Path, hint: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` with line ends and ANSI colour codes removed.

    Lines are read with a length limit, so a file without newlines cannot fill the memory; a
    NUL byte means the file is not console output at all.
    """
    blank = True
    for first, data in _blocks(path, hint):
        text = data.decode("utf-8", errors="replace")
        if first == 1:
            text = text.removeprefix("\ufeff")
        if "\x1b" in text:
            text = _ANSI.sub("", text)
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()  # the empty piece after the block's last newline
        if "\r" in text:
            lines = [line.rstrip("\r") for line in lines]
        if blank and text.strip():
            blank = False
        yield from enumerate(lines, first)
    if blank:
        raise empty_file(path, hint)


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
        # Every series name given so far -> the place it was first printed (None: a NAME#n that
        # dtf gave). One dict, so a new name costs one lookup and one store.
        self._seen: dict[str, str | int | None] = {}
        self._count: dict[str, int] = {}  # name as printed -> the last n of its NAME#n
        self._series: dict[tuple[str, str], str] = {}

    def add(self, name: str, value: float, unit: str, direction: Direction, place: str | int,
            count_test: bool = True, *, same_series: bool = False) -> str:
        """A measurement of benchmark ``name``; the series name it went into is returned.

        ``place`` is ``"line N"`` or just ``N`` (a line number: the hot paths skip formatting
        a text that is only read when a name comes twice or the file is too big).
        """
        measurements = self.result.measurements
        seen = self._seen
        if name not in seen and not same_series and len(measurements) < MAX_MEASUREMENTS:
            seen[name] = place  # a new name: the common case, fast
            if count_test:
                self.result.tests += 1
            measurements.append(new_measurement(Measurement, (name, value, unit, direction)))
            return name
        if len(measurements) >= MAX_MEASUREMENTS:
            raise fail(self.path, _where(place), f"more than {MAX_MEASUREMENTS:,} measurements in "
                       "one file; split the benchmarks over several tasks")
        metric = self._series.get((name, unit)) if same_series else None
        if metric is None:
            metric = self._new_series(name, place)
            if same_series:
                self._series[(name, unit)] = metric
            if count_test:
                self.result.tests += 1
        measurements.append(new_measurement(Measurement, (metric, value, unit, direction)))
        return metric

    def adder(self) -> Callable[[str, float, str, Direction, str | int, bool], str]:
        """``add`` for a hot loop (without ``same_series``): the same result, with its common
        case (a name not seen yet) bound to local variables rather than looked up on ``self``
        for each of a large file's hundreds of thousands of measurements."""
        seen, result, add = self._seen, self.result, self.add
        measurements = result.measurements
        append = measurements.append

        def add_new(name: str, value: float, unit: str, direction: Direction, place: str | int,
                    count_test: bool = True) -> str:
            if name not in seen and len(measurements) < MAX_MEASUREMENTS:
                seen[name] = place
                if count_test:
                    result.tests += 1
                append(new_measurement(Measurement, (name, value, unit, direction)))
                return name
            return add(name, value, unit, direction, place, count_test)

        return add_new

    def _new_series(self, name: str, place: str | int) -> str:
        """The series for a benchmark not seen as a series yet: ``name``, or when that is
        taken ``NAME#2``, ``NAME#3``... in file order (stable from run to run), with a note."""
        seen = self._seen
        if name not in seen:
            seen[name] = place
            return name
        n = self._count.get(name, 1)
        while True:
            n += 1
            metric = f"{name}#{n}"
            if metric not in seen:
                break
        self._count[name] = n
        seen[metric] = None
        first = seen[name]
        if first is None:  # printed for the first time; the name was one dtf gave
            seen[name] = place
        else:
            self.result.notes.append(f"{name!r} appears again at {_where(place)} (first at "
                                     f"{_where(first)}): kept apart as {metric!r}")
        return metric

    def sample(self, metric: str, value: float, unit: str, direction: Direction, place: str | int) -> None:
        """Another sample of a series ``add`` already returned: the hot path of large files."""
        measurements = self.result.measurements
        if len(measurements) >= MAX_MEASUREMENTS:
            raise fail(self.path, _where(place), f"more than {MAX_MEASUREMENTS:,} measurements in one "
                       "file; split the benchmarks over several tasks")
        measurements.append(new_measurement(Measurement, (metric, value, unit, direction)))

    def finish(self, fmt: str, example: str, hint: str) -> ParseResult:
        """The result, or a clear error when the file held no benchmark at all."""
        if not self.result.measurements and not self.result.tests:
            raise nothing_found(self.path, fmt, example, hint)
        return self.result


def _where(place: str | int) -> str:
    return f"line {place}" if isinstance(place, int) else place


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
