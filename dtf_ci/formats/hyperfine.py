"""hyperfine's ``--export-json`` file: one sample per command, its median wall time.

The median is taken (not the mean hyperfine prints first) because a single slow run, such as
a cold disk cache on the first iteration, would otherwise move the whole sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dtf_ci.formats._common import (
    UniqueNames,
    expect_list,
    expect_name,
    expect_object,
    expect_top,
    fail,
    load_json,
    number,
)
from dtf_ci.model import Measurement, ParseResult

NAME = "hyperfine"
DESCRIPTION = (
    "hyperfine JSON (`hyperfine --export-json {results} CMD...`): median seconds per command"
)
HINT = (
    "the hyperfine format reads the JSON written by `hyperfine --export-json {results} COMMAND...`"
)


def parse(path: Path) -> ParseResult:
    """Read one hyperfine export into one measurement per benchmarked command."""
    path = Path(path)
    shape = "a JSON object with a `results` list"
    doc: dict[str, Any] = expect_top(path, load_json(path, HINT), dict, shape, HINT)
    if "results" not in doc:
        raise fail(path, "results", f"missing; {HINT}")
    results = expect_list(path, "results", doc["results"], "one entry per command")
    names = UniqueNames()
    parsed = ParseResult(tests=len(results))
    for i, raw in enumerate(results):
        place = f"results[{i}]"
        entry = expect_object(path, place, raw, "one command's timings")
        if "command" not in entry:
            raise fail(path, f"{place}.command", f"missing; {HINT}")
        metric = expect_name(path, f"{place}.command", entry["command"])
        if "median" not in entry:
            raise fail(
                path,
                f"{place}.median",
                "missing: expected the median time in seconds (older hyperfine releases do not write it; upgrade hyperfine)",
            )
        value = number(
            path, f"{place}.median", entry["median"], what="a number of seconds", non_negative=True
        )
        parsed.measurements.append(Measurement(names.add(metric), value, "s", "lower"))
    return parsed
