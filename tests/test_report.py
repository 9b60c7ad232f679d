"""The report a person reads: PR comment, job summary, dashboard file and badges.

These tests pin what a reader relies on: the first line answers the question, changes come
before non-changes, the comment always fits GitHub's limit, names cannot break the markdown,
and the badge files are what shields.io and an ``<img>`` tag accept.
"""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtf_ci.report import (
    COMMENT_MARKER,
    GITHUB_COMMENT_LIMIT,
    render_comment,
    render_summary,
    text_width,
    write_report,
)
from dtf_ci.report_format import drift_line, fmt_p, fmt_pct, fmt_value, metric_change

SAMPLE = Path(__file__).parent / "data" / "verdicts_sample.json"


@pytest.fixture
def sample() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def series(
    task: str = "sort",
    metric: str = "sort_10k",
    target: str = "cpu",
    verdict: str = "unchanged",
    ratio: float = 1.001,
    **extra: Any,
) -> dict[str, Any]:
    s = {
        "task": task,
        "metric": metric,
        "target": target,
        "unit": "s",
        "direction": "lower",
        "verdict": verdict,
        "ratio": ratio,
        "ci_low": ratio - 0.01,
        "ci_high": ratio + 0.01,
        "p_value": 0.5,
        "baseline_n": 5,
        "current_n": 5,
        "baseline_median": 0.010,
        "current_median": 0.010 * ratio,
        "threshold": 0.03,
        "reason": "",
        "current_values": [0.010 * ratio] * 5,
        "history": [{"run-id": f"r{i}", "median": 0.010} for i in range(15)],
    }
    s.update(extra)
    return s


