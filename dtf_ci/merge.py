"""Check every shard of a run and merge the good ones into one DuckDB file.

A broken shard must cost only its own units: it is rejected by name with the reason, the
rest are merged, and the units it should have held are reported as ``missing``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtf_ci import log
from dtf_ci.errors import ShardError
from dtf_ci.shard import TABLES, VerifiedShard, attach, check_manifest, check_tables, create_tables


@dataclass
class MergeResult:
    merged: Path
    accepted: list[VerifiedShard] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)  # {"shard", "reason"}
    absent: list[str] = field(default_factory=list)  # planned shards with no file at all
    run_ids: list[str] = field(default_factory=list)


def discover(shards_dir: Path) -> tuple[list[Path], list[Path]]:
    """Manifests under the folder (recursively: artifact downloads nest), and stray DuckDB files."""
    if not shards_dir.is_dir():
        return [], []
    manifests = sorted(p for p in shards_dir.rglob("*.manifest.json") if not p.name.startswith("."))
    covered = {m.with_name(m.name.removesuffix(".manifest.json") + ".duckdb") for m in manifests}
    strays = sorted(p for p in shards_dir.rglob("*.duckdb")
                    if p not in covered and not p.name.startswith(".") and p.name != "merged.duckdb")
    return manifests, strays


def merge_shards(shards_dir: Path, merged_path: Path, plan: dict[str, Any] | None = None) -> MergeResult:
    """Verify every shard on one connection (attached read-only), then merge in one pass per table."""
    import duckdb

    result = MergeResult(merged=merged_path)
    manifests, strays = discover(shards_dir)
    for stray in strays:
        result.rejected.append({"shard": stray.stem, "reason": f"{stray} has no manifest (incomplete upload, or not written by dtf run)"})
    merged_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = merged_path.with_name(f".{merged_path.name}.tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        create_tables(con)
        aliases = _verify_all(con, manifests, plan, result)
        if plan is not None:
            names = {s.shard_id for s in result.accepted} | {r["shard"] for r in result.rejected}
            result.absent = [s["id"] for s in plan.get("shards", []) if s["id"] not in names]
        for table in TABLES:
            if table == "dtf_meta" or not aliases:
                continue
            for start in range(0, len(aliases), 64):  # bounded statement size
                union = " UNION ALL ".join(f"SELECT * FROM {a}.{table}" for a in aliases[start:start + 64])
                con.execute(f"INSERT INTO {table} {union}")
        for alias in aliases:
            con.execute(f"DETACH {alias}")
        meta = [("schema", "dtf.merged/1"), ("shards", ",".join(s.shard_id for s in result.accepted)),
                ("run-id", ",".join(result.run_ids))]
        con.executemany("INSERT INTO dtf_meta VALUES (?, ?)", meta)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, merged_path)
    return result


def _verify_all(con: Any, manifests: list[Path], plan: dict[str, Any] | None, result: MergeResult) -> list[str]:
    seen: dict[str, Path] = {}
    aliases: list[str] = []
    for i, manifest_path in enumerate(manifests):
        name = manifest_path.name.removesuffix(".manifest.json")
        alias = f"s{i}"
        attached = False
        try:
            manifest, shard_id, db = check_manifest(manifest_path)
            if shard_id in seen:
                raise ShardError(f"two shards with id {shard_id}: {seen[shard_id]} and {manifest_path}; "
                                 "kept the first (a re-run job uploaded twice, or two plans were mixed)")
            run_id = str(manifest.get("run-id", ""))
            if plan is not None and plan.get("run-id") and run_id and run_id != plan["run-id"]:
                raise ShardError(f"shard {shard_id} belongs to run {run_id}, not to this plan's run {plan['run-id']}")
            attach(con, db, alias, shard_id)
            attached = True
            rows = check_tables(con, alias, shard_id, db, manifest)
        except ShardError as exc:
            if attached:
                con.execute(f"DETACH {alias}")
            result.rejected.append({"shard": name, "reason": str(exc)})
            log.warning(f"rejected shard {name}: {exc}")
            continue
        seen[shard_id] = manifest_path
        aliases.append(alias)
        result.accepted.append(VerifiedShard(shard_id, run_id, db, manifest_path, rows))
        if run_id and run_id not in result.run_ids:
            result.run_ids.append(run_id)
    return aliases
