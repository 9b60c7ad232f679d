"""Tests for the formats of issue 11: every tool's real (or published) output, the names
github-action-benchmark and Bencher users already write, ``auto``, and bad input.

Where each fixture comes from is in ``tests/data/formats/SOURCE.md``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtf_ci.errors import ResultsFormatError, UsageError
from dtf_ci.formats import BENCHER_NAMES, FORMATS, GAB_NAMES, accepted_names, parse_results, resolve
from dtf_ci.formats.detect import guess
from dtf_ci.model import ParseResult

DATA = Path(__file__).parent / "data" / "formats"
GAB = DATA / "gab"
SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text formats, each with one line of its tool's output (the smallest valid file).
TEXT_LINES: dict[str, str] = {
    "cargo-bench": "test bench_a ... bench:       1,234 ns/iter (+/- 56)",
    "criterion": "bench_a                 time:   [1.0 µs 1.1 µs 1.2 µs]",
    "iai": "bench_a\n  Instructions:                1735",
    "go-bench": "BenchmarkA-8   1000   1234 ns/op",
    "benchmark-js": "bench_a x 1,234 ops/sec ±1.00% (90 runs sampled)",
    "luau": "SUCCESS: bench_a : 12.5ms +/- 0.5% on luau",
    "catch2-seconds": (
        "benchmark name  samples  iterations  estimated\n  mean  low mean  high mean\n"
        "  std dev  low std dev  high std dev\n-----\n"
        "bench_a       100      2     8.3712 ms \n     41.731 us      41.25 us     42.622 us \n"
        "      3.256 us      2.163 us      5.353 us \n   \n"),
    "ruby-benchmark": "       user     system      total        real\nbench_a:  0.010000   0.000000   0.010000 (  0.011000)",
    "dart-benchmark": "bench_a(RunTime): 12.5 us.",
    "console-time": "bench_a: 12.5ms",
}
TEXT_FORMATS = sorted(TEXT_LINES)
JSON_FORMATS = ["cargo-criterion", "julia", "jmh", "jmh-raw", "benchmarkdotnet",
                "benchmarkdotnet-raw", "asv", "vitest"]


def write(tmp_path: Path, content: str | bytes, name: str = "results") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def series(result: ParseResult) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for m in result.measurements:
        out.setdefault(m.metric, []).append(m.value)
    return out


def close(got: dict[str, list[float]], expected: dict[str, list[float]]) -> bool:
    """Series equal up to float rounding (pytest.approx does not nest lists in dicts)."""
    return got.keys() == expected.keys() and all(
        got[k] == pytest.approx(expected[k]) for k in expected)


def error_of(fmt: str, path: Path) -> ResultsFormatError:
    with pytest.raises(ResultsFormatError) as info:
        parse_results(fmt, path)
    return info.value


# ------------------------------------------------------------------ real output, dtf's names


def test_go_two_packages_every_metric_package_suffix_and_count_samples() -> None:
    result = parse_results("go-bench", DATA / "go_two_packages.txt")
    got = series(result)
    alloc = "BenchmarkAlloc (example.com/dtfdemo/alloc)"
    assert got[alloc] == [246.0, 502.9]  # -count 2: two samples of one series
    assert got[f"{alloc} - MB/s"] == [4162.36, 2036.36]
    assert got[f"{alloc} - widgets/op"] == [3.5, 3.5]  # b.ReportMetric
    assert got[f"{alloc} - B/op"] == [1024.0, 1024.0]
    assert got[f"{alloc} - allocs/op"] == [1.0, 1.0]
    # One name in two packages stays two series.
    assert got["BenchmarkFib10 (example.com/dtfdemo/alloc)"] == [0.4055, 0.4305]
    assert got["BenchmarkFib10 (example.com/dtfdemo/fib)"] == [876.1, 451.1]
    assert "BenchmarkFibTable/n=15 (example.com/dtfdemo/fib)" in got  # -2 GOMAXPROCS dropped
    units = {m.metric: (m.unit, m.direction) for m in result.measurements}
    assert units[alloc] == ("ns/op", "lower") and units[f"{alloc} - MB/s"] == ("MB/s", "higher")
    assert result.tests == 5 and result.notes == []


def test_cargo_bench_real_output_with_decimals_and_throughput() -> None:
    got = series(parse_results("cargo-bench", DATA / "cargo_bench.txt"))
    assert got == {"benches::bench_copy_4k": [97.5], "benches::bench_copy_4k - MB/s": [42226.0],
                   "benches::bench_fib_10": [1147.65], "benches::bench_fib_20": [79355.19]}


def test_catch2_v2_console_and_xml_in_seconds() -> None:
    console = parse_results("catch2-seconds", DATA / "catch2_v2_console.txt")
    assert close(series(console), {"Fibonacci 10": [83.8979e-9], "Fibonacci 20": [13.5809e-6],
                                             "push_back 1000": [1.23918e-6]})
    assert {m.unit for m in console.measurements} == {"s"}
    xml = parse_results("cpp_catch2", DATA / "catch2_v2.xml")
    assert close(series(xml), {"Fibonacci 10": [93.9599e-9], "Fibonacci 20": [11515.7e-9],
                                         "push_back 1000": [7154.66e-9]})
    assert xml.tests == 3 and xml.failures == []


def test_catch2_xml_failed_test_case_is_a_failure(tmp_path: Path) -> None:
    path = write(tmp_path, '<Catch2TestRun name="t"><TestCase name="slow"><BenchmarkResults name="b">'
                 '<mean value="12.5"/></BenchmarkResults><OverallResult success="false"/></TestCase>'
                 '</Catch2TestRun>')
    result = parse_results("catch2", path)
    assert series(result) == {"b": [12.5]} and result.failures == ["slow"]


def test_benchmark_js_and_console_time_read_one_node_log() -> None:
    path = DATA / "benchmarkjs_and_console_time.txt"
    js = parse_results("benchmark-js", path)
    assert series(js) == {"fib(10)": [260551.0], "fib(20)": [3108.0],
                          "createObjectBuffer with 200 comments": [103957.0]}
    assert {m.direction for m in js.measurements} == {"higher"}
    timed = parse_results("js_time", path)
    assert close(series(timed), {"sort 10k": [0.006515], "json roundtrip": [0.000684]})


def test_vitest_json_names_groups_and_takes_the_median() -> None:
    got = parse_results("vitest", DATA / "vitest.json")
    doc = json.loads((DATA / "vitest.json").read_text())
    expected = {f"{g['fullName']} > {b['name']}": [b["median"]]
                for f in doc["files"] for g in f["groups"] for b in g["benchmarks"]}
    assert series(got) == expected and {m.unit for m in got.measurements} == {"ms"}


def test_asv_results_file_params_units_and_benchmarks_json() -> None:
    path = next((DATA / "asv_results" / "vm").glob("104a3cff-*.json"))
    result = parse_results("python-asv", path)
    got = series(result)
    assert set(got) == {
        "bench.ParamSuite.time_build(10, 'list')", "bench.ParamSuite.time_build(10, 'tuple')",
        "bench.ParamSuite.time_build(100, 'list')", "bench.ParamSuite.time_build(100, 'tuple')",
        "bench.TimeSuite.time_keys", "bench.TimeSuite.time_values", "bench.mem_list",
        "bench.track_answer"}
    units = {m.metric: m.unit for m in result.measurements}
    assert units["bench.TimeSuite.time_keys"] == "s" and units["bench.mem_list"] == "B"
    assert units["bench.track_answer"] == "widgets" and got["bench.track_answer"] == [42.0]


def test_asv_raw_samples_and_failed_combinations(tmp_path: Path) -> None:
    doc = {"commit_hash": "abc", "env_name": "e", "date": 1, "version": 2,
           "result_columns": ["result", "params", "samples"],
           "results": {"b.time_x": [[1.0, None], [["1", "2"]], [[0.9, 1.1], None]],
                       "b.time_broken": [None, []]}}
    result = parse_results("asv", write(tmp_path, json.dumps(doc)))
    assert series(result) == {"b.time_x(1)": [0.9, 1.1]}
    assert result.failures == ["b.time_x(2)", "b.time_broken"]


def test_pytest_benchmark_without_saved_rounds_uses_the_median(tmp_path: Path) -> None:
    doc = {"benchmarks": [{"fullname": "t.py::a", "stats": {"median": 0.5, "data": []}}]}
    assert series(parse_results("python_pytest", write(tmp_path, json.dumps(doc)))) == {"t.py::a": [0.5]}


def test_iai_and_iai_callgrind_read_this_runs_value(tmp_path: Path) -> None:
    text = ("bench_fibonacci_short\n  Instructions:                1735\n  L1 Accesses:                 2364\n"
            "  Estimated Cycles:            2404\n\n"
            "lib_bench_group::bench_fibonacci short:10\n"
            "  Instructions:                1734|1735            (-0.05764%) [-1.00058x]\n"
            "  L1 Hits:                     2359|N/A             (*********)\n"
            "  Estimated Cycles:            2464|2464            (No change)\n")
    got = series(parse_results("rust-iai-callgrind", write(tmp_path, text)))
    assert got == {"bench_fibonacci_short - Instructions": [1735.0],
                   "bench_fibonacci_short - L1 Accesses": [2364.0],
                   "bench_fibonacci_short - Estimated Cycles": [2404.0],
                   "lib_bench_group::bench_fibonacci short:10 - Instructions": [1734.0],
                   "lib_bench_group::bench_fibonacci short:10 - L1 Hits": [2359.0],
                   "lib_bench_group::bench_fibonacci short:10 - Estimated Cycles": [2464.0]}


def test_criterion_console_wrapped_names_and_throughput(tmp_path: Path) -> None:
    text = ("Benchmarking fib 20\nBenchmarking fib 20: Analyzing\n"
            "fib 20                  time:   [21.086 µs 21.124 µs 21.161 µs]\n"
            "                        thrpt:  [47.257 Kelem/s 47.340 Kelem/s 47.425 Kelem/s]\n"
            "                 change: [-1.2% +0.1% +1.3%] (p = 0.85 > 0.05)\n"
            "a/very/long/benchmark/name/that/criterion/puts/on/its/own/line\n"
            "                        time:   [1.5 ms 1.6 ms 1.7 ms]\n")
    result = parse_results("rust_criterion", write(tmp_path, text))
    assert close(series(result), {
        "fib 20": [21.124e-6], "fib 20 - thrpt": [47_340.0],
        "a/very/long/benchmark/name/that/criterion/puts/on/its/own/line": [1.6e-3]})
    assert {m.metric: m.unit for m in result.measurements}["fib 20 - thrpt"] == "elem/s"


def test_criterion_real_output_second_run_with_change_blocks() -> None:
    # criterion 0.3.6 (Debian librust-criterion-dev), the second `cargo bench` of a crate, so
    # every benchmark has its `change:` block (a throughput one holds `time:` and `thrpt:`
    # lines of percentages that are no measurements).
    result = parse_results("rust_criterion", DATA / "criterion_0.3_console.txt")
    assert close(series(result), {
        "fib 15": [3.7680e-6], "fib_sizes/5": [42.624e-9], "fib_sizes/10": [313.37e-9],
        "sum/bytes": [1.7604e-6], "sum/bytes - thrpt": [2.1670 * 1024 ** 3]})
    units = {m.metric: (m.unit, m.direction) for m in result.measurements}
    assert units["sum/bytes - thrpt"] == ("B/s", "higher") and units["fib 15"] == ("s", "lower")
    assert result.tests == 4 and result.notes == []
    assert guess(DATA / "criterion_0.3_console.txt") == "criterion"


def test_criterion_bencher_output_reads_as_cargo_bench_lines() -> None:
    path = DATA / "criterion_0.3_bencher.txt"  # `cargo bench -- --output-format bencher`
    for fmt in ("criterion", "cargo"):
        assert series(parse_results(fmt, path)) == {
            "fib 15": [4210.0], "fib_sizes/5": [32.0], "fib_sizes/10": [272.0], "sum/bytes": [1738.0]}


def test_criterion_throughput_scales_to_one_unit_and_padded_units_read(tmp_path: Path) -> None:
    # criterion prints `{:>6} {unit}`, with units `  B/s` and ` elem/s`; its scale changes
    # with the size (MiB/s in one run, GiB/s in the next) and times below 1 ns are in ps.
    text = ("small                   time:   [ 12345 ps 512.50 ps 600.00 ps]\n"
            "                        thrpt:  [1.2000   B/s 999.00   B/s 1.0000 KiB/s]\n"
            "elems                   time:   [1.0000 ms 1.0000 ms 1.0000 ms]\n"
            "                        thrpt:  [999.00  elem/s 999.50  elem/s 1.0000 Kelem/s]\n"
            "big                     time:   [1.0000 ms 1.0000 ms 1.0000 ms]\n"
            "                        thrpt:  [900.00 MiB/s 1.5000 GiB/s 2.0000 GiB/s]\n")
    result = parse_results("criterion", write(tmp_path, text))
    assert close(series(result), {
        "small": [512.5e-12], "small - thrpt": [999.0], "elems": [1e-3], "elems - thrpt": [999.5],
        "big": [1e-3], "big - thrpt": [1.5 * 1024 ** 3]})
    assert {m.unit for m in result.measurements if m.metric.endswith("thrpt")} == {"B/s", "elem/s"}


def test_cargo_criterion_json_lines_give_raw_per_iteration_samples(tmp_path: Path) -> None:
    lines = [json.dumps({"reason": "benchmark-complete", "id": "fib 20", "unit": "ns",
                         "iteration_count": [10, 20], "measured_values": [1000.0, 3000.0],
                         "median": {"estimate": 120.0}}),
             json.dumps({"reason": "group-complete", "group_name": "fib"})]
    result = parse_results("cargo-criterion", write(tmp_path, "\n".join(lines)))
    assert series(result) == {"fib 20": [100.0, 150.0]}


def test_ruby_bmbm_skips_the_rehearsal_and_dart_reads_runtime(tmp_path: Path) -> None:
    ruby = ("Rehearsal ------------------------------------------\n"
            "sort:    0.020000   0.000000   0.020000 (  0.021000)\n"
            "--------------------------------- total: 0.020000sec\n\n"
            "             user     system      total        real\n"
            "sort:    0.010000   0.000000   0.010000 (  0.011000)\n")
    assert series(parse_results("ruby_benchmark", write(tmp_path, ruby))) == {"sort": [0.011]}
    dart = "Template(RunTime): 0.7532 us.\nFib(RunTime): 1234.5 us.\n"
    assert series(parse_results("dart-benchmark", write(tmp_path, dart, "d"))) == {
        "Template": [0.7532], "Fib": [1234.5]}


# ------------------------------------------------------------ github-action-benchmark's names


def test_gab_names_cargo_luau_julia_jmh_dotnet_catch2_as_that_action_shows_them() -> None:
    assert series(parse_results("cargo", GAB / "cargo_output.txt")) == {
        "bench_fib_10": [135.0], "bench_fib_20": [18149.0]}
    luau = parse_results("benchmarkluau", GAB / "benchmarkluau_output.txt")
    assert series(luau) == {"base64": [15.041], "chess": [69.56], "life": [85.089]}
    assert {m.unit for m in luau.measurements} == {"ms"}
    assert series(parse_results("julia", GAB / "julia_output.json")) == {
        "fib/20": [31028.0], "fib/10": [246.03846153846155]}
    jmh = parse_results("jmh", GAB / "jmh_output_2.json")
    name = ('org.openjdk.jmh.samples.JMHSample_01_HelloWorld.wellHelloThere'
            ' ( {"paramA":"17","paramB":"33"} )')
    assert series(jmh) == {name: [3.3762388731228185e9]}
    assert jmh.measurements[0].direction == "higher"  # thrpt mode
    assert series(parse_results("jmh-raw", GAB / "jmh_output_2.json"))[name] == [
        3.376842765688582e9, 3.37651988895058e9, 3.375353964729294e9]
    dotnet = "Fantomas.Benchmarks.Runners+CodePrinterTest.Format"
    assert series(parse_results("benchmarkdotnet", GAB / "benchmarkdotnet.json")) == {
        dotnet: [47470178082.2]}
    assert len(series(parse_results("c_sharp_dot_net", GAB / "benchmarkdotnet.json"))[dotnet]) == 5
    catch2 = parse_results("catch2", GAB / "catch2_output_v3.txt")
    assert [(m.metric, m.value, m.unit) for m in catch2.measurements] == [
        ("Fibonacci 10", 344.0, "ns"), ("Fibonacci 20", 41.731, "us"),
        ("Fibonacci~ 5!", 36.0, "ns"), ("Fibonacci-15_bench", 3.789, "us")]


def test_gab_pytest_and_googlecpp_show_ops_and_per_row_times() -> None:
    doc = json.loads((DATA / "pytest_benchmark.json").read_text())
    pytest_gab = parse_results("pytest", DATA / "pytest_benchmark.json")
    assert [(m.metric, m.value, m.unit, m.direction) for m in pytest_gab.measurements] == [
        (b["fullname"], b["stats"]["ops"], "iter/sec", "higher") for b in doc["benchmarks"]]
    gdoc = json.loads((DATA / "google_benchmark_repetitions.json").read_text())
    google = parse_results("googlecpp", DATA / "google_benchmark_repetitions.json")
    expected: dict[str, list[float]] = {}
    for row in gdoc["benchmarks"]:
        expected.setdefault(row["name"], []).append(row["real_time"])
    assert series(google) == expected  # aggregates (BM_x_mean ...) are series of their own
    assert {m.unit for m in google.measurements} <= {"ns/iter", "us/iter", "ms/iter", "s/iter"}


GO_SPEC = [  # (output, names as github-action-benchmark's own tests expect them)
    ("BenchmarkFib10-8    \t5000000\t       325 ns/op", ["BenchmarkFib10"]),
    ("BenchmarkFib/my/tabled/benchmark_-_20,var1=13,var2=14-8    \t5000000\t       325 ns/op",
     ["BenchmarkFib/my/tabled/benchmark_-_20,var1=13,var2=14"]),
    ("BenchmarkAlloc-8    \t1000000\t      1024 ns/op\t     512 B/op\t       8 allocs/op",
     ["BenchmarkAlloc", "BenchmarkAlloc - B/op", "BenchmarkAlloc - allocs/op"]),
    ("pkg: github.com/example/package1\nBenchmarkFoo-8 5000000 100 ns/op\n"
     "pkg: github.com/example/package2\nBenchmarkBar-8 3000000 200 ns/op",
     ["BenchmarkFoo (github.com/example/package1)", "BenchmarkBar (github.com/example/package2)"]),
    ("BenchmarkOrphan-8 1000000 50 ns/op\npkg: github.com/example/pkg1\nBenchmarkFoo-8 5 100 ns/op\n"
     "pkg: github.com/example/pkg2\nBenchmarkBar-8 3 200 ns/op",
     ["BenchmarkOrphan", "BenchmarkFoo (github.com/example/pkg1)", "BenchmarkBar (github.com/example/pkg2)"]),
    ("pkg: github.com/example/pkg1\nBenchmarkFoo-8 5 100 ns/op\npkg: github.com/example/pkg1\n"
     "BenchmarkBar-8 3 200 ns/op", ["BenchmarkFoo", "BenchmarkBar"]),
    ("pkg: github.com/example/pkg1\nBenchmarkFoo_github.com_example_pkg1-8 5 100 ns/op\n"
     "pkg: github.com/example/pkg2\nBenchmarkBar-8 3 200 ns/op",
     ["BenchmarkFoo_github.com_example_pkg1", "BenchmarkBar (github.com/example/pkg2)"]),
    ("pkg: github.com/gofiber/fiber/v3/middleware/cache\nBenchmarkAppendMsgitem_middleware_cache-8 5 100 ns/op\n"
     "pkg: github.com/gofiber/fiber/v3/middleware/csrf\nBenchmarkAppendMsgitem-8 3 200 ns/op",
     ["BenchmarkAppendMsgitem_middleware_cache",
      "BenchmarkAppendMsgitem (github.com/gofiber/fiber/v3/middleware/csrf)"]),
    ("pkg: github.com/example/cache\nBenchmarkCache-8 5 100 ns/op\npkg: github.com/example/store\n"
     "BenchmarkStore-8 3 200 ns/op",
     ["BenchmarkCache (github.com/example/cache)", "BenchmarkStore (github.com/example/store)"]),
    ("pkg: github.com/example/pkg1\r\nBenchmarkFoo-8 5 100 ns/op\r\npkg: github.com/example/pkg2\r\n"
     "BenchmarkBar-8 3 200 ns/op", ["BenchmarkFoo (github.com/example/pkg1)", "BenchmarkBar (github.com/example/pkg2)"]),
]


@pytest.mark.parametrize(("output", "names"), GO_SPEC)
def test_go_names_match_github_action_benchmark(tmp_path: Path, output: str, names: list[str]) -> None:
    result = parse_results("go", write(tmp_path, output))
    assert list(dict.fromkeys(m.metric for m in result.measurements)) == names


# ------------------------------------------------------------------ aliases and auto


@pytest.mark.parametrize("alias", sorted(BENCHER_NAMES))
def test_bencher_names_resolve_with_underscores_or_dashes(alias: str) -> None:
    from dtf_ci.formats import check_name

    assert check_name(alias) == BENCHER_NAMES[alias]
    assert check_name(alias.replace("_", "-")) == BENCHER_NAMES[alias]


def test_every_gab_name_is_accepted_and_unknown_names_suggest_one(tmp_path: Path) -> None:
    assert set(GAB_NAMES) <= set(accepted_names())
    with pytest.raises(UsageError, match="did you mean 'go-bench'"):
        parse_results("go-benh", tmp_path / "x")


def test_suite_accepts_aliases_and_auto(tmp_path: Path) -> None:
    from dtf_ci.errors import SuiteError
    from dtf_ci.suite import load_suite

    body = "version: 1\ntasks:\n" + "".join(
        f"  - id: t{i}\n    run: tool > {{results}}\n    format: {name}\n"
        for i, name in enumerate(["go", "rust-criterion", "customSmallerIsBetter", "auto"]))
    suite = load_suite(write(tmp_path, body, "dtf.yml"))
    assert [t.format for t in suite.tasks.values()] == ["go", "rust-criterion", "customSmallerIsBetter", "auto"]
    with pytest.raises(SuiteError, match="unknown format 'gobench'"):
        load_suite(write(tmp_path, body.replace("format: go\n", "format: gobench\n"), "bad.yml"))


AUTO_CASES = [
    ("go_two_packages.txt", "go-bench"), ("cargo_bench.txt", "cargo-bench"),
    ("catch2_v2_console.txt", "catch2-seconds"), ("catch2_v2.xml", "catch2-seconds"),
    ("benchmarkjs_and_console_time.txt", "benchmark-js"), ("vitest.json", "vitest"),
    ("pytest_benchmark.json", "pytest-benchmark"), ("google_benchmark.json", "google-benchmark"),
    ("hyperfine.json", "hyperfine"), ("junit_pytest.xml", "junit"),
    ("custom_smaller.json", "custom-smaller-is-better"),
    ("gab/benchmarkluau_output.txt", "luau"), ("gab/jmh_output_2.json", "jmh-raw"),
    ("gab/julia_output.json", "julia"), ("gab/benchmarkdotnet.json", "benchmarkdotnet-raw"),
    ("gab/catch2_output_v3.txt", "catch2-seconds"), ("gab/cargo_output.txt", "cargo-bench"),
]


@pytest.mark.parametrize(("name", "expected"), AUTO_CASES)
def test_auto_detects_every_fixture(name: str, expected: str) -> None:
    assert resolve("auto", DATA / name)[0] == expected
    assert parse_results("auto", DATA / name).measurements


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_auto_detects_each_text_line(tmp_path: Path, fmt: str) -> None:
    assert guess(write(tmp_path, TEXT_LINES[fmt] + "\n")) == fmt


def test_auto_on_unknown_text_says_to_set_the_format(tmp_path: Path) -> None:
    err = error_of("auto", write(tmp_path, "hello\nworld\n"))
    assert "could not tell which tool wrote this file" in err.problem


# ------------------------------------------------------------------ bad input, every parser


@pytest.mark.parametrize("fmt", TEXT_FORMATS + JSON_FORMATS)
@pytest.mark.parametrize("content", ["", " \n\n\t\n"])
def test_empty_file_is_a_parse_error(tmp_path: Path, fmt: str, content: str) -> None:
    assert "empty" in error_of(fmt, write(tmp_path, content)).problem


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_wrong_tools_output_names_the_format_it_looks_like(tmp_path: Path, fmt: str) -> None:
    other = "go-bench" if fmt != "go-bench" else "cargo-bench"
    err = error_of(fmt, write(tmp_path, TEXT_LINES[other] + "\n"))
    assert "no benchmark results found" in err.problem
    assert f"it looks like {other} output" in err.problem and str(tmp_path) in str(err)


@pytest.mark.parametrize("fmt", JSON_FORMATS)
def test_wrong_json_tools_output_names_the_format_it_looks_like(tmp_path: Path, fmt: str) -> None:
    err = error_of(fmt, DATA / "hyperfine.json")
    assert err.path.endswith("hyperfine.json")
    assert "it looks like hyperfine output: set `format: hyperfine`" in err.problem


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
@pytest.mark.parametrize("bad", ["NaN", "Inf", "+Inf", "nan", "inf", "Infinity"])
def test_nan_and_infinity_are_refused_with_the_line(tmp_path: Path, fmt: str, bad: str) -> None:
    line = TEXT_LINES[fmt]
    # Put the bad token where each tool prints its figure.
    for good in ("1,234", "1234", "12.5", "1.1", "1735", "41.731", "0.011000"):
        if good in line:
            line = line.replace(good, bad, 1) if fmt != "criterion" else line.replace("1.1 µs", f"{bad} µs")
            break
    path = write(tmp_path, line + "\n")
    try:
        result = parse_results(fmt, path)
    except ResultsFormatError as err:
        assert err.place.startswith("line") or "no benchmark results found" in err.problem
        return
    assert all(math.isfinite(m.value) for m in result.measurements)


NAN_JSON = {  # format: (document with a NaN where the tool's figure goes, the place named)
    "jmh": ('[{"benchmark": "b", "mode": "avgt", "primaryMetric": {"score": NaN, "scoreUnit": "us/op"}}]',
            "[0].primaryMetric.score"),
    "jmh-raw": ('[{"benchmark": "b", "primaryMetric": {"score": 1, "rawData": [[1.0, Infinity]]}}]',
                "[0].primaryMetric.rawData[0][1]"),
    "benchmarkdotnet": ('{"Benchmarks": [{"FullName": "b", "Statistics": {"Mean": NaN}}]}',
                        "Benchmarks[0].Statistics.Mean"),
    "julia": ('[{}, [["BenchmarkGroup", {"data": {"f": ["TrialEstimate", {"time": NaN}]}}]]]',
              "[1][0][1].data.f[1].time"),
    "vitest": ('{"files": [{"groups": [{"fullName": "g", "benchmarks": [{"name": "b", "median": NaN}]}]}]}',
               "files[0].groups[0].benchmarks[0].median"),
    "asv": ('{"results": {"b.time_x": [NaN, []]}, "result_columns": ["result", "params"]}',
            "results.b.time_x.result[0]"),
    "cargo-criterion": ('{"reason": "benchmark-complete", "id": "b", "unit": "ns", '
                        '"iteration_count": [1], "measured_values": [NaN]}',
                        "line 1.measured_values[0]"),
}


@pytest.mark.parametrize("fmt", sorted(NAN_JSON))
def test_nan_in_json_formats_is_refused_with_its_place(tmp_path: Path, fmt: str) -> None:
    text, place = NAN_JSON[fmt]
    err = error_of(fmt, write(tmp_path, text))
    assert err.place == place and ("NaN" in err.problem or "infinity" in err.problem)


@pytest.mark.parametrize("fmt", ["go-bench", "cargo-bench", "benchmark-js", "dart-benchmark"])
def test_nan_is_named_with_its_line(tmp_path: Path, fmt: str) -> None:
    line = {"go-bench": "BenchmarkA-8 1000 NaN ns/op", "cargo-bench": "test a ... bench: NaN ns/iter (+/- 5)",
            "benchmark-js": "a x NaN ops/sec ±1.00% (90 runs sampled)",
            "dart-benchmark": "A(RunTime): NaN us."}[fmt]
    err = error_of(fmt, write(tmp_path, "header\n" + line + "\n"))
    assert err.place == "line 2" and "NaN" in err.problem


@pytest.mark.parametrize("fmt", ["cargo-bench", "benchmark-js", "luau", "dart-benchmark", "ruby-benchmark"])
def test_duplicate_names_are_kept_apart_and_said(tmp_path: Path, fmt: str) -> None:
    text = TEXT_LINES[fmt] + "\n" + TEXT_LINES[fmt].split("\n")[-1] + "\n"
    result = parse_results(fmt, write(tmp_path, text))
    assert list(series(result)) == ["bench_a", "bench_a#2"]
    assert result.notes and "kept apart as 'bench_a#2'" in result.notes[0]


def test_catch2_truncated_output_names_the_benchmark(tmp_path: Path) -> None:
    text = (DATA / "catch2_v2_console.txt").read_text().splitlines()
    cut = [i for i, line in enumerate(text) if line.startswith("Fibonacci 20")][0] + 1
    err = error_of("catch2", write(tmp_path, "\n".join(text[:cut + 1])))
    assert "'Fibonacci 20'" in err.problem and ("cut" in err.problem or "truncated" in err.problem)


@pytest.mark.parametrize("fmt", JSON_FORMATS)
def test_truncated_json_gives_line_and_column(tmp_path: Path, fmt: str) -> None:
    source = {"cargo-criterion": None, "julia": GAB / "julia_output.json", "jmh": GAB / "jmh_output_2.json",
              "jmh-raw": GAB / "jmh_output_2.json", "benchmarkdotnet": GAB / "benchmarkdotnet.json",
              "benchmarkdotnet-raw": GAB / "benchmarkdotnet.json", "vitest": DATA / "vitest.json",
              "asv": next((DATA / "asv_results" / "vm").glob("104a3cff-*.json"))}[fmt]
    if source is None:
        text = '{"reason":"benchmark-complete","id":"a","measured_values":[1,'
    else:
        full = source.read_text()
        text = full[: len(full) // 2]
    err = error_of(fmt, write(tmp_path, text))
    assert err.place.startswith("line") and "invalid JSON" in err.problem


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_file_over_the_results_bound_is_refused_by_size_without_reading_it(
        tmp_path: Path, fmt: str) -> None:
    # One bound for every results file, text or document, in dtf run and dtf parse alike.
    path = tmp_path / "huge"
    with open(path, "wb") as fh:
        fh.write(b"[")
        fh.truncate(300 * 1000 * 1000)  # sparse: no 300 MB written to the disk
    err = error_of(fmt, path)
    assert err.path == str(path) and "300.0 MB, more than the 256 MiB" in err.problem
    assert "split the benchmarks over several tasks" in err.problem and "DTF_MAX_RESULTS_BYTES" in err.problem


@pytest.mark.parametrize("fmt", ["jmh", "go-bench"])
def test_the_results_bound_follows_dtf_max_results_bytes(
        tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dtf_ci.paths import PathRefused, regular_file

    path = write(tmp_path, TEXT_LINES["go-bench"] * 100)
    monkeypatch.setenv("DTF_MAX_RESULTS_BYTES", "1000")
    problem = error_of(fmt, path).problem
    assert "more than the 1,000 bytes dtf reads from one results file" in problem
    with pytest.raises(PathRefused) as refused:  # dtf run's guard words it the same way
        regular_file(path, 1000)
    assert problem.split("; the ")[0] in str(refused.value)


@pytest.mark.parametrize("fmt", ["go-bench", "jmh"])
def test_a_fifo_is_refused_before_it_is_opened(tmp_path: Path, fmt: str) -> None:
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert "is a FIFO" in error_of(fmt, fifo).problem  # opening it would block forever


@pytest.fixture(scope="module")
def hundred_mb_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 MB of build log with one line of every text tool at its end."""
    path = tmp_path_factory.mktemp("big") / "ci.log"
    noise = (b"   Compiling some-crate v1.2.3 (registry+https://example.invalid) "
             b"warning: unused variable `x` in a long build log line\n")
    with open(path, "wb") as fh:
        block = noise * 8000
        while fh.tell() < 100 * 1000 * 1000:
            fh.write(block)
        for fmt in TEXT_FORMATS:
            if fmt != "catch2-seconds":
                fh.write((TEXT_LINES[fmt] + "\n").encode())
    return path


