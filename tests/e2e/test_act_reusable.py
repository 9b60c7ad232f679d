"""dtf's reusable workflow (.github/workflows/dtf.yml) called from a user's repository, under
nektos/act in host mode, offline.

The user's repository holds only its suites and a caller workflow with `uses:
octo-org/dtf/.github/workflows/dtf.yml@v1`, as docs/github-actions.md tells users to write it.
Every job of the reusable workflow then checks the action out of the dtf repository at the
workflow's own commit, with the real actions/checkout, over smart HTTP from a git server on
127.0.0.1 (``git http-backend``, tests/e2e/git_http.py) that stands in for github.com and
wants the job's token as a private repository would. So dtf's code can only come from that
fetch: the caller's checkout has none.

act and what the tests do about it (see also test_act.py):
- act reads the called workflow through ``--local-repository octo-org/dtf@v1=<dtf's files>``
  (it would clone github.com otherwise);
- act sets ``GITHUB_SERVER_URL`` from ``--env``, and actions/checkout builds its fetch URL
  from it: pointed at the git server, as ``http://github.localhost:PORT`` (see _server_url);
- act has no ``job.workflow_repository`` / ``job.workflow_sha`` (empty), the context GitHub
  gives a called workflow: the caller passes the ``dtf-repository`` and ``dtf-ref`` inputs
  instead, the documented way for runners without them (GitHub Enterprise Server). A test
  shows the plan job's error when neither is there.
- act takes ``GITHUB_RUN_ATTEMPT`` from ``--env``: "Re-run all jobs" is attempt 2 of the same
  run (run id 1, the same artifact store).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.e2e import test_act as base
from tests.e2e.git_http import GitHTTPServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1500)]

QUICK = "examples-quickstart-dtf"  # the quickstart's pipeline name (from its suite path)
WAVES = "waves"  # the name the caller gives the three-wave suite's call


def _caller(dtf_ref: str | None, *, matrix: bool) -> str:
    """The user's workflow: the docs' lines, plus a matrix over two suites when asked."""
    pinned = ("" if dtf_ref is None else
              # act has no job.workflow_* context: name the commit GitHub would have given
              f"      dtf-repository: octo-org/dtf\n      dtf-ref: {dtf_ref}\n")
    if matrix:
        head = """\
    strategy:
      fail-fast: false
      matrix:
        include:
          - {suite: examples/quickstart/dtf.yml, name: ""}  # no name: posts `dtf`, as before names
          - {suite: e2e/waves.yml, name: waves}  # posts its own comment and `dtf / waves`
"""
        suite = "      suite: ${{ matrix.suite }}\n      name: ${{ matrix.name }}\n"
    else:
        head, suite = "", "      suite: examples/quickstart/dtf.yml\n"
    return f"""\
name: bench
on:
  pull_request:
  push:
    branches: [main]
jobs:
  dtf:
{head}    uses: octo-org/dtf/.github/workflows/dtf.yml@v1
    with:
{suite}      fail-on: failure
{pinned}    permissions:
      contents: write
      pull-requests: write
      statuses: write
    secrets: inherit
