"""A format parser's notes (a duplicate benchmark name kept apart, a summary row left out)
reach the people reading the run: `dtf run`'s log, the unit's record in the shard, and the
aggregate report (issue 11). Before, only `dtf parse` showed them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dtf_ci.report_format import build_view
from dtf_ci.run import NOTES_SHOWN, execute_shard, notes_reason
from tests.helpers import make_plan

# cargo's libtest output naming one benchmark twice: the second is kept apart as `a#2`.
CARGO = ("test a ... bench:         1,200 ns/iter (+/- 30)\\n"
         "test b ... bench:           900 ns/iter (+/- 20)\\n"
         "test a ... bench:         1,250 ns/iter (+/- 25)\\n")
NOTE = "'a' appears again at line 3 (first at line 1): kept apart as 'a#2'"


def _write_results(tmp_path: Path) -> str:
    script = tmp_path / "bench.py"
    script.write_text(f"import sys\nopen(sys.argv[1], 'w').write('{CARGO}')\n")
    return f"{sys.executable} {script} {{results}}"


def test_notes_go_into_the_units_reason_once_for_all_repetitions(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, {"t": {"run": _write_results(tmp_path), "format": "cargo", "repeat": 3}})
    (result,) = execute_shard(plan, "local-w1-1", tmp_path / "out")
    assert result.status == "passed" and result.notes == [NOTE]
    (db,) = (tmp_path / "out").glob("*.duckdb")
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT status, error_category, reason FROM units").fetchall()
        metrics = {m for (m,) in con.execute("SELECT DISTINCT metric FROM samples").fetchall()}
    finally:
        con.close()
    assert rows == [("passed", "", f"parse notes: {NOTE}")]
    assert metrics == {"a", "b", "a#2"}  # the samples stay apart, as the note says


def test_many_notes_are_bounded_and_counted() -> None:
    notes = [f"note {i}" for i in range(NOTES_SHOWN + 4)]
    reason = notes_reason(notes)
    assert reason.startswith("parse notes: note 0; note 1") and reason.endswith("… and 4 more")
    assert notes_reason([]) == "" and len(notes_reason(["x" * 10_000])) <= 4000


def test_the_report_shows_parse_notes_of_passed_units_only() -> None:
    units = [
        {"unit": "t@local", "status": "passed", "error_category": "", "reason": f"parse notes: {NOTE}"},
        {"unit": "u@local", "status": "failed", "error_category": "parse",
         "reason": "results of repetition 0: line 2: expected ..."},
        {"unit": "v@local", "status": "passed", "error_category": "infrastructure",
         "reason": "base: the base revision failed"},
        {"unit": "w@local", "status": "passed", "error_category": "", "reason": ""},
    ]
    notes = build_view({"series": [], "units": units})["notes"]
    assert [n for n in notes if "arse notes" in n] == [f"Parse notes for t@local: {NOTE}."]
    assert not any("u@local" in n or "v@local" in n or "w@local" in n for n in notes)


@pytest.mark.slow
def test_dtf_local_logs_the_note_and_the_report_shows_it(tmp_path: Path) -> None:
    (tmp_path / "bench.py").write_text(f"import sys\nopen(sys.argv[1], 'w').write('{CARGO}')\n")
    (tmp_path / "dtf.yml").write_text(
        "version: 1\ntasks:\n  - id: dup\n    run: python bench.py {results}\n"
        "    format: cargo\n    repeat: 2\n")
    done = subprocess.run([sys.executable, "-m", "dtf_ci", "local", "--suite", "dtf.yml", "--no-progress"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(NOTE) >= 1  # dtf run's warning (and the report's note)
    report = (tmp_path / ".dtf" / "report" / "report.md").read_text()
    assert "Parse notes for dup@" in report and "kept apart as" in report
    verdicts = json.loads((tmp_path / ".dtf" / "report" / "verdicts.json").read_text())
    (unit,) = [u for u in verdicts["units"] if u["unit"].startswith("dup@")]
    assert unit["status"] == "passed" and unit["reason"] == f"parse notes: {NOTE}"
