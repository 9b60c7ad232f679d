"""The parsers that turn a benchmark tool's results file into dtf measurements.

Each format is a plain module (or, where one module reads a file two ways, a small ``View``
object) offering ``NAME``, ``DESCRIPTION`` and ``parse(path)``, registered in ``FORMATS``;
adding a format is one new module and one line here, with no base class to learn. The
modules import only the standard library at import time so that ``dtf --help`` stays fast.

Besides dtf's own names, ``format:`` accepts the names teams already write:
github-action-benchmark's ``tool:`` names (``GAB_NAMES``; for those the series names and
values are the ones that action shows for the same file, so imported history continues)
and Bencher's adapter names (``BENCHER_NAMES``, with ``-`` or ``_``). ``auto`` detects the
format from the file.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from dtf_ci.errors import ResultsFormatError, UsageError
from dtf_ci.formats import (
    asv,
    benchmark_js,
    benchmarkdotnet,
    cargo_bench,
    cargo_criterion,
    catch2,
    console_time,
    criterion,
    dart_benchmark,
    go_bench,
    google_benchmark,
    hyperfine,
    iai,
    jmh,
    julia,
    junit,
    luau,
    pytest_benchmark,
    ruby_benchmark,
    vitest,
)
from dtf_ci.formats._common import fail
from dtf_ci.formats.custom import BIGGER_IS_BETTER, SMALLER_IS_BETTER
from dtf_ci.gcpause import paused_gc
from dtf_ci.model import ParseResult

__all__ = [
    "AUTO", "BENCHER_NAMES", "FORMATS", "Format", "GAB_NAMES", "accepted_names",
    "known_formats", "parse_results", "resolve",
]

AUTO = "auto"


class Format(Protocol):
    """What a format offers. Read-only members, so modules and frozen objects both fit."""

    @property
    def NAME(self) -> str:  # noqa: N802 - the plug-in modules' constant names
        """The name a task's ``format:`` uses."""
        ...

    @property
    def DESCRIPTION(self) -> str:  # noqa: N802
        """One line for ``dtf validate``, the docs and error messages."""
        ...

    def parse(self, path: Path) -> ParseResult:
        """Read one results file; raise ``ResultsFormatError`` for anything unreadable."""
        ...


@dataclass(frozen=True)
class View:
    """A second way of reading one tool's file (raw samples, or github-action-benchmark's values)."""

    NAME: str
    DESCRIPTION: str
    reader: Callable[[Path], ParseResult]

    def parse(self, path: Path) -> ParseResult:
        return self.reader(path)


FORMATS: Final[dict[str, Format]] = {
    fmt.NAME: fmt
    for fmt in (
        pytest_benchmark,
        google_benchmark,
        hyperfine,
        junit,
        SMALLER_IS_BETTER,
        BIGGER_IS_BETTER,
        cargo_bench,
        criterion,
        cargo_criterion,
        iai,
        go_bench,
        benchmark_js,
        luau,
        catch2,
        View("catch2-seconds", catch2.SECONDS_DESCRIPTION, catch2.parse_seconds),
        julia,
        jmh,
        View("jmh-raw", jmh.RAW_DESCRIPTION, jmh.parse_raw),
        benchmarkdotnet,
        View("benchmarkdotnet-raw", benchmarkdotnet.RAW_DESCRIPTION, benchmarkdotnet.parse_raw),
        asv,
        vitest,
        ruby_benchmark,
        dart_benchmark,
        console_time,
    )
}

# github-action-benchmark's `tool:` names. Where the values it shows differ from dtf's own
# reading, the name is a View with that action's values; otherwise an alias.
_GAB_VIEWS: Final[dict[str, Format]] = {
    "pytest": View("pytest", "pytest-benchmark JSON as github-action-benchmark reads it: "
                   "stats.ops in iter/sec", pytest_benchmark.parse_gab),
    "googlecpp": View("googlecpp", "Google Benchmark JSON as github-action-benchmark reads it: "
                      "real_time per row in its time_unit", google_benchmark.parse_gab),
}
GAB_NAMES: Final[dict[str, str]] = {
    "cargo": "cargo-bench",
    "go": "go-bench",
    "benchmarkjs": "benchmark-js",
    "benchmarkluau": "luau",
    "pytest": "pytest",
    "googlecpp": "googlecpp",
    "catch2": "catch2",
    "julia": "julia",
    "jmh": "jmh",
    "benchmarkdotnet": "benchmarkdotnet",
    "customBiggerIsBetter": "custom-bigger-is-better",
    "customSmallerIsBetter": "custom-smaller-is-better",
}
BENCHER_NAMES: Final[dict[str, str]] = {
    "rust_bench": "cargo-bench",
    "rust_criterion": "criterion",
    "rust_iai": "iai",
    "rust_iai_callgrind": "iai",
    "go_bench": "go-bench",
    "js_benchmark": "benchmark-js",
    "js_time": "console-time",
    "js_vitest": "vitest",
    "python_pytest": "pytest-benchmark",
    "python_asv": "asv",
    "cpp_google": "google-benchmark",
    "cpp_catch2": "catch2-seconds",
    "java_jmh": "jmh-raw",
    "c_sharp_dot_net": "benchmarkdotnet-raw",
    "ruby_benchmark": "ruby-benchmark",
    "shell_hyperfine": "hyperfine",
    "magic": AUTO,
}


