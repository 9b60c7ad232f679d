"""Shards, plans and runs for the robustness tests of issue 9 (silent greens, lost history)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from dtf_ci.aggregate import AggregateResult, aggregate
from dtf_ci.providers import RunContext
from dtf_ci.shard import write_shard
from tests.helpers import make_plan

CTX = RunContext(provider="local", sha="abc123", branch="main", default_branch="main", event="local")


def shard(out: Path, shard_id: str, run_id: str, series: dict[tuple[str, str], list[float]], *,
          target: str = "local", host: str = "h1", status: str = "passed") -> None:
    """One real shard: ``series`` maps (task, metric) to its sample values."""
    tasks = sorted({t for t, _ in series}) or ["a"]
    units = [(run_id, shard_id, f"{t}@{target}", t, target, host, status,
              "" if status == "passed" else "test", "" if status == "passed" else "exited with code 1",
              1, 1, "2026-01-01 00:00:00", 1.0, 1.0, 10.0, 0 if status == "passed" else 1, "tail")
             for t in tasks]
    samples = [(run_id, shard_id, t, target, host, m, "count", "lower", i, v)
               for (t, m), vals in series.items() for i, v in enumerate(vals)]
    write_shard(out, run_id=run_id, shard_id=shard_id, meta={"target": target},
                hosts=[(host, "box", target, "linux", "x86_64", "cpu", 2, 8.0, "[]", "{}")],
                units=units, samples=samples)


def noisy(center: float, n: int = 8, cv: float = 0.01, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [center * (1 + rng.gauss(0, cv)) for _ in range(n)]


def one_run(tmp: Path, run_id: str, series: dict[tuple[str, str], list[float]], *, history: Path | str | None,
            shards: dict[str, list[str]] | None = None, fail_on: str = "regression",
            append: str = "always", ctx: RunContext = CTX, write: bool = True) -> AggregateResult:
    """Aggregate one run of one shard holding ``series`` (plus any absent ``shards`` in the plan)."""
    out = tmp / f"shards-{run_id}"
    out.mkdir(parents=True, exist_ok=True)
    if write:
        shard(out, "local-w1-1", run_id, series)
    tasks = sorted({t for t, _ in series})
    plan_shards = {"local-w1-1": tasks, **(shards or {})}
    all_tasks = {t: {"run": "true"} for ts in plan_shards.values() for t in ts}
    plan: dict[str, Any] = make_plan(tmp, all_tasks, run_id=run_id, shards=plan_shards)
    return aggregate(out, tmp / f"report-{run_id}", plan=plan,
                     history_spec=None if history is None else str(history),
                     append=append, context=ctx, fail_on=fail_on)
