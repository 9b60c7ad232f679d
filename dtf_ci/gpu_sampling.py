"""GPU use while a unit runs: peak device memory and mean utilisation, sampled through NVML.

A benchmark that got faster by holding twice the GPU memory, or that left the GPU idle half
the time, is worth seeing next to its timings. While each repetition runs, a thread asks NVML
every ``INTERVAL_S`` for memory used and utilisation of the GPUs the unit may see
(``CUDA_VISIBLE_DEVICES`` when it lists indices, else all). Figures are device-wide: NVML
cannot attribute utilisation to a process, and a dedicated benchmark runner has nothing else
on its GPUs. Without NVML (``pip install dtf-ci[nvidia]``), or with ``DTF_GPU_SAMPLING=0``,
nothing is sampled, nothing is recorded and nothing fails.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

INTERVAL_S = 0.1


@dataclass
class GpuUsage:
    """What a unit did to its GPUs over all its repetitions."""

    peak_mem_mb: float = 0.0
    util_sum: float = 0.0
    samples: int = 0

    @property
    def util_mean_pct(self) -> float | None:
        return self.util_sum / self.samples if self.samples else None

    def add(self, mem_mb: float, util_pct: float) -> None:
        self.peak_mem_mb = max(self.peak_mem_mb, mem_mb)
        self.util_sum += util_pct
        self.samples += 1


@lru_cache(maxsize=1)
def _nvml() -> ModuleType | None:
    """NVML initialised once per process, or None (no module, no driver, or switched off)."""
    if os.environ.get("DTF_GPU_SAMPLING", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        import pynvml  # type: ignore[import-not-found,unused-ignore]

        pynvml.nvmlInit()
        if int(pynvml.nvmlDeviceGetCount()) == 0:
            return None
    except Exception:  # ImportError, NVMLError_LibraryNotFound, DriverNotLoaded: no sampling
        return None
    return pynvml  # type: ignore[no-any-return,unused-ignore]


def _handles(nvml: ModuleType, visible: str | None) -> list[Any]:
    count = int(nvml.nvmlDeviceGetCount())
    indices = list(range(count))
    if visible is not None and visible.strip():
        wanted = [v.strip() for v in visible.split(",")]
        if all(v.isdigit() for v in wanted):
            indices = [int(v) for v in wanted if int(v) < count]
    return [nvml.nvmlDeviceGetHandleByIndex(i) for i in indices]


def sample_once(nvml: ModuleType, handles: list[Any]) -> tuple[float, float] | None:
    """(memory used in MiB summed over the devices, mean utilisation in %), or None if NVML fails."""
    try:
        mem = sum(nvml.nvmlDeviceGetMemoryInfo(h).used for h in handles) / 2**20
        util = sum(nvml.nvmlDeviceGetUtilizationRates(h).gpu for h in handles) / len(handles)
    except Exception:  # a device lost mid-run (Xid, reset): skip this sample, keep the rest
        return None
    return float(mem), float(util)


class _Sampler:
    def __init__(self, nvml: ModuleType, handles: list[Any], usage: GpuUsage) -> None:
        self.nvml, self.handles, self.usage = nvml, handles, usage
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="dtf-gpu-sampler", daemon=True)

    def _loop(self) -> None:
        while True:
            got = sample_once(self.nvml, self.handles)
            if got is not None:
                self.usage.add(*got)
            if self.stop.wait(INTERVAL_S):
                break


@contextlib.contextmanager
def sampling(usage: GpuUsage | None, env: dict[str, str] | None = None) -> Iterator[GpuUsage | None]:
    """Sample the GPUs into ``usage`` (a new one when None) while the block runs.

    Yields None, and costs nothing, where NVML is not available.
    """
    nvml = _nvml()
    handles = _handles(nvml, (env or os.environ).get("CUDA_VISIBLE_DEVICES")) if nvml is not None else []
    if nvml is None or not handles:
        yield None
        return
    usage = usage if usage is not None else GpuUsage()
    sampler = _Sampler(nvml, handles, usage)
    sampler.thread.start()
    try:
        yield usage
    finally:
        sampler.stop.set()
        sampler.thread.join(2.0)
        got = sample_once(nvml, handles)  # a unit shorter than one interval still gets a sample
        if got is not None and usage.samples == 0:
            usage.add(*got)


def unit_columns(usage: GpuUsage | None) -> tuple[float | None, float | None]:
    """(gpu_peak_mem_mb, gpu_util_pct) for the units table; NULLs where nothing was sampled."""
    if usage is None or usage.samples == 0:
        return None, None
    mean = usage.util_mean_pct
    return round(usage.peak_mem_mb, 1), (round(mean, 1) if mean is not None else None)


def report_rows(units: Any) -> list[dict[str, Any]]:
    """Units that ran on a GPU, for the report's "GPU use" table (the unit's own CPU and RSS beside)."""
    rows = []
    for u in units if isinstance(units, list) else []:
        if not isinstance(u, dict):
            continue
        mem, util = u.get("gpu_peak_mem_mb"), u.get("gpu_util_pct")
        if not isinstance(mem, (int, float)) and not isinstance(util, (int, float)):
            continue
        rows.append({
            "unit": str(u.get("unit", "")),
            "gpu_mem_text": f"{mem / 1024:.1f} GiB" if isinstance(mem, (int, float)) and mem >= 1024
            else (f"{mem:.0f} MiB" if isinstance(mem, (int, float)) else "–"),
            "gpu_util_text": f"{util:.0f}%" if isinstance(util, (int, float)) else "–",
            "cpu_text": f"{u['cpu_s']:.1f} s" if isinstance(u.get("cpu_s"), (int, float)) else "–",
            "rss_text": f"{u['peak_rss_mb']:.0f} MiB" if isinstance(u.get("peak_rss_mb"), (int, float)) else "–",
        })
    return sorted(rows, key=lambda r: r["unit"])
