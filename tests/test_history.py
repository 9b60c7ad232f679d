"""The folder store of history: append, read back, skip half-written runs, and the readers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from dtf_ci.errors import HistoryError
from dtf_ci.history import (
    RUN_SCHEMA,
    HistoryStore,
    LocalStore,
    RunInfo,
    open_history,
    series_history,
    target_facts,
    unit_durations,
)
from dtf_ci.shard import create_tables


def make_source_db(path: Path, run_id: str, *, target: str = "cpu", host_id: str = "0123456789abcdef",
                   facts: dict[str, str] | None = None, samples: dict[tuple[str, str], list[float]] | None = None,
                   units: dict[str, tuple[str, float]] | None = None) -> Path:
    """A merged.duckdb with the shard tables of docs/file-formats.md (hosts, units, samples)."""
    facts = facts if facts is not None else {"arch": "x86_64", "cpu-count": "4"}
    samples = samples if samples is not None else {("sort", "sort_10k"): [0.012, 0.011, 0.013]}
    units = units if units is not None else {"sort": ("passed", 1.5)}
    con = duckdb.connect(str(path))
    create_tables(con)  # the shard tables, as dtf writes them
    con.execute("INSERT INTO hosts VALUES (?, 'box-1', ?, 'linux', 'x86_64', 'Xeon', 4, 16.0, ?, ?, NULL)",
                [host_id, target, json.dumps(["linux", "x64"]), json.dumps(facts)])
    shard = f"{target}-w1-1"
    for task, (status, wall) in units.items():
        con.execute("INSERT INTO units VALUES (?, ?, ?, ?, ?, ?, ?, '', '', 1, 3, "
                    "TIMESTAMP '2026-11-25 10:15:00', ?, ?, 50.0, 0, '', NULL, NULL)",
                    [run_id, shard, f"{task}@{target}", task, target, host_id, status, wall, wall])
    for (task, metric), values in samples.items():
        for rep, value in enumerate(values):
            con.execute("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, 's', 'lower', ?, ?, 'head')",
                        [run_id, shard, task, target, host_id, metric, rep, value])
    con.close()
    return path


def meta(run_id: str, created_at: str, branch: str = "main") -> dict[str, object]:
    return {"run-id": run_id, "created-at": created_at, "sha": "a" * 40, "ref": f"refs/heads/{branch}",
            "branch": branch, "event": "push", "provider": "local", "suite-sha256": "b" * 64,
            "counts": {"regression": 0}}


def append(store: HistoryStore, tmp_path: Path, run_id: str, created_at: str, **kw: object) -> RunInfo:
    branch = str(kw.pop("branch", "main"))
    db = make_source_db(tmp_path / f"src-{run_id}.duckdb", run_id, **kw)  # type: ignore[arg-type]
    return store.append(meta(run_id, created_at, branch), db)


def test_open_history_picks_the_store(tmp_path: Path) -> None:
    store = open_history(tmp_path / "h")
    assert isinstance(store, LocalStore) and store.root() == tmp_path / "h"
    assert isinstance(open_history(str(tmp_path / "h")), LocalStore)
    with pytest.raises(HistoryError, match="names no branch"):
        open_history("git:")


def test_empty_history_reads_as_empty(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "missing")
    assert store.runs() == []
    assert store.parquet_files("samples") == []
    assert unit_durations(store) == {}
    assert target_facts(store) == {}
    assert series_history(store) == {}


def test_append_then_read_back(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "h")
    info = append(store, tmp_path, "r1", "2026-11-25T10:15:00Z")
    assert info.run_id == "r1" and info.branch == "main" and info.sha == "a" * 40
    assert info.path == tmp_path / "h" / "runs" / "r1"
    assert sorted(p.name for p in info.path.iterdir()) == [
        "hosts.parquet", "run.json", "samples.parquet", "units.parquet"]
    written = json.loads((info.path / "run.json").read_text())
    assert written["schema"] == RUN_SCHEMA and written["run-id"] == "r1"
    assert written["counts"] == {"regression": 0}
    assert written["rows"] == {"samples": 3, "units": 1, "hosts": 1}
    assert store.runs() == [info]
    assert not any(p.name.startswith(".tmp-") for p in (tmp_path / "h" / "runs").iterdir())
    # Anyone with DuckDB can read it, with run_id in every table.
    rows = duckdb.execute(f"SELECT run_id, value FROM '{tmp_path}/h/runs/*/samples.parquet' "
                      "ORDER BY repetition").fetchall()
    assert rows == [("r1", 0.012), ("r1", 0.011), ("r1", 0.013)]
    hosts = duckdb.execute(f"SELECT run_id, host_id FROM '{tmp_path}/h/runs/*/hosts.parquet'").fetchall()
    assert hosts == [("r1", "0123456789abcdef")]


def test_runs_are_ordered_by_created_at_then_id(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "h")
    append(store, tmp_path, "zz-late", "2026-11-26T00:00:00Z")
    append(store, tmp_path, "b", "2026-11-25T10:00:00+00:00")
    append(store, tmp_path, "a", "2026-11-25T10:00:00Z")
    append(store, tmp_path, "c", "2026-11-25T09:00:00Z")
    assert [r.run_id for r in store.runs()] == ["c", "a", "b", "zz-late"]
    assert store.parquet_files("units") == [tmp_path / "h" / "runs" / i / "units.parquet"
                                            for i in ("c", "a", "b", "zz-late")]
    with pytest.raises(HistoryError, match="no table 'nope'"):
        store.parquet_files("nope")


def test_appending_an_existing_run_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "h")
    info = append(store, tmp_path, "r1", "2026-11-25T10:15:00Z")
    before = {p.name: p.read_bytes() for p in info.path.iterdir()}
    db = make_source_db(tmp_path / "other.duckdb", "r1", samples={("sort", "sort_10k"): [9.0]})
    with pytest.raises(HistoryError, match="r1 is already there"):
        store.append(meta("r1", "2026-11-25T11:00:00Z"), db)
    assert {p.name: p.read_bytes() for p in info.path.iterdir()} == before
    assert [p.name for p in (tmp_path / "h" / "runs").iterdir()] == ["r1"]
    assert series_history(store)[("sort", "sort_10k", "cpu")] == [("r1", 0.012, [0.012, 0.011, 0.013])]


def test_half_written_runs_are_ignored_with_one_warning_each(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    store = LocalStore(tmp_path / "h")
    good = append(store, tmp_path, "good", "2026-11-25T10:00:00Z")
    runs = tmp_path / "h" / "runs"
    # A crash before run.json: the Parquet files are there, run.json is not.
    no_meta = runs / "no-meta"
    shutil.copytree(good.path, no_meta)
    (no_meta / "run.json").unlink()
    # A run.json that says the run is complete, but a Parquet file cut short.
    cut = runs / "cut"
    shutil.copytree(good.path, cut)
    (cut / "run.json").write_text(json.dumps({"schema": RUN_SCHEMA, **meta("cut", "2026-11-26T00:00:00Z")}))
    data = (cut / "samples.parquet").read_bytes()
    (cut / "samples.parquet").write_bytes(data[: len(data) // 2])
    # A run that lost a file.
    lost = runs / "lost"
    shutil.copytree(good.path, lost)
    (lost / "run.json").write_text(json.dumps({"schema": RUN_SCHEMA, **meta("lost", "2026-11-26T00:00:00Z")}))
    (lost / "hosts.parquet").unlink()
    # A writer's temporary folder.
    shutil.copytree(good.path, runs / ".tmp-next")
    (runs / "stray.txt").write_text("not a run")
    capsys.readouterr()

    assert [r.run_id for r in store.runs()] == ["good"]
    err = capsys.readouterr().err
    for name in ("no-meta", "cut", "lost", ".tmp-next"):
        lines = [line for line in err.splitlines() if f"runs/{name} " in line]
        assert len(lines) == 1, (name, err)
        assert lines[0].startswith("warning: ") and "ignored" in lines[0] and "delete it" in lines[0]
    assert "no run.json" in err and "samples.parquet" in err and "hosts.parquet" in err
    assert "stray" not in err

    # Readers never see the half-written data, and do not warn twice.
    assert series_history(store) == {("sort", "sort_10k", "cpu"): [("good", 0.012, [0.012, 0.011, 0.013])]}
    assert unit_durations(store) == {("sort", "cpu"): [1.5]}
    assert capsys.readouterr().err == ""


def test_an_interrupted_append_can_be_done_again(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "h")
    (tmp_path / "h" / "runs" / ".tmp-r1").mkdir(parents=True)
    (tmp_path / "h" / "runs" / ".tmp-r1" / "samples.parquet").write_bytes(b"PAR1 partial")
    info = append(store, tmp_path, "r1", "2026-11-25T10:00:00Z")
    assert [r.run_id for r in store.runs()] == ["r1"]
    assert not (tmp_path / "h" / "runs" / ".tmp-r1").exists()
    assert (info.path / "samples.parquet").stat().st_size > 12


def test_append_refuses_bad_input_and_leaves_no_folder(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "h")
    db = make_source_db(tmp_path / "src.duckdb", "r1")
    with pytest.raises(HistoryError, match="not a folder-safe id"):
        store.append(meta("../evil", "2026-11-25T10:00:00Z"), db)
    with pytest.raises(HistoryError, match="does not exist"):
        store.append(meta("r1", "2026-11-25T10:00:00Z"), tmp_path / "nope.duckdb")
    partial = tmp_path / "partial.duckdb"
    con = duckdb.connect(str(partial))
    con.execute("CREATE TABLE samples (run_id VARCHAR, value DOUBLE)")
    con.close()
    with pytest.raises(HistoryError, match="no table 'units'"):
        store.append(meta("r1", "2026-11-25T10:00:00Z"), partial)
    assert list((tmp_path / "h" / "runs").iterdir()) == []


def test_append_works_while_the_source_is_open_in_this_process(tmp_path: Path) -> None:
    db = make_source_db(tmp_path / "merged.duckdb", "r1")
    held = duckdb.connect(str(db))  # the aggregate step may still hold merged.duckdb
    try:
        info = LocalStore(tmp_path / "h").append(meta("r1", "2026-11-25T10:00:00Z"), db)
    finally:
        held.close()
    assert info.meta["rows"]["samples"] == 3


def test_unit_durations_keep_passed_units_oldest_first_last_20(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "h")
    for i in range(25):
        units = {"sort": ("passed", float(i)), "flaky": ("failed" if i % 2 else "passed", 100.0 + i)}
        append(store, tmp_path, f"r{i:02d}", f"2026-11-{i + 1:02d}T00:00:00Z", units=units)
    durations = unit_durations(store)
    assert durations[("sort", "cpu")] == [float(i) for i in range(5, 25)]
    assert durations[("flaky", "cpu")] == [100.0 + i for i in range(0, 25, 2)]


def test_target_facts_come_from_the_latest_run_on_each_target(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "h")
    append(store, tmp_path, "r1", "2026-11-01T00:00:00Z", target="a100",
           facts={"gpu": "nvidia", "cuda": "12.2"})
    append(store, tmp_path, "r2", "2026-11-02T00:00:00Z", target="cpu", facts={"arch": "x86_64"})
    append(store, tmp_path, "r3", "2026-11-03T00:00:00Z", target="a100",
           facts={"gpu": "nvidia", "cuda": "12.4", "gpu-count": 8})  # type: ignore[dict-item]
    assert target_facts(store) == {"a100": {"gpu": "nvidia", "cuda": "12.4", "gpu-count": "8"},
                                   "cpu": {"arch": "x86_64"}}


def test_series_history_is_per_run_oldest_first_and_windowed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "h")
    for i in range(5):
        branch = "main" if i != 3 else "feature"
        samples = {("sort", "sort_10k"): [1.0 + i, 3.0 + i, 2.0 + i], ("sort", "sort_1m"): [10.0 * (i + 1)]}
        append(store, tmp_path, f"r{i}", f"2026-11-0{i + 1}T00:00:00Z", samples=samples, branch=branch)
    hist = series_history(store)
    assert sorted(hist) == [("sort", "sort_10k", "cpu"), ("sort", "sort_1m", "cpu")]
    assert hist[("sort", "sort_10k", "cpu")][0] == ("r0", 2.0, [1.0, 3.0, 2.0])
    assert [run for run, _, _ in hist[("sort", "sort_10k", "cpu")]] == ["r0", "r1", "r2", "r3", "r4"]
    assert hist[("sort", "sort_1m", "cpu")][-1] == ("r4", 50.0, [50.0])
    last2 = series_history(store, max_runs=2)
    assert [run for run, _, _ in last2[("sort", "sort_10k", "cpu")]] == ["r3", "r4"]
    main = series_history(store, max_runs=3, branch="main")
    assert [run for run, _, _ in main[("sort", "sort_10k", "cpu")]] == ["r1", "r2", "r4"]
    assert series_history(store, branch="nope") == {}