@pytest.mark.parametrize("fmt", ["go-bench", "console-time"])
def test_100_mb_of_output_is_streamed_in_bounded_memory(hundred_mb_log: Path, fmt: str) -> None:
    # A fresh interpreter, so its peak resident memory (VmHWM: ru_maxrss would carry the
    # forking pytest process's peak across exec) is this parse's alone.
    if not Path("/proc/self/status").exists():
        pytest.skip("needs Linux's /proc to read a process's peak memory")
    code = ("import json, re, sys; from dtf_ci.formats import parse_results; "
            "r = parse_results(sys.argv[1], sys.argv[2]); "
            "hwm = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)); "
            "print(json.dumps([sorted({m.metric for m in r.measurements}), hwm]))")
    out = subprocess.run([sys.executable, "-c", code, fmt, str(hundred_mb_log)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    metrics, peak_kib = json.loads(out.stdout)
    assert metrics == (["BenchmarkA"] if fmt == "go-bench" else ["bench_a"])
    assert peak_kib < 120 * 1024  # the interpreter and dtf's imports; not the 100 MB file


def test_a_line_without_end_is_refused_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "one-line"
    path.write_bytes(b"x" * (2 * 1024 * 1024))
    err = error_of("go-bench", path)
    assert err.place == "line 1" and "longer than" in err.problem


def test_binary_file_is_refused_as_not_text(tmp_path: Path) -> None:
    err = error_of("cargo-bench", write(tmp_path, b"\x7fELF\x02\x01\x00\x00binary"))
    assert "NUL" in err.problem and err.place == "line 1"


def test_too_many_measurements_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dtf_ci.formats import _text

    monkeypatch.setattr(_text, "MAX_MEASUREMENTS", 3)
    text = "".join(f"BenchmarkA{i}-8 10 {i + 1} ns/op\n" for i in range(5))
    err = error_of("go-bench", write(tmp_path, text))
    assert err.place == "line 4" and "more than 3 measurements" in err.problem


# ------------------------------------------------------------------ hyperfine's median of 0


def test_hyperfine_zero_median_is_judged_on_the_runs_that_are_not_zero(tmp_path: Path) -> None:
    doc = {"results": [{"command": "true", "mean": 0.0001, "median": 0.0,
                        "times": [0.0, 0.0, 0.0, 0.0002, 0.0004]}]}
    result = parse_results("shell-hyperfine", write(tmp_path, json.dumps(doc)))
    assert series(result) == {"true": [pytest.approx(0.0003)]}
    assert "median of 0" in result.notes[0] and "3 of 5 runs were 0" in result.notes[0]
    assert "--shell=none" in result.notes[0]


def test_hyperfine_all_runs_zero_is_an_error_that_says_why(tmp_path: Path) -> None:
    doc = {"results": [{"command": "true", "median": 0.0, "times": [0.0, 0.0]}]}
    err = error_of("hyperfine", write(tmp_path, json.dumps(doc)))
    assert err.place == "results[0].median" and "spawning a shell" in err.problem


# ------------------------------------------------------------------ dtf parse


def _dtf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dtf_ci", *args], capture_output=True, text=True,
                          timeout=120)


def test_dtf_parse_prints_series_and_json() -> None:
    out = _dtf("parse", str(DATA / "go_two_packages.txt"))
    assert out.returncode == 0, out.stderr
    assert "read as go-bench: 17 series" in out.stdout
    assert "BenchmarkAlloc (example.com/dtfdemo/alloc) - MB/s" in out.stdout and "higher" in out.stdout
    js = _dtf("parse", str(GAB / "jmh_output_2.json"), "--format", "jmh", "--json")
    doc = json.loads(js.stdout)
    assert doc["format"] == "jmh" and doc["series"][0]["samples"] == [3.3762388731228185e9]
    assert doc["series"][0]["direction"] == "higher" and doc["series"][0]["unit"] == "ops/s"


def test_dtf_parse_bad_file_is_the_run_error_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, TEXT_LINES["cargo-bench"] + "\n", "out.txt")
    out = _dtf("parse", str(path), "--format", "go")
    assert out.returncode == 2 and out.stdout == ""
    assert "out.txt" in out.stderr and "looks like cargo-bench output" in out.stderr
    assert "Traceback" not in out.stderr
    unknown = _dtf("parse", str(path), "--format", "nope")
    assert unknown.returncode == 2 and "unknown results format 'nope'" in unknown.stderr


