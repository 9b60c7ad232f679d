"""Issue 9, items 17 and 18: a plan no runner can serve is an error, and a failed plan still
posts the ``dtf`` status where a token allows.

``--runners local`` inside CI used to write the plan machine's probe labels (``cpu``,
``mem-24g``) as ``runs-on``: the jobs waited 24 h for a runner that does not exist, and the
required check never arrived.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dtf_ci.errors import PlanError
from dtf_ci.inventory import Inventory, TargetInfo, check_servable_in_ci
from dtf_ci.model import TargetSpec
from tests.integration.github_server import GitHubServer

EVENTS = Path(__file__).resolve().parent.parent / "data" / "github" / "events"
SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
SUITE = """version: 1
tasks:
  - id: hello
    run: python -c "print('hi')"
"""
TARGETS = """version: 1
targets:
  cpu:
    runs-on: [ubuntu-latest]
tasks:
  - id: hello
    run: python -c "print('hi')"
"""


def _env(tmp: Path, api: GitHubServer | None = None, **extra: str) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp), "GITHUB_ACTIONS": "true",
           "GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(EVENTS / "push.json"),
           "GITHUB_REPOSITORY": api.repo if api else "Codertocat/Hello-World", "GITHUB_SHA": SHA,
           "GITHUB_REF": "refs/heads/master", "GITHUB_REF_NAME": "master", "GITHUB_RUN_ID": "42",
           "GITHUB_SERVER_URL": "https://github.com", "GITHUB_OUTPUT": str(tmp / "out.txt"),
           "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    if api:
        env["GITHUB_API_URL"] = api.url
    env.update(extra)
    return env


def _plan(tmp: Path, suite: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    (tmp / "dtf.yml").write_text(suite)
    return subprocess.run([sys.executable, "-m", "dtf_ci", "plan", "--suite", "dtf.yml",
                           "--out", "plan.json", *args], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("suite,args", [(SUITE, ["--runners", "local"]), (TARGETS, ["--runners", "local"]),
                                        (SUITE, [])])
def test_probe_labels_in_ci_are_a_plan_error_with_the_fix(tmp_path, suite, args) -> None:
    done = _plan(tmp_path, suite, _env(tmp_path), *args)
    assert done.returncode == 2, done.stderr
    assert "inside github CI" in done.stderr and "no runner serves" in done.stderr
    assert "Fix: plan with --runners github" in done.stderr and "dtf local" in done.stderr
    assert not (tmp_path / "plan.json").exists()
    assert "matrix" not in ((tmp_path / "out.txt").read_text() if (tmp_path / "out.txt").exists() else "")


def test_outside_ci_local_runners_still_plan(tmp_path) -> None:
    env = {k: v for k, v in _env(tmp_path).items() if not k.startswith("GITHUB_")}
    done = _plan(tmp_path, SUITE, env, "--runners", "local")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "plan.json").read_text())["shards"]


def test_suite_targets_in_ci_plan_fine(tmp_path) -> None:
    done = _plan(tmp_path, TARGETS, _env(tmp_path))
    assert done.returncode == 0, done.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert {tuple(s["runs-on"]) for s in plan["shards"]} == {("ubuntu-latest",)}


def test_gitlab_and_jenkins_refuse_probe_labels_too() -> None:
    inv = Inventory(source="local", targets={"local": TargetInfo(spec=TargetSpec(
        name="local", runs_on=("cpu", "mem-24g")))})
    for env in ({"GITLAB_CI": "true"}, {"JENKINS_URL": "http://j"}):
        with pytest.raises(PlanError, match=r"probe labels \(cpu, mem-24g\)"):
            check_servable_in_ci(inv, "local", env)
    check_servable_in_ci(inv, "local", {})  # not in CI: dtf local's own plan


@pytest.mark.integration
def test_a_failed_plan_posts_a_failure_status_when_a_token_exists(tmp_path) -> None:
    with GitHubServer() as api:
        done = _plan(tmp_path, SUITE, _env(tmp_path, api, DTF_GITHUB_TOKEN="t0ken"), "--runners", "local")
        posted = api.statuses(SHA)
    assert done.returncode == 2
    assert len(posted) == 1 and posted[0]["state"] == "failure" and posted[0]["context"] == "dtf"
    assert posted[0]["description"].startswith("dtf plan failed: --runners local inside github CI")
    assert len(posted[0]["description"]) <= 140
    summary = (tmp_path / "summary.md").read_text()
    assert "dtf plan failed" in summary and "no runner serves" in summary


@pytest.mark.integration
def test_a_suite_mistake_posts_a_failure_status_too(tmp_path) -> None:
    with GitHubServer() as api:
        done = _plan(tmp_path, SUITE.replace("run:", "rnu:"), _env(tmp_path, api, GITHUB_TOKEN="t0ken"))
        posted = api.statuses(SHA)
    assert done.returncode == 2
    assert [s["state"] for s in posted] == ["failure"]
    assert "dtf.yml" in posted[0]["description"] or "problem" in posted[0]["description"]


def test_without_a_token_the_log_says_nothing_was_posted(tmp_path) -> None:
    done = _plan(tmp_path, SUITE, _env(tmp_path), "--runners", "local")
    assert done.returncode == 2
    assert "no GitHub token: nothing posted" in done.stderr


@pytest.mark.integration
def test_an_aggregate_that_fails_before_its_report_posts_an_error_status(tmp_path) -> None:
    (tmp_path / "shards").mkdir()
    with GitHubServer() as api:
        done = subprocess.run([sys.executable, "-m", "dtf_ci", "aggregate", "--shards", "shards",
                               "--report-dir", "report", "--post"], cwd=tmp_path,
                              env=_env(tmp_path, api, GITHUB_TOKEN="t0ken"), capture_output=True,
                              text=True, timeout=120)
        posted = api.statuses(SHA)
    assert done.returncode == 3, done.stderr
    assert [s["state"] for s in posted] == ["error"]
    assert posted[0]["description"].startswith("dtf aggregate failed: no usable shard")


@pytest.mark.integration
def test_a_named_pipelines_failures_post_under_its_own_context(tmp_path) -> None:
    """A failed plan of pipeline `gpu`, and its aggregate (the name read from its plan, all
    shards missing), post `dtf / gpu`: never over another pipeline's `dtf`."""
    with GitHubServer() as api:
        env = _env(tmp_path, api, GITHUB_TOKEN="t0ken")
        failed = _plan(tmp_path, SUITE, env, "--runners", "local", "--name", "GPU")
        planned = _plan(tmp_path, TARGETS, env, "--name", "gpu")
        (tmp_path / "shards").mkdir()
        for plan in ("plan.json", "missing.json"):
            subprocess.run([sys.executable, "-m", "dtf_ci", "aggregate", "--shards", "shards",
                            "--plan", plan, "--report-dir", "report", "--post"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=120)
        posted = api.statuses(SHA)
    assert failed.returncode == 2 and planned.returncode == 0, planned.stderr
    assert json.loads((tmp_path / "plan.json").read_text())["name"] == "gpu"
    # newest first: without a readable plan no pipeline is named, so that failure goes to `dtf`
    assert [(s["context"], s["state"]) for s in posted] == [
        ("dtf", "failure"), ("dtf / gpu", "failure"), ("dtf / gpu", "failure")]
    assert posted[0]["description"].startswith("dtf aggregate failed")
    assert "missing" in posted[1]["description"]
    assert posted[2]["description"].startswith("dtf plan failed")
