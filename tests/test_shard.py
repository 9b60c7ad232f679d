from __future__ import annotations

import json

import pytest

from dtf_ci.errors import ShardError
from dtf_ci.shard import write_shard
from dtf_ci.shard_check import verify_shard


def _write(tmp_path, shard_id="s1"):
    return write_shard(
        tmp_path, run_id="r1", shard_id=shard_id, meta={"target": "cpu"},
        hosts=[("h1", "box", "cpu", "linux", "x86_64", "cpu", 2, 8.0, "[]", "{}")],
        units=[("r1", shard_id, "a@cpu", "a", "cpu", "h1", "passed", "", "", 1, 1,
                "2026-01-01 00:00:00", 0.1, 0.1, 10.0, 0, "ok, with \"quotes\"\nand lines")],
        samples=[("r1", shard_id, "a", "cpu", "h1", "m", "s", "lower", i, 0.5 + i) for i in range(5)],
    )


def test_roundtrip(tmp_path):
    files = _write(tmp_path)
    shard = verify_shard(files.manifest)
    assert shard.rows["samples"] == 5 and shard.rows["units"] == 1


def test_truncated_shard_is_rejected_by_name(tmp_path):
    files = _write(tmp_path)
    data = files.db.read_bytes()
    files.db.write_bytes(data[: len(data) // 2])
    with pytest.raises(ShardError, match=r"shard s1: s1.duckdb does not match its manifest .*truncated"):
        verify_shard(files.manifest)


def test_missing_file_and_bad_manifest(tmp_path):
    files = _write(tmp_path)
    files.db.unlink()
    with pytest.raises(ShardError, match="s1.duckdb is missing"):
        verify_shard(files.manifest)
    files.manifest.write_text("{not json")
    with pytest.raises(ShardError, match="unreadable manifest"):
        verify_shard(files.manifest)


def test_row_count_mismatch(tmp_path):
    files = _write(tmp_path)
    manifest = json.loads(files.manifest.read_text())
    manifest["rows"]["samples"] = 6
    files.manifest.write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match="table samples has 5 rows, manifest says 6"):
        verify_shard(files.manifest)