# ------------------------------------------------------------------ property tests


@SETTINGS
@given(data=st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode)),
       fmt=st.sampled_from(TEXT_FORMATS + JSON_FORMATS + ["auto"]))
def test_arbitrary_bytes_parse_or_raise_a_format_error(
        tmp_path_factory: pytest.TempPathFactory, data: bytes, fmt: str) -> None:
    path = tmp_path_factory.mktemp("any") / "results"
    path.write_bytes(data)
    try:
        result = parse_results(fmt, path)
    except ResultsFormatError as err:
        assert err.problem
        return
    assert result.measurements or result.tests  # never a silent empty result
    assert all(math.isfinite(m.value) for m in result.measurements)


names = st.from_regex(r"[A-Za-z][A-Za-z0-9_/=]{0,20}", fullmatch=True)
values = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)


@SETTINGS
@given(rows=st.lists(st.tuples(names, st.integers(1, 10**9), values), min_size=1, max_size=20),
       procs=st.integers(1, 128))
def test_go_lines_round_trip(tmp_path_factory: pytest.TempPathFactory,
                             rows: list[tuple[str, int, float]], procs: int) -> None:
    text = "".join(f"Benchmark{n}-{procs}\t{it}\t{v!r} ns/op\t{it % 7} B/op\n" for n, it, v in rows)
    path = tmp_path_factory.mktemp("go") / "out.txt"
    path.write_text(text)
    got = series(parse_results("go-bench", path))
    expected: dict[str, list[float]] = {}
    for n, it, v in rows:
        expected.setdefault(f"Benchmark{n}", []).append(v)
        expected.setdefault(f"Benchmark{n} - B/op", []).append(float(it % 7))
    assert got == expected