def known_formats() -> list[str]:
    """dtf's own format names, sorted, for help texts and suite validation."""
    return sorted(FORMATS)


def accepted_names() -> list[str]:
    """Every name ``format:`` accepts: dtf's, github-action-benchmark's, Bencher's, ``auto``."""
    names = set(FORMATS) | set(GAB_NAMES) | set(BENCHER_NAMES) | {AUTO}
    names |= {n.replace("_", "-") for n in BENCHER_NAMES}
    return sorted(names)


def _lookup(name: str) -> str | None:
    """The dtf (or view) name that ``name`` stands for, or None."""
    if name in FORMATS or name == AUTO:
        return name
    if name in GAB_NAMES:
        return GAB_NAMES[name]
    snake = name.replace("-", "_")
    if snake in BENCHER_NAMES:
        return BENCHER_NAMES[snake]
    lowered = {k.lower(): v for k, v in GAB_NAMES.items()}
    return lowered.get(name.lower())


def _format(name: str) -> Format:
    return FORMATS[name] if name in FORMATS else _GAB_VIEWS[name]


def check_name(format_name: str) -> str:
    """The resolved name, or a ``UsageError`` listing the known names and the closest one."""
    resolved = _lookup(format_name)
    if resolved is None:
        close = difflib.get_close_matches(format_name, accepted_names(), n=1)
        guess = f" (did you mean '{close[0]}'?)" if close else ""
        raise UsageError(
            f"unknown results format '{format_name}'{guess}; known formats: "
            + ", ".join(known_formats())
            + "; github-action-benchmark's tool names and Bencher's adapter names are accepted "
            "too, and `auto` detects the format (docs/formats.md)"
        )
    return resolved


def resolve(format_name: str, path: Path) -> tuple[str, Format]:
    """The format that reads ``path`` under ``format_name``: aliases and ``auto`` resolved."""
    resolved = check_name(format_name)
    if resolved == AUTO:
        from dtf_ci.formats.detect import guess

        found = guess(Path(path))
        if found is None:
            from dtf_ci.formats._common import read_bytes

            read_bytes(Path(path), "`format: auto` needs a results file")  # missing/empty first
            raise fail(Path(path), "", "`format: auto` could not tell which tool wrote this "
                       "file; set `format:` to the tool's name (dtf parse FILE --format NAME "
                       "checks a guess; docs/formats.md lists the formats)")
        resolved = found
    return resolved, _format(resolved)


def parse_with(fmt: Format, path: Path) -> ParseResult:
    """Run one parser with the cyclic garbage collector paused.

    A large file makes hundreds of thousands of small objects that hold no cycles; the
    collector would rescan them again and again (a third of the time of a big go log).
    """
    with paused_gc():
        try:
            return fmt.parse(Path(path))
        except ResultsFormatError as exc:
            raise _with_look(exc, fmt, Path(path)) from None


def _family(fmt: Format) -> str:
    """The module that reads a format: two names of one tool (jmh, jmh-raw) are one family."""
    reader = getattr(fmt, "reader", None) or fmt.parse
    return str(getattr(reader, "__module__", ""))


def _with_look(exc: ResultsFormatError, fmt: Format, path: Path) -> ResultsFormatError:
    """Add which tool's output the file looks like, when that is another tool than asked for."""
    from dtf_ci.formats.detect import guess

    if "it looks like" in exc.problem:
        return exc
    looks = guess(path)
    if looks is None or looks not in FORMATS or _family(FORMATS[looks]) == _family(fmt):
        return exc
    return ResultsFormatError(exc.path, exc.place, f"{exc.problem}; it looks like {looks} "
                              f"output: set `format: {looks}` (or `format: auto`)")


def parse_results(format_name: str, path: Path) -> ParseResult:
    """Parse ``path`` with the named format (a dtf name, an alias, or ``auto``).

    An unknown name is a mistake in the suite, so it is a ``UsageError`` that lists the
    known formats (and the closest one), not a ``KeyError`` from deep inside ``dtf run``.
    """
    _, fmt = resolve(format_name, Path(path))
    return parse_with(fmt, Path(path))
