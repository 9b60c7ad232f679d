"""github-action-benchmark's custom JSON: ``[{"name", "unit", "value", "range"?, "extra"?}]``.

Two formats share this parser and differ only in direction, exactly as the
``customSmallerIsBetter`` / ``customBiggerIsBetter`` tools do there, so a team moving from
that action keeps its files. They are two objects of one small frozen dataclass rather than
two modules, because nothing else differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dtf_ci.formats._common import (
    UniqueNames,
    describe,
    expect_name,
    expect_object,
    expect_top,
    fail,
    load_json,
    number,
)
from dtf_ci.model import Direction, Measurement, ParseResult

EXAMPLE = '[{"name": "decode", "unit": "ms", "value": 12.5}]'


def parse_custom(path: Path, direction: Direction, hint: str) -> ParseResult:
    """Read a custom JSON list; every entry becomes one measurement with the given direction."""
    path = Path(path)
    entries: list[Any] = expect_top(
        path, load_json(path, hint), list, "a JSON list of benchmarks", hint
    )
    names = UniqueNames()
    result = ParseResult(tests=len(entries))
    for i, raw in enumerate(entries):
        place = f"[{i}]"
        entry = expect_object(
            path, place, raw, 'one benchmark like {"name": ..., "unit": ..., "value": ...}'
        )
        if "name" not in entry:
            raise fail(path, f"{place}.name", "missing: every entry needs a `name`")
        metric = expect_name(path, f"{place}.name", entry["name"])
        unit = entry.get("unit", "")
        if unit is None:
            unit = ""
        if not isinstance(unit, str):
            raise fail(
                path,
                f"{place}.unit",
                f'expected a string such as "ms" or "ops/s", found {describe(unit)}',
            )
        if "value" not in entry:
            raise fail(path, f"{place}.value", "missing: every entry needs a numeric `value`")
        value = number(
            path,
            f"{place}.value",
            entry["value"],
            what="a number (or a string holding one)",
            allow_string=True,
        )
        result.measurements.append(Measurement(names.add(metric), value, unit, direction))
    return result


@dataclass(frozen=True)
class CustomFormat:
    """One of the two custom formats; satisfies ``dtf_ci.formats.Format``."""

    NAME: str
    DESCRIPTION: str
    direction: Direction

    def parse(self, path: Path) -> ParseResult:
        hint = f"the {self.NAME} format reads a JSON list like {EXAMPLE}"
        return parse_custom(path, self.direction, hint)


SMALLER_IS_BETTER = CustomFormat(
    NAME="custom-smaller-is-better",
    DESCRIPTION="github-action-benchmark custom JSON list; lower values are better (times, bytes)",
    direction="lower",
)
BIGGER_IS_BETTER = CustomFormat(
    NAME="custom-bigger-is-better",
    DESCRIPTION="github-action-benchmark custom JSON list; higher values are better (throughput)",
    direction="higher",
)
