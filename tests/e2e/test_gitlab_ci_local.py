"""dtf's GitLab pipeline under real runner software: gitlab-ci-local, shell executor, offline.

The parent pipeline is the one users copy (``examples/gitlab/.gitlab-ci.yml``, with only
the suite path and ``DTF_SOURCE`` changed); its ``plan`` job writes ``child.yml`` with
``python -m dtf_ci.gitlab_pipeline`` and its ``bench`` job triggers it (``trigger: include:
artifact``, ``strategy: depend``): gitlab-ci-local reads the artifact and runs it as a child
pipeline with ``CI_PIPELINE_SOURCE=parent_pipeline``, the child's plan relay job, the shard
job and the aggregate job, which posts to the repository's stand-in GitLab API
(tests/integration/gitlab_server.py) and pushes history to a bare git remote. Every job
installs dtf in its own virtual environment from a wheel of this checkout and the
wheelhouse (``PIP_NO_INDEX``), as a runner without internet would. Run alone with
``pytest -m e2e``.

Three pipelines: a merge request pipeline (the note is created, the status set, no history),
the same merge request again (the note is edited in place), then the default branch (the
status, history appended to ``dtf-data``).

What gitlab-ci-local (4.75) does not do, and what the test does about it:

- ``needs: [{pipeline: $PARENT_PIPELINE_ID, job: plan}]`` (a child job fetching a parent
  job's artifacts) is parsed but fetches nothing (its ``needs`` resolution skips entries
  with ``pipeline:``). The test therefore runs the shell executor without
  ``--shell-isolation``: every job runs in the one project folder, as jobs of one shell
  runner do, so ``plan.json`` written by the parent's plan job is there for the child's
  relay job; that each job *keeps* the files the next needs is asserted from
  gitlab-ci-local's per-job artifact folders instead.
- ``CI_PROJECT_ID`` is always 1217 and the server comes from the git remote ``gcl-origin``
  (``http://127.0.0.1:PORT/octo-group/octo-project.git``): the stand-in API listens there.
- merge request pipelines are made with ``--variable CI_PIPELINE_SOURCE=merge_request_event``
  and the ``CI_MERGE_REQUEST_*`` values GitLab would set; as on GitLab, none of them reaches
  the child pipeline except through the ``DTF_CI_*`` variables dtf's generator writes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.node_tools import NODE_MODULES, node22

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]

GCL_SCRIPT = NODE_MODULES / "gitlab-ci-local" / "dist" / "index.js"
EXAMPLE = REPO / "examples" / "gitlab" / ".gitlab-ci.yml"
TOKEN = "glpat-e2e"
PROJECT, PROJECT_ID = "octo-group/octo-project", 1217  # gitlab-ci-local's fixed CI_PROJECT_ID
MR_IID = 7


def _gitlab_ci_local() -> list[str]:
    if not GCL_SCRIPT.exists():
        pytest.skip("gitlab-ci-local is not installed: .ci/run installs it from npm under .ci/node")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    return [node22("gitlab-ci-local"), str(GCL_SCRIPT)]


def _wheelhouse() -> Path:
    path = Path(os.environ.get("DTF_E2E_WHEELHOUSE") or REPO / ".ci" / "wheelhouse")
    for wheel in ("duckdb", "setuptools", "wheel"):
        if not any(path.glob(f"{wheel}-*.whl")):
            pytest.skip(f"no {wheel} wheel in the wheelhouse {path}: .ci/run downloads it")
    return path


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture(scope="module")
def dtf_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this checkout, built offline (setuptools from the wheelhouse)."""
    wheelhouse = _wheelhouse()
    src, dist = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    for folder in ("dtf_ci", "templates"):
        shutil.copytree(REPO / folder, src / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "--no-index", "--find-links", str(wheelhouse), "-w", str(dist),
                    str(src)], check=True, capture_output=True, text=True, timeout=600)
    return next(dist.glob("dtf_ci-*.whl"))


