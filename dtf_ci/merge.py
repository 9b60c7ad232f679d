"""Check every shard of a run and merge the good ones into one DuckDB file.

A broken shard must cost only its own units: it is rejected by name with the reason, the
rest are merged, and the units it should have held are reported as ``missing``. A shard is
hostile data (see ``dtf_ci.shard_check``): the connection that reads the shards is locked down
before the first one is attached, and rows are copied by column name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtf_ci import log
from dtf_ci.errors import ShardError
from dtf_ci.shard import TABLES, create_tables
from dtf_ci.shard_check import VerifiedShard, copy_sql, load_manifest, lock_down, open_checked


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
    private = Path(tempfile.mkdtemp(prefix=".dtf-shards-", dir=merged_path.parent))
    con = duckdb.connect(str(tmp))
    try:
        create_tables(con)
        lock_down(con, private)
        attached = _verify_all(con, manifests, plan, result, private)
        if plan is not None:
            names = {s.shard_id for s in result.accepted} | {r["shard"] for r in result.rejected}
            result.absent = [s["id"] for s in plan.get("shards", []) if s["id"] not in names]
        for table in TABLES:
            if table == "dtf_meta":
                continue
            groups: dict[tuple[Any, ...], list[str]] = {}  # shards of one schema version share a statement
            for alias, columns in attached:
                groups.setdefault(columns[table], []).append(alias)
            for cols, aliases in groups.items():
                col_names = ", ".join(c for c, _ in cols)
                for start in range(0, len(aliases), 64):  # bounded statement size
                    union = " UNION ALL ".join(copy_sql(table, a, cols) for a in aliases[start:start + 64])
                    con.execute(f"INSERT INTO {table} ({col_names}) {union}")
        host_loads = _host_loads(con, [alias for alias, _ in attached], result.accepted)
        for alias, _ in attached:
            con.execute(f"DETACH {alias}")
        meta = [("schema", "dtf.merged/1"), ("shards", ",".join(s.shard_id for s in result.accepted)),
                ("run-id", ",".join(result.run_ids)), *host_loads]
        con.executemany("INSERT INTO dtf_meta VALUES (?, ?)", meta)
        con.execute("CHECKPOINT")
    finally:
        con.close()
        shutil.rmtree(private, ignore_errors=True)
    os.replace(tmp, merged_path)
    return result


def _host_loads(con: Any, aliases: list[str], accepted: list[VerifiedShard]) -> list[tuple[str, str]]:
    """Each shard's per-unit load records (dtf_ci.busy), as ``host-load:SHARD`` meta rows."""
    from dtf_ci.busy import META_KEY

    out = []
    for alias, shard in zip(aliases, accepted, strict=True):
        # hostile data: a bounded text, parsed (never trusted) by dtf_ci.busy.decode
        row = con.execute(f"SELECT value FROM {alias}.dtf_meta WHERE key = ? AND length(value) <= 1000000",
                          [META_KEY]).fetchone()
        if row and row[0]:
            out.append((f"{META_KEY}:{shard.shard_id}", str(row[0])))
    return out


def _verify_all(con: Any, manifests: list[Path], plan: dict[str, Any] | None, result: MergeResult,
                private: Path) -> list[tuple[str, dict[str, Any]]]:
    seen: dict[str, Path] = {}
    attached: list[tuple[str, dict[str, Any]]] = []
    for i, manifest_path in enumerate(manifests):
        name = manifest_path.name.removesuffix(".manifest.json")
        alias = f"s{i}"
        try:
            manifest = load_manifest(manifest_path)
            shard_id, run_id = manifest.shard_id, manifest.run_id
            if shard_id in seen:
                raise ShardError(f"two shards with id {shard_id}: {seen[shard_id]} and {manifest_path}; "
                                 "kept the first (a re-run job uploaded twice, or two plans were mixed)")
            if plan is not None and plan.get("run-id") and run_id and run_id != plan["run-id"]:
                raise ShardError(f"shard {shard_id} belongs to run {run_id}, not to this plan's run {plan['run-id']}")
            rows, columns = open_checked(con, manifest, private / f"{alias}.duckdb", alias)
        except ShardError as exc:
            result.rejected.append({"shard": name, "reason": str(exc)})
            log.warning(f"rejected shard {name}: {exc}")
            continue
        seen[shard_id] = manifest_path
        attached.append((alias, columns))
        result.accepted.append(VerifiedShard(shard_id, run_id, manifest.file, manifest_path, rows))
        if run_id and run_id not in result.run_ids:
            result.run_ids.append(run_id)
    return attached
