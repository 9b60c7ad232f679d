"""Reading shards that came from somewhere else: a shard is data, never code.

A shard is a DuckDB file, and a DuckDB file can hold views, macros, generated columns and
defaults: SQL that runs when the file is read. A crafted ``units`` view running
``read_text('/proc/self/environ')`` once put the aggregate job's token into a public PR
comment. So before a single row is read:

- the manifest is parsed with bounds (size, nesting, field types) and its ``file`` must be a
  plain file name beside it: no ``../``, no absolute path, no symlink, a regular file;
- the file is linked (or copied) under a private folder after its sha256 is checked, so a
  ``.duckdb.wal`` lying beside the artifact is never replayed and nothing else is reachable;
- the connection that reads it has external access, extension (auto)loading and file
  functions switched off, and its configuration locked, with only that private folder allowed;
- the catalog must hold exactly the shard's base tables, each created by exactly the
  statement ``dtf_ci.shard.create_tables`` would use for those columns (names, types, order;
  no default, no generated column, no constraint), and nothing else: no view, macro,
  sequence, type, index or extra schema;
- names are checked against ``dtf_ci.limits`` and rows are copied by column name.

The expected tables come from ``dtf_ci.shard.TABLES``, the one place that defines them. A shard
of an older schema version may lack columns added since; they merge as NULL.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from dtf_ci import limits
from dtf_ci.errors import ShardError
from dtf_ci.shard import MANIFEST_SCHEMA, SHARD_SCHEMA, TABLES

# Per table, the columns that are names (bounded; a shard with a longer one is rejected).
# Every other text column is free text and is cut to ``limits.TEXT_MAX`` when copied.
NAME_COLUMNS: dict[str, dict[str, int]] = {
    "units": {"run_id": limits.RUN_ID_MAX, "shard_id": limits.NAME_MAX, "unit": limits.UNIT_ID_MAX,
              "task": limits.NAME_MAX, "target": limits.NAME_MAX, "host_id": limits.NAME_MAX,
              "status": limits.NAME_MAX, "error_category": limits.NAME_MAX},
    "samples": {"run_id": limits.RUN_ID_MAX, "shard_id": limits.NAME_MAX, "task": limits.NAME_MAX,
                "target": limits.NAME_MAX, "host_id": limits.NAME_MAX, "metric": limits.NAME_MAX,
                "unit": limits.NAME_MAX, "direction": limits.NAME_MAX},
    "hosts": {"host_id": limits.NAME_MAX, "target": limits.NAME_MAX},
}
TAIL_COLUMNS = {("units", "output_tail")}  # free text whose end matters: cut from the front
JSON_COLUMNS = {("hosts", "facts"), ("hosts", "hardware")}  # whole or nothing: a cut document is unreadable
_SCHEMA_RE = re.compile(r"^dtf\.shard/(\d+)$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*\.duckdb$")


@dataclass(frozen=True)
class VerifiedShard:
    shard_id: str
    run_id: str
    db: Path
    manifest: Path
    rows: dict[str, int]


@dataclass(frozen=True)
class Manifest:
    """The fields of a manifest that dtf uses, each checked for type and bounds."""

    path: Path
    shard_id: str
    run_id: str
    file: Path
    sha256: str
    rows: dict[str, int]


def _printable(text: str) -> bool:
    return text.isprintable()


def load_manifest(manifest_path: Path) -> Manifest:
    """Parse and check a manifest; raise ShardError naming the shard and the fault."""
    name = manifest_path.name.removesuffix(".manifest.json")
    where = f"shard {name}: {manifest_path.name}"
    try:
        st = manifest_path.lstat()
        if not stat.S_ISREG(st.st_mode):
            raise ShardError(f"{where}: not a regular file (symlinks and devices are refused)")
        if st.st_size > limits.MANIFEST_MAX_BYTES:
            raise ShardError(f"{where}: {st.st_size} bytes, more than a manifest's {limits.MANIFEST_MAX_BYTES}")
        raw = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ShardError(f"{where}: unreadable manifest ({reason})") from None
    if not isinstance(raw, dict) or raw.get("schema") != MANIFEST_SCHEMA:
        raise ShardError(f"{where}: not a dtf manifest (schema {MANIFEST_SCHEMA} expected)")
    shard_id = raw.get("shard-id", name)
    run_id = raw.get("run-id", "")
    file = raw.get("file", f"{shard_id}.duckdb")
    sha = raw.get("sha256")
    rows = raw.get("rows")
    problems = []
    if not isinstance(shard_id, str) or not shard_id or len(shard_id) > limits.NAME_MAX or not _printable(shard_id):
        problems.append(f"shard-id must be a printable name of at most {limits.NAME_MAX} characters")
    if not isinstance(run_id, str) or len(run_id) > limits.RUN_ID_MAX or not _printable(run_id):
        problems.append(f"run-id must be printable text of at most {limits.RUN_ID_MAX} characters")
    if not isinstance(file, str) or not _FILE_RE.match(file) or len(file) > 255:
        problems.append("file must be the plain name of a .duckdb file beside the manifest (no folder, no '..')")
    if not isinstance(sha, str) or not _SHA_RE.match(sha):
        problems.append("sha256 must be 64 lowercase hex digits")
    if (not isinstance(rows, dict) or set(rows) != set(TABLES)
            or not all(type(v) is int and v >= 0 for v in rows.values())):
        problems.append(f"rows must map each of {', '.join(TABLES)} to a row count")
    if problems:
        raise ShardError(f"{where}: malformed manifest: " + "; ".join(problems))
    assert isinstance(rows, dict)
    return Manifest(manifest_path, str(shard_id), str(run_id), manifest_path.parent / str(file), str(sha), dict(rows))


def private_link(manifest: Manifest, dest: Path) -> Path:
    """Put the shard's file at ``dest`` (hard link, else copy) after checking it is the manifest's.

    Only a regular file is accepted (a symlink, FIFO or device is refused without being opened
    for reading), at most ``limits.max_shard_bytes()`` long, and its sha256 must equal the
    manifest's. DuckDB then opens ``dest``, where no ``.wal`` file lies beside it.
    """
    db, shard_id = manifest.file, manifest.shard_id
    try:
        st = db.lstat()
    except FileNotFoundError:
        raise ShardError(f"shard {shard_id}: {db.name} is missing (the artifact upload may have failed)") from None
    except OSError as exc:
        raise ShardError(f"shard {shard_id}: {db.name}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ShardError(f"shard {shard_id}: {db.name} is not a regular file (symlinks, FIFOs and devices are refused)")
    if st.st_size > limits.max_shard_bytes():
        raise ShardError(f"shard {shard_id}: {db.name} has {st.st_size} bytes, more than the "
                         f"{limits.max_shard_bytes()} allowed (DTF_MAX_SHARD_BYTES)")
    try:
        os.link(db, dest, follow_symlinks=False)
    except OSError:
        shutil.copyfile(db, dest, follow_symlinks=False)
    actual = _sha256(dest)
    if actual != manifest.sha256:
        dest.unlink(missing_ok=True)
        raise ShardError(
            f"shard {shard_id}: {db.name} does not match its manifest (sha256 {actual[:12]}…, "
            f"manifest says {manifest.sha256[:12]}…): the file was changed or truncated after it was written"
        )
    return dest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lock_down(con: Any, allowed_dir: Path) -> None:
    """Switch off everything that lets SQL reach beyond ``allowed_dir``, and lock it so.

    Called on a fresh connection before any shard is attached. Writing the connection's own
    database (``merged.duckdb``) keeps working: it was opened before the lock.
    """
    spill = allowed_dir / "spill"
    spill.mkdir(exist_ok=True)
    folder = str(allowed_dir).replace("'", "''")
    con.execute(f"SET allowed_directories = ['{folder}']")
    con.execute(f"SET temp_directory = '{str(spill).replace(chr(39), chr(39) * 2)}'")
    for setting in ("enable_external_access", "autoload_known_extensions", "autoinstall_known_extensions",
                    "allow_community_extensions", "allow_unsigned_extensions"):
        try:
            con.execute(f"SET {setting} = false")
        except Exception:  # noqa: BLE001 - a setting this DuckDB does not know is already off
            if setting == "enable_external_access":
                raise
    con.execute("SET lock_configuration = true")


def attach(con: Any, db: Path, alias: str, shard_id: str) -> None:
    import duckdb

    try:
        con.execute(f"ATTACH '{str(db).replace(chr(39), chr(39) * 2)}' AS {alias} (READ_ONLY)")
    except duckdb.Error as exc:
        raise ShardError(f"shard {shard_id}: not a readable DuckDB file ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:300]


@lru_cache(maxsize=64)
def _reference_sql(table: str, columns: tuple[tuple[str, str], ...]) -> str:
    """The CREATE statement DuckDB records for ``table`` made the way dtf makes it."""
    import duckdb

    con = duckdb.connect()
    try:
        cols = ", ".join(f"{c} {t}" for c, t in columns)
        con.execute(f"CREATE TABLE {table} ({cols})")
        row = con.execute("SELECT sql FROM duckdb_tables() WHERE table_name = ?", [table]).fetchone()
    finally:
        con.close()
    return str(row[0]) if row else ""


def check_catalog(con: Any, alias: str, shard_id: str) -> dict[str, tuple[tuple[str, str], ...]]:
    """Reject anything in the attached file but dtf's base tables; return each table's columns.

    Reads only DuckDB's catalog functions, which never run SQL stored in the file.
    """
    def rows(sql: str) -> list[Any]:
        return list(con.execute(sql, [alias]).fetchall())

    extra: list[str] = []
    extra += [f"schema {s}" for (s,) in rows(
        "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ? AND schema_name <> 'main' AND NOT internal")]
    extra += [f"view {s}.{v}" for s, v in rows(
        "SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = ? AND NOT internal")]
    extra += [f"{t} {s}.{f}" for s, f, t in rows(
        "SELECT DISTINCT schema_name, function_name, function_type FROM duckdb_functions() "
        "WHERE database_name = ? AND NOT internal")]
    extra += [f"sequence {s}.{q}" for s, q in rows(
        "SELECT schema_name, sequence_name FROM duckdb_sequences() WHERE database_name = ?")]
    extra += [f"type {s}.{t}" for s, t in rows(
        "SELECT schema_name, type_name FROM duckdb_types() WHERE database_name = ? AND NOT internal")]
    extra += [f"index {s}.{i}" for s, i in rows(
        "SELECT schema_name, index_name FROM duckdb_indexes() WHERE database_name = ?")]
    tables = {}
    for schema, table, sql in rows(
            "SELECT schema_name, table_name, sql FROM duckdb_tables() WHERE database_name = ? ORDER BY table_name"):
        if schema != "main" or table not in TABLES:
            extra.append(f"table {schema}.{table}")
        else:
            tables[table] = str(sql)
    if extra:
        shown = ", ".join(_inert(e) for e in extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        raise ShardError(f"shard {shard_id}: holds more than dtf's tables ({shown}); a shard is data only")
    missing = [t for t in TABLES if t not in tables]
    if missing:
        raise ShardError(f"shard {shard_id}: lacks the shard table(s) {', '.join(missing)}")
    found: dict[str, tuple[tuple[str, str], ...]] = {}
    for table, sql in tables.items():
        cols = tuple((str(c), str(t)) for c, t in rows(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ? "
            f"AND schema_name = 'main' AND table_name = '{table}' ORDER BY column_index"))
        _check_columns(shard_id, table, cols, allow_missing=True)
        if sql != _reference_sql(table, cols):
            raise ShardError(f"shard {shard_id}: table {table} is not a plain dtf table (a default, a generated "
                             "column or a constraint was added); a shard is data only")
        found[table] = cols
    return found


def _check_columns(shard_id: str, table: str, cols: tuple[tuple[str, str], ...], *, allow_missing: bool) -> None:
    """Columns must be dtf's, in dtf's order with dtf's types; only an older shard may lack some."""
    expected = TABLES[table]
    if list(cols) == expected:
        return
    position = 0
    for col in cols:
        while position < len(expected) and expected[position] != col:
            position += 1
        if position == len(expected) or not allow_missing:
            want = ", ".join(f"{c} {t}" for c, t in expected)
            got = ", ".join(f"{_inert(c)} {_inert(t)}" for c, t in cols[:len(expected) + 2])
            raise ShardError(f"shard {shard_id}: table {table} has columns ({got}), expected ({want})")
        position += 1