def _parent_pipeline(wheel: Path) -> str:
    """The example parent pipeline with the quickstart suite and this checkout's wheel."""
    text = EXAMPLE.read_text(encoding="utf-8")
    pinned = re.compile(r'^(  DTF_SOURCE: )"git\+https://[^"]+"$', re.M)
    assert pinned.search(text), "examples/gitlab/.gitlab-ci.yml no longer sets DTF_SOURCE"
    text = pinned.sub(lambda m: f'{m.group(1)}"{wheel.as_uri()}"', text)
    assert "--suite dtf.yml " in text, "examples/gitlab/.gitlab-ci.yml no longer plans dtf.yml"
    return text.replace("--suite dtf.yml ", "--suite examples/quickstart/dtf.yml ")


@pytest.fixture
def project(tmp_path: Path, dtf_wheel: Path) -> dict[str, Path]:
    """A project holding the quickstart and the example pipeline, with a bare origin."""
    repo, remote = tmp_path / "project", tmp_path / "remote.git"
    shutil.copytree(REPO / "examples" / "quickstart", repo / "examples" / "quickstart",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".dtf"))
    (repo / ".gitlab-ci.yml").write_text(_parent_pipeline(dtf_wheel), encoding="utf-8")
    (repo / ".gitignore").write_text(".gitlab-ci-local/\n.dtf-venv/\n", encoding="utf-8")
    _git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    _git(tmp_path, "init", "-q", "-b", "main", str(repo))
    for key, value in (("user.email", "e2e@example.com"), ("user.name", "e2e")):
        _git(repo, "config", key, value)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "the project under test")
    _git(repo, "remote", "add", "origin", str(remote))
    _git(repo, "push", "-q", "origin", "main")
    _git(repo, "remote", "set-head", "origin", "main")  # gitlab-ci-local's CI_DEFAULT_BRANCH
    home = tmp_path / "gcl-home"
    home.mkdir()
    return {"repo": repo, "remote": remote, "home": home, "tmp": tmp_path}


def run_pipeline(ws: dict[str, Path], api_url: str, *variables: str,
                 timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    """One pipeline of the checked-out branch; ``variables`` as ``--variable NAME=VALUE``
    (the parent pipeline only, as on GitLab) or ``--unset-variable NAME`` (``-NAME``: the
    parent and its child, as on GitLab, where a merge request pipeline has no branch)."""
    repo = ws["repo"]
    # a shell runner cleans the checkout before each job (git clean -ffdx): nothing from the
    # last pipeline's jobs may stand in for this one's artifacts. gitlab-ci-local's state
    # stays: it numbers the pipelines (CI_PIPELINE_ID, and so dtf's run id)
    _git(repo, "clean", "-ffdxq", "-e", ".gitlab-ci-local/")
    server = api_url.removesuffix("/api/v4")
    remotes = _git(repo, "remote").split()
    if "gcl-origin" in remotes:
        _git(repo, "remote", "set-url", "gcl-origin", f"{server}/{PROJECT}.git")
    else:
        _git(repo, "remote", "add", "gcl-origin", f"{server}/{PROJECT}.git")
    # project CI/CD variables (Settings > CI/CD > Variables): every pipeline gets them, the
    # child included. A value naming an existing path would become a *file* variable in
    # gitlab-ci-local, so the wheelhouse is given as a file:// URL (pip takes both).
    project_vars = ws["tmp"] / "project-variables.yml"
    project_vars.write_text(json.dumps({
        "DTF_GITLAB_TOKEN": TOKEN, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": _wheelhouse().as_uri(),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1"}), encoding="utf-8")
    args = [*_gitlab_ci_local(), "--force-shell-executor", "--no-color",
            "--home", str(ws["home"]), "--variables-file", str(project_vars),
            "--ignore-predefined-vars", "CI_PIPELINE_SOURCE,CI_COMMIT_BRANCH"]
    for variable in variables:
        if variable.startswith("-"):  # -NAME: a predefined variable this pipeline lacks
            args += ["--unset-variable", variable[1:]]
        else:
            args += ["--variable", variable]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "GITLAB_", "CI_", "RUNNER_", "DTF_", "PIP_", "VIRTUAL_ENV"))
           and k not in ("PYTHONPATH", "CI", "JENKINS_URL", "JENKINS_HOME", "BUILD_ID", "JOB_NAME")}
    # `python3` in the jobs is this interpreter, the one the wheelhouse was downloaded for
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    proc = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    runs = len(list(ws["tmp"].glob("pipeline-*.log")))
    (ws["tmp"] / f"pipeline-{runs + 1}.log").write_text(proc.stdout + proc.stderr)
    return proc


