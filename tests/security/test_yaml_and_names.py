"""Suite files: the bounded loader (dtf_ci.yaml_load) refuses alias and merge-key bombs and
deep nesting, for the suite and the runners file; names are bounded at validation so they
cannot break temp folders, badges or logs later."""

from __future__ import annotations

import pytest

from dtf_ci.errors import SuiteError, UsageError
from dtf_ci.inventory import load_runners_file
from dtf_ci.suite import load_suite

GOOD = """version: 1
targets:
  cpu: {runs-on: [linux]}
tasks:
  - id: a
    run: "true"
"""


def write(tmp_path, text):
    path = tmp_path / "dtf.yml"
    path.write_text(text)
    return path


def alias_bomb(levels: int = 12) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return GOOD + "\n".join(f"x-{line}" for line in lines) + "\n"


@pytest.mark.timeout(30)
def test_alias_bomb_is_refused_quickly(tmp_path):
    with pytest.raises(SuiteError, match="aliases expand to more than"):
        load_suite(write(tmp_path, alias_bomb()))


@pytest.mark.timeout(30)
def test_merge_key_bomb_is_refused_quickly(tmp_path):
    lines = ["m0: &m0 {" + ", ".join(f"k{j}: v" for j in range(20)) + "}"]
    for i in range(1, 12):
        lines.append(f"m{i}: &m{i} {{" + ", ".join(f"<<: *m{i - 1}" if j == 0 else f"s{j}: *m{i - 1}" for j in range(10)) + "}")
    with pytest.raises(SuiteError, match="expand to more than"):
        load_suite(write(tmp_path, GOOD + "\n".join(f"x-{line}" for line in lines) + "\n"))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("depth", [150, 50_000])
def test_deep_nesting_is_a_clear_error(tmp_path, depth):
    with pytest.raises(SuiteError, match="nesting deeper than"):
        load_suite(write(tmp_path, GOOD + "x-deep: " + "[" * depth + "]" * depth + "\n"))


def test_a_small_alias_still_works(tmp_path):
    text = GOOD.replace('    run: "true"\n', '    run: "true"\n    env: &e {A: "1"}\n') + '  - id: b\n    run: "true"\n    env: *e\n'
    suite = load_suite(write(tmp_path, text))
    assert suite.tasks["b"].env == {"A": "1"}


@pytest.mark.timeout(30)
def test_runners_file_has_the_same_bounds(tmp_path):
    path = tmp_path / "runners.yml"
    path.write_text("runners: []\n" + "\n".join(alias_bomb().splitlines()[6:]) + "\n")
    with pytest.raises(UsageError, match="expand to more than"):
        load_runners_file(path)


def test_long_names_are_refused_at_validation(tmp_path):
    text = GOOD.replace("cpu:", "c" * 300 + ":").replace("id: a", "id: " + "t" * 300)
    with pytest.raises(SuiteError) as info:
        load_suite(write(tmp_path, text))
    message = str(info.value)
    assert "a target name is at most 120 characters" in message
    assert "a task id is at most 120 characters" in message
    assert "c" * 100 not in message  # the message itself stays short


@pytest.mark.parametrize("produces", ["/etc", "../x", "build/../../x"])
def test_produces_must_stay_in_the_suite_folder(tmp_path, produces):
    text = GOOD + f"    produces: ['{produces}']\n"
    with pytest.raises(SuiteError, match=r"tasks\.a\.produces: .*(absolute|climbs)"):
        load_suite(write(tmp_path, text))