def _inert(text: str, limit: int = 60) -> str:
    """A name from a hostile file, shortened and with control characters shown, for a message."""
    shown = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return shown if len(shown) <= limit else shown[:limit] + "…"


def check_tables(con: Any, alias: str, manifest: Manifest,
                 columns: dict[str, tuple[tuple[str, str], ...]]) -> dict[str, int]:
    """Schema version, row counts against the manifest, and name lengths, in one query."""
    import duckdb

    shard_id = manifest.shard_id
    parts = [f"(SELECT count(*) FROM {alias}.main.{t})" for t in TABLES]
    bounds: list[tuple[str, str, int]] = []
    for table, names in NAME_COLUMNS.items():
        present = {c for c, _ in columns[table]}
        for col, bound in names.items():
            if col in present:
                bounds.append((table, col, bound))
                parts.append(f"(SELECT coalesce(max(length({col})), 0) FROM {alias}.main.{table})")
    parts.append(f"(SELECT max(value) FROM {alias}.main.dtf_meta WHERE key = 'schema')")
    try:
        row = con.execute(f"SELECT {', '.join(parts)}").fetchone()
    except duckdb.Error as exc:
        raise ShardError(f"shard {shard_id}: unreadable tables ({_first_line(exc)})") from None
    assert row is not None
    counts = dict(zip(TABLES, (int(c) for c in row[:len(TABLES)]), strict=True))
    schema = row[-1]
    version = _schema_version(schema)
    if version is None:
        raise ShardError(f"shard {shard_id}: schema {_inert(str(schema))!r}, expected {SHARD_SCHEMA}")
    if version == _schema_version(SHARD_SCHEMA):
        for table, cols in columns.items():
            _check_columns(shard_id, table, cols, allow_missing=False)
    for table, count in counts.items():
        if manifest.rows.get(table) != count:
            raise ShardError(f"shard {shard_id}: table {table} has {count} rows, manifest says {manifest.rows.get(table)}")
    for (table, col, bound), longest in zip(bounds, row[len(TABLES):-1], strict=True):
        if int(longest) > bound:
            raise ShardError(f"shard {shard_id}: {table}.{col} holds a name of {longest} characters, "
                             f"more than the {bound} allowed")
    return counts


