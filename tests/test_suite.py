from __future__ import annotations

import pytest

from dtf_ci.errors import SuiteError
from dtf_ci.suite import find_cycle, load_suite
from dtf_ci.units import parse_duration, parse_threshold


def problems_of(path) -> list[str]:
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert info.value.return_code == 2
    return info.value.problems


def test_valid_suite_applies_defaults_and_groups(write_suite):
    path = write_suite(
        """
        version: 1
        targets:
          a100: {runs-on: [self-hosted, linux, gpu-a100], facts: {gpu: nvidia, cuda: "12.4"}}
        defaults: {repeat: 7, timeout: 90s, retries: 2, threshold: 5%}
        tasks:
          - {id: build, run: make, produces: [build/]}
          - {id: mm, run: "x {results}", format: custom-smaller-is-better, group: gpu, timeout: 15m, requires: [gpu, "cuda>=12"]}
          - {id: conv, run: "y {results}", format: junit, group: gpu, repeat: 3, depends-on: [build]}
          - {id: report, run: z, depends-on: ["group:gpu"]}
        """
    )
    suite = load_suite(path)
    assert list(suite.tasks) == ["build", "mm", "conv", "report"]
    # defaults.repeat is samples per benchmark metric: a task without a format runs once.
    assert suite.tasks["build"].repeat == 1 and suite.tasks["build"].timeout_s == 90
    assert suite.tasks["mm"].repeat == 7
    assert suite.tasks["mm"].timeout_s == 900 and suite.tasks["mm"].threshold == 0.05
    assert suite.tasks["conv"].repeat == 3 and suite.tasks["conv"].retries == 2
    assert suite.resolved_dependencies("report") == ("mm", "conv")
    assert suite.targets["a100"].facts["cuda"] == "12.4"
    assert suite.targets["a100"].runs_on == ("self-hosted", "linux", "gpu-a100")


def test_all_problems_reported_at_once_with_lines_and_fixes(write_suite):
    path = write_suite(
        """
        version: 1
        tasks:
          - id: build
            run: make
          - id: test
            run: pytest
            depends-on: [buld]
            timout: 5m
          - id: bench
            run: bench
            repeat: zero
        """
    )
    problems = problems_of(path)
    assert len(problems) == 3
    text = "\n".join(problems)
    assert f"{path}:8: tasks[1].timout: unknown key (did you mean 'timeout'?)" in text
    assert f"{path}:7: tasks[1].depends-on: no task 'buld' (did you mean 'build'?)" in text
    assert "tasks[2].repeat: expected a whole number >= 1, got 'zero'" in text


def test_cycle_is_written_out(write_suite):
    path = write_suite(
        """
        version: 1
        tasks:
          - {id: a, run: x, depends-on: [b]}
          - {id: b, run: x, depends-on: [c]}
          - {id: c, run: x, depends-on: [a]}
        """
    )
    (problem,) = problems_of(path)
    assert "dependency cycle: a -> b -> c -> a" in problem


def test_cycle_through_group(write_suite):
    path = write_suite(
        """
        version: 1
        tasks:
          - {id: a, run: x, group: g, depends-on: [b]}
          - {id: b, run: x, depends-on: ["group:g"]}
        """
    )
    (problem,) = problems_of(path)
    assert "a -> b -> a" in problem


def test_unknown_group_and_self_dependency(write_suite):
    path = write_suite(
        """
        version: 1
        tasks:
          - {id: a, run: x, group: gpu}
          - {id: b, run: x, depends-on: ["group:gpus", b]}
        """
    )
    text = "\n".join(problems_of(path))
    assert "no group 'gpus' (did you mean 'gpu'?)" in text
    assert "task 'b' depends on itself" in text


def test_format_needs_results_placeholder_and_known_name(write_suite):
    path = write_suite(
        """
        version: 1
        tasks:
          - {id: a, run: "pytest --benchmark-json out.json", format: pytest-benchmark}
          - {id: b, run: "x {results}", format: pytest-benchmarks}
        """
    )
    text = "\n".join(problems_of(path))
    assert "put {results} in the command" in text
    assert "unknown format 'pytest-benchmarks' (did you mean 'pytest-benchmark'?)" in text


def test_bad_requirement_is_named(write_suite):
    path = write_suite(
        """
        version: 1
        tasks:
          - {id: a, run: x, requires: ["cuda>="]}
        """
    )
    (problem,) = problems_of(path)
    assert "tasks[0].requires[0]" in problem and "cuda>=" in problem


def test_unknown_top_level_key_and_version(write_suite):
    path = write_suite(
        """
        version: 2
        task:
          - {id: a, run: x}
        """
    )
    text = "\n".join(problems_of(path))
    assert "task: unknown key (did you mean 'tasks'?)" in text
    assert "version: expected 1, got 2" in text
    assert "tasks: expected a non-empty list" in text


def test_duplicate_ids_and_targets(write_suite):
    path = write_suite(
        """
        version: 1
        targets:
          gpu: {runs-on: []}
          scaled: {runs-on: [arc-gpu], autoscaled: true}
        tasks:
          - {id: a, run: x}
          - {id: a, run: y}
        """
    )
    text = "\n".join(problems_of(path))
    assert "task 'a' is defined twice" in text
    assert "targets.gpu.runs-on: required" in text
    assert "targets.scaled.max-runners: an autoscaled target needs max-runners" in text


