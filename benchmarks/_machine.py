"""What every benchmark prints first: the machine it ran on and how busy it was.

Figures from a shared 2-core machine mean little without the load beside them.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path


def load() -> str:
    """The 1, 5 and 15 minute load averages: above the core count, timings are inflated."""
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def machine(extra: str = "") -> list[str]:
    """Platform, CPU model, logical cores, memory, Python and dtf versions, load average."""
    cpu = platform.processor() or "unknown CPU"
    mem_gb = float("nan")
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = int(line.split()[1]) / 2**20
                break
    except OSError:
        pass
    try:
        from dtf_ci import __version__ as dtf_version
    except ImportError:
        dtf_version = "not importable"
    return [f"platform: {platform.platform()}", f"cpu: {cpu}", f"logical cores: {os.cpu_count()}",
            f"memory: {mem_gb:.1f} GiB", f"python: {platform.python_version()} ({sys.executable})",
            f"dtf: {dtf_version}{extra}", f"load average at start: {load()}"]
