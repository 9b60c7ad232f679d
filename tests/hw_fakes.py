"""Recorded machines for the hardware probes: fake procfs/sysfs trees, stand-in tools, fake NVML.

The /proc/cpuinfo excerpts follow the kernel's format (x86: ``flags``; arm64: ``Features``,
``CPU implementer``/``CPU part``), with flag lists as those CPUs report them; sysfs and
cgroup files hold what the kernel writes there (``cpu.max`` "QUOTA PERIOD", v1 "unlimited"
as 9223372036854771712). The NVML stand-in offers the functions and return shapes of
nvidia-ml-py's ``pynvml`` that dtf calls; nvidia-smi stand-ins print its documented
``--format=csv,noheader,nounits`` output.
"""

from __future__ import annotations

import os
import stat
import types
from pathlib import Path
from typing import Any

SPR_FLAGS = (
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse "
    "sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid "
    "tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave "
    "avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch fsgsbase bmi1 avx2 smep bmi2 erms invpcid "
    "avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl "
    "xsaveopt xsavec xgetbv1 xsaves avx_vnni avx512_bf16 wbnoinvd ida arat avx512vbmi umip pku ospke "
    "waitpkg avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg tme avx512_vpopcntdq rdpid "
    "cldemote movdiri movdir64b md_clear serialize amx_bf16 avx512_fp16 amx_tile amx_int8 flush_l1d "
    "arch_capabilities"
)


def spr_cpuinfo(n: int = 2) -> str:
    block = ("processor\t: {i}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n"
             "model name\t: Intel(R) Xeon(R) Platinum 8488C\nphysical id\t: 0\ncore id\t\t: {c}\n"
             "flags\t\t: " + SPR_FLAGS + "\n\n")
    return "".join(block.format(i=i, c=i // 2) for i in range(n))


GRAVITON3_CPUINFO = "".join(
    f"processor\t: {i}\nBogoMIPS\t: 2100.00\n"
    "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm "
    "jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs "
    "paca pacg dcpodp svei8mm svebf16 i8mm bf16 dgh rng\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: 0xd40\n"
    "CPU revision\t: 1\n\n" for i in range(4))


def write_tree(root: Path, files: dict[str, str], links: dict[str, str] | None = None) -> Path:
    """Write ``{"/proc/cpuinfo": text, ...}`` under ``root``; ``links`` maps path -> symlink target."""
    for path, text in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    for path, dest in (links or {}).items():
        link = root / path.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(dest, link)
    return root


def topology(n_logical: int, threads_per_core: int = 2) -> dict[str, str]:
    files = {"/sys/devices/system/cpu/online": f"0-{n_logical - 1}\n"}
    for cpu in range(n_logical):
        base = f"/sys/devices/system/cpu/cpu{cpu}/topology"
        files[f"{base}/core_id"] = f"{cpu // threads_per_core}\n"
        files[f"{base}/physical_package_id"] = "0\n"
    return files


def stand_in(bin_dir: Path, name: str, script: str) -> Path:
    """An executable shell script called ``name`` in ``bin_dir`` (a vendor tool's stand-in)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


class NVMLError(Exception):
    pass


def fake_nvml(devices: list[dict[str, Any]], *, driver: str = "550.54.15", cuda: int = 12040,
              fail_init: bool = False) -> types.ModuleType:
    """A ``pynvml`` stand-in: ``devices`` hold name, memory (bytes), cc, clocks, mask, ...;
    ``used``/``util`` may be lists, consumed one per call (a GPU during a unit)."""
    mod = types.ModuleType("pynvml")
    mod.NVMLError = NVMLError  # type: ignore[attr-defined]
    mod.calls = []  # type: ignore[attr-defined]

    def init() -> None:
        if fail_init:
            raise NVMLError("NVML Shared Library Not Found")
        mod.calls.append("init")  # type: ignore[attr-defined]

    def dev(h: int) -> dict[str, Any]:
        return devices[h]

    def unsupported(key: str, h: int) -> Any:
        value = dev(h).get(key)
        if value is None:
            raise NVMLError("Not Supported")
        return value

    def take(h: int, key: str, default: float) -> float:
        value = dev(h).get(key, default)
        if isinstance(value, list):
            return value.pop(0) if len(value) > 1 else value[0]
        return float(value)

    ns = types.SimpleNamespace
    fns = {
        "nvmlInit": init, "nvmlShutdown": lambda: mod.calls.append("shutdown"),  # type: ignore[attr-defined]
        "nvmlSystemGetDriverVersion": lambda: driver,
        "nvmlSystemGetCudaDriverVersion": lambda: cuda,
        "nvmlDeviceGetCount": lambda: len(devices),
        "nvmlDeviceGetHandleByIndex": lambda i: i,
        "nvmlDeviceGetName": lambda h: dev(h)["name"],
        "nvmlDeviceGetUUID": lambda h: f"GPU-{h:08d}",
        "nvmlDeviceGetMemoryInfo": lambda h: ns(total=dev(h)["memory"], used=take(h, "used", 0.0), free=0),
        "nvmlDeviceGetUtilizationRates": lambda h: ns(gpu=take(h, "util", 0.0), memory=0),
        "nvmlDeviceGetCudaComputeCapability": lambda h: dev(h)["cc"],
        "nvmlDeviceGetMigMode": lambda h: (1 if dev(h).get("mig") else 0, 0),
        "nvmlDeviceGetMaxMigDeviceCount": lambda h: 7 if dev(h).get("mig") else 0,
        "nvmlDeviceGetMigDeviceHandleByIndex": lambda h, j: (
            (h, j) if j < dev(h).get("mig", 0) else (_ for _ in ()).throw(NVMLError("Not Found"))),
        "nvmlDeviceGetPowerManagementLimit": lambda h: dev(h).get("power_mw", 700000),
        "nvmlDeviceGetClockInfo": lambda h, c: dev(h).get("sm", 345),
        "nvmlDeviceGetMaxClockInfo": lambda h, c: dev(h).get("sm_max", 1980),
        "nvmlDeviceGetApplicationsClock": lambda h, c: dev(h).get("app", 1755),
        "nvmlDeviceGetDefaultApplicationsClock": lambda h, c: 1755,
        "nvmlDeviceGetCurrentClocksThrottleReasons": lambda h: dev(h).get("mask", 0x1),
        "nvmlDeviceGetEccMode": lambda h: (1, 1),
        "nvmlDeviceGetPersistenceMode": lambda h: 1,
        "nvmlDeviceGetCurrPcieLinkGeneration": lambda h: 5,
        "nvmlDeviceGetCurrPcieLinkWidth": lambda h: 16,
        "nvmlDeviceGetNvLinkState": lambda h, link: (
            1 if link < dev(h).get("nvlink", 0) else (_ for _ in ()).throw(NVMLError("Not Supported"))),
    }
    for name, fn in fns.items():
        setattr(mod, name, fn)
    return mod


def h100(**over: Any) -> dict[str, Any]:
    base = {"name": "NVIDIA H100 80GB HBM3", "memory": 85520809984, "cc": (9, 0), "nvlink": 18}
    base.update(over)
    return base
