"""Generate a large, valid run for ``dtf aggregate``: result shards, plan.json and a history.

    python benchmarks/gen_shards.py --workdir /tmp/dtf-bench-aggregate           # full size
    python benchmarks/gen_shards.py --workdir /tmp/dtf-bench-aggregate-q --quick

Full size (the defaults): 256 shards holding 1,000,000 samples in 20,000 series, made of
4 targets × 250 tasks × 20 metrics, 50 repetitions per series; each shard belongs to one
target (64 shards per target, 3 or 4 tasks each) and ran on one of 8 hosts of its target.
Every shard is written by ``dtf_ci.shard.write_shard``, so its manifest (sha256, row counts)
is valid. The plan names the 256 shards and 1,000 units. The history holds 5 earlier runs
of the same series, each appended with ``dtf_ci.history.LocalStore.append`` from one DuckDB
file that has the merged tables (what ``dtf aggregate`` appends after a run).

Values: every series has its own level and noise (1-4 %); earlier runs wander by ±0.5 %;
in the current run 2 % of the series are 10 % worse and 1 % are 10 % better, so the verdicts
have real work to do. A fixed seed makes the data the same every time.

The folder layout (reused when ``params.json`` matches, unless ``--force``)::

    WORKDIR/params.json  shards/*.duckdb,*.manifest.json  plan.json  history/runs/*/
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GENERATOR_VERSION = 1
RUN_ID = "bench-current"


@dataclass(frozen=True)
class Params:
    shards: int = 256
    targets: int = 4
    tasks: int = 250  # per target: every task runs on every target
    metrics: int = 20
    repetitions: int = 50
    hosts_per_target: int = 8
    history_runs: int = 5
    seed: int = 20261125
    version: int = GENERATOR_VERSION

    @property
    def series(self) -> int:
        return self.targets * self.tasks * self.metrics

    @property
    def samples(self) -> int:
        return self.series * self.repetitions

    @property
    def units(self) -> int:
        return self.targets * self.tasks


FULL = Params()
QUICK = Params(shards=32, targets=4, tasks=50, metrics=10, repetitions=20, hosts_per_target=4,
               history_runs=3)


@dataclass(frozen=True)
class Layout:
    workdir: Path
    shards: Path
    plan: Path
    history: Path
    params: Params


def layout(workdir: Path, params: Params) -> Layout:
    return Layout(workdir, workdir / "shards", workdir / "plan.json", workdir / "history", params)


def target_names(p: Params) -> list[str]:
    return [f"tgt{g}" for g in range(p.targets)]


def shard_ids(p: Params) -> dict[str, list[str]]:
    """target -> its shard ids; the shards are split as evenly as the count allows."""
    if p.shards % p.targets:
        raise SystemExit(f"--shards {p.shards} must be a multiple of the {p.targets} targets")
    per = p.shards // p.targets
    return {t: [f"{t}-w1-{k + 1}" for k in range(per)] for t in target_names(p)}


def host_id(target: str, k: int) -> str:
    return hashlib.sha256(f"{target}/host{k}".encode()).hexdigest()[:16]


def _series_levels(p: Params) -> tuple[Any, Any, Any]:
    """(level, noise, current-run factor) arrays of shape (targets, tasks, metrics)."""
    import numpy as np

    rng = np.random.default_rng(p.seed)
    shape = (p.targets, p.tasks, p.metrics)
    level = np.exp(rng.uniform(np.log(1e-4), np.log(10.0), size=shape))
    noise = rng.uniform(0.01, 0.04, size=shape)
    factor = np.ones(shape)
    pick = rng.random(size=shape)
    factor[pick < 0.02] = 1.10  # 2 % regress by 10 %
    factor[(pick >= 0.02) & (pick < 0.03)] = 0.90  # 1 % improve by 10 %
    return level, noise, factor


def _values(p: Params, run_index: int, level: Any, noise: Any, factor: Any) -> Any:
    """Samples of one run, shape (targets, tasks, metrics, repetitions)."""
    import numpy as np

    rng = np.random.default_rng(p.seed * 1000 + run_index)
    shift = 1.0 + rng.uniform(-0.005, 0.005, size=level.shape)
    centre = level * (factor if run_index == p.history_runs else shift)
    eps = rng.standard_normal(size=(*level.shape, p.repetitions))
    return centre[..., None] * np.exp(noise[..., None] * eps)


def _run_tables(p: Params, run_id: str, run_index: int, arrays: tuple[Any, Any, Any]
                ) -> dict[str, dict[str, Any]]:
    """shard id -> {target, meta, hosts, units, samples} rows of one run."""
    values = _values(p, run_index, *arrays)
    ids = shard_ids(p)
    started = f"2026-01-{run_index + 1:02d} 10:00:00.000000"
    metric_names = [f"bench_{m:02d}" for m in range(p.metrics)]
    reps = list(range(p.repetitions))
    out: dict[str, dict[str, Any]] = {}
    for g, target in enumerate(target_names(p)):
        per = len(ids[target])
        for k, sid in enumerate(ids[target]):
            host = host_id(target, k % p.hosts_per_target)
            out[sid] = {"target": target, "hosts": [(
                host, f"{target}-host{k % p.hosts_per_target}", target, "linux", "x86_64",
                "Bench CPU", 16, 64.0, json.dumps(["linux", "x64", target]),
                json.dumps({"os": "linux", "arch": "x86_64"}))], "units": [], "samples": []}
        for t in range(p.tasks):
            k = t % per
            sid = ids[target][k]
            host = host_id(target, k % p.hosts_per_target)
            task = f"task{t:04d}"
            rows = out[sid]
            wall = float(values[g, t].sum())
            rows["units"].append((run_id, sid, f"{task}@{target}", task, target, host, "passed", "",
                                  "", p.repetitions, p.repetitions, started, round(wall, 6),
                                  round(wall * 0.9, 6), 120.0, 0, "ok"))
            samples = rows["samples"]
            for m, metric in enumerate(metric_names):
                for rep, v in zip(reps, values[g, t, m].tolist(), strict=True):
                    samples.append((run_id, sid, task, target, host, metric, "s", "lower", rep, v))
    return out


def _plan(p: Params, shards_rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    tasks = {f"task{t:04d}": {"run": f"bench/task{t:04d} --json {{results}}",
                              "format": "google-benchmark", "repeat": p.repetitions,
                              "max-repeat": None, "timeout-s": 900, "retries": 1, "threshold": 0.03,
                              "produces": [], "env": {}} for t in range(p.tasks)}
    targets = {t: {"runs-on": ["self-hosted", "linux", t], "facts": {"arch": "x86_64"},
                   "runners-online": p.hosts_per_target, "runners-offline": 0, "autoscaled": False,
                   "max-runners": None} for t in target_names(p)}
    units, shards = [], []
    for sid, rows in shards_rows.items():
        unit_ids = [u[2] for u in rows["units"]]
        for u in rows["units"]:
            units.append({"id": u[2], "task": u[3], "target": u[4], "depends-on": [],
                          "estimate-s": u[12], "estimate-source": "history", "shard": sid})
        shards.append({"id": sid, "wave": 1, "target": rows["target"],
                       "runs-on": targets[rows["target"]]["runs-on"], "units": unit_ids,
                       "estimate-s": round(sum(u[12] for u in rows["units"]), 3)})
    matrix = [{"include": [{"shard": s["id"], "target": s["target"], "runs-on": s["runs-on"],
                            "wave": 1} for s in shards]}]
    makespan = max(s["estimate-s"] for s in shards)
    return {"schema": "dtf.plan/1", "run-id": RUN_ID, "created-at": "2026-02-01T10:00:00Z",
            "suite": "dtf.yml", "suite-sha256": "0" * 64, "runners-source": "bench",
            "notes": ["generated by benchmarks/gen_shards.py"], "targets": targets,
            "tasks": tasks, "units": units, "shards": shards, "unschedulable": [],
            "skipped-by-paths": [], "artifacts": [], "matrix": matrix, "waves": 1,
            "makespan-s": makespan, "lower-bound-s": makespan, "job-overhead-s": 45}


def _insert_columns(con: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Insert rows as one statement of unnested column lists (fast for thousands of rows)."""
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    select = ", ".join(f"unnest(${i + 1})" for i in range(len(columns)))
    con.execute(f"INSERT INTO {table} SELECT {select}", [list(c) for c in columns])