def verdicts(rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    counts = {
        v: 0
        for v in (
            "regression",
            "improvement",
            "unchanged",
            "inconclusive",
            "new",
            "missing",
            "failed",
        )
    }
    for r in rows:
        counts[r["verdict"]] += 1
    order = ("failed", "regression", "missing", "inconclusive", "improvement", "new", "unchanged")
    doc = {
        "schema": "dtf.verdicts/1",
        "run-id": "20261125T101500Z-abc123",
        "sha": "f" * 40,
        "ref": "refs/heads/main",
        "overall": next((v for v in order if counts[v]), "unchanged"),
        "counts": counts,
        "tested": len(rows),
        "fdr": 0.05,
        "shards": {"accepted": ["cpu-w1-1"], "rejected": [], "absent": []},
        "drift": [],
        "series": rows,
        "units": [],
    }
    doc.update(extra)
    return doc


def many(n_regressions: int, n_unchanged: int) -> dict[str, Any]:
    rows = [
        series(
            task=f"task{i:04d}",
            metric="a_rather_long_metric_name_for_width",
            verdict="regression",
            ratio=1.2 + i / 1e4,
            p_value=1e-4,
        )
        for i in range(n_regressions)
    ]
    rows += [
        series(task=f"steady{i:04d}", metric="another_metric_name", target=f"t{i % 3}")
        for i in range(n_unchanged)
    ]
    return verdicts(rows)


# --- headline ---------------------------------------------------------------------------


def test_comment_starts_with_marker_then_headline(sample: dict[str, Any]) -> None:
    lines = render_comment(sample).splitlines()
    assert lines[0] == COMMENT_MARKER == "<!-- dtf-report -->"
    headline = lines[1]
    assert headline.startswith("### 🔴 ")
    assert "2 regressions on a100, cpu (worst +31.3%)" in headline
    assert "3 units failed on a100, cpu, m2" in headline
    assert "machine problem on mac-mini-07" in headline
    assert "12 series unchanged" in headline


def test_headline_when_nothing_regressed() -> None:
    rows = [series(target=t, metric=f"m{i}") for t in ("cpu", "a100", "m2") for i in range(16)]
    text = render_comment(verdicts(rows))
    assert text.splitlines()[1] == "### 🟢 No regressions in 48 series on 3 targets"


def test_headline_counts_improvements_when_green() -> None:
    rows = [series(metric="fast", verdict="improvement", ratio=0.8), series(metric="same")]
    headline = render_comment(verdicts(rows)).splitlines()[1]
    assert headline == "### 🟢 No regressions in 2 series on 1 target · 1 improvement"


def test_headline_regression_only_names_targets() -> None:
    rows = [
        series(target="a100", verdict="regression", ratio=1.5, p_value=1e-5),
        series(target="cpu", verdict="regression", ratio=1.1, p_value=1e-3),
        *[series(metric=f"m{i}") for i in range(41)],
    ]
    headline = render_comment(verdicts(rows)).splitlines()[1]
    assert headline == "### 🔴 2 regressions on a100, cpu (worst +50.0%) · 41 series unchanged"


# --- order and content ---------------------------------------------------------------------


def test_sections_in_reading_order(sample: dict[str, Any]) -> None:
    text = render_comment(sample, run_url="https://ci.example/run/7")
    assert "https://github.com/example/" not in text  # the argument wins over verdicts' run-url
    marks = [
        "#### Changed",
        "#### Failed and missing units",
        "#### Inconclusive",
        "#### New series",
        "<details><summary>12 unchanged series</summary>",
        "#### Notes",
        "[Full report and dashboard](https://ci.example/run/7)",
    ]
    positions = [text.index(m) for m in marks]
    assert positions == sorted(positions)
    changed = text[text.index("#### Changed") : text.index("#### Failed")]
    rows = [
        line for line in changed.splitlines() if line.startswith("| 🔴") or line.startswith("| 🟢")
    ]
    assert [r[:3] for r in rows] == ["| 🔴", "| 🔴", "| 🟢", "| 🟢"]
    assert "**+31.3%** (+29.7% … +32.9%) | &lt;0.001 | 12.0 ms → 15.8 ms" in rows[0]


def test_notes_name_rejected_shards_drift_and_fdr(sample: dict[str, Any]) -> None:
    notes = render_comment(sample).split("#### Notes", 1)[1]
    assert "Shard **a100-w1-2** rejected: sha256 differs from the manifest" in notes
    assert "Machine problem on host mac-mini-07 (target m2): 4 of 6 series ×1.18 together" in notes
    assert "22 series tested, false discovery rate 5%" in notes


def test_failed_and_missing_units_have_reasons(sample: dict[str, Any]) -> None:
    text = render_comment(sample)
    section = text[text.index("#### Failed and missing units") : text.index("#### Inconclusive")]
    assert "llm-decode@a100 | failed (timeout) | timeout: no result after 15m" in section
    assert "attention@a100 | missing (infrastructure)" in section
    assert "e2e-serve@a100 | skipped (dependency)" in section
    assert section.index("failed (") < section.index("missing (") < section.index("skipped (")


def test_run_link_comes_from_the_argument_or_verdicts(sample: dict[str, Any]) -> None:
    assert "[Full report and dashboard](https://github.com/example/" in render_comment(sample)
    del sample["run-url"]
    assert "Full report and dashboard" not in render_comment(sample)


def test_notes_include_plan_notes_and_unschedulable_tasks(sample: dict[str, Any]) -> None:
    notes = render_comment(sample).split("#### Notes", 1)[1]
    assert "- No token may list runners: planned from the suite's targets." in notes
    assert "- Task rocm-gemm runs on no target (cpu: requires gpu: no such label" in notes


# --- formatting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (4.2e-7, "s", "420 ns"),
        (8.4e-5, "s", "84.0 µs"),
        (0.012, "s", "12.0 ms"),
        (1.84, "s", "1.84 s"),
        (142.0, "s", "142 s"),
        (1500.0, "ms", "1.50 s"),
        (250.0, "ns", "250 ns"),
        (1.85e6, "tokens/s", "1.85 M tokens/s"),
        (512.0, "MB/s", "512 MB/s"),
        (None, "s", "—"),
    ],
)
def test_values_get_human_units(value: float | None, unit: str, text: str) -> None:
    assert fmt_value(value, unit) == text


def test_percent_and_p_value_formats() -> None:
    assert fmt_pct(1.312) == "+31.2%"
    assert fmt_pct(0.87) == "−13.0%"
    assert fmt_pct(1.0) == "±0.0%"
    assert fmt_p(8e-5) == "<0.001"
    assert fmt_p(0.0234) == "0.023"
    assert fmt_p(None) == "—"


def test_direction_aware_ratio_is_shown_as_metric_change() -> None:
    # A throughput that fell from 100 to 80 with a ratio given as baseline/current (1.25).
    s = {
        "ratio": 1.25,
        "ci_low": 1.2,
        "ci_high": 1.3,
        "baseline_median": 100.0,
        "current_median": 80.0,
    }
    ratio, low, high = metric_change(s)
    assert ratio == pytest.approx(0.8)
    assert low == pytest.approx(1 / 1.3) and high == pytest.approx(1 / 1.2)
    s["ratio"], s["ci_low"], s["ci_high"] = 0.8, 0.75, 0.85
    assert metric_change(s) == (0.8, 0.75, 0.85)


def table_cells(line: str) -> list[str]:
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def test_pipes_and_backticks_in_names_cannot_break_tables() -> None:
    rows = [
        series(
            task="a|b`c",
            metric="x``y|*z*",
            target="gpu|1",
            verdict="regression",
            ratio=1.4,
            p_value=1e-4,
        ),
        series(task="<img src=x>", metric="m", verdict="unchanged"),
    ]
    text = render_comment(verdicts(rows))
    header = next(line for line in text.splitlines() if line.startswith("| | Task"))
    row = next(line for line in text.splitlines() if "a\\|b" in line)
    assert len(table_cells(row)) == len(table_cells(header)) == 7
    assert "a\\|b\\`c" in row and "x\\`\\`y\\|\\*z\\*" in row and "gpu\\|1" in row
    assert "<img" not in text


