"""The on-disk layout of a history, below every store: run folders, month folders, checks, locks.

What a folder of history is made of (``runs/RUNID/`` with ``run.json`` written last, and the
``months/YYYY-MM/`` folders of ``dtf history compact`` with ``runs.json`` written last), how
a reader tells a whole run from a half-written one, and the per-run-id lock of an append.
Kept apart from :mod:`dtf_ci.history` (the stores and the readers) so that the compaction
and git modules can use it without an import circle.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dtf_ci.errors import HistoryError

#: How long an append waits for another writer of the same run id before giving up.
LOCK_WAIT_S = 300.0
RUN_SCHEMA = "dtf.history-run/1"
MONTH_SCHEMA = "dtf.history-month/1"
MONTHS = "months"
MONTH_INDEX = "runs.json"
TABLES = ("samples", "units", "hosts")
TMP_PREFIX = ".tmp-"

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



def run_files(runs: list[RunInfo], table: str) -> list[str]:
    """The Parquet files holding ``table`` for ``runs``, each once (a month holds many runs)."""
    _check_table(table)
    return list(dict.fromkeys(str(run.path / f"{table}.parquet") for run in runs))


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
