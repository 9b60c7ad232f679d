"""Issue 9, item 15: missing units are a failure by default, never a silent green.

A shard that never ran, a dead runner, a broken download pattern, an unwired wave: each leaves
planned units without a result. The headline, the commit status, ``verdicts.json`` and the
exit code must all say so, and such a partial run must never become history (a baseline).
"""

from __future__ import annotations

import json

import pytest

from dtf_ci.cli import main
from dtf_ci.errors import UsageError
from dtf_ci.history import LocalStore
from dtf_ci.policy import evaluate, parse_fail_on
from tests.helpers import make_plan
from tests.robustness.loud_shards import CTX, noisy, one_run, shard


def _headline_line(report_md: str) -> str:
    return next(line for line in report_md.splitlines() if line.startswith("### "))


def test_an_absent_shard_fails_the_run_and_is_not_appended(tmp_path) -> None:
    history = tmp_path / "history"
    res = one_run(tmp_path, "r1", {("a", "m"): noisy(1.0)}, history=history,
                  shards={"local-w1-2": ["b"]})
    policy = res.verdicts["policy"]
    assert policy["exit-code"] == 1 and policy["state"] == "failure"
    assert policy["missing-units"] == 1 and "1 unit(s) missing (b@local" in policy["reasons"][0]
    assert "1 unit missing" in res.verdicts["headline"]
    on_disk = json.loads((tmp_path / "report-r1" / "verdicts.json").read_text())
    assert on_disk["policy"] == policy and on_disk["headline"] == res.verdicts["headline"]
    line = _headline_line((tmp_path / "report-r1" / "report.md").read_text())
    assert "🔴" in line and "missing" in line
    assert not res.appended and LocalStore(history).runs() == []
    assert any("partial run never becomes a baseline" in n for n in res.notes)


def test_allow_missing_relaxes_the_exit_code_but_not_the_words(tmp_path) -> None:
    history = tmp_path / "history"
    res = one_run(tmp_path, "r1", {("a", "m"): noisy(1.0)}, history=history,
                  shards={"local-w1-2": ["b"]}, fail_on="regression,allow-missing")
    policy = res.verdicts["policy"]
    assert policy["exit-code"] == 0 and policy["state"] == "success"
    assert policy["accepted"] and "missing" in policy["accepted"][0]
    assert "1 unit missing" in res.verdicts["headline"]
    line = _headline_line((tmp_path / "report-r1" / "report.md").read_text())
    assert "🟡" in line and "🟢" not in line
    assert not res.appended and LocalStore(history).runs() == []  # relaxed, still never a baseline


def test_no_shard_at_all_with_a_plan_is_a_failure_not_a_green(tmp_path) -> None:
    """A broken download pattern: the plan arrived, no shard did."""
    res = one_run(tmp_path, "r1", {("a", "m"): [1.0]}, history=tmp_path / "h", write=False,
                  shards={"local-w1-2": ["b"]})
    assert res.verdicts["policy"]["exit-code"] == 1
    assert res.verdicts["policy"]["missing-units"] == 2
    assert "2 units missing" in res.verdicts["headline"]


def test_a_shard_that_arrives_without_a_planned_unit_reports_that_unit_missing(tmp_path) -> None:
    out = tmp_path / "shards"
    shard(out, "local-w1-1", "r1", {("a", "m"): noisy(1.0)})
    plan = make_plan(tmp_path, {"a": {"run": "true"}, "c": {"run": "true"}}, run_id="r1",
                     shards={"local-w1-1": ["a", "c"]})
    from dtf_ci.aggregate import aggregate
    from tests.robustness.loud_shards import CTX

    res = aggregate(out, tmp_path / "report", plan=plan, history_spec=None, context=CTX)
    missing = [u for u in res.verdicts["units"] if u["status"] == "missing"]
    assert [u["unit"] for u in missing] == ["c@local"]
    assert "arrived without a result for c@local" in missing[0]["reason"]
    assert res.verdicts["policy"]["exit-code"] == 1


def test_the_cli_exit_code_follows_the_policy(tmp_path) -> None:
    out = tmp_path / "shards"
    shard(out, "local-w1-1", "r1", {("a", "m"): noisy(1.0)})
    plan = make_plan(tmp_path, {"a": {"run": "true"}, "b": {"run": "true"}}, run_id="r1",
                     shards={"local-w1-1": ["a"], "local-w1-2": ["b"]})
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))
    args = ["aggregate", "--shards", str(out), "--plan", str(plan_path), "--report-dir",
            str(tmp_path / "report")]
    assert main(args) == 1
    assert json.loads((tmp_path / "report" / "verdicts.json").read_text())["policy"]["exit-code"] == 1
    assert main([*args, "--fail-on", "regression,allow-missing"]) == 0
    assert main([*args, "--fail-on", "failure,allow-missing"]) == 0
    assert main([*args, "--fail-on", "never"]) == 0
    with pytest.raises(SystemExit) as bad:
        main([*args, "--fail-on", "regresion"])
    assert bad.value.code == 2


def test_fail_on_parsing_names_the_wrong_word() -> None:
    assert parse_fail_on("failure,allow-no-baseline").text == "failure,allow-no-baseline"
    assert parse_fail_on("allow-missing,regression").text == "regression,allow-missing"
    for bad, words in (("regresion", "unknown word 'regresion'"), ("allow-missing", "no policy"),
                       ("regression,never", "two policies")):
        with pytest.raises(UsageError, match=words):
            parse_fail_on(bad)


def test_never_reports_what_it_accepted() -> None:
    verdicts = {"counts": {"failed": 1, "regression": 2},
                "units": [{"unit": "x@t", "status": "missing", "reason": "gone"}],
                "no-baseline": "history unavailable because no credentials"}
    out = evaluate(verdicts, "never")
    assert out["exit-code"] == 0 and out["state"] == "success" and len(out["accepted"]) == 4
    strict = evaluate(verdicts, "failure")
    assert strict["exit-code"] == 1 and len(strict["reasons"]) == 3  # regressions do not count


def test_in_ci_without_the_plan_missing_units_cannot_be_seen_so_it_is_not_green(tmp_path) -> None:
    """A broken plan download: the shards came, the plan did not; absent shards are unseen."""
    from dtf_ci.aggregate import aggregate
    from dtf_ci.providers import RunContext

    out = tmp_path / "shards"
    shard(out, "local-w1-1", "r1", {("a", "m"): noisy(1.0)})
    ci = RunContext(provider="github", sha="abc", branch="main", default_branch="main", event="push")
    res = aggregate(out, tmp_path / "report", history_spec=None, context=ci)
    assert res.verdicts["plan-missing"] and res.verdicts["policy"]["exit-code"] == 1
    assert res.verdicts["headline"].startswith("no plan: missing units cannot be seen")
    relaxed = aggregate(out, tmp_path / "report2", history_spec=None, context=ci,
                        fail_on="regression,allow-missing")
    assert relaxed.verdicts["policy"]["exit-code"] == 0
    assert "🟡 no plan" in (tmp_path / "report2" / "report.md").read_text()
    local = aggregate(out, tmp_path / "report3", history_spec=None, context=CTX)
    assert not local.verdicts["plan-missing"] and local.verdicts["policy"]["exit-code"] == 0
