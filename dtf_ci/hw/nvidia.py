"""NVIDIA GPUs through NVML (``nvidia-ml-py``, the ``nvidia`` extra), else ``nvidia-smi``.

NVML answers in one process with no parsing and tells what nvidia-smi's CSV cannot in one
call (MIG instances, NVLink state); ``nvidia-smi`` is the fallback every driver install has.
Both give the same per-device dict, so facts and labels do not care which one answered.

The clock state matters most for benchmarks: a GPU whose SM clock floats with load and
temperature gives noisy timings. ``clocks_locked`` is true when the application clocks were
set away from their defaults or the driver reports the "applications clocks setting"
reason (what ``nvidia-smi -lgc``/``-ac`` cause); ``throttle_reasons`` lists the active
clock-event reasons by NVML's names.
"""

from __future__ import annotations

import contextlib
import re
from types import ModuleType
from typing import Any

from dtf_ci.hw.source import Source

#: NVML clocks-event (throttle) reason bits, named as nvidia-smi's query fields name them.
THROTTLE_BITS = {
    0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x4: "sw_power_cap", 0x8: "hw_slowdown",
    0x10: "sync_boost", 0x20: "sw_thermal_slowdown", 0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown", 0x100: "display_clock_setting",
}
NVML_CLOCK_SM = 1
NVLINK_MAX_LINKS = 18
SMI_FIELDS = ("index", "name", "uuid", "memory.total", "driver_version", "compute_cap",
              "mig.mode.current", "power.limit", "clocks.sm", "clocks.max.sm",
              "clocks.applications.graphics", "clocks.default_applications.graphics",
              "clocks_throttle_reasons.active", "ecc.mode.current", "persistence_mode",
              "pcie.link.gen.current", "pcie.link.width.current")
SMI_MINIMAL = ("name", "memory.total", "driver_version")  # what every driver knows


def throttle_names(mask: int) -> list[str]:
    """Active reasons of an NVML clocks-event bit mask, by name (unknown bits as hex)."""
    names = [name for bit, name in THROTTLE_BITS.items() if mask & bit]
    rest = mask & ~sum(THROTTLE_BITS)
    if rest:
        names.append(f"0x{rest:x}")
    return names


def cuda_from_int(version: int) -> str:
    """NVML's 12040 -> ``12.4``."""
    return f"{version // 1000}.{(version % 1000) // 10}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _locked(app: int | None, default_app: int | None, reasons: list[str]) -> bool | None:
    if "applications_clocks_setting" in reasons:
        return True
    if app and default_app:
        return app != default_app
    return None if not reasons and app is None else False


