"""hyperfine's ``--export-json`` file: one sample per command, its median wall time.

The median is taken (not the mean hyperfine prints first) because a single slow run, such as
a cold disk cache on the first iteration, would otherwise move the whole sample.

hyperfine subtracts the time it measured for spawning an empty shell from every run and
clamps what is left at 0, so a command faster than that spawn-time noise gets runs of 0 s
and, when most runs are 0, a median of 0. Such a median says nothing: dtf then judges the
command on its runs that are not 0 (the median of those, from ``times``) and says so in a
note; with no such run the command is too fast to measure this way, which is an error.
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
        if value == 0:
            value = _judge_zero_median(path, place, metric, entry, parsed)
        parsed.measurements.append(Measurement(names.add(metric), value, "s", "lower"))
    return parsed


def _judge_zero_median(path: Path, place: str, command: str, entry: dict[str, Any],
                       parsed: ParseResult) -> float:
    """A median of 0 (see the module's docstring): the median of the runs that are not 0."""
    times = entry.get("times")
    runs = expect_list(path, f"{place}.times", times, "the time of every run") if times is not None else []
    nonzero = [v for k, t in enumerate(runs)
               if (v := number(path, f"{place}.times[{k}]", t, what="a number of seconds",
                               non_negative=True)) > 0]
    if not nonzero:
        raise fail(path, f"{place}.median",
                   f"hyperfine measured 0 s for every run of {command!r}: it subtracts the time "
                   "of spawning a shell and clamps at 0, so the command is faster than that "
                   "noise; run it with `--shell=none` (-N), or make one run do more work "
                   "(a loop inside the command)")
    nonzero.sort()
    mid = len(nonzero) // 2
    value = nonzero[mid] if len(nonzero) % 2 else (nonzero[mid - 1] + nonzero[mid]) / 2
    parsed.notes.append(
        f"{command!r}: hyperfine wrote a median of 0 s ({len(runs) - len(nonzero)} of "
        f"{len(runs)} runs were 0 after it subtracted the shell's spawn time); judged on the "
        f"{len(nonzero)} runs that are not 0 (median {value:.3g} s). Use `--shell=none` (-N) "
        "for commands this fast")
    return value