def _mr_variables(ws: dict[str, Path]) -> list[str]:
    repo = ws["repo"]
    return ["CI_PIPELINE_SOURCE=merge_request_event", "-CI_COMMIT_BRANCH", f"CI_MERGE_REQUEST_IID={MR_IID}",
            "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME=feature",
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME=main",
            f"CI_MERGE_REQUEST_SOURCE_BRANCH_SHA={_git(repo, 'rev-parse', 'HEAD')}",
            f"CI_MERGE_REQUEST_DIFF_BASE_SHA={_git(repo, 'merge-base', 'HEAD', 'main')}",
            f"CI_MERGE_REQUEST_PROJECT_PATH={PROJECT}", f"CI_MERGE_REQUEST_PROJECT_ID={PROJECT_ID}",
            f"CI_MERGE_REQUEST_SOURCE_PROJECT_PATH={PROJECT}"]


def _history_head(remote: Path) -> str:
    return _git(remote, "for-each-ref", "--format=%(objectname)", "refs/heads/dtf-data")


def _artifacts(ws: dict[str, Path], job: str) -> Path:
    """A job's kept artifacts: gitlab-ci-local stores them per job, under a name of its own
    making (``run e2e-shell-w1-1`` -> ``runIAe2e-shell-w1-1``)."""
    root = ws["repo"] / ".gitlab-ci-local" / "artifacts"
    safe = re.sub(r"[^\w-]+", lambda m: _gcl_escape(m.group(0)), job)
    assert (root / safe).is_dir(), (job, sorted(p.name for p in root.iterdir()))
    return root / safe


def _gcl_escape(text: str) -> str:
    """gitlab-ci-local's safeDockerString: base64 of each run of other characters."""
    import base64

    return base64.b64encode(text.encode()).decode().replace("=", "").replace("/", "_").replace("+", "-")


def _assert_passed(proc: subprocess.CompletedProcess[str], jobs: list[str]) -> None:
    """gitlab-ci-local's closing table: `` PASS  JOB`` for every job, no FAIL."""
    log = proc.stdout + proc.stderr
    for job in jobs:
        assert re.search(rf"^ PASS  {re.escape(job)} *$", log, re.M), (job, _tail(proc))
    assert not re.search(r"^ FAIL ", log, re.M), _tail(proc)


def _tail(proc: subprocess.CompletedProcess[str]) -> str:
    return (proc.stdout + proc.stderr)[-8000:]


