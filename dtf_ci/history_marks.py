"""What a series' history chart marks: its change points and its baseline window.

The dashboard draws each series' history with the change points found in it, the baseline
window the comparison used, and a link from every run to its commit. All of that is decided
here, once per series, while ``dtf aggregate`` decides the verdicts:

* The change points come from :func:`dtf_ci.changepoints.detect_changes` on the same medians
  (and the same ``min_size``) that :func:`dtf_ci.changepoints.baseline_change` looks at to
  place the baseline window. Calling both would run the detector twice per series (about
  0.5 ms each: 10 s more at 20,000 series), so :func:`changes_and_window` runs it once and
  places the window from its result with ``baseline_change``'s documented rule. A property
  test pins the two to the same answer (tests/test_history_marks.py), so a change of that
  rule in ``changepoints`` fails the tests instead of drifting apart silently.
* A commit link is built only from a known forge's address, a repository path of plain
  segments and a hexadecimal sha (:func:`commit_links`): history and shards are hostile data,
  and a ``javascript:`` or ``//evil`` reaching an ``href`` would run in the reader's page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy stays out of `dtf --help`
    from dtf_ci.changepoints import ChangePoint

#: Runs a level must hold on each side (``baseline_change``'s ``min_runs`` default).
MIN_RUNS = 3
#: Most runs the baseline window reaches back (``baseline_change``'s ``max_runs`` default).
MAX_RUNS = 20


def changes_and_window(
    medians: Sequence[float], *, min_runs: int = MIN_RUNS, max_runs: int = MAX_RUNS
) -> tuple[list[ChangePoint], int, ChangePoint | None]:
    """Every change point of ``medians`` (oldest first), and ``baseline_change``'s answer.

    Returns ``(changes, start, moved)``: ``start`` and ``moved`` are exactly what
    ``baseline_change(medians, min_runs=..., max_runs=...)`` returns (where the baseline window
    starts, and the change point that put it there or None). With more than ``3 * max_runs``
    medians ``baseline_change`` looks at a suffix only, so both are asked for.
    """
    from dtf_ci.changepoints import baseline_change, detect_changes

    n = len(medians)
    if n > 3 * max_runs:
        start, moved = baseline_change(medians, min_runs=min_runs, max_runs=max_runs)
        return detect_changes(list(medians), min_size=min_runs), start, moved
    if min_runs < 1 or max_runs < min_runs:
        raise ValueError(f"need 1 <= min_runs <= max_runs, got {min_runs} and {max_runs}")
    floor = max(0, n - max_runs)
    if n < 2 * min_runs:
        return [], floor, None
    changes = detect_changes(list(medians), min_size=min_runs)
    # A change with fewer than min_runs runs after it is too recent to trust; the window
    # starts at the last trusted change when it lies within the last max_runs runs.
    trusted = [c for c in changes if n - c.index >= min_runs]
    if trusted and trusted[-1].index >= floor:
        return changes, trusted[-1].index, trusted[-1]
    return changes, floor, None


_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")
_SERVER = re.compile(r"^https?://[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::\d{1,5})?(?:/[A-Za-z0-9._~-]+)*$")
_REPO_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")
_FORGE_PATHS = {"github": ("/commit/", "/compare/"), "gitlab": ("/-/commit/", "/-/compare/")}


def is_sha(text: Any) -> bool:
    """A commit id a link may carry: 7 to 64 hexadecimal digits, nothing else."""
    return isinstance(text, str) and bool(_SHA.match(text))


def commit_links(repository: Any) -> dict[str, str]:
    """``{"commit": prefix, "compare": prefix}`` for a verdicts ``repository`` object, or ``{}``.

    ``repository`` is ``{"provider": "github"|"gitlab", "server-url": "https://…",
    "repo": "owner/name"}`` (GitLab: ``group/sub/name``). A commit's address is the commit
    prefix followed by its sha; a range's is the compare prefix, ``from...to``. Anything that
    is not a plain http(s) server and a path of plain name segments gives no links at all.
    """
    if not isinstance(repository, dict):
        return {}
    kind = repository.get("provider")
    server = repository.get("server-url")
    repo = repository.get("repo")
    if kind not in _FORGE_PATHS or not isinstance(server, str) or not isinstance(repo, str):
        return {}
    server = server.rstrip("/")
    parts = repo.split("/")
    if not _SERVER.match(server) or len(parts) < 2 or len(repo) > 300:
        return {}
    if any(not _REPO_PART.match(p) or p.endswith(".") for p in parts):
        return {}  # "..", "a/./b", "%2e", spaces, quotes: not a repository path
    commit, compare = _FORGE_PATHS[kind]
    return {"commit": f"{server}/{repo}{commit}", "compare": f"{server}/{repo}{compare}"}


def repository_of(ctx: Any) -> dict[str, str] | None:
    """The verdicts' ``repository`` object for a run context (None outside GitHub/GitLab).

    Jenkins builds of a GitHub or GitLab.com repository (``GIT_URL``) link there too.
    """
    provider, repo = getattr(ctx, "provider", ""), getattr(ctx, "repo", "")
    extra = getattr(ctx, "extra", {}) or {}
    if not repo:
        return None
    if provider == "github":
        return {"provider": "github", "server-url": extra.get("server_url") or "https://github.com", "repo": repo}
    if provider == "gitlab":
        server = extra.get("server_url") or str(getattr(ctx, "api_url", "")).removesuffix("/api/v4")
        return {"provider": "gitlab", "server-url": server or "https://gitlab.com", "repo": repo}
    if provider == "jenkins":
        url = str(extra.get("git_url") or "")
        for host, kind in (("github.com", "github"), ("gitlab.com", "gitlab")):
            if re.match(rf"^(?:[a-z+]+://)?(?:[^@/]+@)?{re.escape(host)}[:/]", url):
                return {"provider": kind, "server-url": f"https://{host}", "repo": repo}
    return None


def history_runs(rows: list[dict[str, Any]], shas: dict[str, str], dates: dict[str, str]) -> dict[str, dict[str, str]]:
    """``{run id: {"sha", "created-at"}}`` for every run some series' history shows.

    Kept once per run at the top of ``verdicts.json`` rather than in every history point:
    20,000 series x 30 points x a 40-character sha would be 24 MB of repeats.
    """
    seen: dict[str, dict[str, str]] = {}
    for row in rows:
        for h in row.get("history") or ():
            rid = h.get("run-id") if isinstance(h, dict) else None
            if isinstance(rid, str) and rid not in seen:
                seen[rid] = {"sha": shas.get(rid, ""), "created-at": dates.get(rid, "")}
    return seen


def annotate_groups(rows: list[dict[str, Any]], plan: dict[str, Any] | None) -> None:
    """Each series gets its task's suite ``group`` (from the plan) as ``group``, when it has one."""
    tasks = (plan or {}).get("tasks") or {}
    if not isinstance(tasks, dict):
        return
    for row in rows:
        task = tasks.get(row.get("task"))
        group = task.get("group") if isinstance(task, dict) else None
        if isinstance(group, str) and group:
            row["group"] = group
