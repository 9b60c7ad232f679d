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
from dtf_ci.shard import TABLES, VerifiedShard, create_tables, verify_shard


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
    import duckdb

    result = MergeResult(merged=merged_path)
    manifests, strays = discover(shards_dir)
    for stray in strays:
        result.rejected.append({"shard": stray.stem, "reason": f"{stray} has no manifest (incomplete upload, or not written by dtf run)"})
    seen: dict[str, Path] = {}
    for manifest in manifests:
        try:
            shard = verify_shard(manifest)
        except ShardError as exc:
            name = manifest.name.removesuffix(".manifest.json")
            result.rejected.append({"shard": name, "reason": str(exc)})
            log.warning(f"rejected shard {name}: {exc}")
            continue
        if shard.shard_id in seen:
            reason = (f"two shards with id {shard.shard_id}: {seen[shard.shard_id]} and {manifest}; "
                      "kept the first (a re-run job uploaded twice, or two plans were mixed)")
            result.rejected.append({"shard": shard.shard_id, "reason": reason})
            log.warning(reason)
            continue
        if plan is not None and plan.get("run-id") and shard.run_id and shard.run_id != plan["run-id"]:
            reason = f"shard {shard.shard_id} belongs to run {shard.run_id}, not to this plan's run {plan['run-id']}"
            result.rejected.append({"shard": shard.shard_id, "reason": reason})
            log.warning(reason)
            continue
        seen[shard.shard_id] = manifest
        result.accepted.append(shard)
        if shard.run_id and shard.run_id not in result.run_ids:
            result.run_ids.append(shard.run_id)
    if plan is not None:
        names = {s.shard_id for s in result.accepted} | {r["shard"] for r in result.rejected}
        result.absent = [s["id"] for s in plan.get("shards", []) if s["id"] not in names]
    merged_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = merged_path.with_name(f".{merged_path.name}.tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        create_tables(con)
        for i, shard in enumerate(result.accepted):
            alias = f"s{i}"
            con.execute(f"ATTACH '{str(shard.db).replace(chr(39), chr(39) * 2)}' AS {alias} (READ_ONLY)")
            for table in TABLES:
                if table == "dtf_meta":
                    continue
                con.execute(f"INSERT INTO {table} SELECT * FROM {alias}.{table}")
            con.execute(f"DETACH {alias}")
        meta = [("schema", "dtf.merged/1"), ("shards", ",".join(s.shard_id for s in result.accepted)),
                ("run-id", ",".join(result.run_ids))]
        con.executemany("INSERT INTO dtf_meta VALUES (?, ?)", meta)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, merged_path)
    return result