@SETTINGS
@given(rows=st.lists(st.tuples(st.from_regex(r"[a-z_:]{1,20}", fullmatch=True),
                               st.integers(0, 10**9), st.integers(0, 10**6)), min_size=1, max_size=20))
def test_cargo_lines_round_trip_with_thousands_separators(
        tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, int, int]]) -> None:
    text = "".join(f"test {n} ... bench: {v:>12,} ns/iter (+/- {r:,})\n" for n, v, r in rows)
    path = tmp_path_factory.mktemp("cargo") / "out.txt"
    path.write_text(text)
    result = parse_results("cargo", path)
    assert [m.value for m in result.measurements] == [float(v) for _, v, _ in rows]
    assert len(set(series(result))) == len(rows)  # repeated names kept apart


@SETTINGS
@given(rows=st.lists(st.tuples(st.from_regex(r"[A-Za-z][A-Za-z0-9 ()_-]{0,25}", fullmatch=True),
                               st.floats(0.001, 1e9)), min_size=1, max_size=15))
def test_benchmark_js_lines_round_trip(tmp_path_factory: pytest.TempPathFactory,
                                       rows: list[tuple[str, float]]) -> None:
    rows = [(n.strip() or "x", v) for n, v in rows]
    text = "".join(f"{n} x {v:,.2f} ops/sec ±1.25% (90 runs sampled)\n" for n, v in rows)
    path = tmp_path_factory.mktemp("js") / "out.txt"
    path.write_text(text)
    result = parse_results("benchmarkjs", path)
    assert [m.value for m in result.measurements] == [round(v, 2) for _, v in rows]


