"""``dtf hw --json`` as a versioned contract, ``dtf hw --diff``, and the fact helpers others read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dtf_ci.hardware import fact_bool, fact_list, hardware_key, memory_class, probe_host
from dtf_ci.hw.document import SCHEMA, diff_facts
from dtf_ci.hw.source import Source
from dtf_ci.requirements import parse_requirement

#: Top-level keys of dtf.hw/1: later versions may add keys, never remove or rename these.
V1_KEYS = {"schema", "hostname", "fingerprint", "os", "arch", "cpu_model", "cpu_count", "memory_gb",
           "facts", "labels", "cpu", "memory", "system", "gpus", "accelerators", "notes", "probe_seconds"}


def dtf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dtf_ci", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def this_machine() -> dict:
    out = dtf("hw", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_json_document_is_versioned_and_keeps_its_keys(this_machine):
    assert this_machine["schema"] == SCHEMA == "dtf.hw/1"
    assert set(this_machine) >= V1_KEYS
    assert all(isinstance(v, str) for v in this_machine["facts"].values())  # requirements compare text
    assert this_machine["cpu_count"] == int(this_machine["facts"]["cpu-count"])


def test_table_output_lists_facts_and_labels():
    out = dtf("hw")
    assert out.returncode == 0 and "fingerprint" in out.stdout and "cpu-count" in out.stdout


def _write(tmp_path: Path, name: str, doc: dict) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_diff_of_a_machine_with_itself_is_empty(tmp_path, this_machine):
    a = _write(tmp_path, "a.json", this_machine)
    out = dtf("hw", "--diff", a, a)
    assert out.returncode == 0 and "same hardware facts" in out.stdout


def test_diff_names_what_differs_and_exits_1_for_hardware(tmp_path, this_machine):
    other = json.loads(json.dumps(this_machine))
    other["facts"]["cpu-model"] = "Some Other CPU"
    other["facts"]["gpu-model"] = "h100"
    other["facts"]["python"] = "3.99.0"
    out = dtf("hw", "--diff", _write(tmp_path, "a.json", this_machine), _write(tmp_path, "b.json", other))
    assert out.returncode == 1
    assert f"cpu-model: {this_machine['facts']['cpu-model']} -> Some Other CPU" in out.stdout
    assert "gpu-model: only B (h100)" in out.stdout
    lines = out.stdout.splitlines()
    assert lines.index("varying between runs:") < next(i for i, x in enumerate(lines) if "python:" in x)


def test_diff_with_only_run_to_run_facts_exits_0(tmp_path, this_machine):
    other = json.loads(json.dumps(this_machine))
    other["facts"]["kernel"] = "9.9.9"
    out = dtf("hw", "--diff", _write(tmp_path, "a.json", this_machine), _write(tmp_path, "b.json", other))
    assert out.returncode == 0 and "only facts that vary between runs differ" in out.stdout


def test_diff_reads_documents_from_before_the_schema_key(tmp_path):
    old = {"hostname": "old", "facts": {"cpu-model": "X", "cpu-count": "4"}, "labels": []}
    new = {"schema": "dtf.hw/1", "hostname": "new", "facts": {"cpu-model": "X", "cpu-count": "8"}}
    assert [c.name for c in diff_facts(old, new)] == ["cpu-count"]
    out = dtf("hw", "--diff", _write(tmp_path, "old.json", old), _write(tmp_path, "new.json", new))
    assert out.returncode == 0 and "cpu-count: 4 -> 8" in out.stdout


@pytest.mark.parametrize(("content", "says"), [
    (None, "cannot read"), ("{not json", "not JSON"), ('{"x": 1}', 'no "facts" object'),
    ('{"schema": "other/1", "facts": {}}', "not a dtf hardware document"),
])
def test_diff_of_a_bad_file_is_a_usage_error_naming_it(tmp_path, this_machine, content, says):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    out = dtf("hw", "--diff", _write(tmp_path, "a.json", this_machine), str(bad))
    assert out.returncode == 2 and str(bad) in out.stderr and says in out.stderr


def test_fact_helpers_read_back_booleans_and_lists():
    facts = {"cpu-turbo": "false", "gpu-clocks-locked": "true", "gpu-throttle-reasons": "sw_power_cap,hw_slowdown",
             "cpu-governor": "performance"}
    assert fact_bool(facts, "cpu-turbo") is False and fact_bool(facts, "gpu-clocks-locked") is True
    assert fact_bool(facts, "cpu-smt") is None
    assert fact_list(facts, "gpu-throttle-reasons") == ["sw_power_cap", "hw_slowdown"]
    assert fact_list({"gpu-throttle-reasons": "none"}, "gpu-throttle-reasons") == []
    assert fact_list(facts, "absent") is None


@pytest.mark.parametrize(("gb", "cls"), [("15", "16g"), ("16", "16g"), ("31.3", "32g"), ("252", "256g"),
                                          ("", "unknown"), ("x", "unknown")])
def test_memory_class(gb, cls):
    assert memory_class(gb) == cls


def test_hardware_key_ignores_what_varies_between_runs():
    a = {"arch": "x86_64", "cpu-model": "EPYC 9654", "memory-total-gb": "755", "gpu-model": "h100",
         "gpu-count": "8", "python": "3.11", "cpu-count": "4"}
    b = {**a, "python": "3.12", "cpu-count": "8", "memory-total-gb": "754", "gpu-sm-clock-mhz": "1980"}
    assert hardware_key(a) == hardware_key(b) == {"arch": "x86_64", "cpu-model": "EPYC 9654",
                                                  "gpu-model": "h100", "gpu-count": "8", "memory-class": "1024g"}
    assert hardware_key({})["gpu-model"] == "none"


def test_an_amd_cpu_does_not_satisfy_a_requirement_for_an_amd_gpu(tmp_path):
    root = tmp_path / "r"
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "cpuinfo").write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654\n\n")
    host = probe_host(Source(root=root, path=str(tmp_path), env={}), system="Linux", arch="x86_64",
                      nvml=None, amdsmi=None)
    assert host.facts["cpu-vendor"] == "amd"
    assert parse_requirement("amd").check(frozenset(host.labels), host.facts) is not None
    assert parse_requirement("cpu-vendor==amd").check(frozenset(host.labels), host.facts) is None
