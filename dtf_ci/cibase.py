"""``--base auto``: which revision an interleaved run compares with, found from the CI.

* a pull request (GitHub ``pull_request`` events): the merge-base of the PR's base and head
  commits, both read from the event file (``GITHUB_EVENT_PATH``); GitLab merge requests:
  ``CI_MERGE_REQUEST_DIFF_BASE_SHA`` (GitLab computes the merge-base itself); Jenkins
  multibranch change requests: the merge-base of ``origin/CHANGE_TARGET`` and the head;
* a push (the default branch, or any branch outside a review): the parent commit.

CI checkouts are shallow (actions/checkout fetches one commit; GitLab 20 or 50), so the
commits needed are fetched: by sha at small depth, then deeper step by step until a
merge-base appears, and at last the whole history. Everything here asks git, nothing
guesses: a revision that cannot be had comes back with ``error`` set and the fix named.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from dtf_ci.basetree import SHALLOW_FIX, _git, fetch_commit, is_shallow, repo_top, resolve_commit

DEEPEN_STEPS = (50, 200, 1000)


@dataclass(frozen=True)
class CIBase:
    rev: str  # a full sha, or "" when none could be found
    how: str  # how it was found, for the log
    error: str = ""

    def describe(self) -> str:
        if self.error:
            return f"no base revision: {self.error}"
        return f"{self.rev[:12]} ({self.how})"


def _have(top: str, sha: str) -> bool:
    return bool(sha) and bool(resolve_commit(top, sha))


def _ensure(top: str, sha: str, depth: int = 1) -> bool:
    return _have(top, sha) or fetch_commit(top, sha, depth=depth)


def merge_base(top: str, a: str, b: str) -> str:
    """The merge-base of ``a`` and ``b``, fetching and deepening a shallow clone as needed."""
    for sha in (a, b):
        if not _ensure(top, sha, depth=DEEPEN_STEPS[0]):
            return ""
    for step in (0, *DEEPEN_STEPS, -1):
        out = _git(top, "merge-base", a, b)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
        if not is_shallow(top):
            return ""
        if step == -1:
            break
        deeper = ["fetch", "--no-tags", "--quiet"]
        deeper += ["--unshallow"] if step == DEEPEN_STEPS[-1] else [f"--deepen={step or DEEPEN_STEPS[0]}"]
        _git(top, *deeper, "origin", a, b)
    return ""


def parent_of(top: str, rev: str = "HEAD") -> str:
    """The first parent of ``rev``; read from the commit object, fetched when shallow."""
    out = _git(top, "cat-file", "-p", rev)
    if out.returncode != 0:
        return ""
    for line in out.stdout.splitlines():
        if line.startswith("parent "):
            sha = line.split()[1]
            return sha if _ensure(top, sha) else ""
        if not line.strip():
            break
    return ""


def _github(top: str, env: dict[str, str]) -> CIBase:
    event_name = env.get("GITHUB_EVENT_NAME", "")
    path = env.get("GITHUB_EVENT_PATH", "")
    event: dict[str, object] = {}
    if path:
        try:
            loaded = json.loads(Path(path).read_text(encoding="utf-8"))
            event = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError) as exc:
            return CIBase("", "github", f"cannot read the event file {path}: {exc}")
    pr = event.get("pull_request")
    if isinstance(pr, dict):
        base = pr.get("base") if isinstance(pr.get("base"), dict) else {}
        head = pr.get("head") if isinstance(pr.get("head"), dict) else {}
        base_sha = str((base or {}).get("sha") or "")  # type: ignore[union-attr]
        head_sha = str((head or {}).get("sha") or "")  # type: ignore[union-attr]
        if not (_hex(base_sha) and _hex(head_sha)):
            return CIBase("", "github", f"the {event_name} event file has no pull_request.base.sha/head.sha")
        found = merge_base(top, base_sha, head_sha)
        if not found:
            return CIBase("", "github", f"no merge-base of {base_sha[:12]} and {head_sha[:12]}: {SHALLOW_FIX}")
        return CIBase(found, f"merge-base of the pull request's base {base_sha[:12]} and head {head_sha[:12]}")
    return _parent(top, f"parent commit ({event_name or 'push'})")


def _gitlab(top: str, env: dict[str, str]) -> CIBase:
    # In a child pipeline the parent's value arrives as DTF_<NAME> (dtf_ci.gitlab_pipeline).
    diff_base = env.get("DTF_CI_MERGE_REQUEST_DIFF_BASE_SHA") or env.get("CI_MERGE_REQUEST_DIFF_BASE_SHA", "")
    if _hex(diff_base):
        if _ensure(top, diff_base):
            return CIBase(resolve_commit(top, diff_base), "CI_MERGE_REQUEST_DIFF_BASE_SHA (the merge request's merge-base)")
        return CIBase("", "gitlab", f"CI_MERGE_REQUEST_DIFF_BASE_SHA {diff_base[:12]} could not be fetched: {SHALLOW_FIX}")
    return _parent(top, "parent commit (pipeline outside a merge request)")


def _jenkins(top: str, env: dict[str, str]) -> CIBase:
    target = env.get("CHANGE_TARGET", "")
    if target and not target.startswith("-"):
        _git(top, "fetch", "--no-tags", "--quiet", f"--depth={DEEPEN_STEPS[0]}", "origin",
             f"+refs/heads/{target}:refs/remotes/origin/{target}")
        target_sha = resolve_commit(top, f"origin/{target}")
        head = resolve_commit(top, "HEAD")
        found = merge_base(top, target_sha, head) if target_sha and head else ""
        if found:
            return CIBase(found, f"merge-base with origin/{target} (CHANGE_TARGET)")
        return CIBase("", "jenkins", f"no merge-base of origin/{target} and HEAD: {SHALLOW_FIX}")
    return _parent(top, "parent commit (build outside a change request)")


def _parent(top: str, how: str) -> CIBase:
    sha = parent_of(top)
    if not sha:
        return CIBase("", how, f"HEAD has no parent commit here (the first commit, or {SHALLOW_FIX})")
    return CIBase(sha, how)


def _hex(text: str) -> bool:
    return len(text) >= 7 and all(c in "0123456789abcdef" for c in text.lower())


def resolve_ci_base(folder: Path, env: dict[str, str] | None = None) -> CIBase:
    """The base revision for ``--base auto`` in the CI this process runs in (or locally)."""
    env = dict(os.environ) if env is None else env
    top = repo_top(folder)
    if not top:
        return CIBase("", "auto", f"{folder} is not inside a git repository")
    if env.get("GITHUB_ACTIONS") == "true":
        return _github(top, env)
    if env.get("GITLAB_CI"):
        return _gitlab(top, env)
    if env.get("JENKINS_URL"):
        return _jenkins(top, env)
    return _parent(top, "parent commit (not in CI)")