@SETTINGS
@given(label=st.from_regex(r"[a-z][a-z0-9 _-]{0,15}", fullmatch=True),
       ms=st.floats(0, 1e6), fmt=st.sampled_from(["ms", "s"]))
def test_console_time_lines_round_trip(tmp_path_factory: pytest.TempPathFactory, label: str,
                                       ms: float, fmt: str) -> None:
    label = label.strip() or "t"
    path = tmp_path_factory.mktemp("ct") / "out.txt"
    path.write_text(f"{label}: {ms:.3f}{fmt}\n")
    got = series(parse_results("console-time", path))
    factor = 1e-3 if fmt == "ms" else 1.0
    assert got == {label: [pytest.approx(float(f"{ms:.3f}") * factor)]}


def test_every_registered_format_has_a_description_and_is_documented() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "formats.md").read_text()
    for name, fmt in FORMATS.items():
        assert fmt.DESCRIPTION
        assert f"`{name}`" in docs, name


# ------------------------------------------------------------------ real Ruby 3.1 output


def test_ruby_benchmark_real_bm_bmbm_and_unlabelled_rows() -> None:
    # Ruby 3.1 (Debian bookworm), Benchmark.bm(7), Benchmark.bmbm, and Benchmark.bm with one
    # report without a label: tests/data/formats/SOURCE.md.
    assert series(parse_results("ruby-benchmark", DATA / "ruby_bm.txt")) == {
        "for": [0.287918], "times": [0.122418], "upto": [0.112974]}
    bmbm = parse_results("ruby_benchmark", DATA / "ruby_bmbm.txt")  # the rehearsal is skipped
    assert series(bmbm) == {"sort!": [0.41713], "sort": [0.463501]} and bmbm.tests == 2
    assert series(parse_results("ruby-benchmark", DATA / "ruby_bm_plain.txt")) == {
        "benchmark 1": [0.116184], "concat": [0.167175]}
    for name in ("ruby_bm", "ruby_bmbm", "ruby_bm_plain", "ruby_bm_total"):
        assert guess(DATA / f"{name}.txt") == "ruby-benchmark", name


