"""GPUs and accelerators other than NVIDIA: AMD, Intel, Apple Silicon, TPUs and NPUs.

Each probe returns the same per-device dict shape as ``nvidia.py`` where it can (``vendor``,
``name``, ``memory_mib``) and reads only what the system already shows: vendor tools when
installed (amdsmi, rocm-smi, xpu-smi, system_profiler), else sysfs and /dev.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from types import ModuleType
from typing import Any

from dtf_ci.hw.source import Source

PCI_INTEL, PCI_AMD, PCI_GOOGLE = "0x8086", "0x1002", "0x1ae0"
INTEGRATED_BDF = "0000:00:02.0"  # where Intel puts its integrated GPU on every platform
NPU_DRIVERS = {"intel_vpu": "intel", "amdxdna": "amd"}


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


def probe_amdsmi(amdsmi: ModuleType | None) -> list[dict[str, Any]] | None:
    """AMD GPUs through the ``amdsmi`` Python module (ROCm 6+); None when it is absent or fails."""
    if amdsmi is None:
        return None
    try:
        amdsmi.amdsmi_init()
    except Exception:  # no amdgpu driver: nothing to report
        return None
    try:
        devices = []
        for i, h in enumerate(amdsmi.amdsmi_get_processor_handles()):
            try:
                asic = amdsmi.amdsmi_get_gpu_asic_info(h)
            except Exception:
                asic = {}
            try:
                vram = amdsmi.amdsmi_get_gpu_vram_info(h)
            except Exception:
                vram = {}
            size = vram.get("vram_size") if isinstance(vram, dict) else None
            devices.append({"index": i, "vendor": "amd", "name": str(asic.get("market_name", "")),
                            "memory_mib": int(size) if isinstance(size, (int, float)) else None,
                            "source": "amdsmi"})
        return devices
    finally:
        with contextlib.suppress(Exception):  # shutting down must not fail the probe
            amdsmi.amdsmi_shut_down()


def parse_rocm_smi(data: Any) -> list[dict[str, Any]]:
    """``rocm-smi --showproductname --showmeminfo vram --json``: one dict per ``cardN`` key."""
    if not isinstance(data, dict):
        return []
    devices = []
    for key in sorted(data, key=lambda k: int(re.sub(r"\D", "", k) or 0)):
        card = data[key]
        if not (key.lower().startswith("card") and isinstance(card, dict)):
            continue
        low = {str(k).lower(): str(v) for k, v in card.items()}
        name = low.get("card series") or low.get("card model") or low.get("market name") or ""
        total = low.get("vram total memory (b)", "")
        devices.append({"index": int(re.sub(r"\D", "", key) or 0), "vendor": "amd", "name": name,
                        "memory_mib": int(total) // 2**20 if total.isdigit() else None,
                        "gfx": low.get("gfx version") or None, "source": "rocm-smi"})
    return devices


def probe_amd(src: Source, amdsmi: ModuleType | None) -> list[dict[str, Any]]:
    devices = probe_amdsmi(amdsmi)
    if not devices and src.which("rocm-smi"):
        devices = parse_rocm_smi(_json(src.run(["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"])))
    if devices:
        rocm = src.read("/opt/rocm/.info/version")
        for dev in devices:
            dev["rocm"] = rocm.split("-")[0] if rocm else None
    return devices or []


def _driver(src: Source, device_dir: str) -> str:
    try:
        return os.path.basename(os.readlink(src.file(device_dir + "/driver")))
    except OSError:
        return ""


def parse_xpu_smi(data: Any) -> list[dict[str, Any]]:
    """``xpu-smi discovery -j``: the ``device_list`` entries."""
    items = data.get("device_list", []) if isinstance(data, dict) else []
    return [{"index": int(d.get("device_id", i)), "vendor": "intel", "name": str(d.get("device_name", "")),
             "memory_mib": None, "integrated": False, "source": "xpu-smi"}
            for i, d in enumerate(items) if isinstance(d, dict)]


def probe_intel(src: Source) -> list[dict[str, Any]]:
    """Intel GPUs: ``xpu-smi`` when installed, else DRM devices with Intel's PCI vendor id."""
    if src.which("xpu-smi"):
        devices = parse_xpu_smi(_json(src.run(["xpu-smi", "discovery", "-j"])))
        if devices:
            return devices
    devices = []
    for card in src.glob("/sys/class/drm/card*"):
        if not re.match(r"^card\d+$", card.name):
            continue
        base = f"/sys/class/drm/{card.name}/device"
        if src.read(base + "/vendor") != PCI_INTEL:
            continue
        try:
            bdf = os.path.basename(os.path.realpath(src.file(base)))
        except OSError:
            bdf = ""
        devices.append({"index": len(devices), "vendor": "intel",
                        "name": f"Intel GPU {src.read(base + '/device') or ''}".strip(),
                        "memory_mib": None, "integrated": bdf == INTEGRATED_BDF,
                        "driver": _driver(src, base), "source": "sysfs"})
    return devices


def probe_apple(src: Source) -> list[dict[str, Any]]:
    """Apple Silicon's GPU from ``system_profiler SPDisplaysDataType -json`` (macOS only)."""
    data = _json(src.run(["system_profiler", "SPDisplaysDataType", "-json"], timeout_s=10))
    items = data.get("SPDisplaysDataType", []) if isinstance(data, dict) else []
    devices = []
    for i, item in enumerate(x for x in items if isinstance(x, dict)):
        vendor = str(item.get("spdisplays_vendor", item.get("sppci_vendor", ""))).lower()
        name = str(item.get("sppci_model", ""))
        if "apple" not in vendor and not name.startswith("Apple"):
            continue
        cores = str(item.get("sppci_cores", ""))
        devices.append({"index": i, "vendor": "apple", "name": name, "memory_mib": None,
                        "gpu_cores": int(cores) if cores.isdigit() else None, "unified_memory": True,
                        "source": "system_profiler"})
    return devices


def _pci_devices(src: Source) -> list[tuple[str, str, str]]:
    """(address, vendor, class) of every PCI device."""
    out = []
    for dev in src.glob("/sys/bus/pci/devices/*"):
        base = f"/sys/bus/pci/devices/{dev.name}"
        out.append((dev.name, src.read(base + "/vendor") or "", src.read(base + "/class") or ""))
    return out


def probe_tpu(src: Source) -> dict[str, Any] | None:
    """Google TPUs: PCI devices of Google's vendor id that are not its NIC or disk
    (as /dev/accel* or vfio), and libtpu's ``TPU_ACCELERATOR_TYPE`` when set."""
    chips = [addr for addr, vendor, cls in _pci_devices(src)
             if vendor == PCI_GOOGLE and not cls.startswith(("0x01", "0x02"))]
    kind = src.env.get("TPU_ACCELERATOR_TYPE", "")
    if not chips and not kind:
        return None
    via = "accel" if src.glob("/dev/accel*") else ("vfio" if src.glob("/dev/vfio/[0-9]*") else "")
    return {"count": len(chips) or None, "type": kind or None, "device_files": via or None}


def probe_npus(src: Source) -> list[dict[str, Any]]:
    """NPUs the kernel shows as /sys/class/accel devices: Intel NPU (intel_vpu), AMD XDNA (amdxdna)."""
    out = []
    for dev in src.glob("/sys/class/accel/accel*"):
        driver = _driver(src, f"/sys/class/accel/{dev.name}/device")
        if driver in NPU_DRIVERS:
            out.append({"device": dev.name, "vendor": NPU_DRIVERS[driver], "driver": driver})
    return out
