"""``dtf history compact`` on a git branch, against real git: a bare repository as the remote.

Compaction is one new commit on the tip (no rewrite, no force), keeps every value and run id,
runs again as a no-op, and races with an append in another process without losing either.
A reader fetches only the files of the runs it reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dtf_ci.history import (
    TABLES,
    open_history,
    run_files,
    series_history,
    target_facts,
    unit_durations,
)
from dtf_ci.history_git import GitBranchStore
from tests.integration.test_history_git import (  # noqa: F401  (an autouse fixture: no user git config)
    BRANCH,
    HOLD_HOOK,
    clone,
    git,
    make_source_db,
    no_user_git_config,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DAYS = ["2026-09-03", "2026-09-20", "2026-10-01", "2026-10-15", "2026-11-02", "2026-11-20"]


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare repository with a main branch, standing in for GitHub."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", str(bare), str(seed))
    (seed / "app.py").write_text("print('hi')\n")
    git(seed, "add", "app.py")
    git(seed, "commit", "--quiet", "-m", "app")
    git(seed, "push", "--quiet", "origin", "HEAD:main")
    return bare


def meta(run_id: str, day: str) -> dict[str, object]:
    return {"run-id": run_id, "created-at": f"{day}T10:00:00Z", "sha": "c" * 40,
            "ref": "refs/heads/main", "branch": "main", "event": "push", "provider": "github",
            "suite-sha256": "d" * 64, "counts": {}}


def fill(tmp_path: Path, remote: Path) -> Path:
    a = clone(remote, tmp_path / "a")
    store = GitBranchStore(a, BRANCH)
    for i, day in enumerate(DAYS):
        store.append(meta(f"r{i}", day), make_source_db(tmp_path / f"r{i}.duckdb", f"r{i}", 1.0 + i))
    return a


def snapshot(repo: Path) -> dict[str, Any]:
    """What a fresh reader gets: run ids and metadata, and every row of every table."""
    store = open_history(f"git:{BRANCH}", repo_dir=repo)
    runs = store.runs()
    store.materialize(runs)
    out: dict[str, Any] = {"runs": [(r.run_id, r.created_at, dict(r.meta)) for r in runs]}
    con = duckdb.connect()
    for table in TABLES:
        out[table] = sorted(con.execute("SELECT * FROM read_parquet($f, union_by_name=true) WHERE "
                                        "run_id IN (SELECT unnest($ids))",
                                        {"f": run_files(runs, table), "ids": [r.run_id for r in runs]}
                                        ).fetchall(), key=repr)
    con.close()
    return out


def dtf_compact(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dtf_ci", "history", "compact", "--history",
                           f"git:{BRANCH}", *args], cwd=repo, text=True, capture_output=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_compact_is_one_new_commit_on_the_tip_keeping_every_value(tmp_path: Path, remote: Path) -> None:
    fill(tmp_path, remote)
    before = snapshot(clone(remote, tmp_path / "c"))
    old_tip = git(remote, "rev-parse", BRANCH)
    old_tree = git(remote, "ls-tree", "-r", old_tip)
    commits = int(git(remote, "rev-list", "--count", BRANCH))

    b = clone(remote, tmp_path / "b", shallow=True)
    done = dtf_compact(b, "--keep-runs", "2")
    assert done.returncode == 0, done.stderr
    assert "merged 4 runs into 2 month folder(s) (2026-09, 2026-10)" in done.stdout

    tip = git(remote, "rev-parse", BRANCH)
    assert git(remote, "rev-parse", f"{tip}^") == old_tip  # on top of the tip: nothing rewritten
    assert int(git(remote, "rev-list", "--count", BRANCH)) == commits + 1
    assert git(remote, "ls-tree", "-r", old_tip) == old_tree
    assert git(remote, "log", "-1", "--format=%s", BRANCH) == "dtf: compact 4 runs into 2 month(s)"
    files = git(remote, "ls-tree", "-r", "--name-only", BRANCH).splitlines()
    assert sorted({f.split("/")[1] for f in files if f.startswith("runs/")}) == ["r4", "r5"]
    assert sorted(f for f in files if f.startswith("months/")) == [
        f"months/{m}/{name}" for m in ("2026-09", "2026-10")
        for name in ("hosts.parquet", "runs.json", "samples.parquet", "units.parquet")]
    assert snapshot(clone(remote, tmp_path / "d")) == before

    again = dtf_compact(b, "--keep-runs", "2")
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert git(remote, "rev-parse", BRANCH) == tip


def test_a_reader_fetches_only_the_runs_it_reads(tmp_path: Path, remote: Path) -> None:
    git(remote, "config", "uploadpack.allowFilter", "true")  # as GitHub and GitLab allow
    fill(tmp_path, remote)
    assert dtf_compact(clone(remote, tmp_path / "b"), "--keep-runs", "2").returncode == 0
    for shallow in (True, False):
        repo = tmp_path / f"ci-{shallow}"  # a CI checkout (shallow), or a developer's full clone of main
        if shallow:
            clone(remote, repo, shallow=True)
        else:
            git(tmp_path, "clone", "--quiet", "--single-branch", "--branch", "main", remote.as_uri(), str(repo))
            git(repo, "remote", "set-url", "origin", str(remote))  # (a local clone would copy every object)
        store = open_history(f"git:{BRANCH}", repo_dir=repo)
        assert [r.run_id for r in store.runs()] == [f"r{i}" for i in range(6)]
        window = series_history(store, max_runs=2)
        assert [rid for rid, _, _ in window[("sort", "sort_10k", "cpu")]] == ["r4", "r5"]
        missing = git(repo, "rev-list", "--objects", "--missing=print", git(remote, "rev-parse", BRANCH))
        absent = {line[1:] for line in missing.splitlines() if line.startswith("?")}
        for path in ("months/2026-09/samples.parquet", "months/2026-10/units.parquet"):
            assert git(remote, "rev-parse", f"{BRANCH}:{path}") in absent  # never fetched
        for path in ("runs/r4/samples.parquet", "runs/r5/samples.parquet", "months/2026-10/runs.json"):
            assert git(remote, "rev-parse", f"{BRANCH}:{path}") not in absent
        # The planner reads units and hosts only: the samples of old runs stay on the remote.
        assert unit_durations(store)[("sort", "cpu")] == [2.5] * 6
        assert target_facts(store)["cpu"]["arch"] == "x86_64"
        missing = git(repo, "rev-list", "--objects", "--missing=print", git(remote, "rev-parse", BRANCH))
        absent = {line[1:] for line in missing.splitlines() if line.startswith("?")}
        assert git(remote, "rev-parse", f"{BRANCH}:months/2026-09/samples.parquet") in absent
        assert git(remote, "rev-parse", f"{BRANCH}:months/2026-09/units.parquet") not in absent
        # The user's own remote still fetches everything; a full clone stays a full clone.
        assert git(repo, "config", "--get", "remote.origin.promisor", check=False) == ""
        assert git(repo, "rev-parse", "--is-shallow-repository") == str(shallow).lower()


APPEND = """
import json, sys
from pathlib import Path
from dtf_ci.history_git import GitBranchStore
store = GitBranchStore(Path(sys.argv[1]), sys.argv[2], backoff_s=0.05)
store.append(json.loads(sys.argv[3]), Path(sys.argv[4]))
print("attempts", store.push_attempts)
"""


def test_compaction_and_an_append_in_two_processes_both_land(tmp_path: Path, remote: Path) -> None:
    fill(tmp_path, remote)
    before = snapshot(clone(remote, tmp_path / "c"))
    hook = remote / "hooks" / "pre-receive"  # hold each push until both have arrived
    hook.write_text(HOLD_HOOK.format(arrivals=tmp_path / "arrivals"))
    hook.chmod(0o755)
    b, c = clone(remote, tmp_path / "b"), clone(remote, tmp_path / "writer")
    db = make_source_db(tmp_path / "new.duckdb", "new", 9.0)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    appender = subprocess.Popen([sys.executable, "-c", APPEND, str(c), BRANCH,
                                 json.dumps(meta("new", "2026-12-01")), str(db)],
                                text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    compactor = subprocess.Popen([sys.executable, "-m", "dtf_ci", "history", "compact", "--history",
                                  f"git:{BRANCH}", "--keep-runs", "2"], cwd=b, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out_a, err_a = appender.communicate(timeout=300)
    out_c, err_c = compactor.communicate(timeout=300)
    assert appender.returncode == 0, err_a
    assert compactor.returncode == 0, err_c
    assert len(list((tmp_path / "arrivals").iterdir())) >= 2  # they really raced

    files = git(remote, "ls-tree", "-r", "--name-only", BRANCH).splitlines()
    assert "runs/new/samples.parquet" in files
    assert {f.split("/")[1] for f in files if f.startswith("months/")} >= {"2026-09", "2026-10"}
    log = git(remote, "log", "--format=%P", BRANCH).splitlines()
    assert all(len(parents.split()) <= 1 for parents in log)  # linear, nothing forced
    after = snapshot(clone(remote, tmp_path / "d"))
    assert [r[0] for r in after["runs"]] == [r[0] for r in before["runs"]] + ["new"]
    for table in TABLES:
        assert [row for row in after[table] if row[0] != "new"] == before[table]
        assert any(row[0] == "new" for row in after[table])
