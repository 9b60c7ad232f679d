from __future__ import annotations

import json
import random
import shutil

import pytest

from dtf_ci.aggregate import aggregate, policy_exit
from dtf_ci.cli import main
from dtf_ci.errors import InfrastructureError
from dtf_ci.providers import RunContext
from dtf_ci.shard import write_shard
from tests.helpers import make_plan

CTX = RunContext(provider="local", sha="abc123", branch="main", default_branch="main", event="local")


def shard(out, shard_id, run_id, series: dict[tuple[str, str], list[float]], *, status="passed",
          target="local", host="h1", direction="lower"):
    """Write one shard: series maps (task, metric) -> sample values."""
    tasks = sorted({t for t, _ in series}) or ["a"]
    units = [(run_id, shard_id, f"{t}@{target}", t, target, host, status,
              "" if status == "passed" else "test", "" if status == "passed" else "exited with code 1",
              1, 1, "2026-01-01 00:00:00", 1.0, 1.0, 10.0, 0 if status == "passed" else 1, "tail")
             for t in tasks]
    samples = [(run_id, shard_id, t, target, host, m, "s", direction, i, v)
               for (t, m), vals in series.items() for i, v in enumerate(vals)]
    write_shard(out, run_id=run_id, shard_id=shard_id, meta={"target": target},
                hosts=[(host, "box", target, "linux", "x86_64", "cpu", 2, 8.0, "[]", "{}")],
                units=units, samples=samples)


def noisy(center, n=10, cv=0.01, seed=0):
    rng = random.Random(seed)
    return [center * (1 + rng.gauss(0, cv)) for _ in range(n)]


def plan_for(tmp_path, run_id, shards):
    tasks = {t: {"run": "true"} for ts in shards.values() for t in ts}
    return make_plan(tmp_path, tasks, run_id=run_id, shards=shards)


def run_once(tmp_path, run_id, values, *, history, extra_shards=None, seed=0, plan=None):
    out = tmp_path / f"shards-{run_id}"
    shard(out, "local-w1-1", run_id, {("a", "m1"): noisy(values[0], seed=seed), ("a", "m2"): noisy(values[1], seed=seed + 1)})
    shard(out, "local-w1-2", run_id, {("b", "m3"): noisy(values[2], seed=seed + 2)})
    plan = plan or plan_for(tmp_path, run_id, {"local-w1-1": ["a"], "local-w1-2": ["b"], **(extra_shards or {})})
    return aggregate(out, tmp_path / f"report-{run_id}", plan=plan, history_spec=str(history),
                     append="always", context=CTX), out


def by_key(result):
    return {(r["task"], r["metric"]): r for r in result.verdicts["series"]}


def test_first_run_new_then_regression_detected(tmp_path):
    history = tmp_path / "history"
    first, _ = run_once(tmp_path, "r1", (1.0, 2.0, 3.0), history=history, seed=1)
    assert {r["verdict"] for r in first.verdicts["series"]} == {"new"}
    assert first.appended
    second, _ = run_once(tmp_path, "r2", (1.3, 2.0, 3.0), history=history, seed=10)
    v = by_key(second)
    assert v[("a", "m1")]["verdict"] == "regression"
    assert v[("a", "m1")]["ratio"] == pytest.approx(1.3, rel=0.03)
    assert v[("a", "m1")]["ci_low"] <= v[("a", "m1")]["ratio"] <= v[("a", "m1")]["ci_high"]
    assert v[("a", "m2")]["verdict"] == "unchanged" and v[("b", "m3")]["verdict"] == "unchanged"
    assert second.verdicts["overall"] == "regression"
    assert policy_exit(second.verdicts, "regression") == 1
    assert policy_exit(second.verdicts, "failure") == 0
    assert policy_exit(second.verdicts, "never") == 0
    data = json.loads((tmp_path / "report-r2" / "verdicts.json").read_text())
    row = next(r for r in data["series"] if r["metric"] == "m1")
    for key in ("task", "metric", "target", "unit", "direction", "verdict", "ratio", "ci_low",
                "ci_high", "p_value", "baseline_n", "current_n"):
        assert key in row
    assert row["baseline_n"] == 10 and row["current_n"] == 10
    for name in ("report.md", "summary.md", "index.html", "merged.duckdb", "badges/dtf.svg", "badges/dtf.json"):
        assert (tmp_path / "report-r2" / name).exists(), name


def test_truncated_shard_rejected_rest_reported(tmp_path):
    history = tmp_path / "history"
    run_once(tmp_path, "r1", (1.0, 2.0, 3.0), history=history, seed=1)
    out = tmp_path / "shards-r2"
    shard(out, "local-w1-1", "r2", {("a", "m1"): noisy(1.0, seed=3), ("a", "m2"): noisy(2.0, seed=4)})
    shard(out, "local-w1-2", "r2", {("b", "m3"): noisy(3.0, seed=5)})
    db = out / "local-w1-2.duckdb"
    db.write_bytes(db.read_bytes()[:2000])
    plan = plan_for(tmp_path, "r2", {"local-w1-1": ["a"], "local-w1-2": ["b"]})
    result = aggregate(out, tmp_path / "rep", plan=plan, history_spec=str(history), context=CTX)
    v = by_key(result)
    assert v[("a", "m1")]["verdict"] == "unchanged"
    assert v[("b", "m3")]["verdict"] == "missing"
    assert "local-w1-2" in v[("b", "m3")]["reason"] and "rejected" in v[("b", "m3")]["reason"]
    rejected = result.verdicts["shards"]["rejected"]
    assert [r["shard"] for r in rejected] == ["local-w1-2"]
    assert "does not match its manifest" in rejected[0]["reason"]
    assert "local-w1-2" in (tmp_path / "rep" / "report.md").read_text()


