"""The CPU: what it is, how many cores this process may use, and what changes its speed.

Benchmarks move with more than the model name: the ISA extensions a library picks at run
time (AVX-512, AMX, SVE), the frequency governor and turbo (the usual cause of noisy
timings), SMT, and how many cores a container's quota really grants. Everything here is
read from procfs and sysfs under :class:`Source` (on macOS from ``sysctl``), so a recorded
tree is enough to test it.
"""

from __future__ import annotations

import platform
import re
from typing import Any

from dtf_ci.hw import cgroup
from dtf_ci.hw.source import Source

#: ISA extensions that change which kernels a library runs, by the name /proc/cpuinfo uses.
X86_FEATURES = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl",
                "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16",
                "amx_int8")
ARM_FEATURES = {"asimd": "neon", "sve": "sve", "sve2": "sve2", "sme": "sme", "bf16": "bf16",
                "i8mm": "i8mm"}
_VENDORS = {"GenuineIntel": "intel", "AuthenticAMD": "amd", "HygonGenuine": "hygon",
            "CentaurHauls": "centaur"}
_ARM_IMPLEMENTERS = {"0x41": "arm", "0x61": "apple", "0xc0": "ampere", "0x51": "qualcomm",
                     "0x48": "hisilicon", "0x4e": "nvidia"}
_ARM_PARTS = {"0xd0c": "Neoverse-N1", "0xd40": "Neoverse-V1", "0xd49": "Neoverse-N2",
              "0xd4f": "Neoverse-V2", "0xd8e": "Neoverse-N3", "0xd84": "Neoverse-V3",
              "0xd08": "Cortex-A72", "0xd0b": "Cortex-A76", "0xac3": "Ampere-1"}


def parse_cpuinfo(text: str) -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per processor block (keys as written, values stripped)."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        if ":" in line:
            key, value = line.split(":", 1)
            current[key.strip()] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def parse_cpu_list(text: str | None) -> list[int]:
    """``0-3,8,10-11`` -> [0, 1, 2, 3, 8, 10, 11] (the sysfs and cpuset list format)."""
    out: list[int] = []
    for part in (text or "").replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            out.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            continue
    return out


def identity(blocks: list[dict[str, str]]) -> dict[str, Any]:
    """Model, vendor and raw flags from the first processor block (x86 and Arm spellings)."""
    first = next((b for b in blocks if "processor" in b or "flags" in b or "Features" in b), {})
    model = first.get("model name") or first.get("Model Name") or ""
    vendor = _VENDORS.get(first.get("vendor_id", ""), first.get("vendor_id", "").lower())
    flags = (first.get("flags") or first.get("Features") or "").split()
    implementer = first.get("CPU implementer", "").lower()
    if implementer:
        vendor = _ARM_IMPLEMENTERS.get(implementer, f"arm-{implementer}")
        if not model:
            part = first.get("CPU part", "").lower()
            model = _ARM_PARTS.get(part, f"{vendor} part {part}" if part else vendor)
    return {"model": model, "vendor": vendor, "flags": flags}


def isa_features(flags: list[str], arch: str) -> dict[str, bool]:
    """The tracked extensions for this architecture, each True or False (absent is a fact too)."""
    have = set(flags)
    if arch == "arm64":
        return {name: flag in have for flag, name in ARM_FEATURES.items()}
    if arch == "x86_64":
        return {name: name in have for name in X86_FEATURES}
    return {}


def topology(src: Source, blocks: list[dict[str, str]]) -> tuple[int, int | None, int | None]:
    """(logical CPUs online, physical cores, sockets); sysfs first, /proc/cpuinfo second."""
    online = parse_cpu_list(src.read("/sys/devices/system/cpu/online"))
    logical = len(online) or sum(1 for b in blocks if "processor" in b)
    cores: set[tuple[str, str]] = set()
    packages: set[str] = set()
    for cpu in online:
        base = f"/sys/devices/system/cpu/cpu{cpu}/topology"
        core, pkg = src.read(base + "/core_id"), src.read(base + "/physical_package_id")
        if core is not None and pkg is not None:
            cores.add((pkg, core))
            packages.add(pkg)
    if not cores:
        for b in blocks:
            if "core id" in b:
                cores.add((b.get("physical id", "0"), b["core id"]))
                packages.add(b.get("physical id", "0"))
    return logical, (len(cores) or None), (len(packages) or None)


def caches(src: Source) -> dict[str, int]:
    """Cache sizes in KiB as cpu0 sees them: ``{"l1d": 48, "l1i": 32, "l2": 2048, "l3": 107520}``."""
    out: dict[str, int] = {}
    for index in src.glob("/sys/devices/system/cpu/cpu0/cache/index*"):
        rel = "/" + str(index.relative_to(src.root))
        level, kind, size = src.read(rel + "/level"), src.read(rel + "/type"), src.read(rel + "/size")
        match = re.match(r"^(\d+)\s*([KMG]?)", size or "")
        if not (level and kind and match):
            continue
        kib = int(match.group(1)) * {"": 1, "K": 1, "M": 1024, "G": 1024 * 1024}[match.group(2)]
        suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
        out[f"l{level}{suffix}"] = kib
    return out


