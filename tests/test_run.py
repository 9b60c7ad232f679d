from __future__ import annotations

import json
import sys
import time

import duckdb
import pytest

from dtf_ci.busy import decode
from dtf_ci.errors import PlanError
from dtf_ci.repeats import half_width, needed_repetitions, should_stop
from dtf_ci.run import execute_shard
from dtf_ci.shard_check import verify_shard
from tests.helpers import make_plan

PY = sys.executable


def run_one(tmp_path, task: dict, *, seen: bool = True, **kw):
    """Run one task as one unit; ``seen``: the unit ran here before (it has a baseline)."""
    plan = make_plan(tmp_path, {"t": task}, **kw)
    if seen:
        for unit in plan["units"]:
            unit["estimate-source"] = "history"
    (result,) = execute_shard(plan, "local-w1-1", tmp_path / "out")
    return result


def test_task_without_format_yields_wall_time_per_repetition(tmp_path):
    r = run_one(tmp_path, {"run": "true", "repeat": 3, "max-repeat": 3})
    assert r.status == "passed" and r.repeat == 3 and r.attempts == 3
    assert [(rep, m.metric, m.direction) for rep, m in r.samples] == [(i, "wall_s", "lower") for i in range(3)]
    assert all(m.value > 0 for _, m in r.samples)


def test_results_placeholder_env_and_cwd(tmp_path):
    script = tmp_path / "bench.py"
    script.write_text(
        "import json, os, sys\n"
        "json.dump([{'name': 'rep', 'unit': 'x', 'value': int(os.environ['DTF_REPETITION'])},"
        " {'name': 'cwd_ok', 'unit': '', 'value': int(os.path.exists('bench.py'))},"
        " {'name': 'env', 'unit': '', 'value': float(os.environ['MY_VAR'])}], open(sys.argv[1], 'w'))\n"
    )
    r = run_one(tmp_path, {"run": f"{PY} bench.py {{results}}", "format": "custom-bigger-is-better",
                           "repeat": 2, "env": {"MY_VAR": "4.5"}})
    assert r.status == "passed", r.reason
    values = {(rep, m.metric): m.value for rep, m in r.samples}
    assert values[(0, "rep")] == 0 and values[(1, "rep")] == 1
    assert values[(0, "cwd_ok")] == 1 and values[(1, "env")] == 4.5
    assert {m.direction for _, m in r.samples} == {"higher"}


def test_missing_command_is_clear_and_not_retried(tmp_path):
    r = run_one(tmp_path, {"run": "definitely-not-a-command-xyz --flag", "retries": 3})
    assert r.status == "failed" and r.error_category == "command"
    assert r.attempts == 1
    assert "command not found" in r.reason and "definitely-not-a-command-xyz" in r.reason


def test_failing_test_is_not_retried(tmp_path):
    r = run_one(tmp_path, {"run": "echo boom; exit 3", "retries": 2, "repeat": 4})
    assert r.status == "failed" and r.error_category == "test"
    assert r.attempts == 1 and r.exit_code == 3
    assert r.output_tail == ["boom"]


def test_timeout_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    r = run_one(tmp_path, {"run": f"sleep 60 & echo $! > {pidfile}; wait", "timeout-s": 0.5, "retries": 2})
    assert r.status == "failed" and r.error_category == "timeout"
    assert r.attempts == 1 and r.wall_s < 59  # did not wait for the 60 s child
    assert "timed out" in r.reason
    child = int(pidfile.read_text())
    # A killed process still has to be scheduled to die: wait for that, however busy the host.
    deadline = time.monotonic() + 30
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper (PID 1 in containers may never reap)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_signal_from_outside_is_retried_as_infrastructure(tmp_path):
    flag = tmp_path / "flag"
    cmd = f"if [ -f {flag} ]; then exit 0; else touch {flag}; kill -9 $$; fi"
    r = run_one(tmp_path, {"run": cmd, "retries": 1})
    assert r.status == "passed" and r.attempts == 2


def test_infrastructure_error_exhausts_retries(tmp_path):
    r = run_one(tmp_path, {"run": "kill -9 $$", "retries": 2})
    assert r.status == "failed" and r.error_category == "infrastructure"
    assert r.attempts == 3 and "SIGKILL" in r.reason


def test_disk_full_is_infrastructure(tmp_path):
    r = run_one(tmp_path, {"run": "echo 'write error: No space left on device' >&2; exit 1", "retries": 1})
    assert r.error_category == "infrastructure" and r.attempts == 2


def test_invalid_results_json_is_a_parse_error_with_place(tmp_path):
    r = run_one(tmp_path, {"run": "printf '[{\"name\": 1,' > {results}", "format": "custom-smaller-is-better"})
    assert r.status == "failed" and r.error_category == "parse"
    assert "line 1" in r.reason


def test_no_results_file_written(tmp_path):
    r = run_one(tmp_path, {"run": "true {results}", "format": "custom-smaller-is-better"})
    assert r.error_category == "parse" and "wrote no results file" in r.reason


def test_junit_failures_fail_the_unit(tmp_path):
    xml = ('<testsuite tests="2"><testcase classname="c" name="ok" time="0.1"/>'
           '<testcase classname="c" name="bad" time="0.2"><failure message="x"/></testcase></testsuite>')
    (tmp_path / "j.xml").write_text(xml)
    r = run_one(tmp_path, {"run": "cp j.xml {results}", "format": "junit"})
    assert r.status == "failed" and r.error_category == "test"
    assert "1 of 2 test cases failed: c.bad" in r.reason