def test_yaml_syntax_error_names_line(write_suite):
    path = write_suite("version: 1\ntasks:\n  - id: a\n    run: [unclosed\n")
    (problem,) = problems_of(path)
    assert str(path) in problem and "not valid YAML" in problem


def test_missing_file(tmp_path):
    problems = problems_of(tmp_path / "nope.yml")
    assert "no such file" in problems[0]


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("1.5h", 5400), (30, 30), ("250ms", 0.25)])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5 minutes", "-3s", "0", True, "m"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(("text", "fraction"), [("3%", 0.03), (0.05, 0.05), ("0.1", 0.10), ("0%", 0.0),
                                              ("150%", 1.5), (0, 0.0)])
def test_thresholds(text, fraction):
    assert parse_threshold(text) == pytest.approx(fraction)


@pytest.mark.parametrize(("value", "fix"), [(5, "write 5% for 5 percent, or 0.05 as a fraction"),
                                            ("10", "write 10% for 10 percent, or 0.1 as a fraction"),
                                            (1, "write 1% for 1 percent, or 0.01 as a fraction")])
def test_bare_threshold_of_one_or_more_is_an_error_that_says_the_fix(value, fix):
    # 5 used to mean 5 % while 1 meant 100 %: one key, two scales. Now neither guesses.
    with pytest.raises(ValueError) as exc:
        parse_threshold(value)
    assert "a bare number is a fraction below 1 (0.05 = 5%)" in str(exc.value)
    assert fix in str(exc.value)


def test_threshold_error_in_a_suite_names_the_place(write_suite):
    path = write_suite("""
        version: 1
        defaults: {threshold: 5}
        tasks:
          - {id: a, run: x}
    """)
    (problem,) = problems_of(path)
    assert "dtf.yml:2: defaults.threshold: a bare number is a fraction below 1" in problem


def test_run_written_as_a_list_is_the_wrong_type_not_missing(write_suite):
    path = write_suite("""
        version: 1
        tasks:
          - id: a
            run: [make, make test]
          - id: b
            run: ""
          - id: c
            run: 42
          - id: d
    """)
    problems = problems_of(path)
    assert any("tasks[0].run: is a list, expected one shell command as a string" in p and "&&" in p for p in problems)
    assert any("tasks[1].run: is empty" in p for p in problems)
    assert any("tasks[2].run: expected the shell command as a string, got a number (42): quote it" in p
               for p in problems)
    assert any("tasks[3].run: required" in p for p in problems)
    assert not any("required" in p for p in problems if "tasks[0]" in p)


def test_unquoted_colon_in_a_command_gets_a_quoting_hint(write_suite):
    path = write_suite("""
        version: 1
        tasks:
          - id: a
            run: python -c "print(1)" --label size: big
    """)
    (problem,) = problems_of(path)
    assert "not valid YAML" in problem
    assert "a value containing ': ' must be quoted, e.g. run: 'python -c \"print(1)\" --label size: big'" in problem


def test_tabs_get_a_hint(write_suite):
    path = write_suite("version: 1\ntasks:\n\t- {id: a, run: x}\n")
    (problem,) = problems_of(path)
    assert "spaces, not tabs" in problem


@pytest.mark.parametrize("text", ["", "\n# only a comment\n"])
def test_empty_file_says_so(write_suite, text):
    (problem,) = problems_of(write_suite(text))
    assert "the file is empty" in problem and "NoneType" not in problem


def test_not_a_mapping_names_the_kind(write_suite):
    (problem,) = problems_of(write_suite("- a\n- b\n"))
    assert "got a list" in problem and "list" in problem


def test_find_cycle_none_for_dag():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["a"]}) == ["a", "a"]


def test_max_repeat_below_repeat(write_suite):
    path = write_suite(
        """
        version: 1
        tasks:
          - {id: a, run: x, repeat: 5, max-repeat: 3}
        """
    )
    (problem,) = problems_of(path)
    assert "tasks[0].max-repeat: must be at least repeat (5), got 3" in problem


def test_parallel_defaults_to_alone_for_benchmarks(write_suite):
    path = write_suite(
        """
        version: 1
        tasks:
          - {id: unit-tests, run: pytest}
          - {id: bench, run: "b {results}", format: custom-smaller-is-better}
          - {id: shared, run: "b {results}", format: custom-smaller-is-better, parallel: true}
          - {id: lonely, run: make, parallel: false}
        """
    )
    suite = load_suite(path)
    assert [suite.tasks[t].runs_in_parallel for t in ("unit-tests", "bench", "shared", "lonely")] == [
        True, False, True, False]


def test_parallel_must_be_a_boolean(write_suite):
    path = write_suite(
        """
        version: 1
        tasks:
          - {id: a, run: x, parallel: "yes please"}
        """
    )
    with pytest.raises(SuiteError) as exc:
        load_suite(path)
    assert "tasks[0].parallel: expected true or false, got 'yes please'" in str(exc.value)
