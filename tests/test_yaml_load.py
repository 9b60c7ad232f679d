"""The fast suite loader (libyaml events -> values) gives what ``yaml.safe_load`` gives, with
line numbers, and refuses hostile input (alias bombs, deep nesting) with a located error."""

from __future__ import annotations

import datetime

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from dtf_ci.errors import SuiteError
from dtf_ci.suite import load_suite
from dtf_ci.yaml_load import MAX_DEPTH, MIN_ALIAS_BUDGET, LineMap, load_yaml

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
    st.text(max_size=20), st.dates(min_value=datetime.date(1900, 1, 1)),
    st.sampled_from(["yes", "no", "on", "off", "~", "0x1f", "0o17", "1_000", ".inf", "-.nan", "1e3", "12:30:00",
                     "2020-01-01 10:00:00", "<<", "=", "!gpu", "&a", "*a", "'q'", "a: b", "- x", "#c", ""]),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4)),
    max_leaves=25,
)


def _same(a: object, b: object) -> bool:
    """Equality that treats NaN as equal to itself (safe_load and load_yaml both give NaN)."""
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@given(documents, st.sampled_from([False, True, None]))
def test_same_values_as_safe_load(doc, flow):
    """Any document PyYAML writes reads back the same through both loaders (block and flow style)."""
    text = yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True)
    assert _same(load_yaml(text), yaml.safe_load(text))


@given(st.lists(st.sampled_from(["a", "1", "true", "null", "'x'", "[1, 2]", "{k: v}", "*x", "&y 3"]), max_size=6))
def test_hand_written_flow_and_anchors(items):
    text = "x: &x [1, 2]\nl: [" + ", ".join(items) + "]\n"
    try:
        expected = yaml.safe_load(text)
    except yaml.YAMLError:
        with pytest.raises(yaml.YAMLError):
            load_yaml(text)
        return
    assert _same(load_yaml(text), expected)


def test_lines_of_mappings_and_keys():
    data = load_yaml("version: 1\ntasks:\n  - id: a\n\n    run: make\n  - {id: b, run: x}\n")
    assert isinstance(data, LineMap) and data.key_lines == {"version": 1, "tasks": 2}
    first, second = data["tasks"]
    assert first.line == 3 and first.key_lines == {"id": 3, "run": 5}
    assert second.line == 6 and second.key_lines["run"] == 6


def test_merge_keys_like_pyyaml():
    text = ("base: &b {x: 1, y: 2}\nother: &o {y: 5, z: 6}\n"
            "one:\n  <<: *b\n  y: 3\nmany:\n  <<: [*b, *o]\n  w: 0\n")
    data = load_yaml(text)
    assert data == yaml.safe_load(text)
    assert data["one"] == {"x": 1, "y": 3} and data["many"] == {"x": 1, "y": 2, "z": 6, "w": 0}
    assert data["one"].key_lines["y"] == 5  # the explicit key's own line
    with pytest.raises(yaml.YAMLError, match="merging"):
        load_yaml("a: &a [1]\nb:\n  <<: *a\n")


def test_alias_bomb_is_refused_with_its_line():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 10)}]")
    with pytest.raises(yaml.YAMLError, match="aliases expand") as info:
        load_yaml("\n".join(lines) + "\n")
    assert info.value.problem_mark.line + 1 <= len(lines)


def test_modest_aliases_are_fine():
    text = "d: &d {repeat: 3}\n" + "".join(f"t{i}: *d\n" for i in range(MIN_ALIAS_BUDGET // 4))
    assert load_yaml(text)["t7"] == {"repeat": 3}


def test_deep_nesting_is_refused_without_crashing():
    for depth in (MAX_DEPTH + 1, 200_000):  # libyaml's own composer would overflow the C stack
        with pytest.raises(yaml.YAMLError, match="nesting deeper"):
            load_yaml("[" * depth + "]" * depth)
    assert load_yaml("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)) is not None


def test_recursive_alias_and_unknown_tag_and_two_documents():
    with pytest.raises(yaml.YAMLError, match="recursive alias"):
        load_yaml("a: &x\n  - *x\n")
    with pytest.raises(yaml.YAMLError, match="!gpu"):
        load_yaml("requires: !gpu\n")
    with pytest.raises(yaml.YAMLError, match="single document"):
        load_yaml("a: 1\n---\nb: 2\n")
    with pytest.raises(yaml.YAMLError, match="undefined alias"):
        load_yaml("a: *nope\n")
    assert load_yaml("") is None


def test_suite_errors_keep_file_and_line(write_suite):
    path = write_suite("version: 1\ntasks:\n  - id: a\n    run: x\n    repat: 3\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert f"{path}:5: tasks[0].repat: unknown key (did you mean 'repeat'?)" in str(info.value)
    bomb = write_suite("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)), name="bomb.yml")
    with pytest.raises(SuiteError) as info:
        load_suite(bomb)
    assert f"{bomb}:" in str(info.value) and "aliases expand" in str(info.value)