"""


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Any]:
    """dtf's repository served over HTTP (tag v1), and a user's repository that calls it."""
    ws = base.make_workspace(tmp_path)
    dtf = ws["repo"]  # dtf's committed files, one commit
    sha = base._git(dtf, "rev-parse", "HEAD")
    base._git(dtf, "tag", "v1")
    served = tmp_path / "git" / "octo-org" / "dtf"
    base._git(tmp_path, "clone", "-q", "--bare", str(dtf), str(served))
    # GitHub lets a reader fetch any commit reachable from a ref by its sha (checkout does)
    base._git(served, "config", "uploadpack.allowReachableSHA1InWant", "true")

    user, remote = tmp_path / "user", tmp_path / "user-remote.git"
    shutil.copytree(REPO / "examples" / "quickstart", user / "examples" / "quickstart")
    (user / "e2e").mkdir()
    (user / "e2e" / "waves.yml").write_text(base.THREE_WAVES)
    (user / ".github" / "workflows").mkdir(parents=True)
    base._git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    base._git(tmp_path, "init", "-q", "-b", "main", str(user))
    for key, value in (("user.email", "e2e@example.com"), ("user.name", "e2e")):
        base._git(user, "config", key, value)
    base._git(user, "remote", "add", "origin", str(remote))
    return {"ws": {**ws, "repo": user, "remote": remote}, "dtf": dtf, "sha": sha,
            "git_root": tmp_path / "git", "user": user}


def _commit_caller(setup: dict[str, Any], workflow: str) -> str:
    user = setup["user"]
    (user / ".github" / "workflows" / "bench.yml").write_text(workflow)
    assert not (user / "action.yml").exists() and not (user / "dtf_ci").exists()
    base._git(user, "add", "-A")
    base._git(user, "commit", "-q", "-m", "bench with dtf")
    base._git(user, "push", "-q", "origin", "main")
    return base._git(user, "rev-parse", "HEAD")


def _pull_request(head: str) -> dict:
    event = json.loads((base.EVENTS / "pull_request.synchronize.json").read_text())
    for r in (event["repository"], event["pull_request"]["head"]["repo"],
              event["pull_request"]["base"]["repo"]):
        r["full_name"], r["name"], r["default_branch"] = "octo-org/octo-repo", "octo-repo", "main"
        r["owner"]["login"] = "octo-org"
    event["pull_request"]["head"]["sha"] = head
    event["pull_request"]["base"]["ref"] = "main"
    return event


def _act(setup: dict[str, Any], git: GitHTTPServer, event_name: str, event: dict,
         api_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return base.run_act(
        setup["ws"], event_name, event, ".github/workflows/bench.yml", api_url,
        "--env", f"GITHUB_SERVER_URL={_server_url(git)}",
        "--local-repository", f"octo-org/dtf@v1={setup['dtf']}",
        "-P", "e2e-builder=-self-hosted", "-P", "e2e-tester=-self-hosted",
        "--artifact-server-port", str(_free_port()), *extra)


def _free_port() -> int:
    """A port for act's artifact server: its default, 34567, is taken by any other act run on
    the machine (another test session), and act then exits at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_url(git: GitHTTPServer) -> str:
    """The git server as ``github.server_url``: named ``github.localhost``, since
    upload-artifact@v4 refuses a server URL that is neither github.com, *.ghe.com nor
    *.localhost ("not supported on GHES"); git's libcurl resolves *.localhost to loopback."""
    return git.url.replace("127.0.0.1", "github.localhost")


