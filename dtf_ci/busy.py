"""Was the host busy while a unit ran? Load average and CPU steal, before and after each unit.

A benchmark measured while other processes competed for the cores (a laptop compiling in the
background, six colleagues' test suites on a shared box, a noisy neighbour stealing a VM's
CPU) is slower for reasons that have nothing to do with the code. dtf cannot undo that, but it
can say so: each unit records the 1-minute load average before and after it ran and the share
of CPU time the hypervisor stole meanwhile, and a verdict that rests on a unit measured on a
busy host is set aside (like machine drift) with the reason shown beside it and in the headline.

"Busy" is deliberately simple, so a user can check it with ``uptime``: besides the unit's own
processes (its CPU seconds per wall second), the load average asked for more than half a
core beyond the cores the unit left free (someone had to wait for a core), or more than 10 %
of the CPU time was stolen. A benchmark that itself keeps every core busy is not "the host".
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

#: Load above ``cores + LOAD_MARGIN`` means runnable work waited for a core.
LOAD_MARGIN = 0.5
#: Share of CPU time stolen by the hypervisor above which a VM's timings are unreliable.
STEAL_LIMIT = 0.10
#: Key of the per-unit records in a shard's and the merged file's ``dtf_meta`` table.
META_KEY = "host-load"


@dataclass(frozen=True)
class Snapshot:
    load1: float
    steal_s: float
    total_s: float


@dataclass(frozen=True)
class UnitLoad:
    """What the host was doing around one unit."""

    cores: int
    load_before: float
    load_after: float
    steal: float  # share of all CPU time stolen while the unit ran (0..1)
    own: float = 1.0  # the unit's own cores in use: CPU seconds per wall second

    @property
    def load(self) -> float:
        return max(self.load_before, self.load_after)

    def busy(self) -> str:
        """A short reason ("load 4.9 on 2 cores") when the host was busy, else ""."""
        why = []
        others = self.load - self.own
        free = self.cores - min(self.own, self.cores)
        if others > free + LOAD_MARGIN:
            why.append(f"load {self.load:.1f} on {self.cores} core{'s' if self.cores != 1 else ''}")
        if self.steal > STEAL_LIMIT:
            why.append(f"CPU steal {self.steal:.0%}")
        return ", ".join(why)


def snapshot() -> Snapshot:
    """Load average and CPU time counters now (zeros where the platform has none)."""
    try:
        load1 = os.getloadavg()[0]
    except (OSError, AttributeError):
        load1 = 0.0
    steal = total = 0.0
    try:
        import psutil

        times = psutil.cpu_times()
        steal = float(getattr(times, "steal", 0.0) or 0.0)
        total = float(sum(times))
    except Exception:  # psutil missing or unable to read /proc: no steal figure
        pass
    return Snapshot(load1, steal, total)


def between(before: Snapshot, after: Snapshot, *, cpu_s: float, wall_s: float) -> UnitLoad:
    """The record of one unit from snapshots taken around it and its own CPU and wall time."""
    spent = after.total_s - before.total_s
    steal = (after.steal_s - before.steal_s) / spent if spent > 0 else 0.0
    own = cpu_s / wall_s if wall_s > 0 else 0.0
    return UnitLoad(os.cpu_count() or 1, round(before.load1, 2), round(after.load1, 2),
                    round(max(0.0, steal), 4), round(max(0.0, own), 2))


def encode(loads: dict[str, UnitLoad]) -> str:
    return json.dumps({unit: asdict(rec) for unit, rec in sorted(loads.items())})


def decode(text: str | None) -> dict[str, UnitLoad]:
    """Per-unit records from a ``dtf_meta`` value; anything malformed is skipped, never trusted."""
    out: dict[str, UnitLoad] = {}
    try:
        raw = json.loads(text or "{}")
    except ValueError:
        return out
    if not isinstance(raw, dict):
        return out
    for unit, rec in raw.items():
        if not isinstance(rec, dict):
            continue
        try:
            out[str(unit)] = UnitLoad(int(rec["cores"]), float(rec["load_before"]),
                                      float(rec["load_after"]), float(rec["steal"]),
                                      float(rec.get("own", 1.0)))
        except (KeyError, TypeError, ValueError):
            continue
    return out


_TIME_UNITS = {"s", "sec", "secs", "second", "seconds", "ms", "us", "µs", "μs", "ns", "min", "h"}


def is_timing(unit: str) -> bool:
    """Does load change this metric? Times and rates yes; counts, bytes, scores no.

    A busy host makes things take longer; it does not change how many comparisons a sort
    makes or how many bytes a process holds. A metric without a unit is assumed to be a time.
    """
    u = (unit or "").strip().lower()
    if not u or u in _TIME_UNITS:
        return True
    return u.endswith(("/s", "/sec", "/second", "per second", "/ms", "/us", "/ns", "hz", "fps"))


def set_aside_busy(rows: list[dict[str, Any]], loads: dict[str, UnitLoad]) -> str:
    """Mark timing series measured on a busy host; their changes become inconclusive.

    Returns the headline's words ("host was busy: load 4.9 on 2 cores; results unreliable"),
    or "" when every timing series was measured on a quiet host.
    """
    worst: UnitLoad | None = None
    for row in rows:
        rec = loads.get(f"{row.get('task')}@{row.get('target')}")
        if rec is None or not rec.busy() or not is_timing(str(row.get("unit") or "")):
            continue
        row["host_busy"] = rec.busy()
        if worst is None or rec.load > worst.load or rec.steal > worst.steal:
            worst = rec
        if row.get("verdict") in ("regression", "improvement"):
            row["reason"] = (f"set aside: host was busy ({rec.busy()}) while it ran; "
                             f"measured {row['verdict']} may be the load, rerun on a quiet host")
            row["verdict"] = "inconclusive"
            row["busy"] = True
    if worst is None:
        return ""
    return f"host was busy: {worst.busy()}; results unreliable"
