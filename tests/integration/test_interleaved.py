"""Interleaved A/B end to end: a real git repository, two commits, ``dtf local --base``.

The benchmark's value comes from the commit (how much work the code does) times the job's
speed (an environment variable per job, as a shared runner's speed differs between jobs)
times a small within-job noise: deterministic, so no verdict here depends on machine load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = """\
import json, math, os, random, sys
work = float(open("work.txt").read())
speed = float(os.environ.get("JOB_SPEED", "1"))
rng = random.Random(os.environ["DTF_REPETITION"] + os.environ.get("DTF_SIDE", "") + os.environ.get("JOB_SPEED", ""))
value = 100 * work * speed * math.exp(rng.gauss(0, 0.01))
json.dump([{"name": "kernel", "unit": "ms", "value": value}], open(sys.argv[1], "w"))
"""

SUITE = """\
version: 1
defaults:
  repeat: 8
  threshold: 3%
  baseline: interleaved
tasks:
  - id: kernel
    run: python bench.py {results}
    format: custom-smaller-is-better
"""


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    out = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def dtf(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "CI_", "JENKINS_"))}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "dtf_ci", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=300)


def series(cwd: Path) -> tuple[dict[str, object], dict[str, object]]:
    data = json.loads((cwd / ".dtf" / "report" / "verdicts.json").read_text())
    rows = {r["task"]: r for r in data["series"]}
    return rows["kernel"], data


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Commit 1 does 1.00 units of work, commit 2 does 1.10 (a 10% slowdown)."""
    work = tmp_path / "repo"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "dtf.yml").write_text(SUITE)
    (work / "bench.py").write_text(BENCH)
    (work / "work.txt").write_text("1.00\n")
    (work / ".gitignore").write_text(".dtf/\n")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "fast")
    (work / "work.txt").write_text("1.10\n")
    git(work, "commit", "-q", "-am", "ten percent more work")
    return work


def test_interleaved_sees_the_commit_not_the_job(repo: Path) -> None:
    # History first: commit 1 in a normal job, then the same code in a job 30% slower.
    (repo / "dtf.yml").write_text(SUITE.replace("  baseline: interleaved\n", ""))
    first = dtf(repo, "local", "--no-progress", "--fail-on", "never", env={"JOB_SPEED": "1.0"})
    assert first.returncode == 0, first.stderr
    git(repo, "checkout", "-q", "--", "dtf.yml")

    # The same code (--base HEAD) in a slow job: interleaved says unchanged.
    same = dtf(repo, "local", "--no-progress", "--base", "HEAD", env={"JOB_SPEED": "1.3"})
    row, data = series(repo)
    assert same.returncode == 0, same.stderr
    assert row["verdict"] == "unchanged", row["reason"]
    assert row["baseline"] == "interleaved" and row["pairs"] == 8
    assert abs(row["ratio"] - 1) < 0.02
    assert "against the base in the same job" in row["reason"]

    # Commit 2 against commit 1 in a job 20% *faster*: still a regression of about 10%.
    slow = dtf(repo, "local", "--no-progress", "--base", "HEAD~1", env={"JOB_SPEED": "0.8"})
    row, data = series(repo)
    assert row["verdict"] == "regression", row["reason"]
    assert 1.07 < row["ratio"] < 1.13
    assert row["ci_low"] > 1.0
    assert slow.returncode == 1
    assert data["overall"] == "regression"
    # The worktree of the base is gone afterwards.
    assert "dtf-base-" not in git(repo, "worktree", "list")
    assert not list((repo / ".dtf").glob("dtf-base-*"))

    # The shard carries both sides, pair by pair.
    import duckdb

    shard = next((repo / ".dtf" / "shards").glob("*.duckdb"))
    con = duckdb.connect(str(shard), read_only=True)
    sides = dict(con.execute("SELECT side, count(*) FROM samples GROUP BY side").fetchall())
    schema = con.execute("SELECT value FROM dtf_meta WHERE key = 'schema'").fetchone()
    con.close()
    assert sides == {"base": 8, "head": 8}
    assert schema == ("dtf.shard/3",)