def _served(git: GitHTTPServer) -> None:
    """Skip, saying why, where git cannot reach the server by that name (libcurl < 7.78
    does not resolve *.localhost by itself)."""
    proc = subprocess.run(["git", "-c", f"http.extraheader=AUTHORIZATION: basic {_basic()}",
                           "ls-remote", f"{_server_url(git)}/octo-org/dtf", "refs/tags/v1"],
                          capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0 and "resolve host" in proc.stderr:
        pytest.skip(f"git cannot reach {_server_url(git)}: {proc.stderr.strip()[-300:]}")
    assert proc.returncode == 0, proc.stderr
    git.requests.clear()  # the tests count the workflow's own fetches


def _basic() -> str:
    return base64.b64encode(f"x-access-token:{base.TOKEN}".encode()).decode()


def _github() -> Any:
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    from github_server import GitHubServer

    return GitHubServer()


def test_a_matrix_over_the_reusable_workflow_on_a_pull_request(setup: dict[str, Any]) -> None:
    """Two calls of the reusable workflow in one run (the quickstart, and a three-wave suite
    on two kinds of runner): each plans, runs its shards per wave and aggregates under its
    own name; the action comes from dtf's repository at the pinned commit. Both post: the
    unnamed call its `dtf` comment and status, the named one its own, `dtf / waves`."""
    base._wheelhouse()
    head = _commit_caller(setup, _caller(setup["sha"], matrix=True))
    event = _pull_request(head)
    with GitHTTPServer(setup["git_root"], token=base.TOKEN) as git, _github() as api:
        api.tokens = {base.TOKEN: "write"}
        _served(git)
        proc = _act(setup, git, "pull_request", event, api.url)
        comments, statuses = api.comments(event["number"]), api.statuses(head)
        fetches = git.fetches("octo-org/dtf")
        refused = [r for r in git.requests if r.status != 200]
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-8000:]
    assert "Job failed" not in log, log[-8000:]

    # every job of both calls ran the action fetched from dtf's repository, with the token:
    # quickstart: plan, 1 shard, aggregate; waves: plan, 3 shards, aggregate
    assert len(fetches) >= 8, (len(fetches), log[-4000:])
    assert {r.password for r in fetches} == {base.TOKEN} and not refused
    assert log.count("dtf environment (aggregate)") == 2, log[-4000:]

    names = base._artifact_names(setup["ws"]["artifacts"])
    for name in (QUICK, WAVES):
        assert {f"dtf-plan.{name}", f"dtf-report.{name}"} <= names, names
    quick_shards = {n for n in names if n.startswith(f"dtf-shard.1-1-{QUICK}.")}
    wave_shards = {n.rsplit(".", 1)[1] for n in names if n.startswith(f"dtf-shard.1-1-{WAVES}.")}
    assert quick_shards and wave_shards == {"builder-w1-1", "tester-w2-1", "builder-w3-1"}
    assert any(n.startswith(f"dtf-produces.1-1-{WAVES}.") for n in names)

    reports = {name: _verdicts(setup["ws"]["artifacts"], name) for name in (QUICK, WAVES)}
    assert reports[QUICK]["run-id"] == f"1-1-{QUICK}" and reports[WAVES]["run-id"] == f"1-1-{WAVES}"
    waves = {u["task"]: u["status"] for u in reports[WAVES]["units"]}
    assert waves == {"build": "passed", "test": "passed", "package": "passed"}, waves
    # each aggregate took its own pipeline's shards, none of the other's
    assert set(reports[WAVES]["shards"]["accepted"]) == {"builder-w1-1", "tester-w2-1", "builder-w3-1"}
    assert {f"dtf-shard.1-1-{QUICK}.{s}" for s in reports[QUICK]["shards"]["accepted"]} == quick_shards
    for report in reports.values():
        assert not report["shards"]["rejected"] and not report["shards"]["absent"], report["shards"]

    # one comment and one status per pipeline: neither call overwrote the other's
    by_marker = {c["body"].splitlines()[0]: c["body"] for c in comments}
    assert len(comments) == 2 and set(by_marker) == {"<!-- dtf-report -->", "<!-- dtf-report:waves -->"}, comments
    quick, waves_body = by_marker["<!-- dtf-report -->"], by_marker["<!-- dtf-report:waves -->"]
    assert f"1-1-{QUICK}" in quick and "No regressions in 10 series" in quick, quick
    assert f"1-1-{WAVES}" in waves_body and "dtf / waves" in waves_body, waves_body
    assert sorted((s["context"], s["state"]) for s in statuses) == [
        ("dtf", "success"), ("dtf / waves", "success")], statuses


def _verdicts(artifacts: Path, name: str) -> dict:
    """verdicts.json of the report artifact (act's artifact server keeps each upload's zip)."""
    (path,) = artifacts.glob(f"*/dtf-report.{name}/dtf-report.{name}.zip")
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("verdicts.json"))


