"""Helpers shared by the format parsers: reading, JSON decoding, numbers, unique names.

Every parser must turn *any* bad input into one ``ResultsFormatError`` that names the file,
the place and the fix, because ``dtf run`` records that message as the unit's ``parse``
reason and a person reads it in the PR comment. Doing the checks here keeps the messages
worded the same way across formats.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

from dtf_ci.errors import ResultsFormatError
from dtf_ci.limits import max_results_bytes, results_too_large

RESULTS_HINT = (
    "the task's `run` command must write it (put `{results}` in the command where the tool "
    "takes its output path; dtf replaces it with this file's path)"
)


def fail(path: Path, place: str, problem: str) -> ResultsFormatError:
    """Build the error (callers ``raise`` it, so type checkers see the branch end)."""
    return ResultsFormatError(str(path), place, problem)


def describe(value: Any) -> str:
    """Name a JSON value's type the way a user of the tool would, for "found ..." texts."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({json.dumps(shown)})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def open_results(path: Path, hint: str) -> BinaryIO:
    """Open a results file for reading, or the one user-facing error for why it cannot be.

    Every reader goes through here, text formats streaming it and JSON/XML reading it whole,
    so a missing file, a folder, a FIFO or device (opening one would block or never end) and a
    file over ``DTF_MAX_RESULTS_BYTES`` are worded alike whichever format and command met them.
    """
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise fail(path, "", f"is a folder, not a file; {hint}")
        if not stat.S_ISREG(st.st_mode):
            kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device or socket"
            raise fail(path, "", f"is {kind}; a results file must be a regular file; {hint}")
        limit = max_results_bytes()
        if st.st_size > limit:
            raise fail(path, "", f"{results_too_large(st.st_size, limit)}; {hint}")
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise fail(path, "", f"no such file: {RESULTS_HINT}; {hint}") from None
    except IsADirectoryError:
        raise fail(path, "", f"is a folder, not a file; {hint}") from None
    except OSError as exc:
        raise fail(path, "", f"cannot be read ({exc.strerror or exc}); {hint}") from None


def head_bytes(path: Path, size: int) -> bytes:
    """The first ``size`` bytes of a results file, or nothing when it cannot be read (for
    looking at a file, never for an error: the parser's own read says what is wrong)."""
    try:
        with open_results(path, "") as fh:
            return fh.read(size)
    except (ResultsFormatError, OSError):
        return b""


def empty_file(path: Path, hint: str) -> ResultsFormatError:
    """The error for a file that holds nothing but white space."""
    return fail(path, "", "the file is empty; the tool wrote no results (did it crash, or write "
                f"them elsewhere?); {hint}")


def read_bytes(path: Path, hint: str) -> bytes:
    """Read the whole file (a JSON or XML document, which cannot be streamed), bounded by
    ``DTF_MAX_RESULTS_BYTES``; every problem is the user-facing error."""
    with open_results(path, hint) as fh:
        try:
            data = fh.read()
        except OSError as exc:
            raise fail(path, "", f"cannot be read ({exc.strerror or exc}); {hint}") from None
    if not data.strip():
        raise empty_file(path, hint)
    return data


def load_json(path: Path, hint: str) -> Any:
    """Decode a JSON results file; positions in errors are 1-based line and column."""
    data = read_bytes(path, hint)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(path, f"byte {exc.start}", f"is not UTF-8 text; {hint}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(
            path, f"line {exc.lineno} column {exc.colno}", f"invalid JSON ({exc.msg}); {hint}"
        ) from None
    except RecursionError:
        raise fail(path, "", f"JSON nested too deeply to read; {hint}") from None
    except ValueError as exc:  # e.g. an integer longer than Python's digit limit
        raise fail(path, "", f"invalid JSON ({exc}); {hint}") from None


def expect_top(path: Path, value: Any, kind: type, shape: str, hint: str) -> Any:
    """Check the document's top-level type; a mismatch usually means the wrong format name."""
    if not isinstance(value, kind):
        raise fail(path, "top level", f"expected {shape}, found {describe(value)}; {hint}")
    return value


def expect_object(path: Path, place: str, value: Any, what: str) -> dict[str, Any]:
    """Check that ``value`` is a JSON object; ``what`` says what the object should be."""
    if not isinstance(value, dict):
        raise fail(path, place, f"expected {what} (a JSON object), found {describe(value)}")
    return value


def expect_list(path: Path, place: str, value: Any, what: str) -> list[Any]:
    """Check that ``value`` is a JSON list; ``what`` says what the list should hold."""
    if not isinstance(value, list):
        raise fail(path, place, f"expected {what} (a JSON list), found {describe(value)}")
    return value


def expect_name(path: Path, place: str, value: Any) -> str:
    """A metric name must be a non-empty string: it becomes part of a series' identity."""
    if not isinstance(value, str) or not value.strip():
        raise fail(
            path,
            place,
            f"expected a non-empty string naming the benchmark, found {describe(value)}",
        )
    return value


def number(
    path: Path,
    place: str,
    value: Any,
    *,
    what: str = "a number",
    allow_string: bool = False,
    non_negative: bool = False,
) -> float:
    """Read one finite float; NaN and infinity are refused because statistics cannot use them."""
    result: float
    if isinstance(value, bool) or value is None:
        raise fail(path, place, f"expected {what}, found {describe(value)}")
    if isinstance(value, (int, float)):
        try:
            result = float(value)
        except OverflowError:
            raise fail(
                path, place, f"expected {what}, found a number too large for a float"
            ) from None
    elif isinstance(value, str) and allow_string:
        try:
            result = float(value.strip())
        except ValueError:
            raise fail(path, place, f"expected {what}, found {describe(value)}") from None
    else:
        raise fail(path, place, f"expected {what}, found {describe(value)}")
    if not math.isfinite(result):
        found = "NaN" if math.isnan(result) else "infinity"
        raise fail(
            path,
            place,
            f"expected a finite {what.removeprefix('a ')}, found {found} (it cannot be compared)",
        )
    if non_negative and result < 0:
        raise fail(path, place, f"expected {what} that is not negative, found {result!r}")
    return result


class UniqueNames:
    """Make metric names unique within one file: the first keeps its name, later ones ``#2``...

    Two benchmarks with one name would otherwise merge into one series and mix their samples;
    suffixing in file order keeps the mapping stable from run to run.
    """

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._count: dict[str, int] = {}

    def add(self, name: str) -> str:
        if name not in self._count and name not in self._used:  # the common case, fast
            self._count[name] = 1
            self._used.add(name)
            return name
        n = self._count.get(name, 0) + 1
        candidate = name if n == 1 else f"{name}#{n}"
        while candidate in self._used:
            n += 1
            candidate = f"{name}#{n}"
        self._count[name] = n
        self._used.add(candidate)
        return candidate