# A normal deviate per (series, repetition, run) from DuckDB's hash: Box-Muller on two
# uniforms, so the history's samples come out of one SQL statement, the same every time.
_UNIFORM = "((hash(s.sid, r.rep, $run, {k}) % 1000000007) + 0.5) / 1000000007.0"
_HISTORY_SAMPLES = f"""
INSERT INTO samples
SELECT $run, s.shard_id, s.task, s.target, s.host_id, s.metric, 's', 'lower', r.rep::INTEGER,
       s.centre * exp(s.noise * sqrt(-2 * ln({_UNIFORM.format(k=1)}))
                              * cos(2 * pi() * {_UNIFORM.format(k=2)})), 'head'
FROM series s, (SELECT range AS rep FROM range($reps)) r
"""


def _history_db(p: Params, path: Path, run_id: str, run_index: int,
                arrays: tuple[Any, Any, Any]) -> None:
    """One earlier run's merged tables (hosts, units, samples) in a new DuckDB file."""
    import duckdb
    import numpy as np

    from dtf_ci.shard import create_tables

    level, noise, _ = arrays
    rng = np.random.default_rng(p.seed * 1000 + run_index)
    centre = level * (1.0 + rng.uniform(-0.005, 0.005, size=level.shape))
    ids = shard_ids(p)
    started = f"2026-01-{run_index + 1:02d} 10:00:00.000000"
    hosts, units, series = {}, [], []
    for g, target in enumerate(target_names(p)):
        per = len(ids[target])
        for t in range(p.tasks):
            k = t % per
            sid, host = ids[target][k], host_id(target, k % p.hosts_per_target)
            hosts[host] = (host, f"{target}-host{k % p.hosts_per_target}", target, "linux",
                           "x86_64", "Bench CPU", 16, 64.0, json.dumps(["linux", "x64", target]),
                           json.dumps({"os": "linux", "arch": "x86_64"}))
            task = f"task{t:04d}"
            wall = float(centre[g, t].sum() * p.repetitions)
            units.append((run_id, sid, f"{task}@{target}", task, target, host, "passed", "", "",
                          p.repetitions, p.repetitions, started, round(wall, 6),
                          round(wall * 0.9, 6), 120.0, 0, "ok"))
            for m in range(p.metrics):
                series.append((len(series), sid, task, target, host, f"bench_{m:02d}",
                               float(centre[g, t, m]), float(noise[g, t, m])))
    con = duckdb.connect(str(path))
    try:
        create_tables(con)
        con.execute("CREATE TEMP TABLE series (sid BIGINT, shard_id VARCHAR, task VARCHAR, "
                    "target VARCHAR, host_id VARCHAR, metric VARCHAR, centre DOUBLE, noise DOUBLE)")
        _insert_columns(con, "series", series)
        _insert_columns(con, "hosts", list(hosts.values()))
        _insert_columns(con, "units", units)
        con.execute(_HISTORY_SAMPLES, {"run": run_id, "reps": p.repetitions})
        con.execute("INSERT INTO dtf_meta VALUES ('schema', 'dtf.merged/1'), ('run-id', ?)",
                    [run_id])
        con.execute("CHECKPOINT")
    finally:
        con.close()