def probe_nvml(nvml: ModuleType | None) -> list[dict[str, Any]] | None:
    """Devices through NVML; None when the module is absent or NVML cannot start (no driver)."""
    if nvml is None:
        return None
    try:
        nvml.nvmlInit()
    except Exception:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...: no NVIDIA here
        return None
    try:
        def ask(fn: str, *args: Any) -> Any:
            try:
                return getattr(nvml, fn)(*args)
            except Exception:  # NotSupported on this board or driver: leave the field out
                return None

        driver = ask("nvmlSystemGetDriverVersion")
        cuda = ask("nvmlSystemGetCudaDriverVersion_v2") or ask("nvmlSystemGetCudaDriverVersion")
        devices = []
        for i in range(int(ask("nvmlDeviceGetCount") or 0)):
            h = ask("nvmlDeviceGetHandleByIndex", i)
            if h is None:
                continue
            mem = ask("nvmlDeviceGetMemoryInfo", h)
            cc = ask("nvmlDeviceGetCudaComputeCapability", h)
            mig = ask("nvmlDeviceGetMigMode", h)
            mig_on = bool(mig[0]) if mig else None
            instances = 0
            if mig_on:
                for j in range(int(ask("nvmlDeviceGetMaxMigDeviceCount", h) or 0)):
                    if ask("nvmlDeviceGetMigDeviceHandleByIndex", h, j) is not None:
                        instances += 1
            mask = ask("nvmlDeviceGetCurrentClocksEventReasons", h)
            if mask is None:
                mask = ask("nvmlDeviceGetCurrentClocksThrottleReasons", h)
            reasons = throttle_names(int(mask)) if mask is not None else []
            app = ask("nvmlDeviceGetApplicationsClock", h, NVML_CLOCK_SM)
            default_app = ask("nvmlDeviceGetDefaultApplicationsClock", h, NVML_CLOCK_SM)
            ecc = ask("nvmlDeviceGetEccMode", h)
            persistence = ask("nvmlDeviceGetPersistenceMode", h)
            power = ask("nvmlDeviceGetPowerManagementLimit", h)
            links = [ask("nvmlDeviceGetNvLinkState", h, link) for link in range(NVLINK_MAX_LINKS)]
            devices.append({
                "index": i, "vendor": "nvidia", "name": _text(ask("nvmlDeviceGetName", h) or ""),
                "uuid": _text(ask("nvmlDeviceGetUUID", h) or ""),
                "memory_mib": round(mem.total / 2**20) if mem is not None else None,
                "compute_capability": f"{cc[0]}.{cc[1]}" if cc else None,
                "driver": _text(driver) if driver else None,
                "cuda": cuda_from_int(int(cuda)) if cuda else None,
                "mig": mig_on, "mig_instances": instances,
                "power_limit_w": round(power / 1000) if power else None,
                "sm_clock_mhz": ask("nvmlDeviceGetClockInfo", h, NVML_CLOCK_SM),
                "sm_clock_max_mhz": ask("nvmlDeviceGetMaxClockInfo", h, NVML_CLOCK_SM),
                "app_sm_clock_mhz": app, "default_app_sm_clock_mhz": default_app,
                "clocks_locked": _locked(app, default_app, reasons) if mask is not None or app else None,
                "throttle_reasons": reasons if mask is not None else None,
                "ecc": bool(ecc[0]) if ecc else None,
                "persistence": bool(persistence) if persistence is not None else None,
                "pcie_gen": ask("nvmlDeviceGetCurrPcieLinkGeneration", h),
                "pcie_width": ask("nvmlDeviceGetCurrPcieLinkWidth", h),
                "nvlink_active": sum(1 for s in links if s),
                "source": "nvml",
            })
        return devices
    finally:
        with contextlib.suppress(Exception):  # a half-started NVML must not fail the probe
            nvml.nvmlShutdown()


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _int(text: str) -> int | None:
    value = _num(text)
    return int(value) if value is not None else None


def _enabled(text: str) -> bool | None:
    low = text.strip().lower()
    if low in ("enabled", "enable", "on", "1"):
        return True
    if low in ("disabled", "disable", "off", "0"):
        return False
    return None


