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

import contextlib
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from dtf_ci.errors import HistoryError
from dtf_ci.gcpause import paused_gc
from dtf_ci.log import warning

RUN_SCHEMA = "dtf.history-run/1"
MONTH_SCHEMA = "dtf.history-month/1"
MONTHS = "months"
MONTH_INDEX = "runs.json"
TABLES = ("samples", "units", "hosts")
TMP_PREFIX = ".tmp-"
DURATIONS_KEPT = 20
#: Runs the planner reads durations from (newest first): enough for 20 passed units of a task
#: that often fails, without reading (and, on the git store, fetching) a year of runs.
DURATIONS_RUNS = 100
#: How long an append waits for another writer of the same run id before giving up.
LOCK_WAIT_S = 300.0

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
#: A month folder: ``2026-01``, or ``2026-01.SUFFIX`` while a compaction replaces it.
MONTH_DIR = re.compile(r"^(\d{4}-\d{2})(?:\.[A-Za-z0-9]+)?$")


@dataclass(frozen=True)
class RunInfo:
    """One complete run of the history, as its ``run.json`` describes it."""

    run_id: str
    created_at: str
    sha: str
    ref: str
    branch: str
    event: str
    path: Path
    meta: dict[str, Any] = field(hash=False, compare=False)
    #: True when ``path`` is a month folder whose files hold other runs too (filter by run_id).
    compacted: bool = False


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


def run_files(runs: list[RunInfo], table: str) -> list[str]:
    """The Parquet files holding ``table`` for ``runs``, each once (a month holds many runs)."""
    _check_table(table)
    return list(dict.fromkeys(str(run.path / f"{table}.parquet") for run in runs))


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


@contextlib.contextmanager
def run_lock(path: Path, what: str, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if absent) for one run id's append.

    An OS lock (flock, or msvcrt on Windows), not a marker file: the kernel drops it when its
    holder dies, even by kill -9, so a crash never leaves a run id locked for good. The file
    itself stays (removing it would race with a waiter that opened it).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise HistoryError(f"{what}: another dtf has been appending it for over "
                                   f"{wait_s:.0f} s (lock {path}); a run is appended once")
            time.sleep(0.05)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(fd, fcntl.LOCK_UN)


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


def _check_table(table: str) -> None:
    if table not in TABLES:
        raise HistoryError(f"history has no table '{table}' (tables: {', '.join(TABLES)})")


def _read_run(folder: Path, listing: set[str] | None = None) -> tuple[RunInfo | None, str]:
    """The run in ``folder``, or None and what is wrong with it.

    ``listing``: the folder's file names when they are known without being on disk (the git
    store's tree); then the Parquet files are checked by name, not by their bytes.
    """
    meta_path = folder / "run.json"
    if (listing is not None and "run.json" not in listing) or not meta_path.is_file():
        return None, "has no run.json (a half-written run)"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"has an unreadable run.json ({exc})"
    info, problem = _run_info(meta, folder, folder.name)
    if info is None:
        return None, f"has a run.json {problem}"
    for table in TABLES:
        problem = _file_problem(folder / f"{table}.parquet", listing)
        if problem:
            return None, problem
    return info, ""


def _run_info(meta: Any, folder: Path, expect_id: str | None, compacted: bool = False,
              ) -> tuple[RunInfo | None, str]:
    """A run's ``run.json`` contents as a RunInfo, or None and what is wrong with them."""
    if not isinstance(meta, dict) or meta.get("schema") != RUN_SCHEMA:
        schema = meta.get("schema") if isinstance(meta, dict) else None
        return None, f"of schema {schema!r}, not {RUN_SCHEMA}"
    run_id = meta.get("run-id")
    if expect_id is not None and run_id != expect_id:
        return None, f"for run {run_id!r}, not {expect_id!r}"
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        return None, f"with a run-id that is not a folder-safe id ({run_id!r})"
    created = meta.get("created-at")
    if not isinstance(created, str) or _instant(created) == datetime.min.replace(tzinfo=timezone.utc):
        return None, f"without a valid created-at ({created!r})"
    return RunInfo(run_id=run_id, created_at=created, sha=str(meta.get("sha") or ""),
                   ref=str(meta.get("ref") or ""), branch=str(meta.get("branch") or ""),
                   event=str(meta.get("event") or ""), path=folder, meta=meta,
                   compacted=compacted), ""


def read_month(folder: Path, listing: set[str] | None = None) -> tuple[list[RunInfo], str]:
    """The runs of a compacted month folder, or [] and what is wrong with it."""
    index = folder / MONTH_INDEX
    if (listing is not None and MONTH_INDEX not in listing) or not index.is_file():
        return [], f"has no {MONTH_INDEX} (a half-written month)"
    try:
        doc = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [], f"has an unreadable {MONTH_INDEX} ({exc})"
    if not isinstance(doc, dict) or doc.get("schema") != MONTH_SCHEMA or not isinstance(doc.get("runs"), list):
        schema = doc.get("schema") if isinstance(doc, dict) else None
        return [], f"has a {MONTH_INDEX} of schema {schema!r}, not {MONTH_SCHEMA}"
    out: list[RunInfo] = []
    for i, meta in enumerate(doc["runs"]):
        info, problem = _run_info(meta, folder, None, compacted=True)
        if info is None:
            return [], f"has a {MONTH_INDEX} whose runs[{i}] is a run.json {problem}"
        out.append(info)
    for table in TABLES:
        problem = _file_problem(folder / f"{table}.parquet", listing)
        if problem:
            return [], problem
    return out, ""


def _file_problem(path: Path, listing: set[str] | None) -> str:
    if listing is None:
        return _parquet_problem(path)
    return "" if path.name in listing else f"has no {path.name} (a half-written run)"


def _parquet_problem(path: Path) -> str:
    """A cheap check that a file is whole Parquet: the magic bytes at both ends."""
    try:
        size = path.stat().st_size
        if size < 12:
            return f"has a truncated {path.name}"
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(size - 4)
            tail = fh.read(4)
    except OSError:
        return f"has no {path.name} (a half-written run)"
    if head != b"PAR1" or tail != b"PAR1":
        return f"has an unreadable {path.name} (not whole Parquet)"
    return ""


def _instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; its renames are durable enough
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