# --- size limits -------------------------------------------------------------------------


def test_unchanged_details_are_dropped_first() -> None:
    doc = many(n_regressions=3, n_unchanged=400)
    full = render_comment(doc, max_chars=10**7)
    assert "<details>" in full
    limit = len(full) - 100
    text = render_comment(doc, max_chars=limit)
    assert len(text) <= limit
    assert "<details>" not in text
    assert "400 unchanged series are not listed here" in text
    assert text.count("| 🔴 |") == 3


def test_tables_are_truncated_with_a_note_under_the_limit() -> None:
    doc = many(n_regressions=2000, n_unchanged=500)
    text = render_comment(doc, max_chars=60000)
    assert len(text) <= 60000
    assert text.startswith(COMMENT_MARKER)
    match = re.search(r"… (\d+) more rows not shown; see the dashboard", text)
    assert "The full report is in the dashboard (`index.html` in the dtf report artifact)" in text
    assert match
    shown = text.count("| 🔴 |")
    assert shown + int(match.group(1)) == 2000
    assert shown > 100  # the cut keeps as many rows as fit, not a token few


@settings(max_examples=25, deadline=None)
@given(limit=st.integers(min_value=200, max_value=40000))
def test_comment_never_exceeds_any_limit(limit: int) -> None:
    text = render_comment(many(n_regressions=300, n_unchanged=300), max_chars=limit)
    assert len(text) <= limit
    assert text.startswith(COMMENT_MARKER)


def test_summary_has_same_content_without_marker(sample: dict[str, Any]) -> None:
    summary = render_summary(sample)
    comment = render_comment(sample)
    assert not summary.startswith(COMMENT_MARKER)
    assert summary.strip() == comment.replace(COMMENT_MARKER + "\n", "", 1).strip()


def test_summary_is_trimmed_to_bytes_with_a_note() -> None:
    doc = many(n_regressions=3000, n_unchanged=3000)
    for row in doc["series"]:
        row["task"] += "_ünïcödé_✓"  # multi-byte characters: the limit is in bytes
    limit = 200_000
    text = render_summary(doc, max_bytes=limit)
    assert len(text.encode("utf-8")) <= limit
    assert "more rows not shown" in text
    assert len(render_summary(doc).encode("utf-8")) <= 1_000_000


def test_broken_input_still_gives_a_report() -> None:
    assert render_comment({}).startswith(COMMENT_MARKER)
    weird = {
        "overall": "regression",
        "series": [None, 3, {"verdict": "regression"}],
        "units": "nope",
        "shards": None,
        "drift": ["host x is slow", {"hostname": "h"}],
    }
    text = render_comment(weird)
    assert text.startswith(COMMENT_MARKER)


# --- files and badges --------------------------------------------------------------------------


def test_write_report_writes_every_file(sample: dict[str, Any], tmp_path: Path) -> None:
    written = write_report(sample, tmp_path / "report", run_url="https://ci.example/run/7")
    expected = {"report.md", "summary.md", "index.html", "badges/dtf.svg", "badges/dtf.json"}
    for target in ("a100", "cpu", "m2"):
        expected |= {f"badges/target-{target}.svg", f"badges/target-{target}.json"}
    assert set(written) == expected
    for rel, path in written.items():
        assert path == tmp_path / "report" / rel and path.is_file()
    assert not list((tmp_path / "report").rglob("*.tmp"))


def test_badges_are_valid_svg_and_shields_endpoints(sample: dict[str, Any], tmp_path: Path) -> None:
    write_report(sample, tmp_path)
    for svg_path in (tmp_path / "badges").glob("*.svg"):
        root = ET.parse(svg_path).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert float(root.get("width", "0")) > 40 and root.get("height") == "20"
        endpoint = json.loads(svg_path.with_suffix(".json").read_text(encoding="utf-8"))
        assert set(endpoint) == {"schemaVersion", "label", "message", "color"}
        assert endpoint["schemaVersion"] == 1
        texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
        assert endpoint["label"] in texts and endpoint["message"] in texts
    overall = json.loads((tmp_path / "badges" / "dtf.json").read_text(encoding="utf-8"))
    assert overall == {"schemaVersion": 1, "label": "dtf", "message": "3 failed", "color": "red"}


