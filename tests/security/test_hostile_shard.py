"""A shard is data, never code: crafted DuckDB files are rejected by name, nothing in them runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import duckdb
import pytest

from dtf_ci.aggregate import aggregate
from dtf_ci.errors import ShardError
from dtf_ci.providers import RunContext
from dtf_ci.shard import TABLES
from dtf_ci.shard_check import verify_shard
from tests.helpers import make_plan
from tests.security.shards import all_text, fix_manifest, make_shard, tamper

CTX = RunContext(provider="local", sha="abc123", branch="main", default_branch="main", event="local")
SECRET = "ghs_SECRETtokenVALUE0123456789abcdef"
UNIT_COLS = ", ".join(c for c, _ in TABLES["units"])


def _exfiltrating_view(source: str) -> str:
    """A ``units`` view with the right columns whose reason is the content of ``source``."""
    exprs = []
    for col, typ in TABLES["units"]:
        if col == "reason":
            exprs.append(f"(SELECT content FROM read_text('{source}')) AS reason")
        elif col == "status":
            exprs.append("'failed' AS status")
        else:
            exprs.append(f"CAST(NULL AS {typ}) AS {col}")
    return f"CREATE VIEW units AS SELECT {', '.join(exprs)}"


@pytest.fixture
def two_shards(tmp_path):
    out = tmp_path / "shards"
    good = make_shard(out, "local-w1-1", task="a")
    bad = make_shard(out, "local-w1-2", task="b")
    plan = make_plan(tmp_path, {"a": {"run": "true"}, "b": {"run": "true"}}, run_id="r1",
                     shards={"local-w1-1": ["a"], "local-w1-2": ["b"]})
    return out, good, bad, plan


def _report(tmp_path, out, plan):
    return aggregate(out, tmp_path / "report", plan=plan, context=CTX)


@pytest.mark.parametrize("source", ["/proc/self/environ", ".git/config"])
def test_view_reading_environ_is_rejected_and_secret_never_reaches_report(tmp_path, two_shards, monkeypatch, source):
    out, _, bad, plan = two_shards
    monkeypatch.setenv("GITHUB_TOKEN", SECRET)
    git = tmp_path / ".git"
    git.mkdir()
    (git / "config").write_text(f'[http]\n\textraheader = AUTHORIZATION: basic {SECRET}\n')
    monkeypatch.chdir(tmp_path)
    tamper(bad, "DROP TABLE units", _exfiltrating_view(source))
    result = _report(tmp_path, out, plan)
    rejected = {r["shard"]: r["reason"] for r in result.verdicts["shards"]["rejected"]}
    assert list(rejected) == ["local-w1-2"]
    assert "view main.units" in rejected["local-w1-2"]
    assert result.verdicts["shards"]["accepted"] == ["local-w1-1"]
    assert {u["unit"] for u in result.verdicts["units"] if u["status"] == "missing"} == {"b@local"}
    assert SECRET not in all_text(tmp_path / "report")


def test_secret_not_in_cli_log_either(tmp_path, two_shards):
    out, _, bad, plan = two_shards
    tamper(bad, "DROP TABLE units", _exfiltrating_view("/proc/self/environ"))
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))
    env = dict(os.environ, GITHUB_TOKEN=SECRET, PYTHONPATH=os.getcwd())
    proc = subprocess.run([sys.executable, "-m", "dtf_ci", "aggregate", "--shards", str(out), "--plan", str(plan_path),
                           "--report-dir", str(tmp_path / "report"), "--fail-on", "never"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert "local-w1-2" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert SECRET not in all_text(tmp_path / "report")


def test_wal_beside_a_shard_is_never_replayed(tmp_path, two_shards):
    out, good, _, plan = two_shards
    scratch = tmp_path / "scratch.duckdb"
    shutil.copy(good.db, scratch)
    con = duckdb.connect(str(scratch))
    con.execute("PRAGMA disable_checkpoint_on_shutdown")
    con.execute("SET wal_autocheckpoint = '1TB'")
    con.execute("UPDATE samples SET value = 999")
    con.close()
    shutil.copy(scratch.with_name(scratch.name + ".wal"), good.db.with_name(good.db.name + ".wal"))
    # Without protection DuckDB replays it: the attack is real.
    plain = duckdb.connect(str(good.db), read_only=True)
    assert plain.execute("SELECT max(value) FROM samples").fetchone()[0] == 999
    plain.close()
    result = _report(tmp_path, out, plan)
    values = [r for r in result.verdicts["series"] if r["task"] == "a"]
    assert values and values[0]["current_median"] == pytest.approx(1.0)


EXTRAS = {
    "macro": ["CREATE MACRO leak() AS 1"],
    "table macro": ["CREATE MACRO leak() AS TABLE SELECT * FROM read_text('/proc/self/environ')"],
    "sequence": ["CREATE SEQUENCE seq"],
    "extra schema": ["CREATE SCHEMA other", "CREATE TABLE other.units (x INTEGER)"],
    "extra table": ["CREATE TABLE extra (x INTEGER)"],
    "extra view": ["CREATE VIEW extra AS SELECT 1"],
    "enum type": ["CREATE TYPE mood AS ENUM ('a', 'b')"],
    "index": ["CREATE INDEX idx ON samples (task)"],
    "default": ["ALTER TABLE samples ALTER COLUMN metric SET DEFAULT 'x'"],
    "generated column": [
        "ALTER TABLE hosts RENAME TO hosts_old", "DROP TABLE hosts_old",
        "CREATE TABLE hosts (host_id VARCHAR, hostname VARCHAR, target VARCHAR, os VARCHAR, arch VARCHAR, "
        "cpu_model VARCHAR, cpu_count INTEGER, memory_gb DOUBLE, labels VARCHAR, "
        "facts VARCHAR GENERATED ALWAYS AS (current_setting('home_directory')))"],
}


@pytest.mark.parametrize("kind", sorted(EXTRAS))
def test_anything_but_base_tables_is_rejected(tmp_path, kind):
    files = make_shard(tmp_path, "s1")
    tamper(files, *EXTRAS[kind])
    with pytest.raises(ShardError, match=r"^shard s1: .*(more than dtf's tables|not a plain dtf table|columns)"):
        verify_shard(files.manifest)


MALFORMED = {
    "extra column": ["ALTER TABLE samples ADD COLUMN extra VARCHAR"],
    "missing column": ["ALTER TABLE samples DROP COLUMN unit"],
    "wrong type": ["ALTER TABLE samples ALTER COLUMN value TYPE VARCHAR"],
    "reordered columns": [
        "CREATE TABLE s2 AS SELECT shard_id, run_id, task, target, host_id, metric, unit, direction, repetition, value FROM samples",
        "DROP TABLE samples", "ALTER TABLE s2 RENAME TO samples"],
    "renamed column": ["ALTER TABLE samples RENAME COLUMN metric TO metrik"],
    "missing table": ["DROP TABLE hosts"],
    "schema version": ["UPDATE dtf_meta SET value = 'dtf.shard/99' WHERE key = 'schema'"],
    "long name": [f"UPDATE samples SET metric = '{'m' * 5000}'"],
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_shard_rejected_by_name_rest_reported(tmp_path, two_shards, kind):
    out, _, bad, plan = two_shards
    tamper(bad, *MALFORMED[kind])
    result = _report(tmp_path, out, plan)
    rejected = {r["shard"]: r["reason"] for r in result.verdicts["shards"]["rejected"]}
    assert list(rejected) == ["local-w1-2"], rejected
    assert rejected["local-w1-2"].startswith("shard local-w1-2")
    assert [r["task"] for r in result.verdicts["series"] if r["verdict"] != "missing"] == ["a"]
    assert (tmp_path / "report" / "report.md").is_file()


MANIFESTS = {
    "rows is a list": lambda m: m.update(rows=[1, 2]),
    "rows of strings": lambda m: m.update(rows={t: "1" for t in TABLES}),
    "sha256 not hex": lambda m: m.update(sha256=["x"]),
    "shard-id is a dict": lambda m: m.update({"shard-id": {"a": 1}}),
    "shard-id with newline": lambda m: m.update({"shard-id": "x\n::error::boom"}),
    "file in a folder": lambda m: m.update(file="../local-w1-1.duckdb"),
}


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_malformed_manifest_rejected_by_name(tmp_path, two_shards, kind):
    out, _, bad, plan = two_shards
    manifest = json.loads(bad.manifest.read_text())
    MANIFESTS[kind](manifest)
    bad.manifest.write_text(json.dumps(manifest))
    result = _report(tmp_path, out, plan)
    rejected = {r["shard"]: r["reason"] for r in result.verdicts["shards"]["rejected"]}
    assert list(rejected) == ["local-w1-2"]
    assert "manifest" in rejected["local-w1-2"]


def test_deeply_nested_manifest_is_a_rejection_not_a_crash(tmp_path, two_shards):
    out, _, bad, plan = two_shards
    bad.manifest.write_text("[" * 200_000 + "]" * 200_000)
    result = _report(tmp_path, out, plan)
    reasons = [r["reason"] for r in result.verdicts["shards"]["rejected"]]
    assert len(reasons) == 1 and "nested too deeply" in reasons[0]


def test_huge_manifest_is_refused_unread(tmp_path):
    files = make_shard(tmp_path, "s1")
    files.manifest.write_text(" " * (2 * 1024 * 1024) + "{}")
    with pytest.raises(ShardError, match="more than a manifest's"):
        verify_shard(files.manifest)


def test_shard_over_size_bound_is_refused(tmp_path, monkeypatch):
    files = make_shard(tmp_path, "s1")
    monkeypatch.setenv("DTF_MAX_SHARD_BYTES", "1000")
    with pytest.raises(ShardError, match="more than the 1000 allowed"):
        verify_shard(files.manifest)


def test_free_text_is_cut_not_rejected(tmp_path):
    out = tmp_path / "shards"
    make_shard(out, "local-w1-1", reason="r" * 100_000)
    plan = make_plan(tmp_path, {"a": {"run": "true"}}, run_id="r1")
    result = _report(tmp_path, out, plan)
    assert result.verdicts["shards"]["accepted"] == ["local-w1-1"]
    reasons = [u["reason"] for u in result.verdicts["units"] if u["unit"] == "a@local"]
    assert reasons and 0 < len(reasons[0]) <= 4000


def test_rows_copied_by_column_name(tmp_path):
    """The merge names every column; a good shard's values land in the right places."""
    out = tmp_path / "shards"
    make_shard(out, "local-w1-1", metric="latency", values=(3.0, 3.0, 3.0))
    plan = make_plan(tmp_path, {"a": {"run": "true"}}, run_id="r1")
    result = _report(tmp_path, out, plan)
    (row,) = result.verdicts["series"]
    assert (row["task"], row["metric"], row["target"], row["current_median"]) == ("a", "latency", "local", 3.0)


def test_manifest_hash_of_a_changed_file_still_checked(tmp_path):
    files = make_shard(tmp_path, "s1")
    fix_manifest(files, sha256="0" * 64)
    with pytest.raises(ShardError, match="does not match its manifest"):
        verify_shard(files.manifest)