def parse_smi_csv(text: str, fields: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of ``--format=csv,noheader,nounits`` as dicts; a row with the wrong width is dropped."""
    rows = []
    for line in text.strip().splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) == len(fields):
            rows.append(dict(zip(fields, cells, strict=True)))
    return rows


def _smi_device(position: int, row: dict[str, str], cuda: str | None, mig_counts: dict[int, int]) -> dict[str, Any]:
    na = ("[N/A]", "N/A", "[Not Supported]", "")
    get = {k: ("" if v in na else v) for k, v in row.items()}
    index = _int(get.get("index", "")) if get.get("index") else position
    index = position if index is None else index
    mask_text = get.get("clocks_throttle_reasons.active", "")
    mask = int(mask_text, 16) if re.match(r"^0x[0-9a-fA-F]+$", mask_text) else None
    reasons = throttle_names(mask) if mask is not None else []
    app = _int(get.get("clocks.applications.graphics", ""))
    default_app = _int(get.get("clocks.default_applications.graphics", ""))
    power = _num(get.get("power.limit", ""))
    mem = _num(get.get("memory.total", ""))
    mig_on = _enabled(get.get("mig.mode.current", ""))
    return {
        "index": index, "vendor": "nvidia", "name": get.get("name", ""), "uuid": get.get("uuid", ""),
        "memory_mib": round(mem) if mem is not None else None,
        "compute_capability": get.get("compute_cap") or None,
        "driver": get.get("driver_version") or None, "cuda": cuda,
        "mig": mig_on, "mig_instances": mig_counts.get(index, 0),
        "power_limit_w": round(power) if power is not None else None,
        "sm_clock_mhz": _int(get.get("clocks.sm", "")),
        "sm_clock_max_mhz": _int(get.get("clocks.max.sm", "")),
        "app_sm_clock_mhz": app, "default_app_sm_clock_mhz": default_app,
        "clocks_locked": _locked(app, default_app, reasons) if mask is not None or app else None,
        "throttle_reasons": reasons if mask is not None else None,
        "ecc": _enabled(get.get("ecc.mode.current", "")),
        "persistence": _enabled(get.get("persistence_mode", "")),
        "pcie_gen": _int(get.get("pcie.link.gen.current", "")),
        "pcie_width": _int(get.get("pcie.link.width.current", "")),
        "nvlink_active": None,
        "source": "nvidia-smi",
    }


def parse_mig_list(text: str) -> dict[int, int]:
    """``nvidia-smi -L``: MIG instances per GPU index (the indented ``MIG ...`` lines)."""
    counts: dict[int, int] = {}
    current = -1
    for line in text.splitlines():
        m = re.match(r"^GPU (\d+):", line)
        if m:
            current = int(m.group(1))
        elif line.strip().startswith("MIG ") and current >= 0:
            counts[current] = counts.get(current, 0) + 1
    return counts


def parse_nvlink_status(text: str) -> dict[int, int]:
    """``nvidia-smi nvlink -s``: active links per GPU index (a speed, not ``<inactive>``)."""
    counts: dict[int, int] = {}
    current = -1
    for line in text.splitlines():
        m = re.match(r"^GPU (\d+):", line)
        if m:
            current = int(m.group(1))
            counts.setdefault(current, 0)
        elif re.match(r"^\s+Link \d+:\s*[\d.]+\s*GB/s", line) and current >= 0:
            counts[current] += 1
    return counts


def probe_nvidia_smi(src: Source) -> list[dict[str, Any]]:
    """Devices through ``nvidia-smi``; [] when it is absent or answers nothing."""
    if not src.which("nvidia-smi"):
        return []
    rows = []
    for fields in (SMI_FIELDS, SMI_MINIMAL):  # an old driver rejects fields it does not know
        text = src.run(["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"])
        rows = parse_smi_csv(text, fields)
        if rows:
            break
    if not rows:
        return []
    cuda_match = re.search(r"CUDA Version:\s*([\d.]+)", src.run(["nvidia-smi"]))
    cuda = cuda_match.group(1) if cuda_match else None
    mig = parse_mig_list(src.run(["nvidia-smi", "-L"]))
    devices = [_smi_device(i, r, cuda, mig) for i, r in enumerate(rows)]
    links = parse_nvlink_status(src.run(["nvidia-smi", "nvlink", "-s"]))
    for dev in devices:
        if dev["index"] in links:
            dev["nvlink_active"] = links[dev["index"]]
    return devices


def load_nvml() -> ModuleType | None:
    """``pynvml`` from nvidia-ml-py when installed (``pip install dtf-ci[nvidia]``), else None."""
    try:
        import pynvml  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return pynvml  # type: ignore[no-any-return,unused-ignore]


def probe_nvidia(src: Source, nvml: ModuleType | None) -> list[dict[str, Any]]:
    """NVML first; nvidia-smi when NVML is not installed or finds no driver."""
    devices = probe_nvml(nvml)
    if devices:
        return devices
    return probe_nvidia_smi(src)
