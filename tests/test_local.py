"""The README's promise, end to end: dtf local twice, then a real slowdown is caught."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

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


def test_quickstart_three_runs(tmp_path):
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
    assert series[("prepare", "wall_s")]["current_n"] == 3
    assert [u["task"] for u in data["unschedulable"]] == ["gpu-matmul"]
    assert "gpu-matmul cannot run here" in first.stderr
    assert "10 series" in first.stderr
    assert (work / ".dtf" / "report" / "index.html").exists()

    second = dtf(work, "local", "--suite", suite, "--no-progress")
    series, _ = verdicts(work)
    assert "new" not in {r["verdict"] for r in series.values()}
    assert series[("sort", "sort_ints")]["baseline_n"] == 10
    assert second.returncode in (0, 1), second.stderr  # a shared machine may still be noisy

    slow = dtf(work, "local", "--suite", suite, "--no-progress", env={"QUICKSTART_SLOWDOWN": "1.3"})
    series, data = verdicts(work)
    assert series[("sort", "sort_ints")]["verdict"] == "regression", slow.stderr
    assert series[("sort", "sort_ints")]["ratio"] > 1.15
    assert slow.returncode == 1
    assert "regression" in slow.stderr
    runs = sorted((work / ".dtf" / "history" / "runs").glob("*/run.json"))
    assert len(runs) == 3
