"""Issue 9, item 16: history that cannot be read is "no baseline", never a silent green.

No credentials, ``persist-credentials: false``, a shallow clone or an unreachable remote all
end in every series being "new". The headline must say "no baseline: history unavailable
because ...", the status must not be a plain success, the exit code follows ``--fail-on``, and
a run that could not read its history is never appended to it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from dtf_ci.aggregate import aggregate, status_description
from dtf_ci.providers import RunContext
from tests.helpers import make_plan
from tests.integration.github_server import GitHubServer
from tests.robustness.loud_shards import noisy, one_run, shard

HEAD_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


def _repo_with_unreachable_remote(tmp: Path) -> Path:
    """A checkout whose origin cannot be read: what a job without credentials sees."""
    repo = tmp / "checkout"
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["remote", "add", "origin", str(tmp / "gone.git")]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    return repo


def test_unreadable_history_says_no_baseline_fails_and_appends_nothing(tmp_path, monkeypatch) -> None:
    repo = _repo_with_unreachable_remote(tmp_path)
    monkeypatch.chdir(repo)
    res = one_run(tmp_path, "r1", {("a", "m"): noisy(1.0)}, history="git:dtf-data")
    v = res.verdicts
    assert v["no-baseline"].startswith("history unavailable because history git:dtf-data: cannot reach")
    assert v["headline"].startswith("no baseline: history unavailable because")
    assert "No regressions" not in v["headline"]
    assert v["policy"]["exit-code"] == 1 and v["policy"]["state"] == "failure"
    assert not res.appended
    report = (tmp_path / "report-r1" / "report.md").read_text()
    assert "🔴 no baseline: history unavailable because" in report
    assert json.loads((tmp_path / "report-r1" / "verdicts.json").read_text())["headline"] == v["headline"]


def test_allow_no_baseline_exits_0_but_stays_yellow(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # not a git repository at all
    res = one_run(tmp_path, "r1", {("a", "m"): noisy(1.0)}, history="git:dtf-data",
                  fail_on="regression,allow-no-baseline")
    v = res.verdicts
    assert v["policy"]["exit-code"] == 0 and v["policy"]["accepted"]
    assert v["headline"].startswith("no baseline: history unavailable because")
    report = (tmp_path / "report-r1" / "report.md").read_text()
    assert "🟡 no baseline" in report and "🟢" not in report.split("\n###", 1)[1].splitlines()[0]


def test_readable_empty_history_is_new_not_no_baseline(tmp_path) -> None:
    res = one_run(tmp_path, "r1", {("a", "m"): noisy(1.0)}, history=tmp_path / "history")
    assert res.verdicts["no-baseline"] is None and res.verdicts["policy"]["exit-code"] == 0
    assert res.appended


@pytest.mark.integration
@pytest.mark.parametrize("fail_on,state", [("regression", "failure"),
                                           ("regression,allow-no-baseline", "success")])
def test_the_commit_status_says_what_the_headline_says(tmp_path, monkeypatch, fail_on, state) -> None:
    monkeypatch.chdir(tmp_path)
    with GitHubServer() as api:
        monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
        ctx = RunContext(provider="github", repo=api.repo, sha=HEAD_SHA, event="push", branch="main",
                         default_branch="main", api_url=api.url)
        out = tmp_path / "shards-r1"
        shard(out, "local-w1-1", "r1", {("a", "m"): noisy(1.0)})
        plan = make_plan(tmp_path, {"a": {"run": "true"}}, run_id="r1", shards={"local-w1-1": ["a"]})
        res = aggregate(out, tmp_path / "report", plan=plan, history_spec="git:dtf-data", post=True,
                        context=ctx, fail_on=fail_on)
        posted = api.statuses(HEAD_SHA)
    assert len(posted) == 1
    assert posted[0]["state"] == state == res.verdicts["policy"]["state"]
    assert posted[0]["description"].startswith("no baseline: history unavailable because")
    assert posted[0]["description"] == status_description(res.verdicts)