def test_history_mode_is_fooled_by_the_job_where_interleaved_is_not(repo: Path) -> None:
    """The same two commits compared through history: the faster job hides the slowdown."""
    (repo / "dtf.yml").write_text(SUITE.replace("  baseline: interleaved\n", ""))
    git(repo, "commit", "-q", "-am", "history mode")
    git(repo, "checkout", "-q", "HEAD~2")
    (repo / "dtf.yml").write_text(SUITE.replace("  baseline: interleaved\n", ""))
    assert dtf(repo, "local", "--no-progress", env={"JOB_SPEED": "1.0"}).returncode == 0
    git(repo, "checkout", "-q", "--", ".")
    git(repo, "checkout", "-q", "main")
    dtf(repo, "local", "--no-progress", "--fail-on", "never", env={"JOB_SPEED": "0.8"})
    row, _ = series(repo)
    # 10 % more work looks 12 % faster: wrong, and the reason interleaved exists. (An
    # improvement, or set aside when this shared machine is busy: never the regression it is.)
    assert row["ratio"] < 0.95 and row["verdict"] in ("improvement", "inconclusive")


def test_a_base_that_cannot_run_is_yellow_never_green(repo: Path) -> None:
    (repo / "bench.py").unlink()
    git(repo, "commit", "-q", "-am", "drop the benchmark")
    (repo / "bench.py").write_text(BENCH)
    git(repo, "add", "bench.py")
    git(repo, "commit", "-q", "-m", "bring it back")
    result = dtf(repo, "local", "--no-progress", "--base", "HEAD~1")
    row, data = series(repo)
    assert row["verdict"] == "inconclusive"
    assert row["reason"].startswith("base: the base revision HEAD~1")
    assert data["overall"] == "inconclusive"
    unit = next(u for u in data["units"] if u["task"] == "kernel")
    assert unit["error_category"] == "infrastructure"
    assert result.returncode == 0  # yellow: not a policy failure, and not a pass either
    assert "🟡" in (repo / ".dtf" / "report" / "report.md").read_text()


def test_a_shallow_clone_without_the_base_says_how_to_get_it(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    result = dtf(clone, "local", "--no-progress", "--base", "HEAD~1")
    assert result.returncode == 2, result.stderr
    assert "shallow clone" in result.stderr
    assert "fetch-depth: 0" in result.stderr and "git fetch --unshallow" in result.stderr


def test_an_unknown_base_is_a_clear_error(repo: Path) -> None:
    result = dtf(repo, "local", "--no-progress", "--base", "no-such-branch")
    assert result.returncode == 2
    assert "no-such-branch" in result.stderr and "not a commit" in result.stderr


def test_dtf_run_in_a_shallow_clone_keeps_the_head_and_goes_yellow(repo: Path, tmp_path: Path) -> None:
    """In CI the head's samples are still worth uploading: the base's absence is a reason, not a crash."""
    clone = tmp_path / "ci-clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    git(clone, "remote", "set-url", "origin", str(tmp_path / "unreachable"))
    assert dtf(clone, "plan", "--runners", "local", "--out", "plan.json").returncode == 0
    plan = json.loads((clone / "plan.json").read_text())
    shard = plan["shards"][0]["id"]
    ran = dtf(clone, "run", "--plan", "plan.json", "--shard", shard, "--out", "shards", "--base", "HEAD~1")
    assert ran.returncode == 0, ran.stderr
    assert "fetch-depth: 0" in ran.stderr
    agg = dtf(clone, "aggregate", "--shards", "shards", "--plan", "plan.json", "--report-dir", "report")
    assert agg.returncode == 0, agg.stderr
    verdicts = json.loads((clone / "report" / "verdicts.json").read_text())
    row = next(r for r in verdicts["series"] if r["task"] == "kernel")
    assert row["verdict"] == "inconclusive" and row["current_n"] == 8
    assert row["reason"].startswith("base: base revision 'HEAD~1' is not in this shallow clone")
    assert verdicts["overall"] == "inconclusive"


def test_interleaved_without_a_base_says_it_used_history(repo: Path) -> None:
    result = dtf(repo, "local", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "no --base was given" in result.stderr
    row, data = series(repo)
    assert row["verdict"] == "new" and "this run had no --base" in row["reason"]
    assert any("ran without a base revision" in n for n in data["notes"])