def test_parent_and_child_pipeline_for_a_merge_request_then_the_default_branch(
        project: dict[str, Path]) -> None:
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    from gitlab_server import GitLabServer

    repo, remote = project["repo"], project["remote"]
    _git(repo, "checkout", "-q", "-b", "feature")
    (repo / "examples" / "quickstart" / "NOTES.md").write_text("a change under review\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "a change under review")
    _git(repo, "push", "-q", "origin", "feature")
    feature_sha = _git(repo, "rev-parse", "HEAD")
    durations: list[float] = []

    with GitLabServer(project=PROJECT, project_id=PROJECT_ID) as api:
        api.tokens = {TOKEN: "maintainer"}
        api.add_runner("shell runner", ["linux", "e2e-shell"])

        # 1. the merge request pipeline: parent -> child, a note and a status, no history
        started = time.monotonic()
        proc = run_pipeline(project, api.api_url, *_mr_variables(project))
        durations.append(time.monotonic() - started)
        assert proc.returncode == 0, _tail(proc)
        shard = "e2e-shell-w1-1"  # the runner's tags, listed through the API, name the target
        _assert_passed(proc, ["plan", "bench", "[bench] -> plan.json", f"[bench] -> run {shard}",
                              "[bench] -> aggregate"])
        # the child pipeline file, from the plan job's artifact: the merge request travels
        # as literal DTF_CI_* variables, the shard job carries the runner's tags
        child = (_artifacts(project, "plan") / "child.yml").read_text()
        assert re.search(r"DTF_CI_MERGE_REQUEST_IID:\n +value: '7'\n +expand: false", child), child
        assert re.search(rf"run {shard}:\n  stage: wave-1\n  tags:\n  - linux\n  - e2e-shell\n", child), child
        # each job keeps what the next one needs (GitLab passes nothing else between jobs)
        assert sorted(p.name for p in _artifacts(project, "plan").iterdir()) == ["child.yml", "plan.json"]
        assert [p.name for p in _artifacts(project, "plan.json").iterdir()] == ["plan.json"]
        assert sorted(p.name for p in (_artifacts(project, f"run {shard}") / "dtf-shards").iterdir()) \
            == [f"{shard}.duckdb", f"{shard}.manifest.json"]
        assert (_artifacts(project, "aggregate") / "dtf-report" / "report.md").is_file()

        notes = api.notes(MR_IID)
        assert len(notes) == 1, notes
        first = dict(notes[0])  # the server edits its own dict in place
        assert first["body"].startswith("<!-- dtf-report -->"), first["body"][:300]
        assert "No regressions in 10 series" in first["body"] and "| e2e-shell |" in first["body"], first["body"]
        assert "history not appended" in proc.stdout + proc.stderr, _tail(proc)
        statuses = api.statuses(feature_sha)
        assert [s["name"] for s in statuses] == ["dtf"] and statuses[0]["status"] == "success", statuses
        assert _history_head(remote) == "", "a merge request pipeline appended history"
        assert not api.requests_to("PUT", r"/notes/")

        # 2. the same merge request again: the note is edited, never a second one
        started = time.monotonic()
        proc = run_pipeline(project, api.api_url, *_mr_variables(project))
        durations.append(time.monotonic() - started)
        assert proc.returncode == 0, _tail(proc)
        _assert_passed(proc, ["plan", "bench", "[bench] -> aggregate"])
        notes = api.notes(MR_IID)
        assert len(notes) == 1 and notes[0]["id"] == first["id"], notes
        # the edit carries the second pipeline's report: each parent pipeline is its own dtf
        # run, named by the parent's CI_PIPELINE_ID (the child's id is another)
        run_ids = [re.findall(r"for run `(gitlab-\d+)`", body) for body in (first["body"], notes[0]["body"])]
        assert len(run_ids[0]) == len(run_ids[1]) == 1 and run_ids[0] != run_ids[1], run_ids
        assert len(api.requests_to("PUT", rf"/merge_requests/{MR_IID}/notes/{first['id']}$")) == 1
        assert len(api.requests_to("POST", rf"/merge_requests/{MR_IID}/notes$")) == 1
        assert _history_head(remote) == "", "a merge request pipeline appended history"

        # 3. the default branch: status on its commit, history appended, no note
        _git(repo, "checkout", "-q", "main")
        _git(repo, "merge", "-q", "--no-ff", "-m", "merge the change", "feature")
        _git(repo, "push", "-q", "origin", "main")
        main_sha = _git(repo, "rev-parse", "HEAD")
        posts_before = len(api.requests_to("POST", r"/notes$"))
        started = time.monotonic()
        proc = run_pipeline(project, api.api_url)
        durations.append(time.monotonic() - started)
        assert proc.returncode == 0, _tail(proc)
        _assert_passed(proc, ["plan", "bench", "[bench] -> aggregate"])
        assert _history_head(remote) != "", _tail(proc)
        appended = _git(remote, "ls-tree", "-r", "--name-only", "dtf-data").split()
        # one run in history: the default branch's, none of the merge request's two
        runs = {name.split("/")[1] for name in appended if name.startswith("runs/")}
        assert len(runs) == 1, appended
        assert len(api.requests_to("POST", r"/notes$")) == posts_before
        statuses = api.statuses(main_sha)
        assert statuses and statuses[0]["status"] == "success", statuses

    print(f"gitlab-ci-local pipelines: {', '.join(f'{d:.0f} s' for d in durations)}")