def test_ruby_summary_rows_are_not_series_and_a_note_says_so() -> None:
    # Benchmark.benchmark(CAPTION, 7, FORMAT, ">total:", ">avg:") as in Ruby's documentation.
    result = parse_results("ruby-benchmark", DATA / "ruby_bm_total.txt")
    assert series(result) == {"for": [0.057137], "times": [0.065997], "upto": [0.058996]}
    assert result.tests == 3
    assert result.notes == ["summary rows '>total', '>avg' (sums or means of the rows above "
                            "them) are not series"]


# ------------------------------------------------------------------ real Catch2 v3.7.1 output


CATCH2_V3_NAMES = ["fib 10", "fib 15", "sum 1000", "a rather long benchmark name that Catch2 wraps over lines"]


def test_catch2_v3_console_real_output_with_a_wrapped_name() -> None:
    # Catch2 3.7.1 (amalgamated source of Debian trixie's catch2 package, built here): the
    # console reporter wraps a long name over two lines; it is one benchmark, not lost.
    result = parse_results("catch2", DATA / "catch2_v3_console.txt")
    assert list(series(result)) == CATCH2_V3_NAMES
    assert series(result)["fib 15"] == [986.862] and series(result)[CATCH2_V3_NAMES[3]] == [154.904]
    assert {m.unit for m in result.measurements} == {"ns"} and result.tests == 4
    seconds = series(parse_results("catch2-seconds", DATA / "catch2_v3_console.txt"))
    assert close(seconds, {"fib 10": [60.6377e-9], "fib 15": [986.862e-9], "sum 1000": [427.551e-9],
                           CATCH2_V3_NAMES[3]: [154.904e-9]})
    assert guess(DATA / "catch2_v3_console.txt") == "catch2-seconds"


def test_catch2_v3_xml_real_output() -> None:
    result = parse_results("catch2", DATA / "catch2_v3.xml")  # `-r xml`, xml-format-version 3
    assert series(result) == {"fib 10": [60.518], "fib 15": [852.825], "sum 1000": [400.986],
                              CATCH2_V3_NAMES[3]: [7.09266]}
    assert result.tests == 4 and result.failures == []
    assert close(series(parse_results("auto", DATA / "catch2_v3.xml")),
                 {k: [v[0] * 1e-9] for k, v in series(result).items()})
