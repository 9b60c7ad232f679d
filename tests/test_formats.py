"""Tests for the results parsers in ``dtf_ci.formats``.

Fixtures under ``tests/data/formats`` are real tool output where the tool was at hand
(pytest-benchmark 5.2, pytest's junitxml, Google Benchmark 1.7, hyperfine 1.15) and
hand-written where it was not (the custom lists, the nested JUnit file).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtf_ci.errors import ResultsFormatError, UsageError
from dtf_ci.formats import FORMATS, known_formats, parse_results
from dtf_ci.formats._common import UniqueNames
from dtf_ci.model import Direction, Measurement, ParseResult

DATA = Path(__file__).parent / "data" / "formats"
JSON_FORMATS = [
    "pytest-benchmark",
    "google-benchmark",
    "hyperfine",
    "custom-smaller-is-better",
    "custom-bigger-is-better",
]
ALL_FORMATS = [*JSON_FORMATS, "junit"]
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def write(tmp_path: Path, content: str | bytes, name: str = "results") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def error_of(fmt: str, path: Path) -> ResultsFormatError:
    with pytest.raises(ResultsFormatError) as info:
        parse_results(fmt, path)
    return info.value


# --------------------------------------------------------------------------- registry


def test_registry_names_every_format_by_its_own_name() -> None:
    assert set(ALL_FORMATS) <= set(known_formats())
    assert all(name == fmt.NAME for name, fmt in FORMATS.items())
    for name, fmt in FORMATS.items():
        assert name == fmt.NAME
        assert fmt.DESCRIPTION.strip()


def test_unknown_format_is_a_usage_error_listing_known_formats(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        parse_results("pytest-benchmarks", tmp_path / "x.json")
    message = str(info.value)
    assert "unknown results format 'pytest-benchmarks'" in message
    assert "did you mean 'pytest-benchmark'?" in message
    for name in ALL_FORMATS:
        assert name in message
    assert not isinstance(info.value, KeyError)
    assert info.value.return_code == 2


def test_parse_results_accepts_a_string_path() -> None:
    result = parse_results("hyperfine", str(DATA / "hyperfine.json"))  # type: ignore[arg-type]
    assert len(result.measurements) == 2


def test_importing_formats_pulls_in_no_heavy_library() -> None:
    code = (
        "import sys, dtf_ci.formats\n"
        "heavy = ['numpy', 'duckdb', 'scipy', 'xml.etree.ElementTree', 'statistics']\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- pytest-benchmark


def test_pytest_benchmark_real_output_gives_every_saved_round_as_a_sample() -> None:
    path = DATA / "pytest_benchmark.json"
    result = parse_results("pytest-benchmark", path)
    doc = json.loads(path.read_text())
    assert list(dict.fromkeys(m.metric for m in result.measurements)) == [
        "test_tiny.py::test_fib_10",
        "test_tiny.py::test_sort_1k",
        "test_tiny.py::TestStrings::test_join",
        "test_tiny.py::test_sum_range[100]",
        "test_tiny.py::test_sum_range[1000]",
    ]
    assert [m.value for m in result.measurements] == [
        v for b in doc["benchmarks"] for v in b["stats"]["data"]
    ]
    assert {(m.unit, m.direction) for m in result.measurements} == {("s", "lower")}
    assert result.tests == 5 and result.failures == []


def test_pytest_benchmark_falls_back_to_name_and_suffixes_duplicates(tmp_path: Path) -> None:
    doc = {
        "benchmarks": [
            {"name": "test_a", "fullname": "", "stats": {"median": 1}},
            {"name": "test_a", "stats": {"median": 2.5}},
            {"name": "test_a", "stats": {"median": 3}},
        ]
    }
    result = parse_results("pytest-benchmark", write(tmp_path, json.dumps(doc)))
    assert result.measurements == [
        Measurement("test_a", 1.0, "s", "lower"),
        Measurement("test_a#2", 2.5, "s", "lower"),
        Measurement("test_a#3", 3.0, "s", "lower"),
    ]


@pytest.mark.parametrize(
    ("bench", "place", "text"),
    [
        ({"name": "a"}, "benchmarks[2].stats", "missing"),
        ({"name": "a", "stats": {}}, "benchmarks[2].stats.median", "missing"),
        (
            {"name": "a", "stats": {"median": "fast"}},
            "benchmarks[2].stats.median",
            'found a string ("fast")',
        ),
        ({"name": "a", "stats": {"median": True}}, "benchmarks[2].stats.median", "found a boolean"),
        ({"name": "a", "stats": {"median": -1}}, "benchmarks[2].stats.median", "not negative"),
        ({"name": "a", "stats": []}, "benchmarks[2].stats", "found a list"),
        ({"stats": {"median": 1}}, "benchmarks[2].name", "non-empty string"),
        ([], "benchmarks[2]", "expected one benchmark (a JSON object), found a list"),
    ],
)
def test_pytest_benchmark_bad_entries_name_their_place(
    tmp_path: Path, bench: Any, place: str, text: str
) -> None:
    good = {"name": "ok", "stats": {"median": 1.0}}
    doc = {"benchmarks": [good, good, bench]}
    error = error_of("pytest-benchmark", write(tmp_path, json.dumps(doc)))
    assert error.place == place
    assert text in error.problem
    assert str(error) == f"{tmp_path / 'results'}: {place}: {error.problem}"


def test_pytest_benchmark_wrong_top_level_explains_the_command(tmp_path: Path) -> None:
    error = error_of("pytest-benchmark", write(tmp_path, "[1, 2]"))
    assert error.place == "top level"
    assert "found a list" in error.problem
    assert "pytest --benchmark-json {results}" in error.problem
    error = error_of("pytest-benchmark", write(tmp_path, '{"version": "5.2.3"}'))
    assert error.place == "benchmarks"
    assert error.problem.startswith("missing")


# --------------------------------------------------------------------------- custom


def test_custom_smaller_is_better_reads_numbers_and_numeric_strings() -> None:
    result = parse_results("custom-smaller-is-better", DATA / "custom_smaller.json")
    assert result.measurements == [
        Measurement("decode 1080p frame", 12.75, "ms", "lower"),
        Measurement("peak memory", 431.0, "MiB", "lower"),
        Measurement("model load", 2.0, "s", "lower"),
    ]
    assert result.tests == 3


def test_custom_bigger_is_better_is_higher_and_suffixes_duplicates() -> None:
    result = parse_results("custom-bigger-is-better", DATA / "custom_bigger.json")
    assert [(m.metric, m.value, m.direction) for m in result.measurements] == [
        ("tokens per second (batch 1)", 1843.2, "higher"),
        ("tokens per second (batch 8)", 9120.0, "higher"),
        ("tokens per second (batch 8)#2", 9087.5, "higher"),
    ]


@pytest.mark.parametrize(
    ("entry", "place", "text"),
    [
        ({"name": "x", "unit": "ms", "value": "12 ms"}, "[1].value", 'found a string ("12 ms")'),
        ({"name": "x", "unit": "ms", "value": "nan"}, "[1].value", "finite"),
        ({"name": "x", "unit": "ms", "value": None}, "[1].value", "found null"),
        ({"name": "x", "unit": "ms"}, "[1].value", "missing"),
        ({"unit": "ms", "value": 1}, "[1].name", "missing"),
        ({"name": "  ", "value": 1}, "[1].name", "non-empty string"),
        ({"name": "x", "unit": 5, "value": 1}, "[1].unit", "expected a string"),
        ("x", "[1]", "found a string"),
    ],
)
def test_custom_bad_entries_name_their_place(
    tmp_path: Path, entry: Any, place: str, text: str
) -> None:
    doc = [{"name": "ok", "unit": "ms", "value": 1}, entry]
    error = error_of("custom-smaller-is-better", write(tmp_path, json.dumps(doc)))
    assert (error.place, text in error.problem) == (place, True), error.problem


def test_custom_object_instead_of_list_shows_an_example(tmp_path: Path) -> None:
    error = error_of("custom-bigger-is-better", write(tmp_path, '{"name": "x", "value": 1}'))
    assert error.place == "top level"
    assert "found an object" in error.problem
    assert '[{"name": "decode", "unit": "ms", "value": 12.5}]' in error.problem


# --------------------------------------------------------------------------- junit


def test_junit_from_pytest_records_failures_errors_and_skips() -> None:
    result = parse_results("junit", DATA / "junit_pytest.xml")
    assert result.tests == 9
    assert result.failures == ["test_sample.test_wrong_answer", "test_sample.test_needs_db"]
    metrics = {m.metric: m.value for m in result.measurements}
    assert metrics["test_sample.test_slow"] == pytest.approx(0.051)
    assert "test_sample.TestParser.test_param[2]" in metrics
    assert "test_sample.test_gpu" not in metrics  # skipped
    assert "test_sample.test_known_bug" not in metrics  # xfail is written as skipped
    assert len(metrics) == 7
    assert all(m.direction == "lower" and m.unit == "s" for m in result.measurements)


def test_junit_nested_suites_under_a_single_testsuite_root() -> None:
    result = parse_results("junit", DATA / "junit_nested.xml")
    assert result.tests == 7
    assert result.failures == ["kernels.matmul.int8_4096", "kernels.io.open_remote"]
    assert [(m.metric, m.value) for m in result.measurements] == [
        ("kernels.matmul.fp16_4096", 0.412),
        ("kernels.matmul.fp32_4096", 1234.25),  # Surefire's "1,234.250"
        ("kernels.matmul.int8_4096", 0.338),
        ("read_parquet", 0.75),  # no classname; no time on open_remote and checksum
    ]


@pytest.mark.parametrize(
    ("xml", "place", "text"),
    [
        (
            '<testsuites><testsuite><testcase name="a" time="1"/></testsuite>'
            '<testsuite><testcase name="a"/><testcase name="b"/><testcase name="c"/>'
            '<testcase name="d" time="abc"/></testsuite></testsuites>',
            "testsuite[1]/testcase[3]@time",
            'found a string ("abc")',
        ),
        (
            '<testsuite><testsuite/><testsuite><testcase name="x" time="-2"/></testsuite></testsuite>',
            "testsuite/testsuite[1]/testcase[0]@time",
            "not negative",
        ),
        (
            '<testsuites><testsuite><testcase name="x" time="NaN"/></testsuite></testsuites>',
            "testsuite[0]/testcase[0]@time",
            "finite",
        ),
        (
            '<testsuite><testcase classname="c" time="1"/></testsuite>',
            "testsuite/testcase[0]@name",
            "missing",
        ),
        ("<html><body/></html>", "<html>", "expected a <testsuites> or <testsuite> root"),
        (
            '<testsuites>\n  <testsuite name="a">\n  </testsuites>',
            "line 3 column 5",
            "invalid XML (mismatched tag)",
        ),
    ],
)
def test_junit_bad_documents_name_their_place(
    tmp_path: Path, xml: str, place: str, text: str
) -> None:
    error = error_of("junit", write(tmp_path, xml, "junit.xml"))
    assert error.place == place
    assert text in error.problem


def test_junit_entity_expansion_is_refused(tmp_path: Path) -> None:
    entities = "".join(f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, 12))
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY e0 "lol">{entities}]><testsuite name="&e11;"/>'
    )
    error = error_of("junit", write(tmp_path, bomb, "junit.xml"))
    assert "XML" in error.problem


def test_junit_does_not_read_external_entities(tmp_path: Path) -> None:
    secret = write(tmp_path, "TOP-SECRET", "secret.txt")
    doc = (
        f'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY s SYSTEM "{secret.as_uri()}">]>'
        '<testsuite><testcase name="a" time="1">&s;</testcase></testsuite>'
    )
    try:
        result = parse_results("junit", write(tmp_path, doc, "junit.xml"))
    except ResultsFormatError:
        return
    assert "TOP-SECRET" not in repr(result)


# --------------------------------------------------------------------------- google-benchmark


def test_google_benchmark_converts_each_time_unit_to_seconds_and_records_errors() -> None:
    result = parse_results("google-benchmark", DATA / "google_benchmark.json")
    assert [m.metric for m in result.measurements] == [
        "BM_StringCreation",
        "BM_Sort/1024",
        "BM_Sort/16384",
    ]
    values = [m.value for m in result.measurements]
    assert values == pytest.approx(
        [4.2710191197264236e-10, 3.5185281433487181e-06, 6.4015938679170105e-05]
    )
    assert result.failures == ["BM_NeedsGpu"]  # SkipWithError
    assert result.tests == 4


def test_google_benchmark_repetitions_take_the_median_and_skip_aggregates() -> None:
    result = parse_results("google-benchmark", DATA / "google_benchmark_repetitions.json")
    doc = json.loads((DATA / "google_benchmark_repetitions.json").read_text())
    rows = [
        b
        for b in doc["benchmarks"]
        if b["name"] == "BM_Sort/16384" and b["run_type"] == "iteration"
    ]
    assert len(rows) == 3
    expected = sorted(b["real_time"] for b in rows)[1] * 1e-6
    by_name = {m.metric: m.value for m in result.measurements}
    assert by_name == pytest.approx(
        {
            "BM_StringCreation": by_name["BM_StringCreation"],
            "BM_Sort/1024": by_name["BM_Sort/1024"],
            "BM_Sort/16384": expected,
        }
    )
    assert not any(name.endswith(("_mean", "_median", "_cv")) for name in by_name)


def test_google_benchmark_aggregates_only_uses_the_median_row_under_the_plain_name() -> None:
    result = parse_results("google-benchmark", DATA / "google_benchmark_aggregates_only.json")
    doc = json.loads((DATA / "google_benchmark_aggregates_only.json").read_text())
    median = next(b for b in doc["benchmarks"] if b["name"] == "BM_Sort/1024_median")
    assert [m.metric for m in result.measurements] == [
        "BM_StringCreation",
        "BM_Sort/1024",
        "BM_Sort/16384",
    ]
    assert result.measurements[1].value == pytest.approx(median["real_time"] * 1e-6)


def test_google_benchmark_even_repetitions_average_the_middle_pair(tmp_path: Path) -> None:
    rows = [
        {"name": "BM_x", "run_type": "iteration", "real_time": t, "time_unit": "ms"}
        for t in (4, 1, 3, 2)
    ]
    result = parse_results("google-benchmark", write(tmp_path, json.dumps({"benchmarks": rows})))
    assert result.measurements == [Measurement("BM_x", 2.5e-3, "s", "lower")]


@pytest.mark.parametrize(
    ("row", "place", "text"),
    [
        (
            {"name": "BM_x", "real_time": 1, "time_unit": "fortnights"},
            "benchmarks[1].time_unit",
            "expected one of ns, us, ms, s",
        ),
        (
            {"name": "BM_x", "real_time": 1, "time_unit": ["ns"]},
            "benchmarks[1].time_unit",
            "found a list",
        ),
        ({"name": "BM_x", "time_unit": "ns"}, "benchmarks[1].real_time", "missing"),
        (
            {"name": "BM_x", "real_time": "1", "time_unit": "ns"},
            "benchmarks[1].real_time",
            "found a string",
        ),
        ({"real_time": 1, "time_unit": "ns"}, "benchmarks[1].name", "non-empty string"),
    ],
)
def test_google_benchmark_bad_rows_name_their_place(
    tmp_path: Path, row: Any, place: str, text: str
) -> None:
    doc = {"benchmarks": [{"name": "BM_ok", "real_time": 1, "time_unit": "ns"}, row]}
    error = error_of("google-benchmark", write(tmp_path, json.dumps(doc)))
    assert (error.place, text in error.problem) == (place, True), error.problem


def test_google_benchmark_without_a_median_aggregate_says_how_to_fix(tmp_path: Path) -> None:
    rows = [
        {
            "name": "BM_x_mean",
            "run_name": "BM_x",
            "run_type": "aggregate",
            "aggregate_name": "mean",
            "real_time": 1,
            "time_unit": "ns",
        }
    ]
    error = error_of("google-benchmark", write(tmp_path, json.dumps({"benchmarks": rows})))
    assert error.place == "benchmarks"
    assert "--benchmark_report_aggregates_only" in error.problem


def test_google_benchmark_infinity_is_refused(tmp_path: Path) -> None:
    text = '{"benchmarks": [{"name": "BM_x", "real_time": Infinity, "time_unit": "ns"}]}'
    error = error_of("google-benchmark", write(tmp_path, text))
    assert error.place == "benchmarks[0].real_time"
    assert "finite" in error.problem


# --------------------------------------------------------------------------- hyperfine


def test_hyperfine_real_output_gives_median_per_command() -> None:
    result = parse_results("hyperfine", DATA / "hyperfine.json")
    assert result.measurements == [
        Measurement("sleep 0.01", 0.011351054000000001, "s", "lower"),
        Measurement("sleep 0.02", 0.021247925, "s", "lower"),
    ]
    parameters = parse_results("hyperfine", DATA / "hyperfine_parameters.json")
    assert [m.metric for m in parameters.measurements] == ["sleep 0.01", "sleep 0.02"]


def test_hyperfine_missing_median_names_its_place(tmp_path: Path) -> None:
    doc = {"results": [{"command": "a", "median": 1}, {"command": "b", "mean": 1}]}
    error = error_of("hyperfine", write(tmp_path, json.dumps(doc)))
    assert error.place == "results[1].median"
    assert "median time in seconds" in error.problem


# --------------------------------------------------------------------------- errors common to all


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_missing_file_says_where_results_should_come_from(tmp_path: Path, fmt: str) -> None:
    error = error_of(fmt, tmp_path / "nothing-here.json")
    assert error.path == str(tmp_path / "nothing-here.json")
    assert "no such file" in error.problem and "{results}" in error.problem


@pytest.mark.parametrize("fmt", ALL_FORMATS)
@pytest.mark.parametrize("content", ["", "  \n\t\n"])
def test_empty_file_is_an_error(tmp_path: Path, fmt: str, content: str) -> None:
    error = error_of(fmt, write(tmp_path, content))
    assert "the file is empty" in error.problem


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_a_folder_is_an_error(tmp_path: Path, fmt: str) -> None:
    assert "is a folder" in error_of(fmt, tmp_path).problem


@pytest.mark.parametrize("fmt", JSON_FORMATS)
def test_invalid_json_gives_line_and_column(tmp_path: Path, fmt: str) -> None:
    error = error_of(fmt, write(tmp_path, '{\n  "a": 1,\n    oops\n}'))
    assert error.place == "line 3 column 5"
    assert error.problem.startswith("invalid JSON")
    assert f"the {fmt} format reads" in error.problem  # says what file the format expects


@pytest.mark.parametrize("fmt", JSON_FORMATS)
def test_non_utf8_json_names_the_byte(tmp_path: Path, fmt: str) -> None:
    error = error_of(fmt, write(tmp_path, b'{"a": "\xff"}'))
    assert error.place == "byte 7"


@pytest.mark.parametrize("fmt", ["pytest-benchmark", "google-benchmark", "hyperfine"])
def test_list_instead_of_object_is_an_error(tmp_path: Path, fmt: str) -> None:
    error = error_of(fmt, write(tmp_path, "[]"))
    assert error.place == "top level" and "found a list" in error.problem


@pytest.mark.parametrize("fmt", JSON_FORMATS)
def test_hostile_json_is_a_format_error(tmp_path: Path, fmt: str) -> None:
    deep = error_of(fmt, write(tmp_path, "[" * 100_000 + "]" * 100_000))
    assert "nested too deeply" in deep.problem
    huge = error_of(fmt, write(tmp_path, "1" * 5000))  # past Python's integer digit limit
    assert huge.problem.startswith("invalid JSON")


def test_deeply_nested_junit_suites_are_walked_without_recursion(tmp_path: Path) -> None:
    depth = 50_000
    xml = "<testsuites>" + "<testsuite>" * depth + '<testcase name="x" time="2"/>'
    xml += "</testsuite>" * depth + "</testsuites>"
    result = parse_results("junit", write(tmp_path, xml, "junit.xml"))
    assert result.measurements == [Measurement("x", 2.0, "s", "lower")]


def test_unique_names_are_deterministic_and_never_collide() -> None:
    names = UniqueNames()
    assert [names.add(n) for n in ["a", "a", "a#2", "a", "b"]] == ["a", "a#2", "a#2#2", "a#3", "b"]


# --------------------------------------------------------------------------- properties

finite = st.floats(allow_nan=False, allow_infinity=False)
names_st = st.text(min_size=1, max_size=20).filter(lambda s: s.strip())


@SETTINGS
@given(
    entries=st.lists(
        st.tuples(names_st, st.text(max_size=8), finite), max_size=20, unique_by=lambda e: e[0]
    ),
    fmt=st.sampled_from(["custom-smaller-is-better", "custom-bigger-is-better"]),
)
def test_custom_round_trips(
    tmp_path_factory: pytest.TempPathFactory, entries: list[tuple[str, str, float]], fmt: str
) -> None:
    path = tmp_path_factory.mktemp("custom") / "r.json"
    path.write_text(json.dumps([{"name": n, "unit": u, "value": v} for n, u, v in entries]))
    direction: Direction = "lower" if fmt == "custom-smaller-is-better" else "higher"
    result = parse_results(fmt, path)
    assert result.measurements == [Measurement(n, v, u, direction) for n, u, v in entries]
    assert result.tests == len(entries)


@SETTINGS
@given(names=st.lists(st.sampled_from(["a", "b", "a#2"]), max_size=12))
def test_duplicate_names_are_suffixed_in_file_order(
    tmp_path_factory: pytest.TempPathFactory, names: list[str]
) -> None:
    path = tmp_path_factory.mktemp("dups") / "r.json"
    path.write_text(json.dumps([{"name": n, "unit": "", "value": i} for i, n in enumerate(names)]))
    result = parse_results("custom-smaller-is-better", path)
    metrics = [m.metric for m in result.measurements]
    assert len(set(metrics)) == len(metrics)
    assert [m.value for m in result.measurements] == list(range(len(names)))
    assert all(m.split("#")[0] == n.split("#")[0] for m, n in zip(metrics, names, strict=True))


def _assert_parses_or_format_error(fmt: str, path: Path) -> None:
    try:
        result = parse_results(fmt, path)
    except ResultsFormatError as error:
        assert error.problem
        return
    assert isinstance(result, ParseResult)
    assert all(math.isfinite(m.value) for m in result.measurements)
    # One name is one series: its samples never mix units or directions.
    kinds = {(m.metric, m.unit, m.direction) for m in result.measurements}
    assert len(kinds) == len({m.metric for m in result.measurements})


@SETTINGS
@given(
    data=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)),
    fmt=st.sampled_from(ALL_FORMATS),
)
def test_arbitrary_bytes_never_escape_as_another_exception(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, fmt: str
) -> None:
    path = tmp_path_factory.mktemp("bytes") / "r"
    path.write_bytes(data)
    _assert_parses_or_format_error(fmt, path)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
FIXTURES = {
    "pytest-benchmark": "pytest_benchmark.json",
    "google-benchmark": "google_benchmark_repetitions.json",
    "hyperfine": "hyperfine.json",
    "custom-smaller-is-better": "custom_smaller.json",
    "custom-bigger-is-better": "custom_bigger.json",
}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@settings(SETTINGS, max_examples=400)  # the widest search: every field of every format
@given(fmt=st.sampled_from(JSON_FORMATS), data=st.data())
def test_mutated_real_files_parse_or_raise_a_format_error(
    tmp_path_factory: pytest.TempPathFactory, fmt: str, data: st.DataObject
) -> None:
    doc = json.loads((DATA / FIXTURES[fmt]).read_text())
    where = data.draw(st.sampled_from(_paths(doc)))
    replacement = data.draw(json_values)
    if not where:
        doc = replacement
    else:
        parent = doc
        for key in where[:-1]:
            parent = parent[key]
        parent[where[-1]] = replacement
    path = tmp_path_factory.mktemp("mutated") / "r.json"
    path.write_text(json.dumps(doc))
    _assert_parses_or_format_error(fmt, path)


xml_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFFFD, exclude_categories=["Cs"]),
    min_size=1,
    max_size=12,
).filter(lambda s: s.strip())
case_st = st.fixed_dictionaries(
    {
        "name": xml_text,
        "classname": st.none() | xml_text,
        "time": st.none() | st.floats(min_value=0, max_value=1e6).map(repr),
        "outcome": st.sampled_from(["passed", "failure", "error", "skipped"]),
    }
)
suite_st = st.recursive(
    st.lists(case_st, max_size=5).map(lambda cases: {"cases": cases, "suites": []}),
    lambda inner: st.fixed_dictionaries(
        {"cases": st.lists(case_st, max_size=4), "suites": st.lists(inner, max_size=3)}
    ),
    max_leaves=8,
)


def _build(parent: ET.Element, suite: dict[str, Any], cases: list[dict[str, Any]]) -> None:
    element = ET.SubElement(parent, "testsuite", name="s")
    for case in suite["cases"]:
        cases.append(case)
        attrs = {"name": case["name"]}
        if case["classname"] is not None:
            attrs["classname"] = case["classname"]
        if case["time"] is not None:
            attrs["time"] = case["time"]
        tc = ET.SubElement(element, "testcase", attrs)
        if case["outcome"] != "passed":
            ET.SubElement(tc, case["outcome"], message="m")
    for child in suite["suites"]:
        _build(element, child, cases)


@SETTINGS
@given(suites=st.lists(suite_st, min_size=1, max_size=3), single_root=st.booleans())
def test_generated_junit_counts_tests_failures_and_measurements(
    tmp_path_factory: pytest.TempPathFactory, suites: list[dict[str, Any]], single_root: bool
) -> None:
    cases: list[dict[str, Any]] = []
    holder = ET.Element("holder")
    if single_root:
        _build(holder, {"cases": [], "suites": suites}, cases)
    else:
        root = ET.SubElement(holder, "testsuites")
        for suite in suites:
            _build(root, suite, cases)
    path = tmp_path_factory.mktemp("junit") / "junit.xml"
    ET.ElementTree(holder[0]).write(path, encoding="utf-8", xml_declaration=True)

    result = parse_results("junit", path)
    assert result.tests == len(cases)
    assert len(result.failures) == sum(c["outcome"] in ("failure", "error") for c in cases)
    measured = [c for c in cases if c["outcome"] != "skipped" and c["time"] is not None]
    assert [m.value for m in result.measurements] == [float(c["time"]) for c in measured]
    assert set(result.failures) <= {m.metric for m in result.measurements} | set(result.failures)
    # One name is one series: its samples never mix units or directions.
    kinds = {(m.metric, m.unit, m.direction) for m in result.measurements}
    assert len(kinds) == len({m.metric for m in result.measurements})


@SETTINGS
@given(time=st.text(max_size=12), name=xml_text)
def test_junit_arbitrary_time_attributes_parse_or_raise_a_format_error(
    tmp_path_factory: pytest.TempPathFactory, time: str, name: str
) -> None:
    root = ET.Element("testsuite")
    ET.SubElement(root, "testcase", name=name, time=time)
    path = tmp_path_factory.mktemp("junit-time") / "junit.xml"
    try:
        ET.ElementTree(root).write(path, encoding="utf-8")
    except ValueError:  # text that XML cannot hold at all
        return
    _assert_parses_or_format_error("junit", path)
