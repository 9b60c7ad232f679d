"""Tests for how text formats read a file: block-wise streaming, bounds, and the naming of
series when names repeat (the fast paths of issue 11's speed work must keep the old meaning).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtf_ci.errors import ResultsFormatError
from dtf_ci.formats import _text, parse_results
from dtf_ci.formats._text import MAX_LINE_BYTES, Collector, iter_lines

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def reference_lines(data: bytes) -> list[tuple[int, str]]:
    """What ``iter_lines`` gave when it read one line at a time (its former implementation),
    but with colour codes removed before the line end's ``\\r`` (a line ending ``\\r ESC[0m``
    is a CRLF line, not a line with a stray ``\\r``)."""
    raws = data.split(b"\n")
    if raws and raws[-1] == b"":
        raws.pop()
    out = []
    for n, raw in enumerate(raws, 1):
        text = raw.decode("utf-8", errors="replace")
        if n == 1:
            text = text.removeprefix("\ufeff")
        out.append((n, _text._ANSI.sub("", text).rstrip("\r")))
    return out


@pytest.fixture
def small_blocks() -> Iterator[None]:
    """Blocks of a few bytes, so that lines, CRLFs and UTF-8 sequences straddle them."""
    before = _text.BLOCK_BYTES
    _text.BLOCK_BYTES = 7
    try:
        yield
    finally:
        _text.BLOCK_BYTES = before


pieces = st.sampled_from(["a", "é", "µs", "\r", "\n", "\r\n", " ", "\x1b[32m", "\x1b[0m",
                          "\ufeff", "Benchmark", "1.5", "\t", "ns/op"])


@SETTINGS
@given(parts=st.lists(pieces, max_size=60), raw_tail=st.binary(max_size=6))
def test_block_reading_gives_the_lines_a_line_reader_gave(
        tmp_path_factory: pytest.TempPathFactory, small_blocks: None, parts: list[str],
        raw_tail: bytes) -> None:
    data = "".join(parts).encode() + raw_tail.replace(b"\x00", b"")
    path = tmp_path_factory.mktemp("lines") / "out.txt"
    path.write_bytes(data)
    expected = reference_lines(data)
    if not any(text.strip() for _, text in expected):
        with pytest.raises(ResultsFormatError, match="empty"):
            list(iter_lines(path, "hint"))
        return
    assert list(iter_lines(path, "hint")) == expected


@pytest.mark.parametrize("block", [7, 4096, 256 * 1024])
def test_a_nul_byte_is_named_by_its_line_whatever_block_it_falls_in(
        tmp_path: Path, block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_text, "BLOCK_BYTES", block)
    path = tmp_path / "out.txt"
    path.write_bytes(b"line\n" * 5000 + b"bad \x00 line\n" + b"line\n" * 10)
    with pytest.raises(ResultsFormatError) as info:
        list(iter_lines(path, "hint"))
    assert info.value.place == "line 5001" and "NUL" in info.value.problem


@pytest.mark.parametrize("block", [4096, 256 * 1024, 2 * 1024 * 1024])
def test_the_line_length_bound_is_exact_across_blocks(
        tmp_path: Path, block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_text, "BLOCK_BYTES", block)
    fits = b"x" * (MAX_LINE_BYTES - 1) + b"\n"  # the bound counts the newline
    path = tmp_path / "ok.txt"
    path.write_bytes(b"first\n" + fits + b"last\n")
    assert [n for n, _ in iter_lines(path, "hint")] == [1, 2, 3]
    path.write_bytes(b"first\nsecond\n" + b"x" * MAX_LINE_BYTES + b"\nlast\n")
    with pytest.raises(ResultsFormatError) as info:
        list(iter_lines(path, "hint"))
    assert info.value.place == "line 3" and "longer than 1024 KiB" in info.value.problem
    path.write_bytes(b"first\n" + b"x" * (3 * MAX_LINE_BYTES))  # no newline at all
    with pytest.raises(ResultsFormatError) as info:
        list(iter_lines(path, "hint"))
    assert info.value.place == "line 2"


def test_repeated_names_are_kept_apart_in_file_order_with_one_note_each(tmp_path: Path) -> None:
    out = Collector(tmp_path / "f")
    got = [out.add(name, 1.0, "s", "lower", n) for n, name in
           enumerate(["a", "b", "a", "a#2", "a", "b"], 1)]
    assert got == ["a", "b", "a#2", "a#2#2", "a#3", "b#2"]
    assert out.result.notes == [
        "'a' appears again at line 3 (first at line 1): kept apart as 'a#2'",
        "'a' appears again at line 5 (first at line 1): kept apart as 'a#3'",
        "'b' appears again at line 6 (first at line 2): kept apart as 'b#2'",
    ]
    assert out.result.tests == 6


def test_same_series_adds_samples_and_still_keeps_other_names_apart(tmp_path: Path) -> None:
    out = Collector(tmp_path / "f")
    assert out.add("x", 1.0, "s", "lower", "line 1", same_series=True) == "x"
    assert out.add("x", 2.0, "s", "lower", "line 2", same_series=True) == "x"
    assert out.add("x", 3.0, "B", "lower", "line 3", same_series=True) == "x#2"  # another unit
    assert [m.metric for m in out.result.measurements] == ["x", "x", "x#2"]
    assert out.result.tests == 2


def test_go_count_line_with_a_metric_the_first_line_lacked_names_it_after_its_benchmark(
        tmp_path: Path) -> None:
    path = tmp_path / "go.txt"
    path.write_text("BenchmarkA-8 10 5 ns/op\nBenchmarkB-8 10 7 ns/op\n"
                    "BenchmarkA-8 10 6 ns/op 3 widgets/op\n")
    got: dict[str, list[float]] = {}
    for m in parse_results("go-bench", path).measurements:
        got.setdefault(m.metric, []).append(m.value)
    assert got == {"BenchmarkA": [5.0, 6.0], "BenchmarkB": [7.0], "BenchmarkA - widgets/op": [3.0]}


def test_go_same_name_in_two_packages_that_already_carry_it_is_kept_apart_and_said(
        tmp_path: Path) -> None:
    # github-action-benchmark leaves out the package suffix when the name carries it; two
    # such benchmarks with one name must not mix their samples.
    path = tmp_path / "go.txt"
    path.write_text("pkg: example.com/a/x\nBenchmarkX_a_x-8 10 5 ns/op\n"
                    "pkg: example.com/b/a/x\nBenchmarkX_a_x-8 10 9 ns/op\n")
    result = parse_results("go-bench", path)
    assert [(m.metric, m.value) for m in result.measurements] == [
        ("BenchmarkX_a_x", 5.0), ("BenchmarkX_a_x#2", 9.0)]
    assert result.notes and "kept apart as 'BenchmarkX_a_x#2'" in result.notes[0]


def test_go_more_measurements_than_the_bound_is_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_text, "MAX_MEASUREMENTS", 5)
    from dtf_ci.formats import go_bench

    monkeypatch.setattr(go_bench, "MAX_MEASUREMENTS", 5)
    path = tmp_path / "go.txt"
    path.write_text("BenchmarkA-8 10 5 ns/op 1 B/op\n" * 4)  # -count 4: samples, 8 in all
    with pytest.raises(ResultsFormatError) as info:
        parse_results("go-bench", path)
    assert info.value.place == "line 3" and "more than 5 measurements" in info.value.problem
