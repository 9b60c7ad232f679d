"""Probe this machine: hardware facts, the labels they imply, and a fingerprint.

Facts are what requirements are matched against (``gpu``, ``cuda>=12``, ``avx512f``,
``cpu-governor==performance``); labels are the same facts written the way CI runner labels
are (``linux``, ``x64``, ``gpu-h100``, ``gpu-count-8``); the fingerprint names the machine in
results so that drift can be pinned on one host. The probes themselves live in ``dtf_ci.hw``
(one module per source, each testable on a recorded tree); this module puts them together
and keeps the public names (``probe``, ``HostInfo``, ``derive_labels``) stable.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from dtf_ci.hw import accel, cpu, nvidia
from dtf_ci.hw import facts as hwfacts
from dtf_ci.hw import system as hwsystem
from dtf_ci.hw.document import SCHEMA
from dtf_ci.hw.facts import fact_bool, fact_list, hardware_key, memory_class
from dtf_ci.hw.source import Source

__all__ = ["HostInfo", "derive_labels", "fact_bool", "fact_list", "hardware_key", "memory_class",
           "probe", "probe_host"]

_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
_ARCH_LABELS = {"x86_64": "x64", "arm64": "arm64"}
_OS_LABELS = {"Linux": "linux", "Darwin": "macos", "Windows": "windows"}
#: What names a machine: facts that stay put between runs (not clocks, quotas, versions).
_FINGERPRINT_FACTS = ("os", "arch", "cpu-model", "cpu-logical-cores", "memory-total-gb", "gpu",
                      "gpu-name", "gpu-count", "gpu-memory-gb", "cloud-instance-type", "tpu-type")

_gpu_model_slug = hwfacts.gpu_model_slug  # kept for callers of the old private name


@dataclass(frozen=True)
class HostInfo:
    hostname: str
    os: str
    arch: str
    cpu_model: str
    cpu_count: int
    memory_gb: float
    facts: dict[str, str] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    fingerprint: str = ""
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, object]:
        """The ``dtf hw --json`` document (schema ``dtf.hw/1``; later versions only add keys)."""
        return {"schema": SCHEMA, "hostname": self.hostname, "fingerprint": self.fingerprint,
                "os": self.os, "arch": self.arch, "cpu_model": self.cpu_model,
                "cpu_count": self.cpu_count, "memory_gb": self.memory_gb,
                "facts": dict(self.facts), "labels": list(self.labels), **self.details}


def derive_labels(facts: dict[str, str]) -> tuple[str, ...]:
    """The runner-label spelling of the facts (the conventions in docs/hardware.md)."""
    labels: list[str] = []
    if facts.get("os"):
        labels.append(facts["os"])
    if facts.get("arch") in _ARCH_LABELS:
        labels.append(_ARCH_LABELS[facts["arch"]])
    if facts.get("gpu"):
        labels.append("gpu")
        labels.append(facts["gpu"])
        if facts.get("gpu-model"):
            labels.append(f"gpu-{facts['gpu-model']}")
        if facts.get("gpu-count"):
            labels.append(f"gpu-count-{facts['gpu-count']}")
    else:
        labels.append("cpu")
    if facts.get("cuda"):
        labels.append(f"cuda-{facts['cuda']}")
    if facts.get("rocm"):
        labels.append(f"rocm-{facts['rocm']}")
    if facts.get("memory-gb"):
        labels.append(f"mem-{facts['memory-gb']}g")
    for word in ("tpu", "npu"):
        if facts.get(word) and facts[word] not in ("false", "none"):
            labels.append(word)
    return tuple(dict.fromkeys(labels))


def _optional_module(name: str) -> ModuleType | None:
    try:
        return __import__(name)
    except Exception:  # absent, or a broken vendor install: the CLI tools are the fallback
        return None


def _affinity() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _machine_id(src: Source) -> str:
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        text = src.read(path)
        if text:
            return text
    return ""


class _Timer:
    """Runs each probe section, noting its time and, if it breaks, why (a probe bug must
    never stop ``dtf run``: the section is left out and the note says so)."""

    def __init__(self, notes: list[str]) -> None:
        self.notes = notes
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, fn: Callable[[], Any], default: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - reported in notes, not raised
            self.notes.append(f"{name} probe failed: {type(exc).__name__}: {exc}")
            return default
        finally:
            self.seconds[name] = round(time.perf_counter() - start, 4)


def probe_host(src: Source | None = None, *, system: str | None = None, arch: str | None = None,
               affinity: int | None = None, nvml: ModuleType | None | bool = True,
               amdsmi: ModuleType | None | bool = True, browsers: dict[str, Any] | None = None,
               hostname: str | None = None) -> HostInfo:
    """Probe a machine through ``src`` (the real one by default). Tests pass a fake root,
    a PATH with stand-in tools, and fake NVML/amdsmi modules (True: import the real ones)."""
    src = src or Source()
    system = system or platform.system()
    raw_arch = (arch or platform.machine()).lower()
    arch = _ARCH_ALIASES.get(raw_arch, raw_arch)
    if affinity is None and src.root == Path("/"):
        affinity = _affinity()
    nvml_mod = _optional_module("pynvml") if nvml is True else (nvml or None)
    amd_mod = _optional_module("amdsmi") if amdsmi is True else (amdsmi or None)
    timer = _Timer(src.notes)

    cpu_info: dict[str, Any] = timer("cpu", lambda: cpu.probe_cpu(src, arch=arch, system=system,
                                                                   affinity=affinity), {})
    total_fallback = None
    if system != "Linux":
        import psutil

        total_fallback = int(psutil.virtual_memory().total)
    mem = timer("memory", lambda: hwsystem.probe_memory(src, total_fallback), {})
    sysinfo = timer("system", lambda: hwsystem.probe_system(
        src, hypervisor_flag=bool(cpu_info.get("hypervisor_flag"))), {}) if system == "Linux" else {}
    gpus: list[dict[str, Any]] = []
    gpus += timer("nvidia", lambda: nvidia.probe_nvidia(src, nvml_mod), [])
    gpus += timer("amd", lambda: accel.probe_amd(src, amd_mod), [])
    intel = timer("intel", lambda: accel.probe_intel(src), []) if system == "Linux" else []
    gpus += [g for g in intel if not g.get("integrated")]
    igpus = [g for g in intel if g.get("integrated")]
    if system == "Darwin" and arch == "arm64":
        gpus += timer("apple", lambda: accel.probe_apple(src), []) or [
            {"index": 0, "vendor": "apple", "name": "Apple Silicon", "unified_memory": True}]
    tpu = timer("tpu", lambda: accel.probe_tpu(src), None) if system == "Linux" else None
    npus = timer("npu", lambda: accel.probe_npus(src), []) if system == "Linux" else []

    facts: dict[str, str] = {"os": _OS_LABELS.get(system, system.lower()), "arch": arch}
    facts.update(hwfacts.cpu_facts(cpu_info or {"model": platform.processor() or arch}))
    facts.update(hwfacts.memory_facts(mem))
    facts["python"] = platform.python_version()
    if system == "Linux":
        facts["kernel"] = platform.release()
        facts.update(hwfacts.system_facts(sysinfo))
    facts.update(hwfacts.gpu_facts(gpus))
    facts.update(hwfacts.accelerator_facts(tpu, npus, igpus))
    if browsers is not None:
        facts.update(hwfacts.browser_facts(browsers))
    labels = derive_labels(facts)
    name = hostname if hostname is not None else socket.gethostname()
    stable = {k: facts[k] for k in _FINGERPRINT_FACTS if k in facts}
    digest = hashlib.sha256(json.dumps({"facts": stable, "host": name, "machine": _machine_id(src)},
                                       sort_keys=True).encode()).hexdigest()[:16]
    details: dict[str, Any] = {"cpu": cpu_info, "memory": mem, "system": sysinfo, "gpus": gpus,
                               "accelerators": {"tpu": tpu, "npus": npus, "integrated_gpus": igpus},
                               "notes": list(src.notes), "probe_seconds": timer.seconds}
    if browsers is not None:
        details["browsers"] = browsers
    return HostInfo(hostname=name, os=facts["os"], arch=arch, cpu_model=facts.get("cpu-model", ""),
                    cpu_count=int(facts.get("cpu-count", "1")),
                    memory_gb=float(mem.get("usable_gb") or 0.0), facts=facts, labels=labels,
                    fingerprint=digest, details=details)


@lru_cache(maxsize=1)
def probe() -> HostInfo:
    """Detect this machine once per process; vendor tools are slow to ask twice.

    With ``DTF_HW_BROWSERS=1`` the browsers are asked too (a few seconds), so a ``dtf run`` on a
    browser runner records ``webgpu``/``webnn`` in its shard and the planner learns them.
    """
    if os.environ.get("DTF_HW_BROWSERS", "").strip().lower() in ("1", "true", "yes", "on"):
        from dtf_ci.hw.browsers import probe_browsers

        return probe_host(browsers=probe_browsers())
    return probe_host()
