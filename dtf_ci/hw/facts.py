"""Probe sections -> facts: the flat ``name: text`` pairs that ``requires:`` is matched against.

Facts are strings because requirements compare text (``cuda>=12``, ``cpu-governor==performance``):
booleans are ``true``/``false`` (so a bare word such as ``avx512f`` or ``!container`` reads
them), lists are comma-joined (``none`` when empty), sizes carry their unit in the name
(``-gb``, ``-kb``, ``-mhz``, ``-w``). :func:`fact_bool` and :func:`fact_list` read them back.
docs/hardware.md lists every name; they are a contract other parts of dtf (hygiene warnings,
history baselines) rely on, so a name never changes meaning.
"""

from __future__ import annotations

import math
import re
from typing import Any


def _b(value: bool) -> str:
    return "true" if value else "false"


def gpu_model_slug(name: str) -> str:
    """``NVIDIA H100 80GB HBM3`` -> ``h100``, ``Apple M2 Max`` -> ``m2-max``: the word a runner
    label would use."""
    if name.startswith("Apple "):
        return re.sub(r"[^a-z0-9]+", "-", name[6:].lower()).strip("-") or "apple-silicon"
    match = re.search(r"\b([A-Z]{1,3}\d{1,4}[A-Z]?|RTX\s?\d{4}|MI\d{3}[A-Z]?)\b", name.upper())
    slug = match.group(1) if match else name
    return re.sub(r"[^a-z0-9]+", "-", slug.lower()).strip("-")


def cpu_facts(cpu: dict[str, Any]) -> dict[str, str]:
    facts = {"cpu-model": str(cpu.get("model") or ""), "cpu-vendor": str(cpu.get("vendor") or ""),
             "cpu-count": str(cpu.get("usable_cores") or 1),
             "cpu-logical-cores": str(cpu.get("logical_cores") or "")}
    if cpu.get("physical_cores"):
        facts["cpu-physical-cores"] = str(cpu["physical_cores"])
    if cpu.get("sockets"):
        facts["cpu-sockets"] = str(cpu["sockets"])
    features = cpu.get("features") or {}
    for name, present in features.items():
        facts[name.replace("_", "-")] = _b(bool(present))
    facts["cpu-features"] = ",".join(n.replace("_", "-") for n, p in features.items() if p) or "none"
    for level, kib in (cpu.get("caches_kib") or {}).items():
        facts[f"cpu-cache-{level}-kb"] = str(kib)
    if cpu.get("governor"):
        facts["cpu-governor"] = str(cpu["governor"])
    if cpu.get("turbo") is not None:
        facts["cpu-turbo"] = _b(bool(cpu["turbo"]))
    if cpu.get("smt") is not None:
        facts["cpu-smt"] = _b(bool(cpu["smt"]))
    if cpu.get("max_mhz"):
        facts["cpu-max-mhz"] = str(cpu["max_mhz"])
    return {k: v for k, v in facts.items() if v != ""}


def memory_facts(mem: dict[str, Any]) -> dict[str, str]:
    """``memory-gb`` is what this process may use (the cgroup limit when one applies)."""
    facts = {}
    if mem.get("usable_gb") is not None:
        facts["memory-gb"] = str(int(round(mem["usable_gb"])))
    if mem.get("total_gb") is not None:
        facts["memory-total-gb"] = str(int(round(mem["total_gb"])))
    if mem.get("limit_gb") is not None:
        facts["memory-limit-gb"] = f"{mem['limit_gb']:g}"
    return facts


def system_facts(system: dict[str, Any]) -> dict[str, str]:
    facts = {"virtualization": str(system.get("virtualization") or "none"),
             "container": str(system.get("container") or "none")}
    if system.get("cloud"):
        facts["cloud"] = str(system["cloud"])
    if system.get("instance_type"):
        facts["cloud-instance-type"] = str(system["instance_type"])
    return facts


