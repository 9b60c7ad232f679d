"""Container limits from cgroups v1 and v2: the CPUs and memory this process may really use.

A container on a 64-core host limited to 4 CPUs sees 64 in /proc/cpuinfo; only the cgroup's
CPU quota (``cpu.max`` in v2, ``cpu.cfs_quota_us``/``cpu.cfs_period_us`` in v1) says 4. The
limit that applies is the smallest along the path from the process's cgroup to the root.
"""

from __future__ import annotations

import math

from dtf_ci.hw.source import Source

UNLIMITED_V1 = 1 << 62  # v1 writes "no limit" as a page-rounded 2**63-1; anything above this is none


def membership(src: Source) -> tuple[str | None, dict[str, str]]:
    """(the v2 path or None, {v1 controller: path}) from /proc/self/cgroup."""
    text = src.read("/proc/self/cgroup") or ""
    v2: str | None = None
    v1: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            v2 = path
        for name in controllers.split(","):
            if name:
                v1[name] = path
    return v2, v1


def _ancestors(base: str, path: str) -> list[str]:
    """``base/a/b``, ``base/a``, ``base``: the cgroup folders whose limits apply, innermost first."""
    parts = [p for p in path.strip("/").split("/") if p and p != ".."]
    out = [base + "/" + "/".join(parts[:i]) if i else base for i in range(len(parts), -1, -1)]
    return [p.rstrip("/") for p in out]


def _v1_dirs(src: Source, controller: str) -> list[str]:
    """Mount folders of a v1 controller (``cpu``, ``cpu,cpuacct``, ``cpuacct,cpu``)."""
    found = []
    for folder in src.glob("/sys/fs/cgroup/*"):
        if controller in folder.name.split(",") and folder.is_dir() and not folder.is_symlink():
            found.append("/sys/fs/cgroup/" + folder.name)
    return found or [f"/sys/fs/cgroup/{controller}"]


def _is_v2(src: Source) -> bool:
    return src.exists("/sys/fs/cgroup/cgroup.controllers")


def cpu_quota(src: Source) -> float | None:
    """CPUs' worth of time the cgroup allows (4.0 for "400000 100000"); None when unlimited."""
    v2, v1 = membership(src)
    limits: list[float] = []
    if v2 is not None and _is_v2(src):
        for folder in _ancestors("/sys/fs/cgroup", v2):
            text = src.read(folder + "/cpu.max")
            if not text:
                continue
            fields = text.split()
            if fields[0] != "max" and len(fields) == 2:
                try:
                    limits.append(int(fields[0]) / int(fields[1]))
                except (ValueError, ZeroDivisionError):
                    continue
    elif "cpu" in v1:
        for base in _v1_dirs(src, "cpu"):
            for folder in dict.fromkeys([*_ancestors(base, v1["cpu"]), base]):
                quota = src.read_int(folder + "/cpu.cfs_quota_us")
                period = src.read_int(folder + "/cpu.cfs_period_us")
                if quota is not None and quota > 0 and period:
                    limits.append(quota / period)
    positive = [x for x in limits if x > 0]
    return min(positive) if positive else None


def cpus_from_quota(quota: float | None) -> int | None:
    """Whole CPUs a quota amounts to, rounded up: 1.5 CPUs of time keeps two threads busy."""
    return None if quota is None else max(1, math.ceil(quota - 1e-9))


def memory_limit_bytes(src: Source) -> int | None:
    """The cgroup memory limit in bytes; None when there is none (or it exceeds any real RAM)."""
    v2, v1 = membership(src)
    limits: list[int] = []
    if v2 is not None and _is_v2(src):
        for folder in _ancestors("/sys/fs/cgroup", v2):
            text = src.read(folder + "/memory.max")
            if text and text != "max" and text.isdigit():
                limits.append(int(text))
    elif "memory" in v1:
        for base in _v1_dirs(src, "memory"):
            for folder in dict.fromkeys([*_ancestors(base, v1["memory"]), base]):
                value = src.read_int(folder + "/memory.limit_in_bytes")
                if value is not None and 0 < value < UNLIMITED_V1:
                    limits.append(value)
    return min(limits) if limits else None
