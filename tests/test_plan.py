"""The planner: properties over random suites and inventories, and the cases users meet."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtf_ci.errors import PlanError
from dtf_ci.estimates import HistoryInputs, default_estimate
from dtf_ci.inventory import Inventory, TargetInfo
from dtf_ci.model import Defaults, Suite, TargetSpec, Task
from dtf_ci.plan import (
    default_run_id,
    load_plan,
    make_plan,
    path_matches,
    shard_of,
    write_plan,
)

TARGET_POOL = {
    "cpu": ("self-hosted", "linux", "x64", "cpu"),
    "a100": ("self-hosted", "linux", "x64", "gpu-a100", "cuda-12.4"),
    "t4": ("self-hosted", "linux", "x64", "gpu-t4", "cuda-11.8"),
    "mac": ("self-hosted", "macos", "arm64"),
    "win": ("self-hosted", "windows", "x64"),
}
REQ_POOL = ["gpu", "cuda>=12", "!windows", "linux", "arch==x86_64", "!gpu", "macos", "gpu-memory-gb>=40"]
VOLATILE = ("run-id", "created-at")


def suite_of(tasks: list[Task], targets: dict[str, TargetSpec] | None = None, root: str = ".") -> Suite:
    return Suite(path="dtf.yml", root=root, version=1, targets=targets or {}, defaults=Defaults(),
                 tasks={t.id: t for t in tasks})


def inventory_of(slots: dict[str, int], source: str = "file:test", overhead: float | None = None) -> Inventory:
    inv = Inventory(source=source)
    for name, n in slots.items():
        spec = TargetSpec(name=name, runs_on=TARGET_POOL.get(name, ("self-hosted", name)))
        inv.targets[name] = TargetInfo(spec=spec, online=n, slots=n, job_overhead_s=overhead)
    return inv


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Suite, Inventory, dict[tuple[str, str], list[float]]]:
    names = draw(st.lists(st.sampled_from(sorted(TARGET_POOL)), min_size=1, max_size=5, unique=True))
    slots = {n: draw(st.integers(min_value=1, max_value=6)) for n in names}
    n_tasks = draw(st.integers(min_value=1, max_value=14))
    tasks: list[Task] = []
    history: dict[tuple[str, str], list[float]] = {}
    frozen: set[str] = set()  # groups someone depends on take no new members (no cycles)
    for i in range(n_tasks):
        tid = f"t{i}"
        earlier = [t.id for t in tasks]
        deps = draw(st.lists(st.sampled_from(earlier), max_size=3, unique=True)) if earlier else []
        groups = sorted({t.group for t in tasks if t.group})
        if groups and draw(st.booleans()) and draw(st.booleans()):
            name = draw(st.sampled_from(groups))
            deps.append("group:" + name)
            frozen.add(name)
        tasks.append(Task(
            id=tid, run=f"echo {tid}",
            requires=tuple(draw(st.lists(st.sampled_from(REQ_POOL), max_size=2, unique=True))),
            across=draw(st.sampled_from(["all", "all", "one"])),
            depends_on=tuple(deps),
            group=draw(st.sampled_from([None, None, *sorted({"g1", "g2"} - frozen)])),
            timeout_s=draw(st.sampled_from([60.0, 900.0, 3600.0])),
            produces=("out/",) if draw(st.booleans()) else (),
        ))
        for name in names:
            if draw(st.integers(0, 3)) == 0:
                history[(tid, name)] = draw(st.lists(st.floats(0.1, 900.0), min_size=1, max_size=4))
    return suite_of(tasks), inventory_of(slots, overhead=draw(st.sampled_from([None, 0.2, 10.0]))), history


def _strip(plan: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in plan.items() if k not in VOLATILE}


def assert_plan_invariants(suite: Suite, inv: Inventory, plan: dict[str, Any]) -> None:
    units = {u["id"]: u for u in plan["units"]}
    assert len(units) == len(plan["units"])
    placed: dict[str, tuple[str, int]] = {}
    waves: dict[str, int] = {}
    for shard in plan["shards"]:
        assert shard["runs-on"] == list(inv.targets[shard["target"]].spec.runs_on)
        assert shard["units"], "no empty shard"
        assert shard["id"].startswith(f"{shard['target']}-w{shard['wave']}-")
        for pos, uid in enumerate(shard["units"]):
            assert uid not in placed, f"{uid} placed twice"
            placed[uid] = (shard["id"], pos)
            waves[uid] = shard["wave"]
            assert units[uid]["shard"] == shard["id"]
            assert units[uid]["target"] == shard["target"]
    assert set(placed) == set(units), "every unit placed exactly once"
    for uid, unit in units.items():
        for dep in unit["depends-on"]:
            same_shard = placed[dep][0] == placed[uid][0]
            assert waves[dep] < waves[uid] or (same_shard and placed[dep][1] < placed[uid][1]), (dep, uid)
            if units[dep]["target"] != unit["target"]:
                assert waves[dep] < waves[uid]
    # every task is planned, unschedulable, or skipped
    planned = {u["task"] for u in plan["units"]}
    blocked = {e["task"] for e in plan["unschedulable"]}
    skipped = {e["task"] for e in plan["skipped-by-paths"]}
    assert planned | blocked | skipped == set(suite.tasks)
    assert not planned & blocked
    # across: one gives exactly one unit, all gives one per matching target
    for tid in planned:
        count = sum(1 for u in plan["units"] if u["task"] == tid)
        if suite.tasks[tid].across == "one":
            assert count == 1
    # a dependency of a planned task is planned
    for tid in planned:
        for dep in suite.resolved_dependencies(tid):
            assert dep in planned
    # matrix: one per wave, <= 256, entries name shards with their labels
    assert plan["waves"] == len(plan["matrix"])
    for w, matrix in enumerate(plan["matrix"], start=1):
        assert 0 < len(matrix["include"]) <= 256
        for entry in matrix["include"]:
            assert set(entry) == {"shard", "target", "runs-on", "wave"}
            assert entry["wave"] == w
    assert sorted(e["shard"] for m in plan["matrix"] for e in m["include"]) == sorted(s["id"] for s in plan["shards"])
    assert plan["makespan-s"] >= plan["lower-bound-s"]
    # artifacts: produced by units whose consumers run in another shard
    for art in plan["artifacts"]:
        for consumer in art["consumers"]:
            assert units[consumer]["shard"] != units[art["unit"]]["shard"]
            assert art["unit"] in units[consumer]["depends-on"]


@settings(max_examples=int(os.environ.get('DTF_PLAN_EXAMPLES', '120')), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_plan_properties(scenario: tuple[Suite, Inventory, dict[tuple[str, str], list[float]]]) -> None:
    suite, inv, durations = scenario
    history = HistoryInputs(durations=durations)
    plan = make_plan(suite, inv, history=history, run_id="r")
    assert_plan_invariants(suite, inv, plan)
    again = make_plan(suite, inv, history=HistoryInputs(durations=dict(durations)), run_id="other")
    assert _strip(plan) == _strip(again), "the same inputs give the same plan"
    json.dumps(plan)  # serialisable


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(min_value=100, max_value=900), targets=st.integers(min_value=1, max_value=4),
       slots=st.integers(min_value=50, max_value=300))
def test_no_matrix_exceeds_256(n: int, targets: int, slots: int) -> None:
    names = sorted(TARGET_POOL)[:targets]
    tasks = [Task(id=f"t{i}", run="true", timeout_s=600.0) for i in range(n)]
    inv = inventory_of({name: slots for name in names}, overhead=1.0)
    plan = make_plan(suite_of(tasks), inv, run_id="r")
    assert_plan_invariants(suite_of(tasks), inv, plan)
    assert all(len(m["include"]) <= 256 for m in plan["matrix"])


def test_task_that_nothing_can_run_is_reported_with_each_reason() -> None:
    tasks = [Task(id="build", run="make"),
             Task(id="matmul", run="x", requires=("gpu", "cuda>=12")),
             Task(id="report", run="y", depends_on=("matmul",))]
    plan = make_plan(suite_of(tasks), inventory_of({"cpu": 2, "t4": 1}), run_id="r")
    blocked = {e["task"]: e["reasons"] for e in plan["unschedulable"]}
    assert blocked["matmul"] == {"cpu": "requires gpu: no label or fact 'gpu'",
                                 "t4": "requires cuda>=12: cuda 11.8 < 12"}
    assert blocked["report"] == {"cpu": "depends on 'matmul', which cannot be scheduled",
                                 "t4": "depends on 'matmul', which cannot be scheduled"}
    assert [u["id"] for u in plan["units"]] == ["build@cpu", "build@t4"]


def test_cross_target_dependency_makes_a_wave_and_an_artifact() -> None:
    tasks = [Task(id="build", run="make", requires=("!gpu",), produces=("build/",)),
             Task(id="bench", run="b", requires=("gpu",), depends_on=("build",))]
    plan = make_plan(suite_of(tasks), inventory_of({"cpu": 2, "a100": 1}), run_id="r")
    assert plan["waves"] == 2
    assert [m["include"][0]["shard"] for m in plan["matrix"]] == ["cpu-w1-1", "a100-w2-1"]
    assert plan["artifacts"] == [{"name": "dtf-produces-build-cpu", "unit": "build@cpu",
                                  "paths": ["build/"], "consumers": ["bench@a100"]}]
    units = {u["id"]: u for u in plan["units"]}
    assert units["bench@a100"]["depends-on"] == ["build@cpu"]


def test_same_target_dependency_shares_a_shard_in_order() -> None:
    tasks = [Task(id="prep", run="p", produces=("data/",)), Task(id="use", run="u", depends_on=("prep",))]
    plan = make_plan(suite_of(tasks), inventory_of({"cpu": 4}), run_id="r")
    assert plan["waves"] == 1
    assert plan["shards"][0]["units"] == ["prep@cpu", "use@cpu"]
    assert plan["artifacts"] == []


def test_heavy_fan_out_is_cut_into_a_later_wave_when_that_is_sooner() -> None:
    tasks = [Task(id="build", run="make", produces=("build/",))]
    tasks += [Task(id=f"b{i}", run="x", depends_on=("build",)) for i in range(20)]
    durations = {t.id: 300.0 for t in tasks}
    plan = make_plan(suite_of(tasks), inventory_of({"cpu": 10}, overhead=45.0), durations=durations, run_id="r")
    assert plan["waves"] == 2
    assert len(plan["matrix"][1]["include"]) == 10
    assert plan["artifacts"][0]["unit"] == "build@cpu" and len(plan["artifacts"][0]["consumers"]) == 20
    assert plan["makespan-s"] == pytest.approx(45 + 300 + 45 + 600)


def test_cutting_never_makes_more_than_three_waves() -> None:
    tasks = [Task(id="l0", run="x")]
    for level in range(1, 5):  # four levels of fan-out on one target
        tasks += [Task(id=f"l{level}-{i}", run="x", depends_on=(f"l{level - 1}" if level == 1 else f"l{level - 1}-0",))
                  for i in range(6)]
    plan = make_plan(suite_of(tasks), inventory_of({"cpu": 8}, overhead=1.0),
                     durations={t.id: 100.0 for t in tasks}, run_id="r")
    assert plan["waves"] <= 3
    assert_plan_invariants(suite_of(tasks), inventory_of({"cpu": 8}, overhead=1.0), plan)


def test_across_one_picks_the_target_that_finishes_soonest() -> None:
    tasks = [Task(id="fill", run="f", requires=("!gpu",))] + [
        Task(id=f"o{i}", run="x", across="one", requires=("linux",)) for i in range(3)]
    history = HistoryInputs(durations={("fill", "cpu"): [1000.0], ("o0", "cpu"): [100.0],
                                       ("o0", "a100"): [50.0], ("o1", "a100"): [50.0], ("o2", "cpu"): [10.0]})
    plan = make_plan(suite_of(tasks), inventory_of({"cpu": 1, "a100": 1}), history=history, run_id="r")
    targets = {u["task"]: u["target"] for u in plan["units"]}
    assert targets == {"fill": "cpu", "o0": "a100", "o1": "a100", "o2": "a100"}


def test_dependent_on_a_task_absent_from_its_target_depends_across() -> None:
    tasks = [Task(id="gen", run="g", across="one", requires=("cpu",)),
             Task(id="use", run="u", depends_on=("gen",), requires=("linux",))]
    plan = make_plan(suite_of(tasks), inventory_of({"cpu": 1, "a100": 1}), run_id="r")
    units = {u["id"]: u for u in plan["units"]}
    assert units["use@a100"]["depends-on"] == ["gen@cpu"]
    assert units["use@cpu"]["depends-on"] == ["gen@cpu"]


def test_group_dependency_expands() -> None:
    tasks = [Task(id="a", run="a", group="g"), Task(id="b", run="b", group="g"),
             Task(id="c", run="c", depends_on=("group:g",))]
    plan = make_plan(suite_of(tasks), inventory_of({"cpu": 1}), run_id="r")
    units = {u["id"]: u for u in plan["units"]}
    assert units["c@cpu"]["depends-on"] == ["a@cpu", "b@cpu"]


def test_estimate_sources() -> None:
    tasks = [Task(id=n, run="x", timeout_s=300.0) for n in ("hist", "scaled", "file", "dflt")] + [
        Task(id="common", run="x")]
    history = HistoryInputs(durations={
        ("hist", "cpu"): [1.0, 100.0, 10.0, 11.0, 12.0, 13.0],  # last five: median 12
        ("scaled", "a100"): [20.0],
        ("common", "cpu"): [40.0], ("common", "a100"): [10.0],  # cpu is 4x slower
    })
    plan = make_plan(suite_of(tasks), inventory_of({"cpu": 1, "a100": 1}), history=history,
                     durations={"file": 7.5}, run_id="r")
    units = {u["id"]: (u["estimate-s"], u["estimate-source"]) for u in plan["units"]}
    assert units["hist@cpu"] == (12.0, "history")
    assert units["scaled@cpu"] == (80.0, "history-scaled")
    assert units["file@cpu"] == (7.5, "durations-file")
    assert units["dflt@cpu"] == (30.0, "default")
    assert default_estimate(Task(id="x", run="x", timeout_s=3600)) == 60.0


def test_changed_paths_plan_matching_tasks_and_their_dependencies() -> None:
    tasks = [Task(id="build", run="b", paths=("src/**",)),
             Task(id="py", run="p", paths=("python/**/*.py",), depends_on=("build",)),
             Task(id="docs", run="d", paths=("docs/",)),
             Task(id="always", run="a")]
    plan = make_plan(suite_of(tasks), inventory_of({"cpu": 2}), changed_files=["python/pkg/mod.py"], run_id="r")
    assert sorted(u["task"] for u in plan["units"]) == ["always", "build", "py"]
    assert plan["skipped-by-paths"] == [{"task": "docs", "reason": "no changed file matches paths: docs/"}]


@pytest.mark.parametrize(("pattern", "path", "ok"), [
    ("src/**", "src/a/b.c", True), ("src/**/*.py", "src/x.py", True), ("src/**/*.py", "src/a/b/x.py", True),
    ("*.py", "x.py", True), ("*.py", "a/x.py", False), ("docs/", "docs/index.md", True),
    ("docs", "docs/index.md", True), ("doc", "docs/index.md", False), ("bench/?.py", "bench/a.py", True),
])
def test_path_matches(pattern: str, path: str, ok: bool) -> None:
    assert path_matches(pattern, path) is ok


def test_plan_records_tasks_targets_and_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "suite").mkdir()
    task = Task(id="t", run="echo", format="junit", repeat=3, timeout_s=120.0, retries=2,
                threshold=0.05, produces=("out/",), env={"A": "1"})
    plan = make_plan(suite_of([task], root=str(tmp_path / "suite")), inventory_of({"cpu": 1}), run_id="r")
    assert plan["tasks"]["t"] == {"run": "echo", "format": "junit", "repeat": 3, "timeout-s": 120.0,
                                  "retries": 2, "threshold": 0.05, "max-repeat": None,
                                  "produces": ["out/"], "env": {"A": "1"}, "parallel": False,
                                  "baseline": "history", "threshold-auto": False, "group": None}
    assert plan["suite-root"] == "suite"
    grouped = make_plan(suite_of([Task(id="g", run="echo", group="gpu")], root=str(tmp_path / "suite")),
                        inventory_of({"cpu": 1}), run_id="r")
    assert grouped["tasks"]["g"]["group"] == "gpu"  # the dashboard groups and filters by it
    assert plan["schema"] == "dtf.plan/1" and plan["run-id"] == "r"
    assert plan["targets"]["cpu"]["facts"]["os"] == "linux"
    assert plan["targets"]["cpu"]["runners-online"] == 1


def test_history_facts_rank_between_suite_and_labels() -> None:
    spec = TargetSpec(name="gpu", runs_on=("self-hosted", "cuda-11.8"), facts={"gpu-memory-gb": "80"})
    inv = Inventory(source="suite", targets={"gpu": TargetInfo(spec=spec, slots=1)})
    tasks = [Task(id="t", run="x", requires=("cuda>=12", "gpu-memory-gb>=40"))]
    history = HistoryInputs(facts={"gpu": {"cuda": "12.2", "gpu-memory-gb": "16"}})
    plan = make_plan(suite_of(tasks, {"gpu": spec}), inv, history=history, run_id="r")
    assert [u["id"] for u in plan["units"]] == ["t@gpu"]


def test_run_id_from_ci_and_generated() -> None:
    assert default_run_id({"GITHUB_RUN_ID": "123", "GITHUB_RUN_ATTEMPT": "2"}) == "123-2"
    generated = default_run_id({})
    assert len(generated) == len("20261125T101500Z-3f2a9c") and generated[15] == "Z"


def test_write_load_and_shard_of(tmp_path: Path) -> None:
    plan = make_plan(suite_of([Task(id="t", run="x")]), inventory_of({"cpu": 1}), run_id="r")
    path = tmp_path / "sub" / "plan.json"
    write_plan(plan, path)
    assert load_plan(path) == plan
    assert shard_of(plan, "cpu-w1-1")["units"] == ["t@cpu"]
    with pytest.raises(PlanError, match="cpu-w1-1"):
        shard_of(plan, "nope")
    with pytest.raises(PlanError, match="no such plan file"):
        load_plan(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(PlanError, match="not valid JSON"):
        load_plan(tmp_path / "bad.json")
    (tmp_path / "old.json").write_text('{"schema": "dtf.plan/0"}', encoding="utf-8")
    with pytest.raises(PlanError, match="dtf.plan/0"):
        load_plan(tmp_path / "old.json")


SUITE_YAML = """\
version: 1
targets:
  cpu:
    runs-on: [self-hosted, linux, x64, cpu]
  a100:
    runs-on: [self-hosted, linux, x64, gpu-a100, cuda-12.4]
