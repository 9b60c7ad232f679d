"""``dtf history list`` and ``dtf history drop RUN``: see the runs of a history, remove a bad one.

A run measured on a busy machine, or one whose regression was not meant to become the
baseline, poisons every later comparison. ``dtf local`` appends only accepted runs, but a
user still needs a way out when a bad run got in: ``drop`` removes one run, whole or not at
all. The run's folder is first renamed to a dot-name (readers skip those, so no reader ever
sees half of it) and then deleted; a crash in between leaves only an ignored dot-folder that
the next ``drop`` of the same run clears.

Only a local folder history can be edited this way. A git-branch history is shared by every
CI job: removing a run there is a reviewed commit on that branch, not a command's side effect.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from dtf_ci import log
from dtf_ci.errors import HistoryError, UsageError
from dtf_ci.history import LocalStore, RunInfo, open_history

DROP_PREFIX = ".drop-"


def drop_run(store: Any, run_id: str) -> RunInfo:
    """Remove one complete run from a local history; the removed run's info."""
    if not isinstance(store, LocalStore):
        raise UsageError(f"{store!r} is not a local folder: remove runs/{run_id} from that branch in "
                         "a reviewed commit (git rm -r), so every CI job sees the same history")
    root = Path(store.root())
    runs = store.runs()
    match = [r for r in runs if r.run_id == run_id]
    if not match:
        from dtf_ci.suite import did_you_mean

        known = [r.run_id for r in runs]
        recent = ", ".join(known[-5:]) or "none"
        raise UsageError(f"history {root}: no run {run_id!r}{did_you_mean(run_id, known)} "
                         f"(latest runs: {recent}; `dtf history list` shows them all)")
    info = match[0]
    folder = info.path
    if folder.parent != root / "runs":
        raise HistoryError(f"history {root}: run {run_id} lives at {folder}, outside runs/; not touched")
    trash = folder.with_name(DROP_PREFIX + folder.name)
    shutil.rmtree(trash, ignore_errors=True)
    folder.rename(trash)  # atomic: from here on, no reader sees the run
    shutil.rmtree(trash, ignore_errors=True)
    return info


def _describe(r: RunInfo) -> str:
    meta = r.meta if isinstance(r.meta, dict) else {}
    raw = meta.get("counts")
    counts: dict[str, Any] = raw if isinstance(raw, dict) else {}
    shown = ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "no series"
    extra = []
    if meta.get("host-busy"):
        extra.append(str(meta["host-busy"]))
    if "--accept" in str(meta.get("acceptance", "")):
        extra.append("accepted with --accept")
    sha = (r.sha or "")[:10]
    return f"{r.run_id}  {r.created_at}  {sha or '-':10}  {meta.get('overall', '?')}: {shown}" + (
        "  (" + "; ".join(extra) + ")" if extra else "")


def run_history_command(args: Any) -> int:
    if getattr(args, "history_command", None) not in ("list", "drop"):
        raise UsageError("name a subcommand (changes, import, compact, list, drop RUN); see `dtf history --help`")
    store = open_history(args.history)
    if args.history_command == "list":
        runs = store.runs()
        if not runs:
            log.info(f"history {args.history}: no runs yet")
        for r in runs:
            print(_describe(r))
        return 0
    if args.history_command == "drop":
        for run_id in args.run:
            info = drop_run(store, run_id)
            log.info(f"dropped run {info.run_id} ({info.created_at}) from {args.history}")
        return 0
    raise UsageError("name a subcommand (changes, import, compact, list, drop RUN); see `dtf history --help`")
