"""The hardware probe, including the NVIDIA path through a stand-in nvidia-smi on PATH.

The stand-in prints what nvidia-smi prints on an H100 box (format taken from NVIDIA's
documented --query-gpu CSV output and the banner's "CUDA Version" field), so the probe's
real subprocess calls and parsing run; no GPU is needed.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pytest

from dtf_ci import hardware
from dtf_ci.requirements import parse_requirement

FAKE_SMI = """#!/bin/sh
case "$*" in
  *--query-gpu*)
    echo "NVIDIA H100 80GB HBM3, 81559, 550.54.15"
    echo "NVIDIA H100 80GB HBM3, 81559, 550.54.15" ;;
  *)
    echo "+-----------------------------------------------------------------------------------------+"
    echo "| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |" ;;
esac
"""


@pytest.fixture
def fake_gpu(tmp_path, monkeypatch):
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text(FAKE_SMI)
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{smi.parent}:{__import__('os').environ['PATH']}")
    hardware.probe.cache_clear()
    yield
    hardware.probe.cache_clear()


def test_probe_on_this_machine_has_the_basics():
    hardware.probe.cache_clear()
    host = hardware.probe()
    assert host.facts["os"] in ("linux", "macos", "windows")
    assert int(host.facts["cpu-count"]) >= 1 and host.cpu_count >= 1
    assert host.os in host.labels
    assert len(host.fingerprint) == 16
    assert hardware.probe().fingerprint == host.fingerprint  # stable


def test_nvidia_gpu_facts_and_labels(fake_gpu):
    host = hardware.probe()
    facts = host.facts
    assert facts["gpu"] == "nvidia" and facts["gpu-model"] == "h100" and facts["gpu-count"] == "2"
    assert facts["gpu-memory-gb"] == "80" and facts["cuda"] == "12.4"
    assert {"gpu", "nvidia", "gpu-h100", "cuda-12.4"} <= set(host.labels)
    labels = frozenset(host.labels)
    for ok in ("gpu", "cuda>=12", "gpu-memory-gb>=40", "gpu-count>=2", "gpu-model==h100"):
        assert parse_requirement(ok).check(labels, facts) is None, ok
    assert parse_requirement("cuda>=12.10").check(labels, facts) == "cuda 12.4 < 12.10"


@pytest.mark.parametrize(("name", "slug"), [
    ("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA A100-SXM4-40GB", "a100"), ("Tesla T4", "t4"),
    ("NVIDIA GeForce RTX 4090", "rtx-4090"), ("AMD Instinct MI300X", "mi300x"), ("NVIDIA L4", "l4"),
])
def test_gpu_model_slugs(name, slug):
    assert hardware._gpu_model_slug(name) == slug


def test_dtf_hw_json_in_a_subprocess(fake_gpu):
    out = subprocess.run([sys.executable, "-m", "dtf_ci", "hw", "--json"], capture_output=True,
                         text=True, check=True).stdout
    data = json.loads(out)
    assert data["facts"]["gpu-model"] == "h100" and "gpu-h100" in data["labels"]