def gpu_facts(gpus: list[dict[str, Any]]) -> dict[str, str]:
    """Facts of the host's GPUs: the first device names the model; states are all-devices."""
    if not gpus:
        return {}
    first = gpus[0]
    facts: dict[str, Any] = {"gpu": first.get("vendor") or "true", "gpu-count": len(gpus),
                             "gpu-name": first.get("name") or "",
                             "gpu-model": gpu_model_slug(str(first.get("name") or ""))}
    mems = [d["memory_mib"] for d in gpus if d.get("memory_mib")]
    if mems:
        facts["gpu-memory-gb"] = round(min(mems) / 1024)
    if len({d.get("name") for d in gpus}) > 1:
        facts["gpu-models"] = ",".join(sorted({gpu_model_slug(str(d.get("name") or "")) for d in gpus}))
    for key, fact in (("cuda", "cuda"), ("compute_capability", "compute-capability"),
                      ("driver", f"{first.get('vendor')}-driver"), ("rocm", "rocm"),
                      ("power_limit_w", "gpu-power-limit-w"), ("sm_clock_mhz", "gpu-sm-clock-mhz"),
                      ("sm_clock_max_mhz", "gpu-sm-clock-max-mhz"), ("pcie_gen", "gpu-pcie-gen"),
                      ("pcie_width", "gpu-pcie-width"), ("nvlink_active", "gpu-nvlink-links"),
                      ("gpu_cores", "gpu-cores")):
        if first.get(key) is not None:
            facts[fact] = first[key]
    for key, fact in (("mig", "gpu-mig"), ("ecc", "gpu-ecc"), ("persistence", "gpu-persistence"),
                      ("clocks_locked", "gpu-clocks-locked"), ("unified_memory", "gpu-unified-memory")):
        states = [d.get(key) for d in gpus if d.get(key) is not None]
        if states:
            facts[fact] = _b(all(states)) if key != "mig" else _b(any(states))
    if any(d.get("mig") for d in gpus):
        facts["gpu-mig-instances"] = sum(int(d.get("mig_instances") or 0) for d in gpus)
    if any(d.get("throttle_reasons") is not None for d in gpus):
        reasons = sorted({r for d in gpus for r in d.get("throttle_reasons") or [] if r != "gpu_idle"})
        facts["gpu-throttle-reasons"] = ",".join(reasons) or "none"
    return {k: str(v) for k, v in facts.items() if v not in ("", None)}


def accelerator_facts(tpu: dict[str, Any] | None, npus: list[dict[str, Any]],
                      igpus: list[dict[str, Any]]) -> dict[str, str]:
    facts: dict[str, str] = {}
    if tpu:
        facts["tpu"] = "true"
        if tpu.get("count"):
            facts["tpu-count"] = str(tpu["count"])
        if tpu.get("type"):
            facts["tpu-type"] = str(tpu["type"])
    if npus:
        facts["npu"] = str(npus[0]["vendor"])
        facts["npu-count"] = str(len(npus))
    if igpus:
        facts["igpu"] = str(igpus[0].get("vendor") or "true")
    return facts


def browser_facts(browsers: dict[str, Any]) -> dict[str, str]:
    """``webgpu``, ``webnn``, ``browser-chromium: 131`` and the adapter, from ``--browsers``."""
    facts: dict[str, str] = {}
    for name, info in browsers.items():
        if not isinstance(info, dict):
            continue
        if info.get("version"):
            facts[f"browser-{name}"] = str(info["version"]).split(".")[0]
    chromium = browsers.get("chromium") if isinstance(browsers.get("chromium"), dict) else None
    best = chromium or next((b for b in browsers.values() if isinstance(b, dict)), None)
    error = (best or {}).get("error") or browsers.get("error")
    if best is None or error:  # no browser ran: no WebGPU here, and the reason says why
        reason = str(error or "no browser was found")
        return {**facts, "webgpu": "false", "webgpu-reason": reason, "webnn": "false"}
    webgpu = best.get("webgpu") or {}
    facts["webgpu"] = _b(bool(webgpu.get("available")))
    if webgpu.get("reason") and not webgpu.get("available"):
        facts["webgpu-reason"] = str(webgpu["reason"])
    adapter = webgpu.get("adapter") or {}
    label = " ".join(str(adapter.get(k)) for k in ("vendor", "architecture") if adapter.get(k))
    if label:
        facts["webgpu-adapter"] = label
    if webgpu.get("fallback") is not None:
        facts["webgpu-fallback-adapter"] = _b(bool(webgpu["fallback"]))
    facts["webnn"] = _b(bool((best.get("webnn") or {}).get("available")))
    renderer = (best.get("webgl") or {}).get("renderer")
    if renderer:
        facts["webgl-renderer"] = str(renderer)
    return facts


def fact_bool(facts: dict[str, str], name: str) -> bool | None:
    """A boolean fact read back: True, False, or None when the machine did not say."""
    value = facts.get(name)
    if value is None:
        return None
    return value.strip().lower() in ("true", "yes", "1", "on")


def fact_list(facts: dict[str, str], name: str) -> list[str] | None:
    """A list fact read back (``gpu-throttle-reasons``); None when absent, [] for ``none``."""
    value = facts.get(name)
    if value is None:
        return None
    return [] if value.strip().lower() in ("", "none") else [v.strip() for v in value.split(",") if v.strip()]


def memory_class(memory_gb: str | None) -> str:
    """Memory rounded up to a power of two (``30`` -> ``32g``): hosts that differ by what the
    firmware reserves still share a class."""
    try:
        gb = float(memory_gb or "")
    except ValueError:
        return "unknown"
    if gb <= 0:
        return "unknown"
    return f"{2 ** math.ceil(math.log2(gb * 0.97))}g"


def hardware_key(facts: dict[str, str]) -> dict[str, str]:
    """The facts that decide whether two runs' timings may be compared (history baselines)."""
    return {"arch": facts.get("arch", ""), "cpu-model": facts.get("cpu-model", ""),
            "gpu-model": facts.get("gpu-model", "none"), "gpu-count": facts.get("gpu-count", "0"),
            "memory-class": memory_class(facts.get("memory-total-gb") or facts.get("memory-gb"))}
