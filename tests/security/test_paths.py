"""Every path from a manifest, a plan or a tool stays in its folder; data files are regular
files of bounded size (a FIFO never hangs ``dtf run``, ``/dev/zero`` never fills memory)."""

from __future__ import annotations

import json
import os
import shlex

import pytest

from dtf_ci.errors import ShardError
from dtf_ci.history import LocalStore
from dtf_ci.paths import PathRefused, confine, regular_file, relative_inside
from dtf_ci.run import execute_shard
from dtf_ci.shard_check import verify_shard
from tests.helpers import make_plan
from tests.security.shards import make_shard


@pytest.mark.parametrize("file", ["../s1.duckdb", "/etc/passwd", "/proc/self/environ", "sub/s1.duckdb", "..", ""])
def test_manifest_file_outside_its_folder_is_refused(tmp_path, file):
    files = make_shard(tmp_path / "a", "s1")
    manifest = json.loads(files.manifest.read_text())
    manifest["file"] = file
    files.manifest.write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match="malformed manifest: file must be the plain name"):
        verify_shard(files.manifest)


def test_manifest_file_that_is_a_symlink_is_refused(tmp_path):
    files = make_shard(tmp_path / "real", "s1")
    link_dir = tmp_path / "art"
    link_dir.mkdir()
    os.symlink(files.db, link_dir / "s1.duckdb")
    (link_dir / "s1.manifest.json").write_text(files.manifest.read_text())
    with pytest.raises(ShardError, match="not a regular file"):
        verify_shard(link_dir / "s1.manifest.json")
    os.symlink("/proc/self/environ", link_dir / "s2.duckdb")
    manifest = json.loads(files.manifest.read_text())
    manifest.update({"shard-id": "s2", "file": "s2.duckdb"})
    (link_dir / "s2.manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match="not a regular file"):
        verify_shard(link_dir / "s2.manifest.json")


def test_shard_that_is_a_fifo_is_refused_without_hanging(tmp_path):
    files = make_shard(tmp_path, "s1")
    files.db.unlink()
    os.mkfifo(files.db)
    with pytest.raises(ShardError, match="not a regular file"):
        verify_shard(files.manifest)


def test_manifest_that_is_a_fifo_is_refused_without_hanging(tmp_path):
    files = make_shard(tmp_path, "s1")
    files.manifest.unlink()
    os.mkfifo(files.manifest)
    with pytest.raises(ShardError, match="not a regular file"):
        verify_shard(files.manifest)


@pytest.mark.parametrize("rel", ["/etc", "../x", "a/../../x", "~/x", "C:/x", "a\x00b"])
def test_relative_inside_refuses_climbing(rel):
    with pytest.raises(PathRefused):
        relative_inside(rel)


def test_confine_refuses_a_symlink_leading_out(tmp_path):
    (tmp_path / "base").mkdir()
    os.symlink(tmp_path, tmp_path / "base" / "up")
    with pytest.raises(PathRefused, match="symbolic link"):
        confine(tmp_path / "base", "up/secret")
    assert confine(tmp_path / "base", "a/b") == tmp_path / "base" / "a" / "b"


def test_regular_file_refuses_fifo_and_devices(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(PathRefused, match="a FIFO"):
        regular_file(fifo, 100)
    with pytest.raises(PathRefused, match="a device"):
        regular_file(tmp_path.__class__("/dev/zero"), 100)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    with pytest.raises(PathRefused, match="more than the 100"):
        regular_file(big, 100)


def _run(tmp_path, run, produces=(), fmt="custom-smaller-is-better"):
    plan = make_plan(tmp_path, {"t": {"run": run, "format": fmt, "repeat": 1, "produces": list(produces)}},
                     shards={"local-w1-1": ["t"]})
    if produces:
        plan["artifacts"] = [{"name": "dtf-produces-t-local", "unit": "t@local", "paths": list(produces)}]
    (result,) = execute_shard(plan, "local-w1-1", tmp_path / "out")
    return result


@pytest.mark.timeout(60)
def test_results_fifo_fails_the_unit_without_hanging(tmp_path):
    result = _run(tmp_path, "mkfifo {results}")
    assert result.status == "failed" and "a FIFO" in result.reason


@pytest.mark.timeout(60)
def test_results_pointing_at_dev_zero_fails_the_unit(tmp_path):
    result = _run(tmp_path, "ln -s /dev/zero {results}")
    assert result.status == "failed" and "a device" in result.reason


def test_results_over_the_size_bound_fail_the_unit(tmp_path, monkeypatch):
    monkeypatch.setenv("DTF_MAX_RESULTS_BYTES", "10")
    result = _run(tmp_path, "echo '[{\"name\": \"m\", \"unit\": \"ms\", \"value\": 1.5}]' > {results}")
    assert result.status == "failed" and "more than the 10" in result.reason


@pytest.mark.parametrize("rel", ["/tmp", "../escaped"])
def test_produces_outside_the_suite_is_not_exported(tmp_path, rel, capsys):
    (tmp_path / "suite").mkdir()
    result = _run(tmp_path / "suite", "echo '[{\"name\": \"m\", \"unit\": \"ms\", \"value\": 1.5}]' > {results}; mkdir -p ../escaped", produces=[rel])
    assert result.status == "passed"
    assert not (tmp_path / "suite" / "out" / "escaped").exists() and not (tmp_path / "escaped" / "escaped").exists()
    art = tmp_path / "suite" / "out" / "artifacts" / "dtf-produces-t-local"
    assert not art.exists() or not any(art.rglob("*"))
    assert "not exported" in capsys.readouterr().err


def test_cleanup_hint_is_one_quoted_command(tmp_path):
    folder = tmp_path / "runs" / "r1'; touch pwned; '"
    hint = LocalStore(tmp_path).delete_hint(folder)
    command = hint.split("(", 1)[1].rsplit(")", 1)[0]
    assert shlex.split(command) == ["rm", "-r", "--", str(folder)]


def test_a_results_name_over_the_bound_fails_the_unit_not_the_shard(tmp_path):
    name = "m" * 5000
    result = _run(tmp_path, "echo '[{\"name\": \"" + name + "\", \"unit\": \"ms\", \"value\": 1.5}]' > {results}")
    assert result.status == "failed" and "more than 120 characters" in result.reason
    assert len(result.reason) < 400 and not result.samples