def frequency(src: Source) -> dict[str, Any]:
    """Governor, turbo/boost and the nominal maximum clock of cpu0, where cpufreq exposes them."""
    base = "/sys/devices/system/cpu/cpu0/cpufreq"
    out: dict[str, Any] = {}
    governor = src.read(base + "/scaling_governor")
    if governor:
        out["governor"] = governor
    driver = src.read(base + "/scaling_driver")
    if driver:
        out["driver"] = driver
    max_khz = src.read_int(base + "/cpuinfo_max_freq")
    if max_khz:
        out["max_mhz"] = round(max_khz / 1000)
    no_turbo = src.read_int("/sys/devices/system/cpu/intel_pstate/no_turbo")
    boost = src.read_int("/sys/devices/system/cpu/cpufreq/boost")
    if boost is None:
        boost = src.read_int(base + "/boost")  # amd-pstate exposes it per policy
    if no_turbo is not None:
        out["turbo"] = no_turbo == 0
    elif boost is not None:
        out["turbo"] = boost == 1
    return out


def smt(src: Source, logical: int, physical: int | None) -> bool | None:
    """Whether SMT (hyper-threading) is on: the kernel's own answer, else threads per core."""
    active = src.read_int("/sys/devices/system/cpu/smt/active")
    if active is not None:
        return active == 1
    if physical:
        return logical > physical
    return None


def usable_cpus(logical: int, affinity: int | None, quota: float | None) -> int:
    """CPUs this process may keep busy: affinity (cpuset) and the cgroup quota, the smaller."""
    candidates = [logical]
    if affinity:
        candidates.append(affinity)
    from_quota = cgroup.cpus_from_quota(quota)
    if from_quota:
        candidates.append(from_quota)
    return max(1, min(c for c in candidates if c > 0)) if any(c > 0 for c in candidates) else 1


def _darwin(src: Source) -> dict[str, Any]:
    """macOS: the same facts from ``sysctl`` (Apple Silicon and Intel Macs)."""
    text = src.run(["sysctl", "-a"]) or src.run(
        ["sysctl", "machdep.cpu.brand_string", "hw.physicalcpu", "hw.logicalcpu", "hw.l2cachesize",
         "hw.l1dcachesize", "hw.optional.arm.FEAT_BF16", "hw.optional.arm.FEAT_I8MM", "hw.optional.avx2_0"])
    values = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    brand = values.get("machdep.cpu.brand_string", platform.processor())
    out: dict[str, Any] = {"model": brand, "vendor": "apple" if brand.startswith("Apple") else "intel"}
    for key, name in (("hw.logicalcpu", "logical"), ("hw.physicalcpu", "physical")):
        if values.get(key, "").isdigit():
            out[name] = int(values[key])
    cache = {}
    for key, name in (("hw.l1dcachesize", "l1d"), ("hw.l2cachesize", "l2"), ("hw.l3cachesize", "l3")):
        if values.get(key, "").isdigit() and int(values[key]) > 0:
            cache[name] = int(values[key]) // 1024
    out["caches"] = cache
    if out["vendor"] == "apple":
        out["features"] = {"neon": True, "sve": False, "sve2": False,
                           "sme": values.get("hw.optional.arm.FEAT_SME") == "1",
                           "bf16": values.get("hw.optional.arm.FEAT_BF16") == "1",
                           "i8mm": values.get("hw.optional.arm.FEAT_I8MM") == "1"}
    return out


def probe_cpu(src: Source, *, arch: str, system: str = "Linux", affinity: int | None = None) -> dict[str, Any]:
    """Everything about the CPU, as the ``cpu`` section of the ``dtf hw`` document."""
    if system == "Darwin":
        info = _darwin(src)
        logical = int(info.get("logical") or 1)
        return {"model": info.get("model", ""), "vendor": info.get("vendor", ""),
                "logical_cores": logical, "physical_cores": info.get("physical"),
                "usable_cores": usable_cpus(logical, affinity, None), "quota_cpus": None,
                "features": info.get("features", {}), "caches_kib": info.get("caches", {}),
                "smt": None}
    blocks = parse_cpuinfo(src.read("/proc/cpuinfo") or "")
    ident = identity(blocks)
    logical, physical, sockets = topology(src, blocks)
    logical = logical or 1
    quota = cgroup.cpu_quota(src)
    out: dict[str, Any] = {
        "model": ident["model"] or platform.processor() or arch,
        "vendor": ident["vendor"],
        "logical_cores": logical,
        "physical_cores": physical,
        "sockets": sockets,
        "usable_cores": usable_cpus(logical, affinity, quota),
        "affinity_cores": affinity,
        "quota_cpus": round(quota, 3) if quota is not None else None,
        "features": isa_features(ident["flags"], arch),
        "caches_kib": caches(src),
        "smt": smt(src, logical, physical),
        "hypervisor_flag": "hypervisor" in ident["flags"],
    }
    out.update(frequency(src))
    return out
