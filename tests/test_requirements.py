"""Requirement parsing, version and size comparison, and label conventions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dtf_ci.errors import RequirementError
from dtf_ci.requirements import (
    compare_versions,
    facts_from_labels,
    merge_facts,
    parse_requirement,
    parse_size,
)

A100 = frozenset({"self-hosted", "linux", "x64", "gpu-a100", "cuda-12.4", "mem-64g"})
CPU = frozenset({"self-hosted", "linux", "x64", "cpu"})


def check(text: str, labels: frozenset[str] = A100, facts: dict[str, str] | None = None) -> str | None:
    return parse_requirement(text).check(labels, facts or {})


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("12.10", "12.9", 1), ("12.9", "12.10", -1), ("12", "12.0", 0), ("12.0.1", "12", 1),
    ("11.8", "12", -1), ("v2.1", "2.1", 0), ("12.4rc1", "12.4", -1), ("535.104.05", "535.54", 1),
])
def test_compare_versions(a: str, b: str, expected: int) -> None:
    assert compare_versions(a, b) == expected


@pytest.mark.parametrize(("text", "unit", "expected"), [
    ("64g", "", 64 * 2**30), ("64GiB", "", 64 * 2**30), ("64GB", "", 64 * 2**30),
    ("512m", "", 512 * 2**20), ("40", "g", 40 * 2**30), ("1.5t", "", 1.5 * 2**40), ("100", "", 100.0),
])
def test_parse_size(text: str, unit: str, expected: float) -> None:
    assert parse_size(text, default_unit=unit) == expected


def test_parse_size_rejects_words() -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


@pytest.mark.parametrize("text", ["gpu", "!windows", "cuda>=12", "gpu-memory-gb>=40",
                                  "arch==x86_64", "memory>=64g", "gpu-count>=2", "os!=windows"])
def test_parse_accepts(text: str) -> None:
    assert str(parse_requirement(text)) == text


@pytest.mark.parametrize(("text", "fragment"), [
    ("cuda>=", "no value after '>='"),
    (">=12", "no fact name"),
    ("cuda>>4", "cannot be read"),
    ("cuda=12", "write '=='"),
    ("", "empty"),
    ("two words", "cannot be read"),
])
def test_parse_errors_name_the_requirement(text: str, fragment: str) -> None:
    with pytest.raises(RequirementError) as info:
        parse_requirement(text)
    message = str(info.value)
    assert repr(text.strip()) in message
    assert fragment in message
    assert "cuda>=12" in message  # the expected form is shown


@pytest.mark.parametrize(("text", "labels", "facts", "ok"), [
    ("gpu", A100, {}, True),
    ("gpu", CPU, {}, False),
    ("gpu", CPU, {"gpu": "false"}, False),
    ("gpu", CPU, {"gpu": "nvidia"}, True),
    ("nvidia", A100, {}, True),
    ("amd", A100, {}, False),
    ("a100", A100, {}, True),
    ("cuda>=12", A100, {}, True),
    ("cuda>=12.10", A100, {}, False),
    ("cuda>=12.10", A100, {"cuda": "12.10"}, True),
    ("cuda<12", A100, {}, False),
    ("gpu-memory-gb>=40", A100, {"gpu-memory-gb": "80"}, True),
    ("gpu-memory-gb>=40", A100, {"gpu-memory-gb": "24"}, False),
    ("memory>=64g", A100, {}, True),
    ("memory>=65g", A100, {}, False),
    ("memory-gb>=32", A100, {}, True),
    ("memory>=32768m", A100, {}, True),
    ("arch==x86_64", A100, {}, True),
    ("arch==x64", A100, {}, True),
    ("arch==arm64", A100, {}, False),
    ("!windows", A100, {}, True),
    ("!linux", A100, {}, False),
    ("!gpu", CPU, {}, True),
    ("os==linux", CPU, {}, True),
    ("gpu-count>=2", A100, {"gpu-count": "4"}, True),
    ("gpu-count>=2", A100, {}, False),
    ("self-hosted", CPU, {}, True),
])
def test_check(text: str, labels: frozenset[str], facts: dict[str, str], ok: bool) -> None:
    assert (check(text, labels, facts) is None) is ok


def test_reasons_are_short_and_say_what_failed() -> None:
    assert check("cuda>=12", A100, {"cuda": "11.8"}) == "cuda 11.8 < 12"
    assert check("gpu", CPU) == "no label or fact 'gpu'"
    assert check("cuda>=12", CPU) == "no fact 'cuda'"
    assert check("!linux") == "has 'linux'"
    assert check("memory>=65g") == "memory 64g < 65g"


def test_label_case_is_ignored() -> None:
    labels = frozenset({"self-hosted", "Linux", "X64", "GPU-A100"})
    assert check("linux", labels) is None
    assert check("arch==x86_64", labels) is None
    assert check("gpu", labels) is None


def test_facts_from_labels_conventions() -> None:
    facts = facts_from_labels(["self-hosted", "linux", "x64", "gpu-a100", "cuda-12.4", "mem-64g",
                               "gpu-count-4", "gpu-mem-80g"])
    assert facts == {"os": "linux", "arch": "x86_64", "gpu": "nvidia", "gpu-model": "a100",
                     "cuda": "12.4", "memory-gb": "64", "gpu-count": "4", "gpu-memory-gb": "80"}
    assert facts_from_labels(["ubuntu-latest"]) == {"os": "linux", "arch": "x86_64"}
    assert facts_from_labels(["ubuntu-24.04-arm"])["arch"] == "arm64"
    assert facts_from_labels(["gpu-mi300x", "rocm-6.1"])["gpu"] == "amd"
    assert facts_from_labels(["4gpu"])["gpu-count"] == "4"
    assert facts_from_labels(["gpu"]) == {"gpu": "true"}
    assert facts_from_labels(["cpu", "linux"]) == {"os": "linux"}


def test_merge_facts_first_source_wins() -> None:
    merged = merge_facts({"cuda": "12.4"}, {"cuda": "12.2", "gpu": "nvidia"}, {"os": "linux"})
    assert merged == {"cuda": "12.4", "gpu": "nvidia", "os": "linux"}


def test_suite_fact_beats_label_convention() -> None:
    # The label says cuda-12.4, the suite says the driver really has 11.8.
    assert check("cuda>=12", A100, {"cuda": "11.8"}) == "cuda 11.8 < 12"


# --- properties ---------------------------------------------------------------------------------

_cmp, _parse = compare_versions, parse_requirement

_versions = st.lists(st.integers(0, 30), min_size=1, max_size=4).map(lambda xs: ".".join(map(str, xs)))


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_a_requirement_error(text):
    try:
        req = _parse(text)
    except RequirementError as exc:
        assert str(exc)
        if text.strip().isprintable() and text.strip():
            named = text.strip() in str(exc) or repr(text.strip()) in str(exc)
            assert named, "the message must name the requirement"
        return
    reason = req.check(frozenset({"linux", "gpu"}), {"cuda": "12.4", "gpu-memory-gb": "80"})
    assert reason is None or isinstance(reason, str)


@given(_versions, _versions, _versions)
def test_version_order_is_a_total_order(a, b, c):
    assert _cmp(a, a) == 0
    assert _cmp(a, b) == -_cmp(b, a)
    if _cmp(a, b) <= 0 and _cmp(b, c) <= 0:
        assert _cmp(a, c) <= 0


@given(_versions, _versions)
def test_comparison_requirements_agree_with_compare_versions(have, want):
    facts = {"cuda": have}
    assert (_parse(f"cuda>={want}").check(frozenset(), facts) is None) == (_cmp(have, want) >= 0)
    assert (_parse(f"cuda<{want}").check(frozenset(), facts) is None) == (_cmp(have, want) < 0)
