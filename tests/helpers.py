"""Build plan dicts by hand, so runner and aggregate tests do not depend on the planner."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def make_plan(root: Path, tasks: dict[str, dict[str, Any]], *, target: str = "local",
              run_id: str = "run-1", shards: dict[str, list[str]] | None = None,
              deps: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """A dtf.plan/1 dict: every task one unit on ``target``; one shard unless ``shards`` given."""
    full = {}
    for tid, t in tasks.items():
        full[tid] = {"run": t["run"], "format": t.get("format"), "repeat": t.get("repeat", 1),
                     "max-repeat": t.get("max-repeat"), "timeout-s": t.get("timeout-s", 30),
                     "retries": t.get("retries", 0), "threshold": t.get("threshold", 0.03),
                     "produces": t.get("produces", []), "env": t.get("env", {})}
    deps = deps or {}
    shards = shards or {f"{target}-w1-1": list(tasks)}
    units, shard_rows = [], []
    for sid, tids in shards.items():
        for tid in tids:
            units.append({"id": f"{tid}@{target}", "task": tid, "target": target,
                          "depends-on": [f"{d}@{target}" for d in deps.get(tid, [])],
                          "estimate-s": 1.0, "estimate-source": "default", "shard": sid})
        shard_rows.append({"id": sid, "wave": 1, "target": target, "runs-on": ["linux"],
                           "units": [f"{t}@{target}" for t in tids], "estimate-s": 1.0})
    return {"schema": "dtf.plan/1", "run-id": run_id, "suite-root": str(root), "suite": "dtf.yml",
            "suite-sha256": "0" * 64, "targets": {target: {"runs-on": ["linux"], "facts": {}}},
            "tasks": full, "units": units, "shards": shard_rows, "unschedulable": [],
            "artifacts": [], "matrix": [], "waves": 1, "makespan-s": 1.0, "lower-bound-s": 1.0}
