"""The terminal summary says what report.md says, in one line per row, and what it left out."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from dtf_ci import terminal
from dtf_ci.report_format import build_view


def _row(i, verdict="regression", **kw):
    return {"task": "bench", "metric": f"m{i:03d}", "target": "cpu", "unit": "s", "verdict": verdict,
            "ratio": 1.5, "ci_low": 1.4, "ci_high": 1.6, "baseline_median": 1.0, "current_median": 1.5,
            "reason": "", **kw}


def _render(verdicts, monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr("rich.console.Console", lambda **kw: Console(file=out, width=140, force_terminal=False))
    terminal.print_summary(verdicts, Path("rep"))
    return out.getvalue()


def _verdicts(series, units=(), **extra):
    counts = {}
    for r in series:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    return {"overall": "regression", "series": series, "units": list(units), "counts": counts, **extra}


def test_more_rows_than_shown_are_counted(monkeypatch):
    text = _render(_verdicts([_row(i) for i in range(45)] + [_row(99, "unchanged")]), monkeypatch)
    assert "m039" in text and "m040" not in text
    assert "… 6 more series not shown (5 regression, 1 unchanged): see rep/report.md" in text


def test_long_names_are_shortened_in_the_middle_to_one_line(monkeypatch):
    name = "bench/test_attrs_nested.py::test_unstructure_attrs_nested[True-UnstructureStrategy.AS_DICT-" + "x" * 40 + "]"
    assert len(terminal.shorten(name)) == terminal.NAME_WIDTH
    assert terminal.shorten(name).startswith("bench/test_attrs") and terminal.shorten(name).endswith("xxx]")
    text = _render(_verdicts([_row(0, metric=name)]), monkeypatch)
    table_lines = [line for line in text.splitlines() if "│" in line]
    assert len(table_lines) == 1, text  # one row, one line
    assert "Hodges–Lehmann" in text


def test_skipped_dependents_read_as_in_report_and_failures_show_their_output(monkeypatch):
    series = [
        {**_row(0, "failed", ratio=None), "task": "build", "metric": "", "reason": "exited with code 2"},
        {**_row(1, "missing", ratio=None), "task": "bench", "metric": "", "reason": "skipped: dependency build@cpu failed"},
    ]
    units = [
        {"unit": "build@cpu", "status": "failed", "error_category": "test", "reason": "exited with code 2",
         "output_tail": "compiling\nerror: undefined reference to `main'\n"},
        {"unit": "bench@cpu", "status": "skipped", "error_category": "dependency",
         "reason": "skipped: dependency build@cpu failed", "output_tail": ""},
    ]
    text = _render(_verdicts(series, units), monkeypatch)
    assert "skipped (dependency)" in text and "│ missing" not in text
    assert "build@cpu failed (test): exited with code 2" in text
    assert "error: undefined reference to `main'" in text
    view = build_view(_verdicts(series, units))
    assert any(u["status"] == "skipped" and u["category"] == "dependency" for u in view["bad_units"])


def test_busy_host_in_headline_and_beside_rows(monkeypatch):
    series = [_row(0, "unchanged", host_busy="load 4.9 on 2 cores")]
    verdicts = _verdicts(series, **{"host-busy": "host was busy: load 4.9 on 2 cores; results unreliable"})
    verdicts["overall"] = "unchanged"
    text = _render(verdicts, monkeypatch)
    assert "unchanged*" in text and "measured while the host was busy" in text
    assert "host was busy: load 4.9 on 2 cores; results unreliable" in text
    view = build_view(verdicts)
    assert "host was busy: load 4.9 on 2 cores; results unreliable" in view["headline"]
    assert view["state"] == "warn"


def test_report_md_shows_a_failed_units_output_and_names_skipped_dependents_alike():
    from dtf_ci.report import render_comment

    series = [
        {**_row(0, "failed", ratio=None), "task": "build", "metric": "", "reason": "exited with code 2"},
        {**_row(1, "missing", ratio=None), "task": "bench", "metric": "", "reason": "skipped: dependency build@cpu failed"},
    ]
    units = [
        {"unit": "build@cpu", "status": "failed", "error_category": "test", "reason": "exited with code 2",
         "output_tail": "compiling\n```\nerror: undefined reference </details>"},
        {"unit": "bench@cpu", "status": "skipped", "error_category": "dependency",
         "reason": "skipped: dependency build@cpu failed", "output_tail": ""},
    ]
    text = render_comment(_verdicts(series, units))
    assert "1 unit skipped (dependency)" in text.splitlines()[1] and "missing" not in text.splitlines()[1]
    assert "| skipped (dependency) |" in text
    # The output sits in a fence longer than any backtick run in it: it cannot close the block.
    assert "````text\ncompiling\n```\nerror: undefined reference </details>\n````" in text
    assert "Hodges–Lehmann estimate of current ÷ baseline" in text
