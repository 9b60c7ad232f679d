"""``dtf history compact``: old runs merged into one folder per month, and retention.

A year of runs on every push to main is a thousand run folders of three Parquet files each:
a store that is slow to list and, on the git branch, a tip that grows without end. Compaction
keeps the newest runs (``--keep-runs``, by default the baseline window of 30) in their own
folders and merges every older run into ``months/YYYY-MM/``: one Parquet file per table
holding all of that month's runs (every row keeps its ``run_id``) and ``runs.json`` listing
their ``run.json`` contents. No value is lost: each new file is checked against its sources,
row for row (``EXCEPT ALL`` both ways by count), before anything is removed.

Retention (``--retain-days``, ``--retain-runs``) is the one thing that removes values: runs
older than that are dropped from the store (on the git branch: from its tip; the branch's
past commits still hold them, which is what "no history rewrite" means).

Never half-written. Folder store: a new month folder is written under a ``.tmp-`` name and
renamed into place before the runs it holds are removed, so at every moment each kept run is
readable from its folder or its month (readers read a run found twice once). Git store: the
whole change is one commit on top of the tip, pushed without force, planned again on the new
tip whenever another writer landed first (:meth:`GitBranchStore.rewrite_tip`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from dtf_ci.errors import HistoryError, UsageError
from dtf_ci.history import LocalStore, materialize
from dtf_ci.history_files import (
    MONTH_DIR,
    MONTH_INDEX,
    MONTH_SCHEMA,
    MONTHS,
    TABLES,
    TMP_PREFIX,
    RunInfo,
    _fsync_dir,
    _instant,
    run_lock,
)
from dtf_ci.log import warning

#: Runs kept in their own folders by default: the aggregate step's baseline window.
KEEP_RUNS = 30
DROP_PREFIX = ".drop-"


@dataclass(frozen=True)
class Retention:
    """What compaction keeps: the settings of ``dtf history compact``."""

    keep_runs: int = KEEP_RUNS  # the newest runs stay in their own folders
    retain_days: float | None = None  # runs created more than this many days before as_of are dropped
    retain_runs: int | None = None  # only the newest this many runs are kept
    as_of: datetime | None = None  # "now" for retain_days (default: the clock)

    def check(self) -> None:
        if self.keep_runs < 0:
            raise UsageError(f"--keep-runs {self.keep_runs}: give 0 or more runs to keep in their own folders")
        if self.retain_days is not None and not self.retain_days > 0:
            raise UsageError(f"--retain-days {self.retain_days}: give a number of days above 0 "
                             "(leave it out to keep runs of every age)")
        if self.retain_runs is not None and self.retain_runs < 1:
            raise UsageError(f"--retain-runs {self.retain_runs}: give 1 or more runs to keep "
                             "(leave it out to keep every run)")


@dataclass
class MonthPlan:
    """One month folder to write: the runs it will hold (each read from ``path``), the folders it replaces."""

    month: str
    members: list[RunInfo]
    replaces: list[Path]


@dataclass
class CompactPlan:
    months: list[MonthPlan] = field(default_factory=list)
    moved: list[RunInfo] = field(default_factory=list)  # run folders merged into a month, then removed
    dropped: list[RunInfo] = field(default_factory=list)  # runs retention removes
    removed_folders: list[Path] = field(default_factory=list)  # run folders removed (moved or dropped)

    @property
    def empty(self) -> bool:
        return not (self.months or self.removed_folders)


@dataclass
class CompactResult:
    moved: list[str]
    dropped: list[str]
    months: list[str]
    rows: dict[str, int]
    commit: str = ""  # the git store's new tip

    def describe(self, where: str, dry_run: bool = False) -> str:
        if not self.moved and not self.dropped and not self.months:
            return f"dtf history compact: nothing to do in {where} (already compact)"
        verb = "would merge" if dry_run else "merged"
        text = (f"dtf history compact: {verb} {len(self.moved)} runs into "
                f"{len(self.months)} month folder(s) ({', '.join(self.months) or 'none'}); "
                f"{'would drop' if dry_run else 'dropped'} {len(self.dropped)} runs by retention")
        if self.rows:
            text += f"; {self.rows.get('samples', 0)} samples in the rewritten months"
        if self.commit:
            text += f"; new tip {self.commit[:12]}"
        return text + f" ({where})"


def month_of(run: RunInfo) -> str:
    return _instant(run.created_at).astimezone(timezone.utc).strftime("%Y-%m")


def plan_compaction(store: LocalStore, retention: Retention) -> CompactPlan:
    """What to merge and what to drop, from the store as it is now (nothing is written)."""
    retention.check()
    ordered = store.runs()
    drop_ids: set[str] = set()
    if retention.retain_runs is not None:
        drop_ids |= {r.run_id for r in ordered[:-retention.retain_runs]}
    if retention.retain_days is not None:
        now = retention.as_of or datetime.now(timezone.utc)
        now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
        cutoff = now - timedelta(days=retention.retain_days)
        drop_ids |= {r.run_id for r in ordered if _instant(r.created_at) < cutoff}
    kept = [r for r in ordered if r.run_id not in drop_ids]
    old = kept[:-retention.keep_runs] if retention.keep_runs > 0 else kept
    move_ids = {r.run_id for r in old}

    months = store.month_folders()
    in_months = {info.run_id for infos in months.values() for info in infos}
    folders = store.run_folders()
    # A run folder also held by a month (a compaction cut short) is merged again and removed.
    moved = [r for r in folders if r.run_id not in drop_ids and (r.run_id in move_ids or r.run_id in in_months)]
    removed = [r.path for r in folders if r.run_id in drop_ids] + [r.path for r in moved]

    by_key: dict[str, list[Path]] = {}
    for folder in months:
        match = MONTH_DIR.match(folder.name)
        if match:
            by_key.setdefault(match.group(1), []).append(folder)
    affected = {month_of(r) for r in moved}
    affected |= {key for key, fs in by_key.items()
                 if len(fs) > 1 or fs[0].name != key  # leftovers of a compaction cut short
                 or any(i.run_id in drop_ids for f in fs for i in months[f])}
    plan = CompactPlan(moved=moved, dropped=[r for r in ordered if r.run_id in drop_ids],
                       removed_folders=removed)
    for key in sorted(affected):
        members: dict[str, RunInfo] = {r.run_id: r for r in moved if month_of(r) == key}
        for folder in by_key.get(key, []):
            for info in months[folder]:
                if info.run_id not in drop_ids:
                    members.setdefault(info.run_id, info)
        ordered_members = sorted(members.values(), key=lambda r: (_instant(r.created_at), r.run_id))
        plan.months.append(MonthPlan(key, ordered_members, by_key.get(key, [])))
    return plan


def write_month(plan: MonthPlan, dest: Path) -> dict[str, int]:
    """Write ``dest/{samples,units,hosts}.parquet`` and ``dest/runs.json`` (last) for one month.

    Each table's new file is checked against its sources before ``runs.json`` is written: the
    same number of rows, and no source row missing from it (``EXCEPT ALL``), so every value
    is kept. A check that fails raises and leaves ``dest`` without ``runs.json`` (ignored by
    readers, removed by the caller).
    """
    import duckdb

    dest.mkdir(parents=True)
    pairs = [(str(m.path / "{t}.parquet"), m.run_id, i) for i, m in enumerate(plan.members)]
    rows: dict[str, int] = {}
    con = duckdb.connect()
    try:
        for table in TABLES:
            names = [p.replace("{t}", table) for p, _, _ in pairs]
            files = list(dict.fromkeys(names))
            con.execute("CREATE OR REPLACE TEMP TABLE pairs AS SELECT unnest($f) AS filename, "
                        "unnest($r) AS run_id, unnest($o) AS ord",
                        {"f": names, "r": [r for _, r, _ in pairs], "o": [o for _, _, o in pairs]})
            source = ("SELECT * FROM read_parquet($files, union_by_name=true, filename=true) "
                      "JOIN pairs USING (filename, run_id)")
            target = dest / f"{table}.parquet"
            quoted = "'" + str(target).replace("'", "''") + "'"
            try:
                con.execute(f"COPY (SELECT * EXCLUDE (filename, ord) FROM ({source}) ORDER BY ord) "
                            f"TO {quoted} (FORMAT parquet, COMPRESSION zstd)", {"files": files})
                cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {quoted}").fetchall()]
                listed = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
                n_src = con.execute(f"SELECT count(*) FROM ({source})", {"files": files}).fetchone()[0]  # type: ignore[index]
                n_new = con.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]  # type: ignore[index]
                lost = con.execute(f"SELECT count(*) FROM (SELECT {listed} FROM ({source}) EXCEPT ALL "
                                   f"SELECT {listed} FROM {quoted})", {"files": files}).fetchone()[0]  # type: ignore[index]
            except duckdb.Error as exc:
                raise HistoryError(f"history compact: month {plan.month}: the runs' {table}.parquet "
                                   f"files cannot be read or merged ({' '.join(str(exc).split())[:300]}); "
                                   "nothing was changed. Drop the unreadable run (`dtf history drop RUN` "
                                   "or `git rm -r runs/RUN` on the branch) and run it again") from exc
            if n_src != n_new or lost:
                raise HistoryError(f"history compact: month {plan.month}: {target} does not hold every "
                                   f"row of its runs ({n_new} rows written, {n_src} read, {lost} "
                                   "missing); nothing was changed")
            rows[table] = int(n_new)
            with open(target, "rb") as fh:
                os.fsync(fh.fileno())
    finally:
        con.close()
    index = {"schema": MONTH_SCHEMA, "month": plan.month,
             "compacted-at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "rows": rows, "runs": [dict(m.meta) for m in plan.members]}
    with open(dest / MONTH_INDEX, "w", encoding="utf-8") as fh:
        json.dump(index, fh, indent=1)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(dest)
    return rows


def _result(plan: CompactPlan, rows: dict[str, int], commit: str = "") -> CompactResult:
    return CompactResult(moved=sorted(r.run_id for r in plan.moved),
                         dropped=[r.run_id for r in plan.dropped],
                         months=[m.month for m in plan.months], rows=rows, commit=commit)


def compact(store: Any, retention: Retention, *, dry_run: bool = False) -> CompactResult:
    """Compact ``store`` (a folder or a git branch) by ``retention``; idempotent."""
    from dtf_ci.history_git import GitBranchStore

    retention.check()
    if isinstance(store, GitBranchStore):
        return _compact_git(store, retention, dry_run)
    if not isinstance(store, LocalStore):
        raise UsageError(f"{store!r}: dtf history compact works on a history folder or a git:BRANCH")
    return _compact_folder(store, retention, dry_run)


def _compact_folder(store: LocalStore, retention: Retention, dry_run: bool) -> CompactResult:
    root = store.root()
    with run_lock(root / ".locks" / "compact.lock", f"history {store.label!r}: compact"):
        months_dir = root / MONTHS
        if not dry_run:  # leftovers of a compaction cut short (we hold its lock)
            for stale in _subdirs(months_dir):
                if stale.name.startswith((TMP_PREFIX, DROP_PREFIX)):
                    shutil.rmtree(stale, ignore_errors=True)
            # In runs/ only our own trash: a runs/.tmp-* folder belongs to a live appender.
            for stale in _subdirs(root / "runs"):
                if stale.name.startswith(DROP_PREFIX):
                    shutil.rmtree(stale, ignore_errors=True)
        plan = plan_compaction(store, retention)
        if dry_run or plan.empty:
            return _result(plan, {})
        months_dir.mkdir(parents=True, exist_ok=True)
        total: dict[str, int] = {}
        for month in plan.months:
            written: Path | None = None
            if month.members:
                tmp = months_dir / f"{TMP_PREFIX}{month.month}+{os.getpid()}.{secrets.token_hex(4)}"
                try:
                    for table, n in write_month(month, tmp).items():
                        total[table] = total.get(table, 0) + n
                except BaseException:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise
                plain = months_dir / month.month
                written = plain if not plain.exists() else months_dir / f"{month.month}.{secrets.token_hex(4)}"
                os.rename(tmp, written)  # from here on the month's runs are readable from it
                _fsync_dir(months_dir)
            for old in month.replaces:
                if old != written:
                    _remove(old)
            plain = months_dir / month.month
            if written is not None and written != plain and not plain.exists():
                os.rename(written, plain)
        for folder in plan.removed_folders:
            _remove(folder)
        return _result(plan, total)


def _subdirs(folder: Path) -> list[Path]:
    return [e for e in folder.iterdir() if e.is_dir()] if folder.is_dir() else []


def _remove(folder: Path) -> None:
    """Remove a folder atomically for readers: a rename to a dot-name (skipped), then delete."""
    trash = folder.with_name(DROP_PREFIX + folder.name)
    shutil.rmtree(trash, ignore_errors=True)
    try:
        folder.rename(trash)
    except FileNotFoundError:
        return
    _fsync_dir(folder.parent)
    shutil.rmtree(trash, ignore_errors=True)


def _compact_git(store: Any, retention: Retention, dry_run: bool) -> CompactResult:
    from dtf_ci.history_git import TipChange

    outcome: dict[str, Any] = {}
    scratch: list[str] = []

    def prepare(view: LocalStore) -> TipChange | None:
        plan = plan_compaction(view, retention)
        outcome["plan"], outcome["rows"] = plan, {}
        if dry_run or plan.empty:
            return None
        materialize(store, [m for month in plan.months for m in month.members])
        tmp = tempfile.mkdtemp(prefix="dtf-compact-")
        scratch.append(tmp)
        root = view.root()
        change = TipChange(message="", remove=[p.relative_to(root).as_posix() for p in plan.removed_folders])
        rows: dict[str, int] = {}
        for month in plan.months:
            change.remove += [p.relative_to(root).as_posix() for p in month.replaces]
            if not month.members:
                continue
            folder = Path(tmp) / month.month
            for table, n in write_month(month, folder).items():
                rows[table] = rows.get(table, 0) + n
            for file in sorted(folder.iterdir()):
                change.add[f"{MONTHS}/{month.month}/{file.name}"] = file
        change.message = (f"dtf: compact {len(plan.moved)} runs into {len(plan.months)} month(s)"
                          + (f", drop {len(plan.dropped)} runs by retention" if plan.dropped else ""))
        outcome["rows"] = rows
        return change

    try:
        commit = store.rewrite_tip(prepare)
    finally:
        for tmp in scratch:
            shutil.rmtree(tmp, ignore_errors=True)
    plan = outcome.get("plan")
    if plan is None:  # no branch yet
        return CompactResult([], [], [], {})
    if not commit and not dry_run and not plan.empty:  # pragma: no cover - rewrite_tip returns a commit or raises
        warning("history compact: nothing was pushed")
    return _result(plan, outcome["rows"], commit)


def add_compact_parser(sub: Any, epilog: str) -> None:
    import argparse

    text = "merge old runs into one Parquet per month (every value kept); drop runs by retention"
    q = sub.add_parser("compact", help=text, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=text[0].upper() + text[1:] + ". The newest --keep-runs runs stay "
                       "in their own folders; older ones move into months/YYYY-MM/ (readers read both). "
                       "On git:BRANCH this is one new commit on the branch's tip, pushed without force "
                       "(appends running at the same time still land). Running it again changes "
                       "nothing. Retention (--retain-days, --retain-runs) removes runs from the store; "
                       "without it no value is removed.")
    q.add_argument("--history", default=".dtf/history", metavar="H",
                   help="history store: a folder (default .dtf/history) or git:BRANCH (run inside the repository)")
    q.add_argument("--keep-runs", type=int, default=KEEP_RUNS, metavar="N",
                   help=f"newest runs left in their own folders (default {KEEP_RUNS}, the baseline window)")
    q.add_argument("--retain-days", type=float, metavar="DAYS",
                   help="drop runs created more than DAYS days ago (default: keep every age)")
    q.add_argument("--retain-runs", type=int, metavar="N",
                   help="keep only the newest N runs, drop older ones (default: keep all)")
    q.add_argument("--as-of", metavar="DATE",
                   help="the date --retain-days counts back from (default: now), e.g. 2026-12-01")
    q.add_argument("--dry-run", action="store_true", help="say what would change; change nothing")


def run_compact_command(args: Any) -> int:
    from dtf_ci.history import open_history

    as_of = None
    if args.as_of:
        try:
            as_of = datetime.fromisoformat(str(args.as_of).replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--as-of {args.as_of!r}: not a date (write it as 2026-12-01 or "
                             "2026-12-01T10:00:00Z)") from None
    retention = Retention(keep_runs=args.keep_runs, retain_days=args.retain_days,
                          retain_runs=args.retain_runs, as_of=as_of)
    retention.check()
    if not str(args.history).startswith("git:") and not Path(args.history).is_dir():
        raise UsageError(f"--history {args.history}: no such folder (give the history folder, e.g. "
                         ".dtf/history as `dtf local` writes it, or git:BRANCH inside the repository)")
    store = open_history(args.history)
    result = compact(store, retention, dry_run=args.dry_run)
    print(result.describe(str(args.history), dry_run=args.dry_run))
    if args.dry_run and result.dropped:
        print("would drop: " + ", ".join(result.dropped))
    return 0