def _schema_version(schema: Any) -> int | None:
    """The shard schema's number when dtf can read it: this one, or an older one."""
    m = _SCHEMA_RE.match(str(schema)) if isinstance(schema, str) else None
    current = _SCHEMA_RE.match(SHARD_SCHEMA)
    assert current is not None
    if m is None or not 1 <= int(m.group(1)) <= int(current.group(1)):
        return None
    return int(m.group(1))


def copy_sql(table: str, alias: str, columns: tuple[tuple[str, str], ...]) -> str:
    """``SELECT`` the shard's columns by name, free text cut to its bound."""
    exprs = []
    for col, typ in columns:
        if typ != "VARCHAR" or col in NAME_COLUMNS.get(table, {}):
            exprs.append(col)
        elif (table, col) in TAIL_COLUMNS:
            exprs.append(f"right({col}, {limits.OUTPUT_TAIL_MAX})")
        elif (table, col) in JSON_COLUMNS:
            exprs.append(f"CASE WHEN length({col}) <= {limits.JSON_MAX} THEN {col} END")
        else:
            exprs.append(f"left({col}, {limits.TEXT_MAX})")
    return f"SELECT {', '.join(exprs)} FROM {alias}.main.{table}"


def open_checked(con: Any, manifest: Manifest, private: Path, alias: str) -> tuple[dict[str, int], dict[str, Any]]:
    """Link, attach and check one shard on a locked connection; return (rows, columns)."""
    private_link(manifest, private)
    attach(con, private, alias, manifest.shard_id)
    try:
        columns = check_catalog(con, alias, manifest.shard_id)
        rows = check_tables(con, alias, manifest, columns)
    except ShardError:
        con.execute(f"DETACH {alias}")
        raise
    return rows, columns


def verify_shard(manifest_path: Path) -> VerifiedShard:
    """Check one shard completely, as aggregate does; raise ShardError naming the shard and the fault."""
    import duckdb

    manifest = load_manifest(manifest_path)
    folder = Path(tempfile.mkdtemp(prefix="dtf-verify-"))
    con = duckdb.connect()
    try:
        lock_down(con, folder)
        rows, _ = open_checked(con, manifest, folder / "s0.duckdb", "s0")
    finally:
        con.close()
        shutil.rmtree(folder, ignore_errors=True)
    return VerifiedShard(manifest.shard_id, manifest.run_id, manifest.file, manifest_path, rows)
