"""Build real shards and tamper with them the way an attacker with a fork's PR job could."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from dtf_ci.shard import write_shard


def make_shard(out: Path, shard_id: str = "local-w1-1", *, run_id: str = "r1", task: str = "a",
               target: str = "local", metric: str = "m", values: tuple[float, ...] = (1.0, 1.01, 0.99, 1.0, 1.02),
               reason: str = "") -> Any:
    status = "failed" if reason else "passed"
    units = [(run_id, shard_id, f"{task}@{target}", task, target, "h1", status, "test" if reason else "",
              reason, 1, 1, "2026-01-01 00:00:00", 1.0, 1.0, 10.0, 1 if reason else 0, "tail")]
    samples = [(run_id, shard_id, task, target, "h1", metric, "s", "lower", i, v) for i, v in enumerate(values)]
    return write_shard(out, run_id=run_id, shard_id=shard_id, meta={"target": target},
                       hosts=[("h1", "box", target, "linux", "x86_64", "cpu", 2, 8.0, "[]", "{}")],
                       units=units, samples=samples)


def fix_manifest(files: Any, **changes: Any) -> None:
    """Re-seal the manifest over a changed file, as an attacker controlling the upload would."""
    manifest = json.loads(files.manifest.read_text())
    data = files.db.read_bytes()
    manifest["sha256"] = hashlib.sha256(data).hexdigest()
    manifest["bytes"] = len(data)
    manifest.update(changes)
    files.manifest.write_text(json.dumps(manifest))


def tamper(files: Any, *statements: str, recount: bool = True) -> None:
    """Run SQL on the shard's file, checkpoint it, and fix the manifest's hash and row counts."""
    import duckdb

    con = duckdb.connect(str(files.db))
    try:
        for sql in statements:
            con.execute(sql)
        rows = {}
        if recount:
            for t in ("dtf_meta", "hosts", "units", "samples"):
                try:
                    rows[t] = con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                except duckdb.Error:
                    rows[t] = 0
        con.execute("CHECKPOINT")
    finally:
        con.close()
    fix_manifest(files, **({"rows": rows} if recount else {}))


def all_text(folder: Path) -> str:
    """Every file under ``folder`` as text (bytes decoded leniently), for grepping secrets."""
    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            out.append(p.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(out)
