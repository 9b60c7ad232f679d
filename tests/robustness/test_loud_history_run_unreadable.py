"""Issue 9, item 11: one unreadable history run is skipped with a warning; the rest is used.

It used to turn all history off: every series "new", and a real +50 % passed as green.
"""

from __future__ import annotations

import duckdb
import pytest

from dtf_ci.history import LocalStore, series_history
from tests.robustness.loud_shards import noisy, one_run


def _history(tmp_path, runs: int = 6):
    history = tmp_path / "history"
    for i in range(runs):
        res = one_run(tmp_path, f"r{i}", {("a", "m"): noisy(1.0, seed=i)}, history=history)
        assert res.appended
    return history


def _corrupt_inside(path) -> None:
    """Garbage in the middle, the PAR1 magic kept at both ends: passes the cheap check."""
    data = bytearray(path.read_bytes())
    for i in range(8, len(data) - 8):
        data[i] = (data[i] * 7 + 13) % 256
    path.write_bytes(bytes(data))


def _retyped(path) -> None:
    """Whole, valid Parquet whose value column is text: a query over all runs fails on it."""
    con = duckdb.connect()
    quoted = str(path).replace("'", "''")
    con.execute(f"CREATE TABLE t AS SELECT * REPLACE ('fast' AS value) FROM read_parquet('{quoted}')")
    path.unlink()
    con.execute(f"COPY t TO '{quoted}' (FORMAT parquet)")
    con.close()


@pytest.mark.parametrize("damage", [_corrupt_inside, _retyped])
def test_a_broken_run_is_skipped_named_and_the_regression_still_found(tmp_path, capsys, damage) -> None:
    history = _history(tmp_path)
    damage(history / "runs" / "r3" / "samples.parquet")
    capsys.readouterr()
    series = series_history(LocalStore(history))
    assert [rid for rid, _, _ in series[("a", "m", "local")]] == ["r0", "r1", "r2", "r4", "r5"]
    err = capsys.readouterr().err
    assert "run r3 is skipped" in err and "samples.parquet" in err and "rest of the history is used" in err

    res = one_run(tmp_path, "r6", {("a", "m"): noisy(1.5, seed=99)}, history=history)
    row = res.verdicts["series"][0]
    assert row["verdict"] == "regression" and row["baseline_runs"] == 5
    assert res.verdicts["no-baseline"] is None and res.verdicts["policy"]["exit-code"] == 1


def test_a_run_with_a_broken_run_json_is_skipped_too(tmp_path, capsys) -> None:
    history = _history(tmp_path, runs=3)
    (history / "runs" / "r1" / "run.json").write_text("{not json")
    capsys.readouterr()
    res = one_run(tmp_path, "r3", {("a", "m"): noisy(1.0, seed=7)}, history=history)
    assert res.verdicts["series"][0]["verdict"] != "new"
    assert "r1" in capsys.readouterr().err


def test_every_run_broken_is_no_baseline_not_new(tmp_path) -> None:
    history = _history(tmp_path, runs=2)
    for run in ("r0", "r1"):
        _corrupt_inside(history / "runs" / run / "samples.parquet")
    res = one_run(tmp_path, "r2", {("a", "m"): noisy(1.0)}, history=history)
    assert res.verdicts["no-baseline"] and "cannot be read" in res.verdicts["no-baseline"]
    assert res.verdicts["policy"]["exit-code"] == 1 and not res.appended
