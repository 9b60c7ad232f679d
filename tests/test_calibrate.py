"""`baseline:` and `threshold: auto` in the suite; `dtf calibrate` writes what auto uses."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dtf_ci.calibrate import detectable_history, detectable_interleaved, load_calibration
from dtf_ci.errors import SuiteError
from dtf_ci.suite import parse_suite

BENCH = """\
import json, math, os, random, sys
rng = random.Random(os.environ["DTF_REPETITION"] + os.environ.get("DTF_SIDE", "") + os.environ.get("DTF_RUN_ID", ""))
value = 100 * math.exp(rng.gauss(0, 0.01))
json.dump([{"name": "kernel", "unit": "ms", "value": value}], open(sys.argv[1], "w"))
"""


def suite(defaults: dict[str, object], task: dict[str, object] | None = None):
    doc = {"version": 1, "defaults": defaults, "tasks": [{"id": "t", "run": "true", **(task or {})}]}
    return parse_suite(doc, "dtf.yml", root=Path("."))


def test_baseline_and_auto_threshold_from_defaults_and_tasks() -> None:
    s = suite({"baseline": "interleaved", "threshold": "auto"})
    assert s.tasks["t"].baseline == "interleaved" and s.tasks["t"].threshold_auto
    s = suite({"baseline": "interleaved", "threshold": "auto"}, {"baseline": "history", "threshold": "5%"})
    assert s.tasks["t"].baseline == "history" and not s.tasks["t"].threshold_auto
    assert s.tasks["t"].threshold == pytest.approx(0.05)
    assert suite({}).tasks["t"].baseline == "history"


def test_a_misspelt_baseline_names_the_choices() -> None:
    with pytest.raises(SuiteError) as err:
        suite({"baseline": "interleave"})
    assert "defaults.baseline: expected history or interleaved, got 'interleave' (did you mean 'interleaved'?)" \
        in str(err.value)


def test_detectable_change_shrinks_with_pairs_and_grows_with_noise() -> None:
    assert detectable_interleaved(0.014, 7) == math.inf  # 7 pairs cannot reach 1 %
    assert detectable_interleaved(0.014, 16) < detectable_interleaved(0.014, 8) < detectable_interleaved(0.03, 8)
    assert detectable_history(0.10, 0.01, 8) > 0.30 > detectable_history(0.01, 0.01, 8)


def test_an_unusable_calibration_file_is_ignored(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text('{"schema": "other"}')
    assert load_calibration(bad) == {}
    bad.write_text("not json")
    assert load_calibration(bad) == {}


@pytest.mark.slow
def test_calibrate_then_threshold_auto_uses_it(tmp_path: Path) -> None:
    (tmp_path / "bench.py").write_text(BENCH)
    (tmp_path / "dtf.yml").write_text(
        "version: 1\ndefaults:\n  repeat: 8\n  threshold: auto\ntasks:\n"
        "  - id: kernel\n    run: python bench.py {results}\n    format: custom-smaller-is-better\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "CI_", "JENKINS_"))}
    done = subprocess.run([sys.executable, "-m", "dtf_ci", "calibrate", "--runs", "3"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "dtf-calibration.json").read_text())
    assert doc["schema"] == "dtf.calibration/1" and doc["runs"] == 3
    (s,) = doc["series"]
    assert (s["task"], s["metric"], s["baseline"], s["runs"], s["pairs"]) == ("kernel", "kernel", "history", 3, 8)
    assert 0.007 < s["pair-noise"] < 0.025  # two samples of 1 % noise each: about 1.4 %
    assert s["false-alarms"] == 0
    # a history task: its own mode's detectable change, never below 0.5 %
    assert s["auto-threshold"] == pytest.approx(s["detectable"]["history"], abs=1e-5)
    assert s["auto-threshold"] >= 0.005
    local = subprocess.run([sys.executable, "-m", "dtf_ci", "local", "--no-progress"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert local.returncode == 0, local.stderr
    verdicts = json.loads((tmp_path / ".dtf" / "report" / "verdicts.json").read_text())
    row = verdicts["series"][0]
    assert row["threshold"] == pytest.approx(s["auto-threshold"])
    assert any("dtf-calibration.json" in n for n in verdicts["notes"])
