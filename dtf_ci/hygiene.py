"""Machine hygiene: was this host set up to measure, and does the report say when it was not?

A benchmark on a CPU whose frequency governor is ``powersave`` or ``ondemand``, with turbo
boost on, or on a GPU whose clocks float or are being throttled, measures the machine's
power management as much as the code. dtf cannot fix the machine, but it can say so on the
series' row, so a reader weighs the verdict accordingly.

The facts (agreed with the hardware probe, read gracefully when absent):

* ``cpu-governor`` (str): the cpufreq governor, ``mixed:a,b`` when cores differ;
* ``cpu-turbo`` (bool): turbo/boost enabled;
* ``gpu-clocks-locked`` (bool): NVIDIA graphics clocks locked (``nvidia-smi -lgc``);
* ``gpu-throttle-reasons`` (list of str): NVIDIA clock event reasons active (``idle`` aside).

Facts travel as strings in the shard's ``hosts.facts`` JSON (``dtf_ci.hw.facts`` writes them);
booleans may be ``true``/``false`` text or JSON booleans, lists a JSON list or comma-separated
text (``none`` for an empty list). A fact that is absent raises no warning.
"""

from __future__ import annotations

import json
from typing import Any

_HARMLESS_THROTTLE = {"", "none", "idle", "gpu_idle", "not active", "applications_clocks_setting",
                      "display_clock_setting"}


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else ""
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    return None


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value).strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return [str(v).strip() for v in parsed if str(v).strip()]
    return [part.strip() for part in text.split(",") if part.strip()]


def warnings_for(facts: dict[str, Any]) -> list[str]:
    """What was wrong with the machine for measuring, in the words a report row shows."""
    out: list[str] = []
    governor = str(facts.get("cpu-governor") or "").strip()
    if governor and governor != "performance":
        out.append(f"CPU governor {governor} (not performance)")
    if _bool(facts.get("cpu-turbo")) is True:
        out.append("CPU turbo on")
    gpu = bool(facts.get("gpu") == "nvidia" or "gpu-clocks-locked" in facts or "gpu-throttle-reasons" in facts)
    if gpu and _bool(facts.get("gpu-clocks-locked")) is False:
        out.append("GPU clocks not locked")
    reasons = [r for r in _list(facts.get("gpu-throttle-reasons")) if r.lower() not in _HARMLESS_THROTTLE]
    if reasons:
        out.append("GPU throttled (" + ", ".join(reasons[:4]) + ")")
    return out


def host_facts(merged_db: str) -> dict[str, dict[str, Any]]:
    """host id -> facts (parsed JSON) of the merged shards' hosts; unreadable facts are {}."""
    import duckdb

    con = duckdb.connect(merged_db, read_only=True)
    try:
        rows = con.execute("SELECT host_id, any_value(facts), any_value(cpu_model), any_value(memory_gb) "
                           "FROM hosts GROUP BY host_id").fetchall()
    finally:
        con.close()
    out: dict[str, dict[str, Any]] = {}
    for host_id, facts, cpu_model, memory_gb in rows:
        try:
            parsed = json.loads(facts) if facts else {}
        except ValueError:
            parsed = {}
        parsed = parsed if isinstance(parsed, dict) else {}
        parsed.setdefault("cpu-model", cpu_model or "")
        if memory_gb is not None and "memory-gb" not in parsed:
            parsed["memory-gb"] = str(round(float(memory_gb)))
        out[str(host_id)] = parsed
    return out


def annotate_rows(rows: list[dict[str, Any]], facts_by_host: dict[str, dict[str, Any]]) -> None:
    """Add ``hygiene`` (the warnings of the hosts a series ran on) to each row that has any."""
    for row in rows:
        found: list[str] = []
        for host in row.get("hosts") or []:
            for w in warnings_for(facts_by_host.get(host, {})):
                if w not in found:
                    found.append(w)
        if found:
            row["hygiene"] = found
