"""JUnit XML: every test case's time is a sample, and failed cases fail the unit.

JUnit XML is what almost every test runner can write (pytest, Maven Surefire, Jest, go
test through gotestsum, ctest), so it lets a team track test durations and catch test
failures on each hardware target without a benchmark harness. Places in errors are written
as an element path (``testsuite[0]/testcase[3]@time``) because ElementTree keeps no line
numbers for elements and a path is what a person can find in the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dtf_ci.formats._common import UniqueNames, fail, number, read_bytes
from dtf_ci.model import Measurement, ParseResult

NAME = "junit"
DESCRIPTION = (
    "JUnit XML (`pytest --junitxml {results}` and most test runners): seconds per test case"
)
HINT = "the junit format reads JUnit XML, as written by `pytest --junitxml {results}` and most test runners"

# Maven Surefire writes times with thousands separators in some versions ("1,234.567").
_GROUPED = re.compile(r"^\d{1,3}(,\d{3})+(\.\d*)?$")


def _tag(element: Any) -> str:
    tag = element.tag
    if not isinstance(tag, str):  # comments and processing instructions
        return ""
    return tag.rsplit("}", 1)[-1]  # drop an XML namespace, if any


def _cases(root: Any, root_place: str) -> Iterator[tuple[Any, str]]:
    """Yield test cases in document order, at any depth of nested suites.

    Iterative on purpose: a deeply nested (or hostile) file must not exhaust Python's stack.
    """
    stack: list[tuple[Any, str]] = [(root, root_place)]
    while stack:
        element, place = stack.pop()
        if _tag(element) == "testcase":
            yield element, place
            continue
        counts: dict[str, int] = {}
        children: list[tuple[Any, str]] = []
        for child in element:
            tag = _tag(child)
            if tag not in ("testsuite", "testcase"):
                continue
            index = counts.get(tag, 0)
            counts[tag] = index + 1
            child_place = f"{place}/{tag}[{index}]" if place else f"{tag}[{index}]"
            children.append((child, child_place))
        stack.extend(reversed(children))


def _seconds(path: Path, place: str, text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    if _GROUPED.match(text):
        text = text.replace(",", "")
    return number(
        path, place, text, what="a number of seconds", allow_string=True, non_negative=True
    )


def _parse_xml(path: Path, data: bytes) -> Any:
    try:  # defusedxml refuses entity tricks outright; it is used only when already installed
        from defusedxml.ElementTree import fromstring  # type: ignore[import-not-found]
    except ImportError:  # the stdlib's expat (2.4+) limits entity expansion itself
        from xml.etree.ElementTree import fromstring
    from xml.etree.ElementTree import ParseError

    try:
        return fromstring(data)
    except ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        reason = str(exc).split(":", 1)[0]
        raise fail(
            path, f"line {line} column {column + 1}", f"invalid XML ({reason}); {HINT}"
        ) from None
    except (ValueError, LookupError) as exc:  # defusedxml's refusals; unknown encodings
        raise fail(path, "", f"cannot read this XML ({exc}); {HINT}") from None
    except RecursionError:
        raise fail(path, "", f"XML nested too deeply to read; {HINT}") from None


def parse(path: Path) -> ParseResult:
    """Read JUnit XML: a ``<testsuites>`` root or a single ``<testsuite>``, suites nested freely.

    Each test case with a ``time`` gives one measurement, failed ones included (the unit is
    failed anyway, and the time may explain why); a case without ``time`` is counted but not
    measured; a skipped case is counted and neither measured nor failed.
    """
    path = Path(path)
    root = _parse_xml(path, read_bytes(path, HINT))
    root_tag = _tag(root)
    if root_tag == "testsuites":
        root_place = ""
    elif root_tag == "testsuite":
        root_place = "testsuite"
    else:
        raise fail(
            path, f"<{root_tag}>", f"expected a <testsuites> or <testsuite> root element; {HINT}"
        )

    names = UniqueNames()
    result = ParseResult()
    for case, place in _cases(root, root_place):
        result.tests += 1
        name = (case.get("name") or "").strip()
        classname = (case.get("classname") or "").strip()
        if not name:
            raise fail(path, f"{place}@name", "missing: every <testcase> needs a `name` attribute")
        metric = names.add(f"{classname}.{name}" if classname else name)
        outcomes = {_tag(child) for child in case}
        if "failure" in outcomes or "error" in outcomes:
            result.failures.append(metric)
        elif "skipped" in outcomes:
            continue
        time = case.get("time")
        if time is None:
            continue
        seconds = _seconds(path, f"{place}@time", time)
        if seconds is not None:
            result.measurements.append(Measurement(metric, seconds, "s", "lower"))
    return result
