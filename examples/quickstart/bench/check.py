"""Correctness checks on the prepared data, reported as JUnit XML (pass/fail per case)."""

import json
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

data, results = Path(sys.argv[1]), sys.argv[2]
cases = []


def _assert(cond, message):
    if not cond:
        raise AssertionError(message)


def case(name, fn):
    start = time.perf_counter()
    try:
        fn()
        cases.append((name, time.perf_counter() - start, None))
    except AssertionError as exc:
        cases.append((name, time.perf_counter() - start, str(exc) or "assertion failed"))


ints = json.loads((data / "ints.json").read_text())
case("ints_are_unique_enough", lambda: _assert(len(set(ints)) > 0.99 * len(ints), "too many duplicates"))
ordered = sorted(ints)
case("sorted_is_ordered", lambda: _assert(all(ordered[i] <= ordered[i + 1] for i in range(len(ordered) - 1)), "not ordered"))
case("records_roundtrip", lambda: _assert(json.loads(json.dumps(json.loads((data / "records.json").read_text()))), "empty"))


suite = ET.Element("testsuite", name="quickstart.check", tests=str(len(cases)),
                   failures=str(sum(1 for c in cases if c[2])))
for name, seconds, failure in cases:
    tc = ET.SubElement(suite, "testcase", classname="check", name=name, time=f"{seconds:.6f}")
    if failure:
        ET.SubElement(tc, "failure", message=failure)
ET.ElementTree(suite).write(results, encoding="utf-8", xml_declaration=True)