def test_absent_shard_units_are_missing(tmp_path):
    out = tmp_path / "shards"
    shard(out, "local-w1-1", "r1", {("a", "m1"): [1.0, 1.1]})
    plan = plan_for(tmp_path, "r1", {"local-w1-1": ["a"], "local-w1-2": ["b"]})
    result = aggregate(out, tmp_path / "rep", plan=plan, context=CTX)
    assert result.verdicts["shards"]["absent"] == ["local-w1-2"]
    missing = [r for r in result.verdicts["series"] if r["verdict"] == "missing"]
    assert [(r["task"], r["target"]) for r in missing] == [("b", "local")]
    assert "produced no result" in missing[0]["reason"]
    assert result.verdicts["overall"] == "missing"


def test_duplicate_shard_ids_keep_first_and_say_so(tmp_path):
    out = tmp_path / "shards"
    shard(out / "x", "local-w1-1", "r1", {("a", "m1"): [1.0, 1.1]})
    shard(out / "y", "local-w1-1", "r1", {("a", "m1"): [5.0, 5.1]})
    result = aggregate(out, tmp_path / "rep", context=CTX)
    (row,) = result.verdicts["series"]
    assert row["current_median"] == pytest.approx(1.05)
    (rej,) = result.verdicts["shards"]["rejected"]
    assert "two shards with id local-w1-1" in rej["reason"]


def test_failed_unit_gives_failed_verdict_and_exit_1(tmp_path):
    out = tmp_path / "shards"
    shard(out, "local-w1-1", "r1", {}, status="failed")
    result = aggregate(out, tmp_path / "rep", context=CTX)
    (row,) = result.verdicts["series"]
    assert row["verdict"] == "failed" and "exited with code 1" in row["reason"]
    assert policy_exit(result.verdicts, "failure") == 1


def test_no_shards_at_all_is_infrastructure_error(tmp_path):
    with pytest.raises(InfrastructureError, match="no usable shard"):
        aggregate(tmp_path / "nothing", tmp_path / "rep", context=CTX)


def test_history_not_appended_for_pull_requests(tmp_path):
    out = tmp_path / "shards"
    shard(out, "local-w1-1", "r1", {("a", "m1"): [1.0, 1.1]})
    pr = RunContext(provider="local", sha="x", branch="feature", default_branch="main", pr_number=7)
    pr = RunContext(**{**pr.__dict__, "provider": "github"})
    result = aggregate(out, tmp_path / "rep", history_spec=str(tmp_path / "h"), context=pr)
    assert not result.appended
    assert not list((tmp_path / "h").glob("runs/*/run.json"))


def test_cli_exit_codes(tmp_path, capsys):
    history = tmp_path / "history"
    run_once(tmp_path, "r1", (1.0, 2.0, 3.0), history=history, seed=1)
    out = tmp_path / "shards-r2"
    shard(out, "local-w1-1", "r2", {("a", "m1"): noisy(1.5, seed=7), ("a", "m2"): noisy(2.0, seed=8)})
    shard(out, "local-w1-2", "r2", {("b", "m3"): noisy(3.0, seed=9)})
    args = ["aggregate", "--shards", str(out), "--history", str(history), "--report-dir", str(tmp_path / "rep"),
            "--append-history", "never"]
    assert main(args) == 1
    assert "regression" in capsys.readouterr().err
    assert main([*args, "--fail-on", "never"]) == 0
    shutil.rmtree(out)
    assert main(args) == 3


def test_main_line_regression_lands_in_sha_and_change_point_picks_baseline(tmp_path):
    history = tmp_path / "history"

    def main_ctx(i):
        return RunContext(provider="github", sha=f"sha{i:02d}", branch="main", default_branch="main", event="push")

    def one(i, level):
        out = tmp_path / f"s{i}"
        shard(out, "local-w1-1", f"r{i:02d}", {("a", "m1"): noisy(level, seed=100 + i)})
        return aggregate(out, tmp_path / f"rep{i}", history_spec=str(history), context=main_ctx(i))

    for i in range(6):
        one(i, 1.0)
    landed = one(6, 1.3)
    (row,) = landed.verdicts["series"]
    assert row["verdict"] == "regression" and row["landed_in"] == "sha06"
    assert any("landed in sha06" in n for n in landed.verdicts["notes"])
    assert row["reason"]  # the statistics' one-line explanation
    for i in range(7, 12):
        later = one(i, 1.3)
    (row,) = later.verdicts["series"]
    assert row["verdict"] == "unchanged", {k: row.get(k) for k in ("reason", "change_point", "baseline_median", "noise", "ratio", "baseline_runs")}
    assert row["change_point"]["sha"] == "sha06"
    assert row["baseline_median"] == pytest.approx(1.3, rel=0.02)


def test_job_overhead_measured_in_ci_and_learned_by_the_planner(tmp_path):
    import datetime as dt

    from dtf_ci.estimates import history_inputs
    from dtf_ci.history import open_history

    out = tmp_path / "shards"
    shard(out, "local-w1-1", "r1", {("a", "m1"): [1.0, 1.1]})  # units start 2026-01-01 00:00:00
    plan = plan_for(tmp_path, "r1", {"local-w1-1": ["a"]})
    created = dt.datetime(2026, 1, 1) - dt.timedelta(seconds=37)
    plan["created-at"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    ci = RunContext(provider="github", sha="s1", branch="main", default_branch="main", event="push")
    result = aggregate(out, tmp_path / "rep", plan=plan, history_spec=str(tmp_path / "h"), context=ci)
    assert result.verdicts["job-overhead-s"] == {"local": 37.0}
    learned = history_inputs(open_history(tmp_path / "h"))
    assert learned.job_overheads == {"local": 37.0}
