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
TABLES = ("samples", "units", "hosts")
TMP_PREFIX = ".tmp-"
DURATIONS_KEPT = 20
#: How long an append waits for another writer of the same run id before giving up.
LOCK_WAIT_S = 300.0

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


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


@runtime_checkable
class HistoryStore(Protocol):
    """What every store offers, so the planner and the aggregate step never ask which one."""

    def runs(self) -> list[RunInfo]: ...

    def root(self) -> Path: ...

    def append(self, run_meta: dict[str, Any], source_db: Path) -> RunInfo: ...

    def parquet_files(self, table: str) -> list[Path]: ...


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
        """Complete runs, oldest first; half-written folders are skipped with one warning each."""
        runs_dir = self._root / "runs"
        if not runs_dir.is_dir():
            return []
        found: list[tuple[datetime, str, RunInfo]] = []
        for entry in sorted(runs_dir.iterdir()):
            if not entry.is_dir():
                continue
            if entry.name.startswith(TMP_PREFIX):
                self._skip(entry, "is a half-written run (a crash or a writer still at work)")
                continue
            if entry.name.startswith("."):
                continue
            info, problem = _read_run(entry)
            if info is None:
                self._skip(entry, problem)
                continue
            found.append((_instant(info.created_at), info.run_id, info))
        found.sort(key=lambda item: (item[0], item[1]))
        return [info for _, _, info in found]

    def _skip(self, folder: Path, problem: str) -> None:
        if folder.name in self._warned:
            return
        self._warned.add(folder.name)
        warning(f"history {self.label!r}: run folder {folder} {problem}; it is ignored. "
                f"To clean up, {self.delete_hint(folder)}.")

    def parquet_files(self, table: str) -> list[Path]:
        """The table's Parquet files of complete runs, oldest run first."""
        _check_table(table)
        return [run.path / f"{table}.parquet" for run in self.runs()]

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


def _read_run(folder: Path) -> tuple[RunInfo | None, str]:
    """The run in ``folder``, or None and what is wrong with it."""
    meta_path = folder / "run.json"
    if not meta_path.is_file():
        return None, "has no run.json (a half-written run)"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"has an unreadable run.json ({exc})"
    if not isinstance(meta, dict) or meta.get("schema") != RUN_SCHEMA:
        schema = meta.get("schema") if isinstance(meta, dict) else None
        return None, f"has a run.json of schema {schema!r}, not {RUN_SCHEMA}"
    if meta.get("run-id") != folder.name:
        return None, f"has a run.json for run {meta.get('run-id')!r}, not {folder.name!r}"
    created = meta.get("created-at")
    if not isinstance(created, str) or _instant(created) == datetime.min.replace(tzinfo=timezone.utc):
        return None, f"has a run.json without a valid created-at ({created!r})"
    for table in TABLES:
        problem = _parquet_problem(folder / f"{table}.parquet")
        if problem:
            return None, problem
    return RunInfo(run_id=folder.name, created_at=created, sha=str(meta.get("sha") or ""),
                   ref=str(meta.get("ref") or ""), branch=str(meta.get("branch") or ""),
                   event=str(meta.get("event") or ""), path=folder, meta=meta), ""


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

    The run order comes from ``run.json``, not from the files, so it is joined on the file
    name; one query over all files lets DuckDB read them in parallel.
    """
    if not runs:
        return []
    import duckdb

    files = [str(run.path / f"{table}.parquet") for run in runs]
    head = ("WITH o AS (SELECT unnest($files) AS filename, unnest($ords) AS ord), "
            "t AS (SELECT * FROM read_parquet($files, union_by_name=true, filename=true) "
            "JOIN o USING (filename)) ")
    ords = list(range(len(runs)))
    con = duckdb.connect()
    try:
        try:
            return con.execute(head + sql, {"files": files, "ords": ords}).fetchall()
        except duckdb.Error as exc:
            first_error = exc
        # One unreadable run (corrupt pages behind whole magic bytes, a column of another type)
        # must not turn all history off: find the runs that fail alone, warn, use the rest.
        bad: list[int] = []
        for i, f in enumerate(files):
            try:
                con.execute(head + sql, {"files": [f], "ords": [i]}).fetchall()
            except duckdb.Error as exc:
                bad.append(i)
                warning(f"history: run {runs[i].run_id} is skipped, its {table}.parquet cannot "
                        f"be read ({f}): {' '.join(str(exc).split())[:300]}; the rest of the "
                        "history is used")
        keep = [i for i in ords if i not in set(bad)]
        if not bad or not keep:
            raise HistoryError(f"history table '{table}' cannot be read ({len(files)} files, the "
                               f"newest {files[-1]}): {first_error}") from first_error
        try:
            return con.execute(head + sql, {"files": [files[i] for i in keep], "ords": keep}).fetchall()
        except duckdb.Error as exc:
            raise HistoryError(f"history table '{table}' cannot be read even without the "
                               f"{len(bad)} unreadable run(s): {exc}") from exc
    finally:
        con.close()


def unit_durations(store: HistoryStore) -> dict[tuple[str, str], list[float]]:
    """(task, target) -> wall seconds of the last 20 passed units, oldest first (plan estimates)."""
    rows = _query(store.runs(), "units", f"""
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
    rows = _query(store.runs(), "hosts", """
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
                           {"files": [str(r.path / "samples.parquet") for r in runs]}).fetchall()
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
