"""``dtf hw --browsers`` with the real Debian Chromium: WebGPU (SwiftShader's software adapter
on a machine without a GPU), WebNN and WebGL, as facts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from dtf_ci.hw.facts import browser_facts

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def report() -> dict:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium package")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    out = subprocess.run([sys.executable, "-m", "dtf_ci", "hw", "--browsers", "--json", "--chromium", CHROMIUM],
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_chromium_major_version_is_a_fact(report):
    version = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout
    major = re.search(r"(\d+)\.\d+", version)
    assert major and report["facts"]["browser-chromium"] == major.group(1)
    assert report["browsers"]["chromium"]["secureContext"] is True


def test_webgpu_is_answered_with_an_adapter_or_a_reason(report):
    chromium = report["browsers"]["chromium"]
    webgpu = chromium["webgpu"]
    assert report["facts"]["webgpu"] in ("true", "false")
    if webgpu["available"]:
        assert report["facts"]["webgpu"] == "true" and webgpu["adapter"]["vendor"]
        assert webgpu["limits"]["maxBindGroups"] >= 4 and isinstance(webgpu["features"], list)
        assert report["facts"]["webgpu-fallback-adapter"] in ("true", "false")
    else:
        assert report["facts"]["webgpu-reason"] == webgpu["reason"] and webgpu["reason"]


def test_webnn_and_webgl_are_reported(report):
    chromium = report["browsers"]["chromium"]
    assert report["facts"]["webnn"] == ("true" if chromium["webnn"]["available"] else "false")
    assert chromium["webnn"]["available"] or chromium["webnn"]["reason"]
    assert chromium["webgl"].get("renderer") or chromium["webgl"].get("reason")


def test_browser_facts_from_a_browser_without_webgpu():
    facts = browser_facts({"chromium": {"version": "120.0.6099.71", "webgpu": {
        "available": False, "reason": "navigator.gpu is undefined"}, "webnn": {"available": False}}})
    assert facts == {"browser-chromium": "120", "webgpu": "false", "webgpu-reason": "navigator.gpu is undefined",
                     "webnn": "false"}


def test_a_browser_that_does_not_start_is_reported_not_raised(tmp_path):
    from dtf_ci.hw.browsers import probe_browsers

    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    out = probe_browsers(str(fake))
    assert "did not start" in out["chromium"]["error"]
    facts = browser_facts(out)
    assert facts["webgpu"] == "false" and "did not start" in facts["webgpu-reason"]
    assert browser_facts({"error": "playwright is not installed"})["webgpu-reason"] == "playwright is not installed"


def test_dtf_run_records_browser_facts_when_asked(tmp_path, monkeypatch, report):
    """DTF_HW_BROWSERS=1: the shard's host facts carry webgpu, so history and the planner learn it."""
    import duckdb

    from dtf_ci import hardware
    from dtf_ci.run import execute_shard
    from tests.helpers import make_plan

    monkeypatch.setenv("DTF_HW_BROWSERS", "1")
    monkeypatch.setenv("DTF_CHROMIUM", CHROMIUM)
    hardware.probe.cache_clear()
    try:
        plan = make_plan(tmp_path, {"t": {"run": "true", "repeat": 1, "max-repeat": 1}})
        execute_shard(plan, "local-w1-1", tmp_path / "out")
    finally:
        hardware.probe.cache_clear()
    con = duckdb.connect(str(tmp_path / "out" / "local-w1-1.duckdb"), read_only=True)
    try:
        (facts,) = con.execute("SELECT facts FROM hosts").fetchone()
    finally:
        con.close()
    facts = json.loads(facts)
    assert facts["webgpu"] == report["facts"]["webgpu"] and facts["browser-chromium"] == report["facts"]["browser-chromium"]
