"""The history of runs: append-only, one folder of Parquet files per run.

History is what turns one run's samples into a verdict (the baseline), one run's durations
into the next plan's estimates, and one runner's detected hardware into facts the planner can
match requirements against. It is deliberately a plain folder layout that anyone can query
with DuckDB (``SELECT * FROM 'HISTORY/runs/*/samples.parquet'``), so that nothing about it
is private to dtf.

A run is written into a private ``runs/.tmp-RUNID+PID.RANDOM/``, its ``run.json`` last, then
renamed into place, all under a lock for that run id (``.locks/RUNID.lock``, released by the
kernel even after kill -9): two writers of one run id never share a folder, the second is
refused once the first landed, and a crash leaves only a ``.tmp-`` folder, which readers skip
with one warning and the next append of that run id removes. Two stores share this layout: a local folder (:class:`LocalStore`) and a
git branch (:class:`dtf_ci.history_git.GitBranchStore`), chosen by :func:`open_history`.

``dtf history compact`` (:mod:`dtf_ci.history_compact`) merges old runs into one folder per
month, ``months/YYYY-MM/`` (``runs.json`` listing the runs' ``run.json`` contents, and one
Parquet file per table holding all of them); every row still carries its ``run_id``, so
readers read a month and a run folder alike, filtering by run id. A run found both in its own
folder and in a month (a compaction cut short) is read once.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from dtf_ci.errors import HistoryError
from dtf_ci.gcpause import paused_gc
from dtf_ci.history_files import (  # noqa: F401  (names other modules import from here)
    _RUN_ID,
    LOCK_WAIT_S,
    MONTH_DIR,
    MONTH_INDEX,
    MONTH_SCHEMA,
    MONTHS,
    RUN_SCHEMA,
    TABLES,
    TMP_PREFIX,
    RunInfo,
    _fsync_dir,
    _instant,
    _read_run,
    read_month,
    run_files,
    run_lock,
)
from dtf_ci.log import warning

DURATIONS_KEPT = 20
#: Runs the planner reads durations from (newest first): enough for 20 passed units of a task
#: that often fails, without reading (and, on the git store, fetching) a year of runs.
DURATIONS_RUNS = 100


@runtime_checkable
class HistoryStore(Protocol):
    """What every store offers, so the planner and the aggregate step never ask which one."""

    def runs(self) -> list[RunInfo]: ...

    def root(self) -> Path: ...

    def append(self, run_meta: dict[str, Any], source_db: Path) -> RunInfo: ...

    def parquet_files(self, table: str) -> list[Path]: ...

    def materialize(self, runs: list[RunInfo], tables: tuple[str, ...] = TABLES) -> None: ...


def materialize(store: Any, runs: list[RunInfo], tables: tuple[str, ...] = TABLES) -> None:
    """Make the runs' ``tables`` readable on disk: a no-op for a folder; the git store fetches
    only these files (the baseline window's samples, not the whole history)."""
    fetch = getattr(store, "materialize", None)
    if fetch is not None and runs:
        fetch(runs, tables)


def open_history(spec: str | Path, *, repo_dir: Path | None = None,
                 remote: str = "origin") -> HistoryStore:
    """The store a ``--history`` value names: ``git:BRANCH``, or else a folder."""
    if isinstance(spec, str) and spec.startswith("git:"):
        from dtf_ci.history_git import GitBranchStore

        branch = spec[len("git:"):]
        if not branch:
            raise HistoryError("history 'git:' names no branch (write it as git:BRANCH, e.g. git:dtf-data)")
        return GitBranchStore(Path(repo_dir) if repo_dir else Path.cwd(), branch, remote=remote)
    return LocalStore(Path(spec))


class LocalStore:
    """History in a local folder: ``ROOT/runs/RUNID/{run.json,*.parquet}``."""

    def __init__(self, root: Path, *, label: str | None = None) -> None:
        self._root = Path(root)
        self.label = label or str(self._root)
        self._warned: set[str] = set()

    def __repr__(self) -> str:
        return f"LocalStore({str(self._root)!r})"

    def root(self) -> Path:
        return self._root

    def delete_hint(self, folder: Path) -> str:
        """How a person removes a half-written run; the git store says it differently."""
        import shlex  # the folder name came from the store: quoted, so the hint is one safe command

        return f"delete it (rm -r -- {shlex.quote(str(folder))}) once no dtf is writing to this history"

    def runs(self) -> list[RunInfo]:
        """Complete runs, oldest first; half-written folders are skipped with one warning each.

        Runs come from ``runs/RUNID/`` and from compacted ``months/*/``; a run in both (a
        compaction cut short) is listed once, from its own folder.
        """
        found: dict[str, RunInfo] = {}
        for info in self.run_folders() + [i for infos in self.month_folders().values() for i in infos]:
            found.setdefault(info.run_id, info)
        return sorted(found.values(), key=lambda info: (_instant(info.created_at), info.run_id))

    def _listing(self, folder: Path) -> set[str] | None:
        """The file names in ``folder`` as the store knows them; None: look on disk."""
        return None

    def _subfolders(self, where: str) -> list[Path]:
        base = self._root / where
        return sorted(e for e in base.iterdir() if e.is_dir()) if base.is_dir() else []

    def run_folders(self) -> list[RunInfo]:
        """The complete runs in ``runs/RUNID/`` folders (not those of months)."""
        out: list[RunInfo] = []
        for entry in self._subfolders("runs"):
            if entry.name.startswith(TMP_PREFIX):
                self._skip(entry, "is a half-written run (a crash or a writer still at work)")
                continue
            if entry.name.startswith("."):
                continue
            info, problem = _read_run(entry, self._listing(entry))
            if info is None:
                self._skip(entry, problem)
                continue
            out.append(info)
        return out

    def month_folders(self) -> dict[Path, list[RunInfo]]:
        """Complete month folders (``months/YYYY-MM``) and the runs each holds."""
        out: dict[Path, list[RunInfo]] = {}
        for entry in self._subfolders(MONTHS):
            if entry.name.startswith(TMP_PREFIX):
                self._skip(entry, "is a half-written month (a compaction cut short)")
                continue
            if not MONTH_DIR.match(entry.name):
                continue
            infos, problem = read_month(entry, self._listing(entry))
            if problem:
                self._skip(entry, problem)
                continue
            out[entry] = infos
        return out

    def compacted_ids(self) -> set[str]:
        """Run ids held by month folders (read from their ``runs.json`` only)."""
        return {info.run_id for infos in self.month_folders().values() for info in infos}

    def materialize(self, runs: list[RunInfo], tables: tuple[str, ...] = TABLES) -> None:
        """A folder's files are on disk already."""

    def _skip(self, folder: Path, problem: str) -> None:
        if folder.name in self._warned:
            return
        self._warned.add(folder.name)
        warning(f"history {self.label!r}: run folder {folder} {problem}; it is ignored. "
                f"To clean up, {self.delete_hint(folder)}.")

    def parquet_files(self, table: str) -> list[Path]:
        """The table's Parquet files of complete runs, oldest run first (a month's file once)."""
        runs = self.runs()
        materialize(self, runs, (table,))
        return [Path(f) for f in run_files(runs, table)]

    def append(self, run_meta: dict[str, Any], source_db: Path) -> RunInfo:
        """Export one run's tables to Parquet and rename its folder into place, atomically.

        Atomic per run id: the whole append holds that run id's lock, so a second aggregate of
        the same run waits, then finds the run in place and is refused; it never writes into
        the first one's folder.
        """
        run_id = _check_meta(run_meta)
        runs_dir = self._root / "runs"
        final = runs_dir / run_id
        if final.exists():
            raise HistoryError(f"history {self.label!r}: run {run_id} is already there ({final}); "
                               "a run is appended once")
        runs_dir.mkdir(parents=True, exist_ok=True)
        with run_lock(self._root / ".locks" / f"{run_id}.lock", f"history {self.label!r}: run {run_id}"):
            return self._append_locked(run_id, run_meta, Path(source_db), runs_dir, final)

    def _append_locked(self, run_id: str, run_meta: dict[str, Any], source_db: Path,
                       runs_dir: Path, final: Path) -> RunInfo:
        if final.exists():
            raise HistoryError(f"history {self.label!r}: run {run_id} is already there ({final}), "
                               "appended by another writer meanwhile; a run is appended once")
        if run_id in self.compacted_ids():
            raise HistoryError(f"history {self.label!r}: run {run_id} is already there (compacted "
                               f"into {self._root / MONTHS}); a run is appended once")
        # Holding the lock, no live writer of this run id exists: its leftovers are stale.
        for stale in [runs_dir / f"{TMP_PREFIX}{run_id}", *runs_dir.glob(f"{TMP_PREFIX}{run_id}+*")]:
            if stale.exists():
                warning(f"history {self.label!r}: removing {stale}, a half-written copy of run "
                        f"{run_id} left by an earlier attempt")
                shutil.rmtree(stale, ignore_errors=True)
        tmp = runs_dir / f"{TMP_PREFIX}{run_id}+{os.getpid()}.{secrets.token_hex(4)}"
        tmp.mkdir()
        try:
            rows = export_tables(Path(source_db), tmp, run_id)
            meta: dict[str, Any] = {"schema": RUN_SCHEMA}
            meta.update({k: v for k, v in run_meta.items() if k != "schema"})
            meta.setdefault("created-at", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
            meta["rows"] = rows
            with open(tmp / "run.json", "w", encoding="utf-8") as fh:
                json.dump(meta, fh, indent=2, sort_keys=False)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            _fsync_dir(tmp)
            try:
                os.rename(tmp, final)
            except OSError as exc:
                raise HistoryError(f"history {self.label!r}: run {run_id} appeared at {final} while "
                                   f"it was being written ({exc}); a run is appended once") from exc
            _fsync_dir(runs_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        info, problem = _read_run(final)
        if info is None:  # pragma: no cover - we just wrote it
            raise HistoryError(f"history {self.label!r}: run {run_id} reads back wrong: {problem}")
        return info


def export_tables(source_db: Path, folder: Path, run_id: str) -> dict[str, int]:
    """Copy ``samples``, ``units`` and ``hosts`` of a DuckDB file to Parquet, each with run_id.

    Every file carries ``run_id`` set to the run's id, so files can be joined and filtered
    without looking at their paths. Returns the row count per table (kept in ``run.json``).
    """
    import duckdb

    if not source_db.is_file():
        raise HistoryError(f"cannot append to history: {source_db} does not exist")
    try:
        con = duckdb.connect(str(source_db), read_only=True)
    except duckdb.ConnectionException:
        # The aggregate step may still hold this file open in this process; share that instance.
        con = duckdb.connect(str(source_db))
    except duckdb.Error as exc:
        raise HistoryError(f"cannot append to history: {source_db} is not readable by DuckDB: {exc}") from exc
    rows: dict[str, int] = {}
    try:
        for table in TABLES:
            try:
                cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
            except duckdb.CatalogException as exc:
                raise HistoryError(f"cannot append to history: {source_db} has no table '{table}'") from exc
            literal = "'" + run_id.replace("'", "''") + "'"
            select = (f"SELECT * REPLACE ({literal} AS run_id) FROM {table}" if "run_id" in cols
                      else f"SELECT {literal} AS run_id, * FROM {table}")
            target = folder / f"{table}.parquet"
            quoted = "'" + str(target).replace("'", "''") + "'"
            con.execute(f"COPY ({select}) TO {quoted} (FORMAT parquet, COMPRESSION zstd)")
            rows[table] = int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
            with open(target, "rb") as fh:
                os.fsync(fh.fileno())
    finally:
        con.close()
    return rows


def _check_meta(run_meta: dict[str, Any]) -> str:
    run_id = run_meta.get("run-id")
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise HistoryError(f"cannot append to history: run-id {run_id!r} is not a folder-safe id "
                           "(letters, digits, '.', '_', '-')")
    return run_id


# --- readers for the planner and the aggregate step ----------------------------------------

def _query(runs: list[RunInfo], table: str, sql: str) -> list[tuple[Any, ...]]:
    """Run ``sql`` with ``t`` = the table over ``runs``, plus ``ord``: the run's index in ``runs``.

    The run order comes from ``run.json``, not from the files, so it is joined on ``run_id``
    (which also keeps a month file's other runs out); one query over all files lets DuckDB
    read them in parallel.
    """
    if not runs:
        return []
    import duckdb

    files = run_files(runs, table)
    head = ("WITH o AS (SELECT unnest($ids) AS run_id, unnest($ords) AS ord), "
            "t AS (SELECT * FROM read_parquet($files, union_by_name=true) JOIN o USING (run_id)) ")
    ids = [r.run_id for r in runs]
    ords = list(range(len(runs)))
    con = duckdb.connect()
    try:
        try:
            return con.execute(head + sql, {"files": files, "ids": ids, "ords": ords}).fetchall()
        except duckdb.Error as exc:
            first_error = exc
        # One unreadable file (corrupt pages behind whole magic bytes, a column of another type)
        # must not turn all history off: find the files that fail alone, warn, use the rest.
        bad: set[str] = set()
        for f in files:
            try:
                con.execute(head + sql, {"files": [f], "ids": ids, "ords": ords}).fetchall()
            except duckdb.Error as exc:
                bad.add(f)
                lost = [r.run_id for r in runs if str(r.path / f"{table}.parquet") == f]
                what = f"run {lost[0]} is" if len(lost) == 1 else f"runs {', '.join(lost)} are"
                warning(f"history: {what} skipped, its {table}.parquet cannot be read ({f}): "
                        f"{' '.join(str(exc).split())[:300]}; the rest of the history is used")
        keep = [f for f in files if f not in bad]
        if not bad or not keep:
            raise HistoryError(f"history table '{table}' cannot be read ({len(files)} files, the "
                               f"newest {files[-1]}): {first_error}") from first_error
        try:
            return con.execute(head + sql, {"files": keep, "ids": ids, "ords": ords}).fetchall()
        except duckdb.Error as exc:
            raise HistoryError(f"history table '{table}' cannot be read even without the "
                               f"{len(bad)} unreadable file(s): {exc}") from exc
    finally:
        con.close()


def unit_durations(store: HistoryStore) -> dict[tuple[str, str], list[float]]:
    """(task, target) -> wall seconds of the last 20 passed units, oldest first (plan estimates).

    Only the newest 100 runs are read, so the planner's cost does not grow with the history.
    """
    runs = store.runs()[-DURATIONS_RUNS:]
    materialize(store, runs, ("units",))
    rows = _query(runs, "units", f"""
        SELECT task, target, wall_s FROM (
            SELECT task, target, wall_s, ord,
                   row_number() OVER (PARTITION BY task, target ORDER BY ord DESC) AS rn
            FROM t WHERE status = 'passed' AND wall_s IS NOT NULL AND isfinite(wall_s))
        WHERE rn <= {DURATIONS_KEPT} ORDER BY task, target, ord""")
    out: dict[tuple[str, str], list[float]] = {}
    for task, target, wall_s in rows:
        out.setdefault((task, target), []).append(float(wall_s))
    return out


def target_facts(store: HistoryStore) -> dict[str, dict[str, str]]:
    """target -> detected facts of the most recent run that had a host on that target."""
    runs = store.runs()
    materialize(store, runs, ("hosts",))  # a few rows per run: every run is cheap enough
    rows = _query(runs, "hosts", """
        SELECT target, facts, host_id FROM t WHERE target IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY target ORDER BY ord DESC, host_id) = 1
        ORDER BY target""")
    out: dict[str, dict[str, str]] = {}
    for target, facts, host_id in rows:
        try:
            parsed = json.loads(facts) if facts else {}
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            warning(f"history: host {host_id} on target {target} has facts that are not a JSON "
                    "object; its facts are not used")
            continue
        out[target] = {str(k): _fact_text(v) for k, v in parsed.items() if v is not None}
    return out


def _fact_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def series_history(store: HistoryStore, *, max_runs: int = 30, branch: str | None = None,
                   ) -> dict[tuple[str, str, str], list[tuple[str, float, list[float]]]]:
    """(task, metric, target) -> [(run id, median, values by repetition)], oldest run first.

    Only the last ``max_runs`` complete runs are read (only those on ``branch`` when given),
    so the cost follows the baseline window, not the length of the history.
    """
    runs = store.runs()
    if branch is not None:
        runs = [r for r in runs if r.branch == branch]
    runs = runs[-max_runs:] if max_runs > 0 else []
    materialize(store, runs, ("samples",))
    with paused_gc():  # millions of small lists: the cyclic GC would rescan them again and again
        return _series(runs)


def _has_side(runs: list[RunInfo]) -> bool:
    """Do any of these runs' samples carry ``side`` (shard schema 3: interleaved A/B)?"""
    if not runs:
        return False
    import duckdb

    con = duckdb.connect()
    try:
        cols = con.execute("DESCRIBE SELECT * FROM read_parquet($files, union_by_name=true)",
                           {"files": run_files(runs, "samples")}).fetchall()
    except duckdb.Error:
        return False  # the query proper reports the unreadable file
    finally:
        con.close()
    return any(c[0] == "side" for c in cols)


def _series(runs: list[RunInfo]) -> dict[tuple[str, str, str], list[tuple[str, float, list[float]]]]:
    # An interleaved run's base samples measured the base revision, not that run's commit.
    head_only = "AND side IS DISTINCT FROM 'base'" if _has_side(runs) else ""
    rows = _query(runs, "samples", f"""
        SELECT task, metric, target, ord, median(value), list(value ORDER BY repetition)
        FROM t WHERE value IS NOT NULL AND isfinite(value) {head_only}
        GROUP BY task, metric, target, ord
        ORDER BY task, metric, target, ord""")
    ids = [r.run_id for r in runs]
    out: dict[tuple[str, str, str], list[tuple[str, float, list[float]]]] = {}
    for task, metric, target, ord_, med, values in rows:
        out.setdefault((task, metric, target), []).append((ids[ord_], med, values))
    return out