def test_dependency_failure_skips_dependents(tmp_path):
    plan = make_plan(tmp_path, {"a": {"run": "exit 1"}, "b": {"run": "true"}, "c": {"run": "true"}},
                     deps={"b": ["a"]})
    results = {r.unit: r for r in execute_shard(plan, "local-w1-1", tmp_path / "out")}
    assert results["a@local"].status == "failed"
    assert results["b@local"].status == "skipped" and results["b@local"].error_category == "dependency"
    assert "a@local failed" in results["b@local"].reason
    assert results["c@local"].status == "passed"


def _cycling_bench(tmp_path, name, values):
    script = tmp_path / f"{name}.py"
    script.write_text(
        "import json, os, sys\nrep = int(os.environ['DTF_REPETITION'])\n"
        f"values = {list(values)!r}\n"
        "json.dump([{'name': 'n', 'unit': 's', 'value': values[rep % len(values)]}], open(sys.argv[1], 'w'))\n"
    )
    return f"{PY} {script.name} {{results}}"


def test_adaptive_repeats_stop_on_precision_not_spread(tmp_path):
    # ±1 % spread at a 3 % threshold: the median's interval needs ~6 samples to be ±1.5 %.
    moderate = _cycling_bench(tmp_path, "moderate", [1.0, 1.01, 0.99])
    r = run_one(tmp_path, {"run": moderate, "format": "custom-smaller-is-better", "repeat": 3, "max-repeat": 30})
    values = [m.value for _, m in r.samples]
    assert 3 < r.repeat < 30
    assert should_stop({"n": values}, n=r.repeat, repeat=3, max_repeat=30, threshold=0.03).stop
    assert not should_stop({"n": values[:-1]}, n=r.repeat - 1, repeat=3, max_repeat=30, threshold=0.03).stop
    # The same noise at a 10 % threshold is precise enough at once.
    loose = run_one(tmp_path, {"run": moderate, "format": "custom-smaller-is-better", "repeat": 3,
                               "max-repeat": 30, "threshold": 0.10})
    assert loose.repeat == 3
    # Far too noisy for 3 %: even 9 samples could not decide, so more cannot change the verdict.
    wild = _cycling_bench(tmp_path, "wild", [1, 2, 3])
    assert run_one(tmp_path, {"run": wild, "format": "custom-smaller-is-better", "repeat": 3}).repeat == 3
    steady = run_one(tmp_path, {"run": "echo '[{\"name\": \"n\", \"unit\": \"s\", \"value\": 1.0}]' > {results}",
                                "format": "custom-smaller-is-better", "repeat": 3})
    assert steady.repeat == 3
    # Never run here before: no baseline, every series is `new` whatever the samples say, so
    # more samples cannot change the verdict.
    first = run_one(tmp_path, {"run": moderate, "format": "custom-smaller-is-better", "repeat": 3,
                               "max-repeat": 30}, seen=False)
    assert first.repeat == 3


def test_task_without_format_takes_exactly_repeat(tmp_path):
    # Wall times of `true` vary by far more than 3 %; a task without a format is not extended.
    r = run_one(tmp_path, {"run": "true", "repeat": 2})
    assert r.repeat == 2


def test_stop_rule_bounds_and_precision():
    noisy = [1.0, 1.01, 0.99]
    assert not should_stop({"m": noisy}, n=3, repeat=5, max_repeat=15, threshold=0.03).stop  # below repeat
    assert should_stop({"m": noisy * 10}, n=30, repeat=5, max_repeat=30, threshold=0.03).stop  # at max
    assert needed_repetitions(noisy, 0.03) == 6
    assert needed_repetitions(noisy * 3, 0.03) == 9  # already precise at 9: nothing more needed
    assert needed_repetitions([1.0, 1.0, 1.0], 0.03) == 3
    assert half_width([1.0, 2.0]) is None and half_width([0.0, 0.0, 0.0]) is None
    # half-width shrinks with sqrt(n) at constant spread
    assert half_width(noisy * 4) == pytest.approx(half_width(noisy) / 2)


def test_shard_files_are_written_and_verify(tmp_path):
    plan = make_plan(tmp_path, {"a": {"run": "true", "repeat": 2}, "b": {"run": "exit 2"}})
    execute_shard(plan, "local-w1-1", tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "local-w1-1.manifest.json").read_text())
    assert manifest["rows"] == {"dtf_meta": 9, "hosts": 1, "units": 2, "samples": 2}
    shard = verify_shard(tmp_path / "out" / "local-w1-1.manifest.json")
    # Load average and CPU steal around each unit (dtf_ci.busy), also for the failed one.
    meta = dict(duckdb.connect(str(shard.db), read_only=True).execute("SELECT key, value FROM dtf_meta").fetchall())
    loads = decode(meta["host-load"])
    assert set(loads) == {"a@local", "b@local"} and all(r.cores >= 1 for r in loads.values())
    assert shard.shard_id == "local-w1-1" and shard.run_id == "run-1"
    con = duckdb.connect(str(shard.db), read_only=True)
    rows = con.execute("SELECT unit, status, error_category, attempts, exit_code FROM units ORDER BY unit").fetchall()
    assert rows == [("a@local", "passed", "", 2, 0), ("b@local", "failed", "test", 1, 2)]
    assert con.execute("SELECT peak_rss_mb > 0, cpu_s >= 0 FROM units WHERE unit='a@local'").fetchone() == (True, True)
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_unknown_shard_lists_known(tmp_path):
    plan = make_plan(tmp_path, {"a": {"run": "true"}})
    with pytest.raises(PlanError, match="local-w1-1"):
        execute_shard(plan, "nope", tmp_path / "out")
