"""Hardware-keyed baselines and machine-hygiene warnings, through the aggregate step."""

from __future__ import annotations

import json
import random
from pathlib import Path

from dtf_ci.aggregate import aggregate
from dtf_ci.hwbaseline import describe, filter_history, hardware_key, memory_class
from dtf_ci.hygiene import warnings_for
from dtf_ci.providers import RunContext
from dtf_ci.shard import write_shard
from tests.helpers import make_plan

CTX = RunContext(provider="local", sha="abc123", branch="main", default_branch="main", event="local")
XEON = {"cpu-model": "Intel(R) Xeon(R) CPU E5-2673 v4 @ 2.30GHz", "memory-gb": "7"}
EPYC = {"cpu-model": "AMD EPYC 7763 64-Core Processor", "memory-gb": "16"}


def run(tmp_path: Path, run_id: str, facts: dict[str, str], centre: float, seed: int,
        history: Path) -> dict[str, dict]:
    out = tmp_path / f"shards-{run_id}"
    rng = random.Random(seed)
    host = "h-" + facts["cpu-model"][:4]
    units = [(run_id, "s1", "a@local", "a", "local", host, "passed", "", "", 1, 10,
              "2026-01-01 00:00:00", 1.0, 1.0, 10.0, 0, "")]
    samples = [(run_id, "s1", "a", "local", host, "m", "s", "lower", i, centre * (1 + rng.gauss(0, 0.01)))
               for i in range(10)]
    write_shard(out, run_id=run_id, shard_id="s1", meta={"target": "local"},
                hosts=[(host, "box", "local", "linux", "x86_64", facts["cpu-model"], 2,
                        float(facts["memory-gb"]), "[]", json.dumps(facts))],
                units=units, samples=samples)
    plan = make_plan(tmp_path, {"a": {"run": "true"}}, run_id=run_id, shards={"s1": ["a"]})
    result = aggregate(out, tmp_path / f"report-{run_id}", plan=plan, history_spec=str(history),
                       append="always", context=CTX)
    return {"row": next(r for r in result.verdicts["series"] if r["task"] == "a"), "verdicts": result.verdicts}


def test_a_new_cpu_is_inconclusive_naming_both_never_a_regression(tmp_path: Path) -> None:
    history = tmp_path / "history"
    for i in range(3):
        run(tmp_path, f"r{i}", XEON, 1.0, i, history)
    # 40 % slower, on other hardware: not a regression, and it says why
    other = run(tmp_path, "r3", EPYC, 1.4, 9, history)
    row = other["row"]
    assert row["verdict"] == "inconclusive"
    assert row["reason"].startswith("hardware changed: Intel(R) Xeon(R) CPU E5-2673 v4 @ 2.30GHz · 8 GB class"
                                    " → AMD EPYC 7763 64-Core Processor · 16 GB class")
    assert row["hardware"] == "AMD EPYC 7763 64-Core Processor · 16 GB class"
    assert other["verdicts"]["hardware"] == {"local": ["AMD EPYC 7763 64-Core Processor · 16 GB class"]}
    assert any("hardware: local ran on AMD EPYC 7763" in n for n in other["verdicts"]["notes"])
    # back on the Xeon, the Xeon's runs are the baseline again: a real slowdown is caught
    back = run(tmp_path, "r4", XEON, 1.3, 11, history)
    assert back["row"]["verdict"] == "regression"
    assert back["row"]["baseline_runs"] == 3


def test_filter_keeps_runs_without_hardware_facts() -> None:
    key = ("cpu A", "", "8 GB")
    history = {("a", "m", "t"): [("r1", 1.0, [1.0]), ("r2", 1.0, [1.0]), ("r3", 1.0, [1.0])]}
    past = {("r1", "a", "t"): None, ("r2", "a", "t"): ("cpu B", "", "8 GB"), ("r3", "a", "t"): key}
    kept, changed = filter_history(history, {("a", "t"): key}, past)
    assert [e[0] for e in kept[("a", "m", "t")]] == ["r1", "r3"] and not changed


def test_memory_class_and_key() -> None:
    assert memory_class(15.6) == "16 GB" and memory_class("7") == "8 GB" and memory_class(None) == ""
    assert hardware_key({}) is None
    assert describe(hardware_key({"gpu-name": "NVIDIA H100 80GB HBM3"}, "Xeon", 251.0)) == \
        "Xeon · NVIDIA H100 80GB HBM3 · 256 GB class"


def test_hygiene_reads_the_hardware_probes_own_facts() -> None:
    """Facts as dtf_ci.hw.facts writes them from its probes' raw readings."""
    from dtf_ci.hw.facts import cpu_facts, gpu_facts

    facts = {**cpu_facts({"governor": "schedutil", "turbo": True}),
             **gpu_facts([{"vendor": "nvidia", "name": "NVIDIA H100 80GB HBM3", "clocks_locked": False,
                           "throttle_reasons": ["gpu_idle", "sw_thermal_slowdown"]}])}
    assert warnings_for(facts) == ["CPU governor schedutil (not performance)", "CPU turbo on",
                                   "GPU clocks not locked", "GPU throttled (sw_thermal_slowdown)"]
    quiet = {**cpu_facts({"governor": "performance", "turbo": False}),
             **gpu_facts([{"vendor": "nvidia", "name": "NVIDIA H100 80GB HBM3", "clocks_locked": True,
                           "throttle_reasons": ["gpu_idle"]}])}
    assert warnings_for(quiet) == []


def test_hygiene_warnings_read_every_spelling_and_absence() -> None:
    assert warnings_for({}) == []
    assert warnings_for({"cpu-governor": "performance", "cpu-turbo": "false"}) == []
    assert warnings_for({"cpu-governor": "ondemand", "cpu-turbo": True}) == [
        "CPU governor ondemand (not performance)", "CPU turbo on"]
    assert warnings_for({"gpu": "nvidia", "gpu-clocks-locked": "false",
                         "gpu-throttle-reasons": '["sw_thermal_slowdown", "gpu_idle"]'}) == [
        "GPU clocks not locked", "GPU throttled (sw_thermal_slowdown)"]
    assert warnings_for({"gpu-clocks-locked": True, "gpu-throttle-reasons": "hw_slowdown, sw_power_cap"}) == [
        "GPU throttled (hw_slowdown, sw_power_cap)"]
    assert warnings_for({"gpu-throttle-reasons": []}) == []


def test_a_series_row_says_when_its_host_was_not_set_up_to_measure(tmp_path: Path) -> None:
    history = tmp_path / "history"
    facts = dict(XEON, **{"cpu-governor": "powersave", "cpu-turbo": "true"})
    row = run(tmp_path, "r0", facts, 1.0, 0, history)["row"]
    assert row["hygiene"] == ["CPU governor powersave (not performance)", "CPU turbo on"]
    assert row["reason"].endswith("⚠ CPU governor powersave (not performance), CPU turbo on")
    report = (tmp_path / "report-r0" / "report.md").read_text()
    assert "Machine hygiene on local: CPU governor powersave (not performance), CPU turbo on" in report
    assert "CPU turbo on" in (tmp_path / "report-r0" / "index.html").read_text()
