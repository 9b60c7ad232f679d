"""Result shards: one DuckDB file and one manifest per CI job.

A shard travels between machines as a CI artifact, so the aggregate step trusts nothing: the
manifest carries the file's sha256 and row counts, and ``dtf_ci.shard_check`` (the reading
side) rejects, by name, a file that does not match or holds anything but these tables. Both files are written to temporary names and renamed into place,
the manifest last, so a crash never leaves a manifest that points at a half-written file.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dtf_ci import __version__

SHARD_SCHEMA = "dtf.shard/3"
# 2: hosts.hardware, units.gpu_peak_mem_mb/gpu_util_pct; 3: samples.side (interleaved A/B:
# base or head). Older shards are still read: the columns they lack are NULL (a NULL side is head).
MANIFEST_SCHEMA = "dtf.manifest/1"

TABLES: dict[str, list[tuple[str, str]]] = {
    "dtf_meta": [("key", "VARCHAR"), ("value", "VARCHAR")],
    "hosts": [
        ("host_id", "VARCHAR"), ("hostname", "VARCHAR"), ("target", "VARCHAR"), ("os", "VARCHAR"),
        ("arch", "VARCHAR"), ("cpu_model", "VARCHAR"), ("cpu_count", "INTEGER"),
        ("memory_gb", "DOUBLE"), ("labels", "VARCHAR"), ("facts", "VARCHAR"),
        ("hardware", "VARCHAR"),  # the whole `dtf hw --json` document (dtf.hw/1); NULL in older shards
    ],
    "units": [
        ("run_id", "VARCHAR"), ("shard_id", "VARCHAR"), ("unit", "VARCHAR"), ("task", "VARCHAR"),
        ("target", "VARCHAR"), ("host_id", "VARCHAR"), ("status", "VARCHAR"),
        ("error_category", "VARCHAR"), ("reason", "VARCHAR"), ("attempts", "INTEGER"),
        ("repeat", "INTEGER"), ("started_at", "TIMESTAMP"), ("wall_s", "DOUBLE"),
        ("cpu_s", "DOUBLE"), ("peak_rss_mb", "DOUBLE"), ("exit_code", "INTEGER"),
        ("output_tail", "VARCHAR"),
        ("gpu_peak_mem_mb", "DOUBLE"), ("gpu_util_pct", "DOUBLE"),  # NVML sampling; NULL without it
    ],
    "samples": [
        ("run_id", "VARCHAR"), ("shard_id", "VARCHAR"), ("task", "VARCHAR"), ("target", "VARCHAR"),
        ("host_id", "VARCHAR"), ("metric", "VARCHAR"), ("unit", "VARCHAR"),
        ("direction", "VARCHAR"), ("repetition", "INTEGER"), ("value", "DOUBLE"),
        ("side", "VARCHAR"),
    ],
}


def create_tables(con: Any) -> None:
    """Create the four shard tables (also used for ``merged.duckdb``)."""
    for name, columns in TABLES.items():
        cols = ", ".join(f"{c} {t}" for c, t in columns)
        con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({cols})")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _bulk_insert(con: Any, table: str, rows: Sequence[Sequence[Any]], tmp_dir: Path) -> None:
    """Insert through a CSV file: DuckDB's COPY is ~100x faster than executemany."""
    if not rows:
        return
    columns = [c for c, _ in TABLES[table]]
    path = tmp_dir / f".{table}.{os.getpid()}.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        # Rows written by older callers lack the columns added since: NULL, not an error.
        pad = [None] * len(columns)
        writer.writerows([_NULL if v is None else v for v in [*row, *pad[len(row):]]] for row in rows)
    try:
        con.execute(
            f"COPY {table} FROM '{_sql_path(path)}' (FORMAT csv, HEADER true, QUOTE '\"', ESCAPE '\"', NULL '{_NULL}')"
        )
    finally:
        path.unlink(missing_ok=True)


_NULL = "\\N"  # CSV spelling of NULL, so that empty strings stay empty strings


def _count(con: Any, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class ShardFiles:
    db: Path
    manifest: Path
    rows: dict[str, int]


def write_shard(
    out_dir: Path,
    *,
    run_id: str,
    shard_id: str,
    meta: dict[str, str],
    hosts: Iterable[Sequence[Any]],
    units: Iterable[Sequence[Any]],
    samples: Iterable[Sequence[Any]],
) -> ShardFiles:
    """Write ``ID.duckdb`` and ``ID.manifest.json`` atomically; return their paths."""
    import duckdb

    out_dir.mkdir(parents=True, exist_ok=True)
    final_db = out_dir / f"{shard_id}.duckdb"
    final_manifest = out_dir / f"{shard_id}.manifest.json"
    tmp_db = out_dir / f".{shard_id}.duckdb.tmp"
    tmp_db.unlink(missing_ok=True)
    meta_rows = {"schema": SHARD_SCHEMA, "run-id": run_id, "shard-id": shard_id,
                 "dtf-version": __version__, "created-at": now_iso(), **meta}
    con = duckdb.connect(str(tmp_db))
    try:
        create_tables(con)
        _bulk_insert(con, "dtf_meta", sorted(meta_rows.items()), out_dir)
        _bulk_insert(con, "hosts", list(hosts), out_dir)
        _bulk_insert(con, "units", list(units), out_dir)
        # A sample row without a side (the /1 shape) is a head sample: history-mode units.
        width = len(TABLES["samples"])
        _bulk_insert(con, "samples", [tuple(r) + ("head",) * (width - len(r)) for r in samples], out_dir)
        rows = {t: _count(con, t) for t in TABLES}
        con.execute("CHECKPOINT")
    finally:
        con.close()
    _fsync(tmp_db)
    os.replace(tmp_db, final_db)
    manifest = {
        "schema": MANIFEST_SCHEMA, "run-id": run_id, "shard-id": shard_id,
        "target": meta.get("target", ""), "file": final_db.name, "sha256": sha256_file(final_db),
        "bytes": final_db.stat().st_size, "rows": rows, "created-at": meta_rows["created-at"],
        "dtf-version": __version__,
    }
    tmp_manifest = out_dir / f".{shard_id}.manifest.json.tmp"
    tmp_manifest.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    _fsync(tmp_manifest)
    os.replace(tmp_manifest, final_manifest)
    return ShardFiles(final_db, final_manifest, rows)