tasks:
  - id: build
    run: make
    requires: ["!gpu"]
    produces: [build/]
  - id: matmul
    run: python mm.py
    requires: [gpu, cuda>=12]
    depends-on: [build]
  - id: rocm
    run: python rocm.py
    requires: [rocm>=6]
"""


def _plan_args(suite: Path, out: Path, **extra: Any) -> argparse.Namespace:
    base = dict(suite=str(suite), runners=None, org=None, history=None, durations=None,
                changed_files=None, job_overhead=None, max_parallel=None, out=str(out), run_id="r1")
    base.update(extra)
    return argparse.Namespace(**base)


def test_plan_command_writes_plan_and_github_outputs(tmp_path: Path, write_suite, capsys,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from dtf_ci.plan_cli import run_plan_command

    suite = write_suite(SUITE_YAML)
    output = tmp_path / "gh_output"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    runners = Path(__file__).parent / "data" / "runners.yml"
    assert run_plan_command(_plan_args(suite, tmp_path / "plan.json", runners=str(runners))) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert [json.loads(line)["include"][0]["shard"] for line in lines] == ["cpu-w1-1", "a100-w2-1"]
    assert "rocm" in err and "::warning::" in err
    plan = load_plan(tmp_path / "plan.json")
    assert plan["targets"]["cpu"]["runners-online"] == 2 and plan["targets"]["cpu"]["runners-offline"] == 1
    text = output.read_text(encoding="utf-8")
    outputs = _parse_outputs(text)
    assert json.loads(outputs["matrix"]) == plan["matrix"][0]
    assert json.loads(outputs["matrix-2"]) == plan["matrix"][1]
    assert json.loads(outputs["matrix-4"]) == {"include": []}
    assert outputs["has-work-1"] == "true" and outputs["has-work-3"] == "false"
    assert outputs["waves"] == "2" and outputs["plan-path"] == str(tmp_path / "plan.json")


def _parse_outputs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        name, delim = line.split("<<", 1)
        value = []
        for inner in lines:
            if inner == delim:
                break
            value.append(inner)
        out[name] = "\n".join(value)
    return out


def test_plan_command_changed_files_and_durations(tmp_path: Path, write_suite, capsys) -> None:
    from dtf_ci.plan_cli import run_plan_command

    suite = write_suite(SUITE_YAML.replace("    run: make\n", "    run: make\n    paths: [src/**]\n"))
    changed = tmp_path / "changed.txt"
    changed.write_text("docs/readme.md\n", encoding="utf-8")
    durations = tmp_path / "durations.json"
    durations.write_text('{"matmul": 30}', encoding="utf-8")
    args = _plan_args(suite, tmp_path / "plan.json", changed_files=str(changed), durations=str(durations))
    assert run_plan_command(args) == 0
    plan = load_plan(tmp_path / "plan.json")
    # matmul has no paths, so it runs, and brings its dependency build with it
    assert sorted(u["task"] for u in plan["units"]) == ["build", "matmul"]
    assert {u["estimate-source"] for u in plan["units"] if u["task"] == "matmul"} == {"durations-file"}


def test_validate_command_prints_matches_and_failures(write_suite, capsys) -> None:
    from dtf_ci.plan_cli import run_validate_command

    suite = write_suite(SUITE_YAML)
    assert run_validate_command(argparse.Namespace(suite=str(suite), runners=None)) == 0
    out = capsys.readouterr().out
    assert "matmul: a100" in out
    assert "not cpu: requires gpu: no label or fact 'gpu'" in out
    assert "rocm: (no target)" in out
    assert "not a100: requires rocm>=6: no fact 'rocm'" in out
    assert "suite OK: 3 tasks, 2 units on 2 targets" in out


def test_learned_job_overhead_is_used_and_noted() -> None:
    tasks = [Task(id=f"t{i}", run="x", requires=("linux",)) for i in range(40)]
    suite = suite_of(tasks)
    durations = {(f"t{i}", "cpu"): [30.0] for i in range(40)}
    cheap = make_plan(suite, inventory_of({"cpu": 40}),
                      history=HistoryInputs(durations=durations, job_overheads={"cpu": 5.0}))
    dear = make_plan(suite, inventory_of({"cpu": 40}),
                     history=HistoryInputs(durations=durations, job_overheads={"cpu": 600.0}))
    assert cheap["job-overhead-s"] == 5.0 and dear["job-overhead-s"] == 600.0
    assert dear["makespan-s"] - cheap["makespan-s"] == pytest.approx(595.0, abs=1.0)
    assert any("learned from history: cpu 5 s" in n for n in cheap["notes"])
    explicit = make_plan(suite, inventory_of({"cpu": 40}), job_overhead=45.0,
                         history=HistoryInputs(durations=durations, job_overheads={"cpu": 5.0}))
    assert explicit["job-overhead-s"] == 45.0
    assert not any("learned" in n for n in explicit["notes"])


def test_run_id_follows_the_ci() -> None:
    assert default_run_id({"GITHUB_RUN_ID": "77", "GITHUB_RUN_ATTEMPT": "2"}) == "77-2"
    assert default_run_id({"CI_PIPELINE_ID": "4211"}) == "gitlab-4211"
    assert default_run_id({"JENKINS_URL": "https://ci", "BUILD_TAG": "jenkins-perf/main-12"}) == "jenkins-perf-main-12"


def test_runners_jenkins_plans_on_the_suite_targets() -> None:
    from dtf_ci.inventory import build_inventory

    suite = suite_of([Task(id="a", run="x")], targets={"gpu": TargetSpec("gpu", ("linux", "gpu-a100"))})
    inv = build_inventory(suite, "jenkins")
    assert list(inv.targets) == ["gpu"] and inv.source == "jenkins"
    assert any("Jenkins agents are not listed" in n for n in inv.notes)
