"""The README's promise, end to end: dtf local twice, then a real slowdown is caught.

No assertion here may depend on how busy the machine is: the quickstart's timings are real,
so its test checks only what does not move with load (what ran, how many samples the rules
take, what the second run compares against). Catching a slowdown is checked on a benchmark
whose metric is a count of operations (comparisons made by a sort), which is real work that
grows with the input yet reads the same on a quiet and on a busy machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def dtf(cwd, *args, env=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "dtf_ci", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300)


def verdicts(cwd):
    data = json.loads((cwd / ".dtf" / "report" / "verdicts.json").read_text())
    return {(r["task"], r["metric"]): r for r in data["series"]}, data


def history_runs(cwd):
    return sorted((cwd / ".dtf" / "history" / "runs").glob("*/run.json"))


def test_quickstart_twice(tmp_path):
    work = tmp_path / "repo"
    shutil.copytree(REPO / "examples" / "quickstart", work / "examples" / "quickstart",
                    ignore=shutil.ignore_patterns("data"))
    suite = "examples/quickstart/dtf.yml"

    first = dtf(work, "local", "--suite", suite, "--no-progress")
    assert first.returncode == 0, first.stderr
    series, data = verdicts(work)
    assert {r["verdict"] for r in series.values()} == {"new"}
    assert ("sort", "sort_ints") in series and ("hash", "sha256_throughput") in series
    assert series[("hash", "sha256_throughput")]["direction"] == "higher"
    # A task without a format takes exactly its own `repeat` (3), however noisy its wall time.
    assert series[("prepare", "wall_s")]["current_n"] == 3
    assert [u["task"] for u in data["unschedulable"]] == ["gpu-matmul"]
    assert "gpu-matmul cannot run here" in first.stderr
    assert "10 series" in first.stderr
    assert (work / ".dtf" / "report" / "index.html").exists()
    first_n = {key: r["current_n"] for key, r in series.items()}
    # Adaptive repeats stay within [repeat, max-repeat] whatever the load.
    assert 10 <= first_n[("sort", "sort_ints")] <= 30

    second = dtf(work, "local", "--suite", suite, "--no-progress")
    series, _ = verdicts(work)
    assert "new" not in {r["verdict"] for r in series.values()}
    # The baseline is exactly what the first run recorded, however many samples that was.
    assert series[("sort", "sort_ints")]["baseline_n"] == first_n[("sort", "sort_ints")]
    assert series[("prepare", "wall_s")]["baseline_n"] == 3
    assert second.returncode in (0, 1), second.stderr  # timings: a busy machine may still differ


COUNTING_BENCH = '''
"""Comparisons made by sorting shuffled numbers: real work that load cannot change."""
import functools, json, os, random, sys

rep = int(os.environ["DTF_REPETITION"])
size = int(4000 * float(os.environ.get("SLOWDOWN", "1")))
values = list(range(size))
random.Random(rep).shuffle(values)
count = 0

def compare(a, b):
    global count
    count += 1
    return a - b

sorted(values, key=functools.cmp_to_key(compare))
json.dump([{"name": "sort_compares", "unit": "compares", "value": count}], open(sys.argv[1], "w"))
'''


def test_local_catches_a_slowdown_on_a_load_independent_metric(tmp_path):
    (tmp_path / "count.py").write_text(COUNTING_BENCH, encoding="utf-8")
    (tmp_path / "dtf.yml").write_text(textwrap.dedent(f"""
        version: 1
        defaults: {{repeat: 5, threshold: 10%}}
        tasks:
          - id: sort
            run: {sys.executable} count.py {{results}}
            format: custom-smaller-is-better
    """).lstrip(), encoding="utf-8")

    first = dtf(tmp_path, "local", "--no-progress")
    assert first.returncode == 0, first.stderr
    series, _ = verdicts(tmp_path)
    assert series[("sort", "sort_compares")]["verdict"] == "new"
    # Precise from the start (the counts differ by well under 1 %): no extra repetitions.
    assert series[("sort", "sort_compares")]["current_n"] == 5

    same = dtf(tmp_path, "local", "--no-progress")
    assert same.returncode == 0, same.stderr
    series, _ = verdicts(tmp_path)
    assert series[("sort", "sort_compares")]["verdict"] == "unchanged"
    assert series[("sort", "sort_compares")]["baseline_n"] == 5

    assert len(history_runs(tmp_path)) == 2

    slow = dtf(tmp_path, "local", "--no-progress", env={"SLOWDOWN": "1.3"})
    series, data = verdicts(tmp_path)
    assert series[("sort", "sort_compares")]["verdict"] == "regression", slow.stderr
    assert series[("sort", "sort_compares")]["ratio"] > 1.3
    assert slow.returncode == 1
    assert "regression" in slow.stderr
    # A regressed run is not the next baseline unless the user accepts it.
    assert len(history_runs(tmp_path)) == 2
    assert "not appended to history (1 regression)" in slow.stderr and "--accept" in slow.stderr
    assert data["history-append"]["accepted"] is False
    assert "not appended to history" in (tmp_path / ".dtf" / "report" / "report.md").read_text()

    accepted = dtf(tmp_path, "local", "--no-progress", "--accept", env={"SLOWDOWN": "1.3"})
    assert accepted.returncode == 1  # still a regression against the baseline: only now accepted
    runs = history_runs(tmp_path)
    assert len(runs) == 3
    accepted_id = json.loads(runs[-1].read_text())["run-id"]
    listed = dtf(tmp_path, "history", "list")
    assert accepted_id in listed.stdout and "accepted with --accept" in listed.stdout

    bare = dtf(tmp_path, "history")
    assert bare.returncode == 2 and "name a subcommand (changes, import, compact, list, drop RUN)" in bare.stderr
    missing = dtf(tmp_path, "history", "drop", "no-such-run")
    assert missing.returncode == 2 and "no run 'no-such-run'" in missing.stderr
    dropped = dtf(tmp_path, "history", "drop", accepted_id)
    assert dropped.returncode == 0, dropped.stderr
    assert len(history_runs(tmp_path)) == 2
    assert not [p for p in (tmp_path / ".dtf" / "history" / "runs").iterdir() if p.name.startswith(".")]
    # With the accepted run gone, the slowdown is a regression again.
    again = dtf(tmp_path, "local", "--no-progress", env={"SLOWDOWN": "1.3"})
    series, _ = verdicts(tmp_path)
    assert series[("sort", "sort_compares")]["verdict"] == "regression", again.stderr


GATED = '''
import json, os, pathlib, sys, time
marks = pathlib.Path("marks")
marks.mkdir(exist_ok=True)
me = marks / f"{os.environ['DTF_UNIT']}.{os.environ['DTF_REPETITION']}"
seen = {p.name for p in marks.iterdir()}
me.touch()
time.sleep(float(sys.argv[1]))
seen |= {p.name for p in marks.iterdir() if p != me}
me.unlink()
with open("seen.txt", "a") as fh:
    fh.write(json.dumps([os.environ["DTF_UNIT"], sorted(seen)]) + "\\n")
if len(sys.argv) > 2:
    json.dump([{"name": "t", "unit": "s", "value": 1.0}], open(sys.argv[2], "w"))
'''


def test_benchmark_units_run_alone_tests_may_share(tmp_path):
    (tmp_path / "gated.py").write_text(GATED, encoding="utf-8")
    py = sys.executable
    (tmp_path / "dtf.yml").write_text(textwrap.dedent(f"""
        version: 1
        defaults: {{repeat: 2, threshold: 10%}}
        tasks:
          - {{id: bench-a, run: "{py} gated.py 0.2 {{results}}", format: custom-smaller-is-better}}
          - {{id: bench-b, run: "{py} gated.py 0.2 {{results}}", format: custom-smaller-is-better}}
          - {{id: test-a, run: "{py} gated.py 0.6", repeat: 2}}
          - {{id: test-b, run: "{py} gated.py 0.6", repeat: 2}}
          - {{id: bench-shared, run: "{py} gated.py 0.1 {{results}}", format: custom-smaller-is-better, parallel: true}}
    """).lstrip(), encoding="utf-8")
    out = dtf(tmp_path, "local", "--no-progress", "--workers", "3")
    assert out.returncode == 0, out.stderr
    seen = [json.loads(line) for line in (tmp_path / "seen.txt").read_text().splitlines()]
    assert {unit for unit, _ in seen} == {"bench-a@local", "bench-b@local", "test-a@local",
                                          "test-b@local", "bench-shared@local"}
    for unit, others in seen:
        if unit in ("bench-a@local", "bench-b@local"):
            assert others == [], f"{unit} ran beside {others}"