@pytest.mark.parametrize(
    ("verdict", "color", "message"),
    [
        ("regression", "red", "1 regression"),
        ("missing", "orange", "1 missing"),
        ("inconclusive", "yellow", "1 inconclusive"),
        ("unchanged", "brightgreen", "no regressions"),
    ],
)
def test_badge_colors_follow_the_worst_verdict(
    verdict: str, color: str, message: str, tmp_path: Path
) -> None:
    write_report(verdicts([series(verdict=verdict), series(metric="b")]), tmp_path)
    endpoint = json.loads((tmp_path / "badges" / "target-cpu.json").read_text(encoding="utf-8"))
    assert (endpoint["color"], endpoint["message"]) == (color, message)


def test_badge_escapes_odd_titles_and_target_names(tmp_path: Path) -> None:
    doc = verdicts([series(target="gpu <A&B>/x")])
    written = write_report(doc, tmp_path, title='perf "<&>"')
    assert "badges/target-gpu-A-B-x.svg" in written
    root = ET.parse(tmp_path / "badges" / "dtf.svg").getroot()
    assert root.get("aria-label") == 'perf "<&>": no regressions'
    assert text_width("mmm") > text_width("iii")


def test_dashboard_embeds_data_safely(tmp_path: Path) -> None:
    nasty = "</script><script>alert(1)</script><!--"
    doc = verdicts([series(task=nasty, metric="m\u2028n")])
    write_report(copy.deepcopy(doc), tmp_path)
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    payload = re.search(r'<script type="application/json" id="dtf-data">(.*?)</script>', html, re.S)
    assert payload
    assert "<" not in payload.group(1)
    data = json.loads(payload.group(1))
    first = dict(zip(data["fields"], data["series"][0], strict=True))  # columns, one row per series
    assert first["task"] == nasty and first["metric"] == "m\u2028n"
    assert "<script>alert(1)" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from anywhere


def test_drift_findings_read_as_sentences() -> None:
    aggregate_shape = {
        "host": "9f1c2a7b4e0d3c55",
        "hostname": "gpu-box-3",
        "target": "a100",
        "factor": 1.2213,
        "series_count": 40,
        "share": 0.95,
        "series": [f"task/m{i}" for i in range(38)],
    }
    expected = "machine problem on host gpu-box-3 (target a100): 38 of 40 series ×1.22 together"
    assert drift_line(aggregate_shape) == expected
    del aggregate_shape["series"]
    assert drift_line(aggregate_shape) == expected
    assert (
        drift_line({"host": "9f1c", "reason": "slow disk"})
        == "machine problem on host 9f1c: slow disk"
    )
    assert drift_line("host x is slow") == "host x is slow"


def test_monorepo_comment_20000_series_500_regressions_fits_worst_first(monkeypatch) -> None:
    """Issue 13: 20,000 series, 500 regressions with long names; GitHub's 65,536 limit holds,
    the worst regressions come first, the rest are counted and linked to the dashboard."""
    monkeypatch.setenv("DTF_DASHBOARD_URL", "https://example.github.io/repo/dtf/")
    targets = ["cpu", "a100", "h100", "mac"]
    rows = [
        series(task=f"g{i % 40:02d}.a_long_benchmark_name_from_a_monorepo/{i:05d}/threads:8",
               metric="real_time", target=targets[i % 4], verdict="regression",
               ratio=1.05 + ((i * 7919) % 500) / 500, p_value=1e-4)
        for i in range(500)
    ]
    rows += [series(task=f"g{i % 40:02d}.steady{i:05d}", metric="real_time", target=targets[i % 4])
             for i in range(19_500)]
    text = render_comment(verdicts(rows), max_chars=GITHUB_COMMENT_LIMIT)
    assert len(text) <= GITHUB_COMMENT_LIMIT
    shown = [float(m) for m in re.findall(r"\| 🔴 \|.*?\*\*\+([\d.]+)%\*\*", text)]
    assert len(shown) > 100 and shown == sorted(shown, reverse=True)
    assert shown[0] > 100  # the worst (+104%) regression is the first row
    match = re.search(r"… (\d+) more rows not shown; see the dashboard "
                      r"\(\[open it\]\(https://example\.github\.io/repo/dtf/\)\): (\d+) regressions\.", text)
    assert match and int(match.group(1)) == int(match.group(2)) == 500 - len(shown)
    assert "19500 unchanged series are not listed here; see the dashboard ([open it](https://example" in text


def test_dashboard_link_is_only_an_http_address(monkeypatch) -> None:
    from dtf_ci.report import dashboard_url

    monkeypatch.setenv("DTF_DASHBOARD_URL", "javascript:alert(1)")
    assert dashboard_url("https://ci.example/run/1") is None
    monkeypatch.setenv("DTF_DASHBOARD_URL", "https://x.example/a) [evil](https://y")
    assert dashboard_url(None) is None
    monkeypatch.delenv("DTF_DASHBOARD_URL")
    assert dashboard_url("https://ci.example/run/1") == "https://ci.example/run/1"
