"""``dtf history compact`` on the folder store: every value kept, run ids kept, idempotent,
crash leftovers read once and cleaned up, retention, clear errors, and the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtf_ci.errors import HistoryError, UsageError
from dtf_ci.history import (
    MONTH_SCHEMA,
    TABLES,
    LocalStore,
    run_files,
    series_history,
    target_facts,
    unit_durations,
)
from dtf_ci.history_compact import Retention, compact, plan_compaction
from tests.test_history import make_source_db, meta

REPO = Path(__file__).resolve().parent.parent


def add(store: LocalStore, tmp: Path, run_id: str, created_at: str, value: float) -> None:
    db = make_source_db(tmp / f"src-{run_id}.duckdb", run_id, facts={"arch": "x86_64", "run": run_id},
                        samples={("sort", "sort_10k"): [value, value * 1.01, value * 0.99],
                                 ("sort", "sort_1m"): [value * 10, value * 10.2]},
                        units={"sort": ("passed", value), "build": ("failed", value / 2)})
    store.append(meta(run_id, created_at), db)
    db.unlink()


def snapshot(store: LocalStore) -> dict[str, Any]:
    """Everything a reader can get out of the store: runs (ids, metadata) and every row of every table."""
    runs = store.runs()
    out: dict[str, Any] = {"runs": [(r.run_id, r.created_at, r.sha, r.branch,
                                     {k: v for k, v in r.meta.items()}) for r in runs]}
    con = duckdb.connect()
    try:
        for table in TABLES:
            files = run_files(runs, table)
            rows = con.execute("SELECT * FROM read_parquet($f, union_by_name=true) "
                               "WHERE run_id IN (SELECT unnest($ids))",
                               {"f": files, "ids": [r.run_id for r in runs]}).fetchall() if files else []
            out[table] = sorted(rows, key=repr)
    finally:
        con.close()
    out["series"] = series_history(store, max_runs=1000)
    out["durations"] = unit_durations(store)
    out["facts"] = target_facts(store)
    return out


def month_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            and ".locks" not in p.parts}


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    s = LocalStore(tmp_path / "h")
    days = ["2026-09-03", "2026-09-20", "2026-10-01", "2026-10-15", "2026-10-30", "2026-11-02", "2026-11-20"]
    for i, day in enumerate(days):
        add(s, tmp_path, f"r{i}", f"{day}T10:00:00Z", 1.0 + i / 10)
    return s


def test_compact_merges_old_runs_by_month_and_keeps_every_value(store: LocalStore) -> None:
    before = snapshot(store)
    result = compact(store, Retention(keep_runs=2))

    assert result.moved == ["r0", "r1", "r2", "r3", "r4"] and result.dropped == []
    assert result.months == ["2026-09", "2026-10"]
    root = store.root()
    assert sorted(p.name for p in (root / "runs").iterdir()) == ["r5", "r6"]
    assert sorted(p.name for p in (root / "months").iterdir()) == ["2026-09", "2026-10"]
    index = json.loads((root / "months" / "2026-10" / "runs.json").read_text())
    assert index["schema"] == MONTH_SCHEMA and [r["run-id"] for r in index["runs"]] == ["r2", "r3", "r4"]
    assert index["rows"] == {"samples": 15, "units": 6, "hosts": 3}
    runs = store.runs()
    assert [(r.run_id, r.compacted) for r in runs] == [
        ("r0", True), ("r1", True), ("r2", True), ("r3", True), ("r4", True), ("r5", False), ("r6", False)]
    assert runs[0].path == root / "months" / "2026-09"
    assert snapshot(store) == before  # every value, every run id, every reader's answer
    # Plain DuckDB reads the compacted layout too.
    n = duckdb.execute(f"SELECT count(*) FROM read_parquet(['{root}/runs/*/samples.parquet', "
                       f"'{root}/months/*/samples.parquet'], union_by_name=true)").fetchone()
    assert n == (35,)


def test_compact_again_changes_nothing(store: LocalStore) -> None:
    compact(store, Retention(keep_runs=2))
    files = month_files(store.root())
    again = compact(store, Retention(keep_runs=2))
    assert again.moved == [] and again.months == [] and "nothing to do" in again.describe("h")
    assert month_files(store.root()) == files


def test_later_runs_merge_into_an_existing_month(store: LocalStore, tmp_path: Path) -> None:
    compact(store, Retention(keep_runs=4))  # r0..r2 compacted: 2026-09 whole, 2026-10 with r2 only
    add(store, tmp_path, "r7", "2026-12-01T10:00:00Z", 9.0)
    add(store, tmp_path, "late", "2026-10-20T10:00:00Z", 7.0)  # a late run in a compacted month
    before = snapshot(store)
    result = compact(store, Retention(keep_runs=1))
    assert result.months == ["2026-10", "2026-11"]
    index = json.loads((store.root() / "months" / "2026-10" / "runs.json").read_text())
    assert [r["run-id"] for r in index["runs"]] == ["r2", "r3", "late", "r4"]
    assert sorted(p.name for p in (store.root() / "months").iterdir()) == ["2026-09", "2026-10", "2026-11"]
    assert snapshot(store) == before


def test_retention_drops_old_runs_by_count_and_by_age(store: LocalStore) -> None:
    compact(store, Retention(keep_runs=3))
    result = compact(store, Retention(keep_runs=3, retain_runs=5))
    assert result.dropped == ["r0", "r1"]
    assert [r.run_id for r in store.runs()] == ["r2", "r3", "r4", "r5", "r6"]
    assert not (store.root() / "months" / "2026-09").exists()  # a month left empty is removed
    result = compact(store, Retention(keep_runs=3, retain_days=30,
                                      as_of=datetime(2026, 11, 25, tzinfo=timezone.utc)))
    assert result.dropped == ["r2", "r3"]  # created before 2026-10-26
    assert [r.run_id for r in store.runs()] == ["r4", "r5", "r6"]
    assert series_history(store)[("sort", "sort_10k", "cpu")][0][0] == "r4"


def test_a_compaction_cut_short_is_read_once_and_cleaned_up(
        store: LocalStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    before = snapshot(store)
    root = store.root()
    # Cut short after the month was renamed into place, before its runs' folders were removed:
    saved = {rid: root / "saved" / rid for rid in ("r2", "r3", "r4")}
    for rid, where in saved.items():
        shutil.copytree(root / "runs" / rid, where)
    compact(store, Retention(keep_runs=2))
    for rid, where in saved.items():
        shutil.copytree(where, root / "runs" / rid)
    shutil.rmtree(root / "saved")
    # ... and a second month folder of a crash, plus a half-written one.
    shutil.copytree(root / "months" / "2026-10", root / "months" / "2026-10.a1b2")
    shutil.copytree(root / "months" / "2026-09", root / "months" / ".tmp-2026-09+1.ff")
    (root / "months" / ".tmp-2026-09+1.ff" / "runs.json").unlink()
    capsys.readouterr()

    assert snapshot(store) == before  # each run once
    assert ".tmp-2026-09+1.ff" in capsys.readouterr().err
    compact(store, Retention(keep_runs=2))
    assert sorted(p.name for p in (root / "months").iterdir()) == ["2026-09", "2026-10"]
    assert sorted(p.name for p in (root / "runs").iterdir()) == ["r5", "r6"]
    assert snapshot(store) == before


def test_a_compacted_run_is_not_appended_again(store: LocalStore, tmp_path: Path) -> None:
    compact(store, Retention(keep_runs=1))
    with pytest.raises(HistoryError, match="r0 is already there .compacted"):
        add(store, tmp_path, "r0", "2026-12-01T10:00:00Z", 5.0)


def test_an_unreadable_run_stops_compaction_and_changes_nothing(store: LocalStore) -> None:
    bad = store.root() / "runs" / "r1" / "samples.parquet"
    data = bad.read_bytes()
    bad.write_bytes(data[:4] + b"\0" * (len(data) - 8) + data[-4:])  # whole magic bytes, broken inside
    files = month_files(store.root())
    with pytest.raises(HistoryError) as caught:
        compact(store, Retention(keep_runs=2))
    assert "2026-09" in str(caught.value) and "samples.parquet" in str(caught.value)
    assert "dtf history drop" in str(caught.value) and "nothing was changed" in str(caught.value)
    assert month_files(store.root()) == files


def test_bad_settings_are_usage_errors(store: LocalStore) -> None:
    for bad in (Retention(keep_runs=-1), Retention(retain_days=0), Retention(retain_runs=0)):
        with pytest.raises(UsageError):
            compact(store, bad)


def test_dry_run_says_what_would_change_and_changes_nothing(store: LocalStore) -> None:
    files = month_files(store.root())
    result = compact(store, Retention(keep_runs=2, retain_runs=6), dry_run=True)
    assert result.moved == ["r1", "r2", "r3", "r4"] and result.dropped == ["r0"]
    assert "would merge 4 runs" in result.describe("h", dry_run=True)
    assert month_files(store.root()) == files


def test_the_cli_compacts_and_reports(store: LocalStore) -> None:
    def dtf(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dtf_ci", "history", "compact", *args],
                              cwd=REPO, text=True, capture_output=True, timeout=300)

    before = snapshot(store)
    done = dtf("--history", str(store.root()), "--keep-runs", "3")
    assert done.returncode == 0, done.stderr
    assert "merged 4 runs into 2 month folder(s) (2026-09, 2026-10)" in done.stdout
    assert snapshot(store) == before
    again = dtf("--history", str(store.root()), "--keep-runs", "3")
    assert again.returncode == 0 and "nothing to do" in again.stdout
    bad = dtf("--history", str(store.root()), "--retain-runs", "0")
    assert bad.returncode == 2 and "--retain-runs 0" in bad.stderr
    missing = dtf("--history", str(store.root()) + "-typo")
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    bad_date = dtf("--history", str(store.root()), "--as-of", "yesterday")
    assert bad_date.returncode == 2 and "--as-of 'yesterday'" in bad_date.stderr
    helped = subprocess.run([sys.executable, "-m", "dtf_ci", "history", "compact", "--help"],
                            cwd=REPO, text=True, capture_output=True, timeout=120)
    assert "--retain-days" in helped.stdout and "--keep-runs" in helped.stdout


@settings(max_examples=8)
@given(days=st.lists(st.integers(min_value=0, max_value=150), min_size=1, max_size=6),
       keep=st.integers(min_value=0, max_value=4), retain=st.one_of(st.none(), st.integers(1, 6)))
def test_compaction_keeps_exactly_the_retained_runs_and_their_values(
        tmp_path_factory: pytest.TempPathFactory, days: list[int], keep: int, retain: int | None) -> None:
    tmp = tmp_path_factory.mktemp("prop")
    store = LocalStore(tmp / "h")
    for i, d in enumerate(days):
        when = datetime.fromtimestamp(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp() + d * 86400,
                                      tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        add(store, tmp, f"p{i}", when, 1.0 + i)
    before = snapshot(store)
    expect = [r[0] for r in before["runs"]][-retain:] if retain else [r[0] for r in before["runs"]]
    plan = plan_compaction(store, Retention(keep_runs=keep, retain_runs=retain))
    compact(store, Retention(keep_runs=keep, retain_runs=retain))
    after = snapshot(store)
    assert [r[0] for r in after["runs"]] == expect
    assert {r.run_id for r in plan.dropped} == {r[0] for r in before["runs"]} - set(expect)
    for table in TABLES:  # column 0 is run_id
        assert after[table] == [row for row in before[table] if row[0] in set(expect)]
    assert len(list((store.root() / "runs").iterdir())) == min(keep, len(expect))
    compact(store, Retention(keep_runs=keep, retain_runs=retain))  # idempotent
    assert snapshot(store) == after


def test_a_month_left_under_its_temporary_name_is_read_and_renamed(store: LocalStore) -> None:
    compact(store, Retention(keep_runs=2))
    before = snapshot(store)
    months = store.root() / "months"
    (months / "2026-09").rename(months / "2026-09.c0ffee")  # killed before the last rename
    assert snapshot(store) == before
    result = compact(store, Retention(keep_runs=2))
    assert result.months == ["2026-09"] and result.moved == []
    assert sorted(p.name for p in months.iterdir()) == ["2026-09", "2026-10"]
    assert snapshot(store) == before


def test_compact_clears_a_killed_compactions_trash_but_not_a_live_appenders_folder(store: LocalStore) -> None:
    """A compaction killed between renaming a run to ``.drop-RUN`` and deleting it leaves that
    folder; the next compaction (holding the lock) removes it. ``runs/.tmp-*`` belongs to an
    appender that may still be writing, so it is left alone."""
    root = store.root()
    shutil.copytree(root / "runs" / "r0", root / "runs" / ".drop-r00")  # a run already in a month
    (root / "runs" / ".tmp-r9+123.abcd").mkdir()
    before = snapshot(store)
    compact(store, Retention(keep_runs=2))
    assert snapshot(store) == before
    assert sorted(p.name for p in (root / "runs").iterdir()) == [".tmp-r9+123.abcd", "r5", "r6"]