def _write_history(p: Params, history: Path, arrays: tuple[Any, Any, Any], log: Any) -> None:
    """Append the earlier runs with LocalStore.append, as ``dtf aggregate`` does after a run."""
    from dtf_ci.history import LocalStore

    store = LocalStore(history)
    for i in range(p.history_runs):
        t0 = time.perf_counter()
        run_id = f"bench-hist-{i + 1:02d}"
        with tempfile.TemporaryDirectory(prefix="dtf-gen-", dir=history.parent) as tmp:
            db = Path(tmp) / "merged.duckdb"
            _history_db(p, db, run_id, i, arrays)
            meta = {"run-id": run_id, "created-at": f"2026-01-{i + 1:02d}T12:00:00Z",
                    "sha": hashlib.sha1(run_id.encode()).hexdigest(), "ref": "refs/heads/main",
                    "branch": "main", "event": "push", "provider": "local",
                    "suite-sha256": "0" * 64, "counts": {}, "overall": "unchanged"}
            store.append(meta, db)
        log(f"history run {i + 1}/{p.history_runs}: {time.perf_counter() - t0:.1f} s")


# Shard tables handed to forked workers through this global (no pickling of 1M rows).
_TABLES: dict[str, dict[str, Any]] = {}


def _write_shards(out: Path, sids: list[str]) -> int:
    from dtf_ci.shard import write_shard

    for sid in sids:
        rows = _TABLES[sid]
        write_shard(out, run_id=RUN_ID, shard_id=sid,
                    meta={"target": rows["target"], "wave": "1", "suite-sha256": "0" * 64},
                    hosts=rows["hosts"], units=rows["units"], samples=rows["samples"])
    return len(sids)


