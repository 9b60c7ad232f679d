"""GPU use per unit (NVML sampled while the unit runs), through a fake ``pynvml`` in sys.modules;
and the hardware document stored in every shard, merged with shards from older dtf versions."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import duckdb
import pytest

from dtf_ci import gpu_sampling
from dtf_ci.merge import merge_shards
from dtf_ci.run import execute_shard
from dtf_ci.shard import MANIFEST_SCHEMA, sha256_file
from tests.helpers import make_plan
from tests.hw_fakes import fake_nvml, h100

MIB = 2**20


@pytest.fixture
def nvml(monkeypatch):
    """Two H100s whose memory use rises while a unit runs; utilisation 50% then 90%."""
    fake = fake_nvml([h100(used=[1000 * MIB, 3000 * MIB, 5000 * MIB], util=[50.0, 90.0]),
                      h100(used=[10 * MIB], util=[0.0])])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.delenv("DTF_GPU_SAMPLING", raising=False)
    gpu_sampling._nvml.cache_clear()
    yield fake
    gpu_sampling._nvml.cache_clear()


@pytest.fixture
def no_nvml(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    gpu_sampling._nvml.cache_clear()
    yield
    gpu_sampling._nvml.cache_clear()


def test_sampling_records_peak_memory_and_mean_utilisation(nvml):
    with gpu_sampling.sampling(None, {"CUDA_VISIBLE_DEVICES": "0"}) as usage:
        deadline = time.monotonic() + 5
        while usage is not None and usage.samples < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert usage is not None and usage.samples >= 3
    assert usage.peak_mem_mb == 5000  # the largest of the device-0 readings
    assert 50 <= usage.util_mean_pct <= 90  # type: ignore[operator]
    mem, util = gpu_sampling.unit_columns(usage)
    assert mem == 5000.0 and util is not None


def test_visible_devices_are_summed_when_several(nvml):
    handles = gpu_sampling._handles(nvml, "0,1")
    assert handles == [0, 1]
    mem, util = gpu_sampling.sample_once(nvml, handles)  # type: ignore[misc]
    assert mem == 1000 + 10 and util == (50.0 + 0.0) / 2


def test_without_nvml_nothing_is_sampled_and_nothing_fails(no_nvml):
    with gpu_sampling.sampling(None) as usage:
        pass
    assert usage is None and gpu_sampling.unit_columns(usage) == (None, None)


def test_switched_off_by_environment(nvml, monkeypatch):
    monkeypatch.setenv("DTF_GPU_SAMPLING", "0")
    gpu_sampling._nvml.cache_clear()
    with gpu_sampling.sampling(None) as usage:
        pass
    assert usage is None


def _units(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT unit, gpu_peak_mem_mb, gpu_util_pct FROM units ORDER BY unit").fetchall()
    finally:
        con.close()


def test_a_unit_on_a_gpu_records_its_gpu_use_in_the_shard(tmp_path, nvml):
    plan = make_plan(tmp_path, {"t": {"run": f"{sys.executable} -c 'import time; time.sleep(0.4)'",
                                      "repeat": 1, "max-repeat": 1}})
    (res,) = execute_shard(plan, "local-w1-1", tmp_path / "out")
    assert res.status == "passed" and res.gpu is not None and res.gpu.samples >= 1
    ((unit, mem, util),) = _units(tmp_path / "out" / "local-w1-1.duckdb")
    assert unit == "t@local" and mem is not None and mem >= 1000 and util is not None


def test_without_nvml_the_columns_are_null(tmp_path, no_nvml):
    plan = make_plan(tmp_path, {"t": {"run": "true", "repeat": 1, "max-repeat": 1}})
    execute_shard(plan, "local-w1-1", tmp_path / "out")
    assert _units(tmp_path / "out" / "local-w1-1.duckdb") == [("t@local", None, None)]


def test_every_shard_stores_the_hardware_document(tmp_path, no_nvml):
    plan = make_plan(tmp_path, {"t": {"run": "true", "repeat": 1, "max-repeat": 1}})
    execute_shard(plan, "local-w1-1", tmp_path / "out")
    con = duckdb.connect(str(tmp_path / "out" / "local-w1-1.duckdb"), read_only=True)
    try:
        facts, hardware = con.execute("SELECT facts, hardware FROM hosts").fetchone()
    finally:
        con.close()
    doc = json.loads(hardware)
    assert doc["schema"] == "dtf.hw/1" and doc["facts"] == json.loads(facts)
    assert "cpu-count" in doc["facts"] and "cpu" in doc and "gpus" in doc


def _make_old(out: Path, shard_id: str) -> None:
    """Turn a shard into one written by a dtf from before the hardware/GPU columns."""
    db = out / f"{shard_id}.duckdb"
    con = duckdb.connect(str(db))
    try:
        con.execute("ALTER TABLE hosts DROP COLUMN hardware")
        con.execute("ALTER TABLE units DROP COLUMN gpu_peak_mem_mb")
        con.execute("ALTER TABLE units DROP COLUMN gpu_util_pct")
        con.execute("UPDATE dtf_meta SET value = 'dtf.shard/1' WHERE key = 'schema'")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    manifest_path = out / f"{shard_id}.manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["schema"] == MANIFEST_SCHEMA
    manifest["sha256"], manifest["bytes"] = sha256_file(db), os.path.getsize(db)
    manifest_path.write_text(json.dumps(manifest))


def test_shards_from_an_older_dtf_still_merge(tmp_path, no_nvml):
    plan = make_plan(tmp_path, {"a": {"run": "true", "repeat": 1, "max-repeat": 1},
                                "b": {"run": "true", "repeat": 1, "max-repeat": 1}},
                     shards={"local-w1-1": ["a"], "local-w1-2": ["b"]})
    out = tmp_path / "out"
    ids = [s["id"] for s in plan["shards"]]
    for sid in ids:
        execute_shard(plan, sid, out)
    _make_old(out, ids[0])
    result = merge_shards(out, tmp_path / "merged.duckdb", plan)
    assert not result.rejected and len(result.accepted) == 2
    con = duckdb.connect(str(tmp_path / "merged.duckdb"), read_only=True)
    try:
        hosts = con.execute("SELECT hardware IS NULL FROM hosts ORDER BY hardware NULLS FIRST").fetchall()
        units = con.execute("SELECT count(*) FROM units").fetchone()
    finally:
        con.close()
    assert hosts == [(True,), (False,)] and units == (2,)


def test_a_hardware_document_too_long_to_keep_whole_merges_as_null(tmp_path, no_nvml):
    """A cut JSON document is unreadable: over the bound it becomes NULL, never half a document."""
    from dtf_ci import limits

    plan = make_plan(tmp_path, {"t": {"run": "true", "repeat": 1, "max-repeat": 1}})
    out = tmp_path / "out"
    execute_shard(plan, "local-w1-1", out)
    db = out / "local-w1-1.duckdb"
    con = duckdb.connect(str(db))
    try:
        con.execute(f"UPDATE hosts SET hardware = '{{\"x\": \"' || repeat('y', {limits.JSON_MAX}) || '\"}}'")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    manifest_path = out / "local-w1-1.manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["sha256"], manifest["bytes"] = sha256_file(db), os.path.getsize(db)
    manifest_path.write_text(json.dumps(manifest))
    result = merge_shards(out, tmp_path / "merged.duckdb", plan)
    assert not result.rejected
    con = duckdb.connect(str(tmp_path / "merged.duckdb"), read_only=True)
    try:
        hardware, facts = con.execute("SELECT hardware, facts FROM hosts").fetchone()
    finally:
        con.close()
    assert hardware is None and json.loads(facts)["cpu-count"]


def test_report_shows_gpu_use_only_for_units_that_have_it():
    rows = gpu_sampling.report_rows([
        {"unit": "b@gpu", "gpu_peak_mem_mb": 5000.0, "gpu_util_pct": 87.4, "cpu_s": 1.25, "peak_rss_mb": 300.0},
        {"unit": "a@cpu", "gpu_peak_mem_mb": None, "gpu_util_pct": None},
        "not a dict",
    ])
    assert rows == [{"unit": "b@gpu", "gpu_mem_text": "4.9 GiB", "gpu_util_text": "87%",
                     "cpu_text": "1.2 s", "rss_text": "300 MiB"}]


def test_markdown_and_html_report_carry_the_gpu_table(tmp_path):
    from dtf_ci.report import render_comment, write_report

    sample = json.loads((Path(__file__).parent / "data" / "verdicts_sample.json").read_text())
    sample["units"] = [*sample.get("units", []), {"unit": "matmul@h100", "status": "passed",
                                                  "gpu_peak_mem_mb": 20480.0, "gpu_util_pct": 96.0,
                                                  "cpu_s": 3.0, "peak_rss_mb": 900.0}]
    md = render_comment(sample)
    assert "GPU use of 1 unit" in md and "| matmul@h100 | 20.0 GiB | 96% |" in md
    write_report(sample, tmp_path)
    html = (tmp_path / "index.html").read_text()
    assert 'id="gpu"' in html and "matmul@h100" in html
    sample["units"] = [u for u in sample["units"] if u["unit"] != "matmul@h100"]
    assert "GPU use" not in render_comment(sample)