def test_without_the_workflows_own_commit_the_plan_job_says_what_to_pass(
        setup: dict[str, Any]) -> None:
    """A runner that does not give job.workflow_sha (act here, GitHub Enterprise Server) and a
    caller that does not pass dtf-repository/dtf-ref: the plan job fails with the fix, and
    nothing else runs (no action of some other version is picked up instead)."""
    head = _commit_caller(setup, _caller(None, matrix=False))
    with GitHTTPServer(setup["git_root"], token=base.TOKEN) as git, _github() as api:
        api.tokens = {base.TOKEN: "write"}
        proc = _act(setup, git, "pull_request", _pull_request(head), api.url)
        fetched = git.requests
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log[-4000:]
    assert ("this runner does not say which commit this reusable workflow is "
            "(job.workflow_sha): pass the dtf-repository and dtf-ref inputs") in log, log[-4000:]
    assert not fetched
    # act prefixes each line with [caller job/workflow/job]: the plan job ran, nothing after it
    assert re.search(r"\[[^\]]*/plan\s*\]", log) and "dtf environment" not in log
    assert not re.search(r"\[[^\]]*/(aggregate|[^\]/]*-w\d+-\d+)\s*\]", log), log[-4000:]


def _push(head: str, before: str) -> dict:
    event = json.loads((base.EVENTS / "push.json").read_text())
    event["ref"], event["after"], event["before"] = "refs/heads/main", head, before
    repo = event["repository"]
    repo["full_name"], repo["name"], repo["default_branch"] = "octo-org/octo-repo", "octo-repo", "main"
    repo["master_branch"] = "main"
    repo["owner"]["login"] = repo["owner"]["name"] = "octo-org"
    event["head_commit"]["id"] = head
    return event


def test_rerun_all_jobs_is_a_new_run_beside_the_first(setup: dict[str, Any]) -> None:
    """"Re-run all jobs" on the main line: attempt 2 of the same workflow run plans again,
    so it gets the run id 1-2-NAME. Its shards land in the run's artifact store beside
    attempt 1's and aggregate takes only its own; history gets a second run, compared with
    the first (no series is new any more). act runs whole workflows only, so "Re-run failed
    jobs" (plan kept, failed shards again) is tested on the action itself: see
    tests/test_action.py::test_rerun_failed_jobs_replaces_the_failed_shard_and_keeps_the_run."""
    base._wheelhouse()
    user = setup["user"]
    head = _commit_caller(setup, _caller(setup["sha"], matrix=False))
    event = _push(head, "0" * 40)
    reports, logs = [], []
    with GitHTTPServer(setup["git_root"], token=base.TOKEN) as git, _github() as api:
        api.tokens = {base.TOKEN: "write"}
        _served(git)
        for attempt in (1, 2):
            proc = _act(setup, git, "push", event, api.url, "--env", f"GITHUB_RUN_ATTEMPT={attempt}")
            log = proc.stdout + proc.stderr
            assert proc.returncode == 0, (attempt, log[-8000:])
            logs.append(log)
            reports.append(_verdicts(setup["ws"]["artifacts"], QUICK))
        statuses = api.statuses(head)
    first, second = reports
    assert first["run-id"] == f"1-1-{QUICK}" and second["run-id"] == f"1-2-{QUICK}"
    names = base._artifact_names(setup["ws"]["artifacts"])
    shards = {n.split(".")[1] for n in names if n.startswith("dtf-shard.")}
    assert shards == {f"1-1-{QUICK}", f"1-2-{QUICK}"}, names  # both attempts' shards are there
    for report in reports:  # each aggregate read its own attempt's shards only
        assert report["shards"]["accepted"] and not report["shards"]["rejected"], report["shards"]
    assert first["counts"].get("new", 0) > 0, first["counts"]
    assert second["counts"].get("new", 0) == 0, second["counts"]  # compared with attempt 1

    appended = base._git(setup["ws"]["remote"], "log", "--format=%s", "dtf-data")
    assert f"1-1-{QUICK}" in appended and f"1-2-{QUICK}" in appended, appended
    assert [s["state"] for s in statuses] == ["success", "success"], statuses
    assert not (user / "action.yml").exists()