def generate(workdir: Path, params: Params = FULL, *, force: bool = False,
             quiet: bool = False, workers: int | None = None) -> Layout:
    """Write (or reuse) the shards, the plan and the history under ``workdir``."""
    def log(text: str) -> None:
        if not quiet:
            print(f"gen_shards: {text}", file=sys.stderr, flush=True)

    lay = layout(workdir, params)
    stamp = workdir / "params.json"
    wanted = json.dumps(asdict(params), sort_keys=True)
    if not force and stamp.is_file() and stamp.read_text() == wanted:
        log(f"reusing {workdir} (same parameters; --force to write it again)")
        return lay
    t_all = time.perf_counter()
    stamp.unlink(missing_ok=True)
    for path in (lay.shards, lay.history):
        shutil.rmtree(path, ignore_errors=True)
    lay.plan.unlink(missing_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    arrays = _series_levels(params)

    t0 = time.perf_counter()
    tables = _run_tables(params, RUN_ID, params.history_runs, arrays)
    _TABLES.clear()
    _TABLES.update(tables)
    gc.freeze()  # a million row tuples: keep the collector (and copy-on-write) off them
    lay.shards.mkdir(parents=True)
    sids = list(tables)
    workers = max(1, min(workers or os.cpu_count() or 1, len(sids)))
    if workers == 1 or "fork" not in mp.get_all_start_methods():
        _write_shards(lay.shards, sids)
    else:  # DuckDB's per-file cost (connect, DDL, COPY, CHECKPOINT) dominates: spread it
        with mp.get_context("fork").Pool(workers) as pool:
            pool.starmap(_write_shards, [(lay.shards, sids[i::workers]) for i in range(workers)])
    _TABLES.clear()
    gc.unfreeze()
    n_samples = sum(len(rows["samples"]) for rows in tables.values())
    log(f"{len(tables)} shards, {n_samples:,} samples ({workers} processes): "
        f"{time.perf_counter() - t0:.1f} s")
    lay.plan.write_text(json.dumps(_plan(params, tables), indent=1) + "\n", encoding="utf-8")
    del tables

    _write_history(params, lay.history, arrays, log)
    stamp.write_text(wanted)
    log(f"done in {time.perf_counter() - t_all:.1f} s: {workdir}")
    return lay


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, required=True, help="folder to write (use /tmp)")
    ap.add_argument("--quick", action="store_true",
                    help=f"small: {QUICK.shards} shards, {QUICK.samples:,} samples, "
                         f"{QUICK.series:,} series, {QUICK.history_runs} history runs")
    ap.add_argument("--force", action="store_true", help="write everything again")
    ap.add_argument("--workers", type=int, help="processes writing shards (default: all cores)")
    opts = ap.parse_args()
    params = QUICK if opts.quick else FULL
    lay = generate(opts.workdir, params, force=opts.force, workers=opts.workers)
    print(json.dumps({"shards": str(lay.shards), "plan": str(lay.plan), "history": str(lay.history),
                      "series": params.series, "samples": params.samples}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
