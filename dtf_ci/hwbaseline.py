"""Hardware-keyed baselines: history compares only runs on the same kind of machine.

A target is a class of runners with the same labels, but a cloud label such as
``ubuntu-latest`` hands out different CPUs from one job to the next (a Xeon E5-2673 one day,
an EPYC 7763 the next). Comparing a series with past runs on other hardware reports the
hardware change as a code change. So the baseline of a series keeps only the past runs whose
host had the same **hardware key**: CPU model, GPU model, memory class (memory rounded to a
power of two, so 15.6 GB and 16 GB are one class). When no past run matches, the series is
``inconclusive`` with "hardware changed: A → B", never a regression.
"""

from __future__ import annotations

import json
import math
from typing import Any

HardwareKey = tuple[str, str, str]  # cpu model, gpu model, memory class


def memory_class(memory_gb: Any) -> str:
    try:
        gb = float(memory_gb)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(gb) or gb <= 0:
        return ""
    return f"{2 ** round(math.log2(gb)):g} GB"


def hardware_key(facts: dict[str, Any], cpu_model: str = "", memory_gb: Any = None) -> HardwareKey | None:
    """The facts that make two hosts comparable; None when nothing is known about the host."""
    cpu = str(facts.get("cpu-model") or cpu_model or "").strip()
    gpu = str(facts.get("gpu-name") or facts.get("gpu-model") or "").strip()
    mem = memory_class(facts.get("memory-gb") if facts.get("memory-gb") not in (None, "") else memory_gb)
    if not cpu and not gpu and not mem:
        return None
    return (cpu, gpu, mem)


def describe(key: HardwareKey | None) -> str:
    if key is None:
        return "unknown hardware"
    cpu, gpu, mem = key
    parts = [cpu or "unknown CPU"]
    if gpu:
        parts.append(gpu)
    if mem:
        parts.append(f"{mem} class")
    return " · ".join(parts)


def _parse_facts(text: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def current_keys(merged_db: str) -> dict[tuple[str, str], HardwareKey | None]:
    """(task, target) -> hardware key of the host that ran the unit in this run."""
    import duckdb

    con = duckdb.connect(merged_db, read_only=True)
    try:
        rows = con.execute(
            """SELECT u.task, u.target, any_value(h.facts), any_value(h.cpu_model), any_value(h.memory_gb)
               FROM units u JOIN hosts h ON u.host_id = h.host_id GROUP BY u.task, u.target"""
        ).fetchall()
    finally:
        con.close()
    return {(t, g): hardware_key(_parse_facts(f), c or "", m) for t, g, f, c, m in rows}


def history_keys(store: Any, run_ids: set[str]) -> dict[tuple[str, str, str], HardwareKey | None]:
    """(run id, task, target) -> hardware key, for the history runs named."""
    import duckdb

    from dtf_ci.history import materialize, run_files

    runs = [r for r in store.runs() if r.run_id in run_ids]
    if not runs:
        return {}
    materialize(store, runs, ("units", "hosts"))
    units = run_files(runs, "units")  # a compacted month's file holds other runs too: keyed by run_id below
    hosts = run_files(runs, "hosts")
    con = duckdb.connect()
    try:
        rows = con.execute(
            """SELECT u.run_id, u.task, u.target, any_value(h.facts), any_value(h.cpu_model),
                      any_value(h.memory_gb)
               FROM read_parquet($units, union_by_name=true) u
               JOIN read_parquet($hosts, union_by_name=true) h
                 ON u.run_id = h.run_id AND u.host_id = h.host_id
               GROUP BY u.run_id, u.task, u.target""", {"units": units, "hosts": hosts}).fetchall()
    except duckdb.Error:
        return {}  # history without readable hosts: nothing to key on, baselines stay as they were
    finally:
        con.close()
    return {(r, t, g): hardware_key(_parse_facts(f), c or "", m) for r, t, g, f, c, m in rows}


def filter_history(history: dict[tuple[str, str, str], list[tuple[str, float, list[float]]]],
                   now: dict[tuple[str, str], HardwareKey | None],
                   past: dict[tuple[str, str, str], HardwareKey | None],
                   ) -> tuple[dict[tuple[str, str, str], list[tuple[str, float, list[float]]]],
                              dict[tuple[str, str, str], str]]:
    """History with other hardware's runs removed; and, per series left with none, why.

    A run whose key is unknown (older history, a host that said nothing) is kept: it cannot
    be told apart, and dropping it would empty every baseline after an upgrade of dtf.
    """
    kept: dict[tuple[str, str, str], list[tuple[str, float, list[float]]]] = {}
    changed: dict[tuple[str, str, str], str] = {}
    for key, entries in history.items():
        task, _metric, target = key
        mine = now.get((task, target))
        if mine is None:
            kept[key] = entries
            continue
        same = [e for e in entries if past.get((e[0], task, target)) in (None, mine)]
        if entries and not same:
            last = past.get((entries[-1][0], task, target))
            changed[key] = f"hardware changed: {describe(last)} → {describe(mine)}"
        kept[key] = same
    return kept, changed


def apply_changed(rows: list[dict[str, Any]], changed: dict[tuple[str, str, str], str]) -> None:
    """Series left without a same-hardware baseline are inconclusive, saying what changed."""
    for row in rows:
        why = changed.get((row["task"], row["metric"], row["target"]))
        if why and row.get("verdict") == "new":
            row.update(verdict="inconclusive", reason=f"{why}: no baseline on this hardware yet")


def hardware_by_target(now: dict[tuple[str, str], HardwareKey | None]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for (_task, target), key in sorted(now.items()):
        text = describe(key)
        if text not in out.setdefault(target, []):
            out[target].append(text)
    return out


def annotate(rows: list[dict[str, Any]], now: dict[tuple[str, str], HardwareKey | None]) -> None:
    for row in rows:
        key = now.get((row["task"], row["target"]))
        if key is not None:
            row["hardware"] = describe(key)
