"""``dtf history changes``: every change of level on the main line, with where it landed.

What Apache Otava's ``analyze`` does for its series, for every series in dtf's history: one
median per run (oldest first), :func:`dtf_ci.changepoints.detect_changes`, and for each change
its size, its confidence and the commit range it landed in (after the last run on the old
level, at or before the first run certainly on the new one). The same description is what
the aggregate step attaches to a series whose baseline window starts after a change.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from dtf_ci.errors import UsageError

if TYPE_CHECKING:  # numpy stays out of `dtf --help`, which builds this module's parser
    from dtf_ci.changepoints import ChangePoint

CHANGES_SCHEMA = "dtf.changes/1"

Past = list[tuple[str, float, list[float]]]  # (run id, median, values) oldest first


def describe(change: ChangePoint, run_ids: list[str], shas: dict[str, str],
             direction: str = "lower") -> dict[str, Any]:
    """One change as JSON: its run, its commit range, its size and confidence.

    ``commit-range`` is ``{"from": sha, "to": sha}``: the change is in the commits after
    ``from`` up to and including ``to`` (git's ``from..to``); ``from`` is the last run
    certainly on the old level, ``to`` the first run certainly on the new one.
    """
    rid = run_ids[change.index]
    after_old = run_ids[change.first - 1]
    on_new = run_ids[change.last]
    worse = change.after > change.before if direction == "lower" else change.after < change.before
    return {
        "run-id": rid, "sha": shas.get(rid, ""), "runs-ago": len(run_ids) - change.index,
        "commit-range": {"from": shas.get(after_old, ""), "to": shas.get(on_new, ""),
                         "from-run": after_old, "to-run": on_new},
        "kind": "regression" if worse else "improvement",
        **{k: v for k, v in change.to_json().items() if k not in ("first", "last")},
    }


def window_change(past: Past, shas: dict[str, str], direction: str) -> dict[str, Any] | None:
    """The change point that starts ``past``'s baseline window, described; None when the window
    starts where it does only because it is full."""
    from dtf_ci.changepoints import baseline_change

    _, change = baseline_change([m for _, m, _ in past])
    return None if change is None else describe(change, [rid for rid, _, _ in past], shas, direction)


def landed_in(past: Past, row: dict[str, Any], sha: str, shas: dict[str, str],
              ) -> tuple[str, dict[str, str]]:
    """The commit a main-line regression (or improvement) landed in, and its commit range.

    Usually this run's commit. But when the last runs of history already sit on the new level
    (fewer than a baseline window trusts as a change point, so they were averaged into the
    baseline), the change landed in the first of them: naming this run would be a false
    "landed in". A run is on the new level when its median is past the midpoint between the
    baseline's and this run's medians.
    """
    base, cur = row.get("baseline_median"), row.get("current_median")
    runs = [rid for rid, _, _ in past]
    first = len(past)
    if base is not None and cur is not None and base != cur:
        mid = (base + cur) / 2.0
        while first > 0 and (past[first - 1][1] - mid) * (cur - mid) > 0:
            first -= 1
    if first == len(past) or first == 0:
        return sha, {"from": shas.get(runs[-1], "") if runs else "", "to": sha}
    return shas.get(runs[first], ""), {"from": shas.get(runs[first - 1], ""),
                                       "to": shas.get(runs[first], "")}


def _since_index(since: str, runs: list[Any]) -> int:
    """Index of the first run a ``--since`` value admits: a run id, a sha prefix or a date."""
    for i, r in enumerate(runs):
        if since == r.run_id or (len(since) >= 7 and r.sha.startswith(since)):
            return i
    try:
        when = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--since {since!r}: not a run id, a commit sha (7+ characters) of a "
                         "run in this history, or a date such as 2026-01-31") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    for i, r in enumerate(runs):
        try:
            created = datetime.fromisoformat(r.created_at.replace("Z", "+00:00"))
        except ValueError:
            continue
        if (created if created.tzinfo else created.replace(tzinfo=timezone.utc)) >= when:
            return i
    return len(runs)


def _directions(runs: list[Any]) -> dict[tuple[str, str, str], tuple[str, str]]:
    """(task, metric, target) -> (direction, unit) from the runs' sample files."""
    import duckdb

    from dtf_ci.history import run_files

    files = run_files(runs, "samples")
    con = duckdb.connect()
    try:
        rows = con.execute("SELECT task, metric, target, any_value(direction), any_value(unit) "
                           "FROM read_parquet($f, union_by_name=true) GROUP BY ALL",
                           {"f": files}).fetchall()
    except duckdb.Error:
        return {}  # the series themselves were readable: report them as "lower is better"
    finally:
        con.close()
    return {(t, m, g): (d or "lower", u or "") for t, m, g, d, u in rows}


def find_changes(store: Any, *, branch: str | None = None, since: str | None = None,
                 min_size: int = 3) -> dict[str, Any]:
    """The change points of every series on ``branch`` (None: every run), as JSON."""
    from dtf_ci.changepoints import detect_changes
    from dtf_ci.history import series_history

    runs = store.runs()
    if branch is not None:
        runs = [r for r in runs if r.branch == branch]
    shas = {r.run_id: r.sha for r in runs}
    first = _since_index(since, runs) if since else 0
    history = series_history(store, max_runs=len(runs), branch=branch) if runs else {}
    meta = _directions(runs) if history else {}
    changes = []
    for (task, metric, target), past in sorted(history.items()):
        direction, unit = meta.get((task, metric, target), ("lower", ""))
        ids = [rid for rid, _, _ in past]
        order = {r.run_id: i for i, r in enumerate(runs)}
        for change in detect_changes([m for _, m, _ in past], min_size=min_size):
            if order.get(ids[change.index], 0) < first:
                continue
            row = {"task": task, "metric": metric, "target": target, "unit": unit,
                   "direction": direction, **describe(change, ids, shas, direction)}
            row["created-at"] = next((r.created_at for r in runs if r.run_id == row["run-id"]), "")
            changes.append(row)
    changes.sort(key=lambda c: (c["created-at"], c["run-id"], c["task"], c["metric"], c["target"]),
                 reverse=True)
    return {"schema": CHANGES_SCHEMA, "branch": branch, "since": since, "runs": len(runs),
            "series": len(history), "changes": changes}


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def render(result: dict[str, Any]) -> str:
    """The text table: newest change first. Names come from history (hostile data): each cell
    is shown inert, so no name can inject a line, a control sequence or a CI log command."""
    from dtf_ci.log import guard, inert

    changes = result["changes"]
    where = f"on {result['branch']}" if result["branch"] else "in history"
    since = f" since {result['since']}" if result["since"] else ""
    head = (f"{len(changes)} change(s){since} in {len({(c['task'], c['metric'], c['target']) for c in changes})} "
            f"of {result['series']} series, {result['runs']} runs {where}")
    if not changes:
        return guard(head) + "\n"
    rows = [("series", "landed in (commits)", "first run", "before -> after", "change", "confidence",
             "p")]
    for c in changes:
        rng = c["commit-range"]
        commits = inert(f"{rng['from'][:10] or rng['from-run']}..{rng['to'][:10] or rng['to-run']}")
        size = f"{c['relative'] * 100:+.1f}%" if c["relative"] is not None else f"{c['sigmas']:.1f} sd"
        unit = f" {inert(c['unit'], 20)}" if c["unit"] else ""
        rows.append((inert(f"{c['task']}/{c['metric']}@{c['target']}"), commits, inert(c["run-id"]),
                     f"{_fmt(c['before'])} -> {_fmt(c['after'])}{unit}", f"{size} {c['kind']}",
                     f"{min(c['confidence'] * 100, 99.99):.2f}%", f"{c['p-value']:.1e}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return guard(head) + "\n\n" + "\n".join(lines) + "\n"


def run_history_changes_command(args: argparse.Namespace) -> int:
    from dtf_ci.history import open_history

    branch = args.branch
    if branch is None:
        from dtf_ci.providers import get_provider

        ctx = get_provider(None).context()
        branch = ctx.default_branch if ctx.provider != "local" and ctx.default_branch else None
    result = find_changes(open_history(args.history), branch=branch, since=args.since,
                          min_size=args.min_runs)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render(result))
    return 0


def add_parser(sub: Any, epilog: str) -> None:
    """The ``history changes`` subcommand (cli.py adds the ``history`` group)."""
    p = sub.add_parser(
        "changes", help="list the change points of every series on the main line",
        description="Read the history, take one median per run for every series (oldest "
                    "first) and list where each series' level changed for good: the first run "
                    "on the new level, the commit range the change landed in, the level before "
                    "and after, the change in percent (regression or improvement by the "
                    "series' direction) and the confidence. Spikes, slow trends, random walks "
                    "and two alternating modes are not reported as changes "
                    "(docs/change-points.md).",
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--history", default=".dtf/history", metavar="H",
                   help="history store: a folder, or git:BRANCH (default .dtf/history, where "
                        "`dtf local` keeps it)")
    p.add_argument("--branch", metavar="B",
                   help="only runs of this branch (default: in CI the default branch, else "
                        "every run in the history)")
    p.add_argument("--since", metavar="WHEN",
                   help="only changes whose first run is this run or later: a run id, a "
                        "commit sha (7+ characters) or a date (2026-01-31)")
    p.add_argument("--min-runs", type=int, default=3, metavar="N",
                   help="runs a level must hold on each side to count (default 3)")
    p.add_argument("--json", action="store_true",
                   help="print JSON (schema dtf.changes/1) instead of a table")
