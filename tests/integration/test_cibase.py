"""``--base auto`` in CI: the merge-base from GitHub's event file, GitLab's and Jenkins'
variables, the parent commit on pushes; shallow clones fetched as needed. Real git
repositories, cloned shallow over file:// the way actions/checkout clones (depth 1)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from dtf_ci.cibase import resolve_ci_base
from tests.integration.test_interleaved import BENCH, git
from tests.tools.gha_simulator import SimulatedRunner

SUITE = """\
version: 1
targets:
  cpu:
    runs-on: [ubuntu-latest]
defaults:
  repeat: 8
  baseline: interleaved
tasks:
  - id: kernel
    run: python bench.py {results}
    format: custom-smaller-is-better
"""


@pytest.fixture
def origin(tmp_path: Path) -> dict[str, str]:
    """main: c1 -> c2 (unrelated change); feature: c1 -> c3 (10% more work)."""
    repo = tmp_path / "origin"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "uploadpack.allowAnySHA1InWant", "true")  # as GitHub serves fetches by sha
    (repo / "dtf.yml").write_text(SUITE)
    (repo / "bench.py").write_text(BENCH)
    (repo / "work.txt").write_text("1.00\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "c1")
    c1 = git(repo, "rev-parse", "HEAD")
    (repo / "README").write_text("docs\n")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "c2")
    c2 = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature", c1)
    (repo / "work.txt").write_text("1.10\n")
    git(repo, "commit", "-q", "-am", "c3")
    c3 = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    return {"path": str(repo), "c1": c1, "c2": c2, "c3": c3}


def shallow(origin: dict[str, str], tmp_path: Path, branch: str) -> Path:
    clone = tmp_path / f"clone-{branch}"
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", branch, f"file://{origin['path']}", str(clone))
    assert git(clone, "rev-parse", "--is-shallow-repository") == "true"
    return clone


def test_github_pull_request_merge_base_from_the_event_file(origin: dict[str, str], tmp_path: Path) -> None:
    clone = shallow(origin, tmp_path, "feature")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"number": 7, "pull_request": {
        "number": 7, "base": {"ref": "main", "sha": origin["c2"]}, "head": {"ref": "feature", "sha": origin["c3"]}}}))
    env = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event)}
    found = resolve_ci_base(clone, env)
    assert found.error == "" and found.rev == origin["c1"]
    assert "merge-base" in found.how


def test_push_compares_with_the_parent_even_in_a_depth_one_clone(origin: dict[str, str], tmp_path: Path) -> None:
    clone = shallow(origin, tmp_path, "main")
    found = resolve_ci_base(clone, {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push"})
    assert found.rev == origin["c1"] and "parent" in found.how


def test_gitlab_uses_the_diff_base_sha(origin: dict[str, str], tmp_path: Path) -> None:
    clone = shallow(origin, tmp_path, "feature")
    found = resolve_ci_base(clone, {"GITLAB_CI": "true", "CI_MERGE_REQUEST_DIFF_BASE_SHA": origin["c1"]})
    assert found.rev == origin["c1"]


def test_jenkins_uses_the_change_target(origin: dict[str, str], tmp_path: Path) -> None:
    clone = shallow(origin, tmp_path, "feature")
    found = resolve_ci_base(clone, {"JENKINS_URL": "http://jenkins", "CHANGE_TARGET": "main"})
    assert found.rev == origin["c1"], found.error


def test_a_base_that_cannot_be_fetched_names_the_fix(origin: dict[str, str], tmp_path: Path) -> None:
    clone = shallow(origin, tmp_path, "feature")
    git(clone, "remote", "set-url", "origin", str(tmp_path / "gone"))
    found = resolve_ci_base(clone, {"GITLAB_CI": "true", "CI_MERGE_REQUEST_DIFF_BASE_SHA": origin["c1"]})
    assert found.rev == "" and "fetch-depth: 0" in found.error


@pytest.mark.slow
def test_the_action_runs_the_pull_requests_merge_base(origin: dict[str, str], tmp_path: Path) -> None:
    """The composite action in the simulated runner: plan, run (--base auto), aggregate."""
    clone = shallow(origin, tmp_path, "feature")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"number": 7, "pull_request": {
        "number": 7, "base": {"ref": "main", "sha": origin["c2"]}, "head": {"ref": "feature", "sha": origin["c3"]}}}))
    env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event), "GITHUB_REF": "refs/pull/7/merge"}
    gh = SimulatedRunner(tmp_path / "gh", clone)
    plan = gh.run({"command": "plan", "suite": "dtf.yml", "history": ""}, env)
    assert plan.status == "success", "\n".join(s.log for s in plan.steps)
    shards = [e["shard"] for e in json.loads(plan.outputs["matrix-1"])["include"]]
    for shard in shards:
        run = gh.run({"command": "run", "shard": shard}, env)
        assert run.status == "success", "\n".join(s.log for s in run.steps)
        log = run.step("dtf run")[0].log
        assert f"--base auto: {origin['c1'][:12]}" in log
    (db,) = gh.artifacts.glob(f"dtf-shard*{shards[0]}/{shards[0]}.duckdb")  # artifact names carry the run
    con = duckdb.connect(str(db), read_only=True)
    meta = dict(con.execute("SELECT key, value FROM dtf_meta").fetchall())
    sides = dict(con.execute("SELECT side, count(*) FROM samples GROUP BY side").fetchall())
    con.close()
    assert meta["base-sha"] == origin["c1"] and meta["base-error"] == ""
    assert sides == {"base": 8, "head": 8}
    agg = gh.run({"command": "aggregate", "post": "false", "history": "", "fail-on": "never"}, env)
    assert agg.status == "success", "\n".join(s.log for s in agg.steps)
    (report,) = gh.artifacts.glob("dtf-report*/verdicts.json")
    verdicts = json.loads(report.read_text())
    row = next(r for r in verdicts["series"] if r["task"] == "kernel")
    assert row["verdict"] == "regression" and row["baseline"] == "interleaved", row["reason"]
