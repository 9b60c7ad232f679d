"""Probe this machine: hardware facts, the labels they imply, and a fingerprint.

Facts are what requirements are matched against (``gpu``, ``cuda>=12``, ``memory-gb>=16``);
labels are the same facts written the way CI runner labels are (``linux``, ``x64``,
``gpu-a100``); the fingerprint names the machine in results so that drift can be pinned on
one host. Vendor tools (``nvidia-smi``, ``rocm-smi``) are asked when present; everything else
comes from psutil and the standard library.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
from dataclasses import asdict, dataclass, field
from functools import lru_cache

_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
_ARCH_LABELS = {"x86_64": "x64", "arm64": "arm64"}
_OS_LABELS = {"Linux": "linux", "Darwin": "macos", "Windows": "windows"}


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

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        return data


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _run(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout if out.returncode == 0 else ""


def _nvidia_facts() -> dict[str, str]:
    if not shutil.which("nvidia-smi"):
        return {}
    text = _run(
        ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"]
    )
    rows = [r.split(",") for r in text.strip().splitlines() if r.strip()]
    if not rows:
        return {}
    name, mem_mib, driver = (c.strip() for c in rows[0][:3])
    facts = {
        "gpu": "nvidia",
        "gpu-count": str(len(rows)),
        "gpu-model": _gpu_model_slug(name),
        "gpu-name": name,
        "gpu-memory-gb": f"{round(float(mem_mib) / 1024)}" if mem_mib.replace(".", "").isdigit() else "",
        "nvidia-driver": driver,
    }
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", _run(["nvidia-smi"]))
    if cuda:
        facts["cuda"] = cuda.group(1)
    return {k: v for k, v in facts.items() if v}


def _amd_facts() -> dict[str, str]:
    if not shutil.which("rocm-smi"):
        return {}
    text = _run(["rocm-smi", "--showproductname", "--json"])
    try:
        cards = json.loads(text)
    except ValueError:
        return {}
    names = [v.get("Card series", "") for v in cards.values() if isinstance(v, dict)]
    if not names:
        return {}
    return {"gpu": "amd", "gpu-count": str(len(names)), "gpu-model": _gpu_model_slug(names[0])}


def _gpu_model_slug(name: str) -> str:
    """``NVIDIA H100 80GB HBM3`` -> ``h100``: the word a runner label would use."""
    match = re.search(r"\b([A-Z]{1,3}\d{1,4}[A-Z]?|RTX\s?\d{4}|MI\d{3}[A-Z]?)\b", name.upper())
    slug = match.group(1) if match else name
    return re.sub(r"[^a-z0-9]+", "-", slug.lower()).strip("-")


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
    else:
        labels.append("cpu")
    if facts.get("cuda"):
        labels.append(f"cuda-{facts['cuda']}")
    if facts.get("memory-gb"):
        labels.append(f"mem-{facts['memory-gb']}g")
    return tuple(dict.fromkeys(labels))


@lru_cache(maxsize=1)
def probe() -> HostInfo:
    """Detect this machine once per process; vendor tools are slow to ask twice."""
    import psutil

    system = platform.system()
    arch = _ARCH_ALIASES.get(platform.machine().lower(), platform.machine().lower())
    cpu_model = _cpu_model()
    cpu_count = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    memory_gb = round(psutil.virtual_memory().total / 2**30, 1)
    facts: dict[str, str] = {
        "os": _OS_LABELS.get(system, system.lower()),
        "arch": arch,
        "cpu-model": cpu_model,
        "cpu-count": str(cpu_count),
        "memory-gb": str(int(round(memory_gb))),
        "python": platform.python_version(),
    }
    if system == "Linux":
        facts["kernel"] = platform.release()
    facts.update(_nvidia_facts() or _amd_facts())
    if system == "Darwin" and arch == "arm64":
        facts.setdefault("gpu", "apple")
        facts.setdefault("gpu-model", "apple-silicon")
    labels = derive_labels(facts)
    hostname = socket.gethostname()
    stable = {k: facts[k] for k in sorted(facts) if k not in ("python", "kernel", "nvidia-driver")}
    machine_id = ""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(path, encoding="utf-8") as fh:
                machine_id = fh.read().strip()
                break
        except OSError:
            continue
    digest = hashlib.sha256(
        json.dumps({"facts": stable, "host": hostname, "machine": machine_id}, sort_keys=True).encode()
    ).hexdigest()[:16]
    return HostInfo(
        hostname=hostname,
        os=facts["os"],
        arch=arch,
        cpu_model=cpu_model,
        cpu_count=int(cpu_count),
        memory_gb=memory_gb,
        facts=facts,
        labels=labels,
        fingerprint=digest,
    )
