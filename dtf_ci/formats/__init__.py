"""The parsers that turn a benchmark tool's results file into dtf measurements.

Each format is a plain module (or, for the two custom formats, a small object) offering
``NAME``, ``DESCRIPTION`` and ``parse(path)``, registered in ``FORMATS``; adding a format is
one new module and one line here, with no base class to learn. The modules import only the
standard library at import time so that ``dtf --help`` stays fast.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Final, Protocol

from dtf_ci.errors import UsageError
from dtf_ci.formats import google_benchmark, hyperfine, junit, pytest_benchmark
from dtf_ci.formats.custom import BIGGER_IS_BETTER, SMALLER_IS_BETTER
from dtf_ci.model import ParseResult

__all__ = ["FORMATS", "Format", "known_formats", "parse_results"]


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


FORMATS: Final[dict[str, Format]] = {
    fmt.NAME: fmt
    for fmt in (
        pytest_benchmark,
        google_benchmark,
        hyperfine,
        junit,
        SMALLER_IS_BETTER,
        BIGGER_IS_BETTER,
    )
}


def known_formats() -> list[str]:
    """Format names, sorted, for help texts and suite validation."""
    return sorted(FORMATS)


def parse_results(format_name: str, path: Path) -> ParseResult:
    """Parse ``path`` with the named format.

    An unknown name is a mistake in the suite, so it is a ``UsageError`` that lists the
    known formats (and the closest one), not a ``KeyError`` from deep inside ``dtf run``.
    """
    fmt = FORMATS.get(format_name)
    if fmt is None:
        close = difflib.get_close_matches(format_name, known_formats(), n=1)
        guess = f" (did you mean '{close[0]}'?)" if close else ""
        raise UsageError(
            f"unknown results format '{format_name}'{guess}; known formats: "
            + ", ".join(known_formats())
        )
    return fmt.parse(Path(path))
