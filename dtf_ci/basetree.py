"""The base revision's tree for interleaved A/B: one git worktree per job, removed afterwards.

``baseline: interleaved`` runs each unit's command alternately in the base revision and in
the head, on the same machine in the same job, so the job's own speed cancels out of the
comparison. The base needs its own checkout: ``git worktree add --detach`` of the base commit
shares the object store with the head's clone (no second download) and is made once per job,
then reused by every interleaved unit of that job and removed at the end.

A base that cannot be had is never a silent pass. :func:`prepare_base` does not raise for
it: it returns a :class:`BaseTree` whose ``error`` says why (``dtf run`` then gives each
interleaved unit an ``infrastructure`` reason and the report turns yellow). A shallow clone
that lacks the base is the common case in CI, so its message names both fixes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dtf_ci import log

SHALLOW_FIX = ("fetch it (`git fetch --deepen=100 origin` or `git fetch --unshallow`), or check out "
               "with full history (`fetch-depth: 0` in actions/checkout, `GIT_DEPTH: 0` in GitLab); "
               "in CI, `--base auto` lets dtf find and fetch the merge-base itself")


@dataclass(frozen=True)
class BaseTree:
    """Where the base revision lives for this job, or why it could not be made."""

    rev: str  # as the user or the CI gave it
    sha: str = ""  # the commit it resolved to
    worktree: str = ""  # the worktree's top folder ("" when none was made)
    root: str = ""  # the suite's folder inside the worktree: commands run here
    error: str = ""  # why the base cannot be used ("" when it can)
    created: bool = False  # made by this job (and so removed by it)

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.root)


def _git(cwd: str | Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    try:
        return subprocess.run(["git", *args], cwd=str(cwd), capture_output=True, text=True,
                              timeout=timeout, env=env, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return subprocess.CompletedProcess(["git", *args], 127, "", str(exc))


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def repo_top(folder: str | Path) -> str:
    """The git working tree holding ``folder``, or "" when it is not in one."""
    out = _git(folder, "rev-parse", "--show-toplevel")
    return out.stdout.strip() if out.returncode == 0 else ""


def is_shallow(top: str | Path) -> bool:
    out = _git(top, "rev-parse", "--is-shallow-repository")
    return out.returncode == 0 and out.stdout.strip() == "true"


def resolve_commit(top: str | Path, rev: str) -> str:
    """The full sha of ``rev``, or "" when the repository does not hold it."""
    if rev.startswith("-"):
        return ""
    out = _git(top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    return out.stdout.strip() if out.returncode == 0 else ""


def fetch_commit(top: str | Path, rev: str, remote: str = "origin", depth: int | None = 1) -> bool:
    """Ask the remote for ``rev`` (a sha or a ref); True when it arrived."""
    if rev.startswith("-") or _git(top, "remote", "get-url", remote).returncode != 0:
        return False
    args = ["fetch", "--no-tags", "--quiet"]
    if depth:
        args.append(f"--depth={depth}")
    out = _git(top, *args, remote, rev)
    return out.returncode == 0 and bool(resolve_commit(top, "FETCH_HEAD"))


def missing_base_message(rev: str, top: str | Path) -> str:
    if is_shallow(top):
        return (f"base revision {rev!r} is not in this shallow clone ({top}) and could not be "
                f"fetched: {SHALLOW_FIX}")
    return (f"base revision {rev!r} is not a commit of the repository at {top} (a typo, or a "
            "branch that was not fetched: `git fetch origin BRANCH`)")


def prepare_base(rev: str, suite_root: str | Path, *, cache_dir: str | Path | None = None,
                 fetch: bool = True) -> BaseTree:
    """Make (or reuse) a worktree of ``rev`` for the suite at ``suite_root``."""
    suite_root = Path(suite_root).resolve()
    top = repo_top(suite_root)
    if not top:
        return BaseTree(rev, error=f"--base {rev}: {suite_root} is not inside a git repository, so "
                                   "there is no base revision to check out")
    sha = resolve_commit(top, rev)
    if not sha and fetch and fetch_commit(top, rev):
        sha = resolve_commit(top, rev) or resolve_commit(top, "FETCH_HEAD")
    if not sha:
        return BaseTree(rev, error=missing_base_message(rev, top))
    rel = os.path.relpath(suite_root, Path(top).resolve())
    cache = Path(cache_dir) if cache_dir else Path(os.environ.get("RUNNER_TEMP") or tempfile.gettempdir())
    cache.mkdir(parents=True, exist_ok=True)
    tree = cache / f"dtf-base-{sha[:12]}"
    created = False
    if not (tree / ".git").exists() or resolve_commit(tree, "HEAD") != sha:
        if tree.exists():
            _remove(top, tree)
        out = _git(top, "worktree", "add", "--detach", "--force", str(tree), sha)
        if out.returncode != 0:
            return BaseTree(rev, sha, error=f"base revision {rev} ({sha[:12]}) could not be checked "
                                            f"out: git worktree add: {_first_line(out.stderr)}")
        created = True
    root = (tree / rel).resolve() if rel != "." else tree
    if not root.is_dir():
        if created:
            _remove(top, tree)
        return BaseTree(rev, sha, error=f"base revision {rev} ({sha[:12]}) has no folder {rel} (the "
                                        "suite's folder): nothing to compare with")
    return BaseTree(rev, sha, str(tree), str(root), created=created)


def _remove(top: str | Path, tree: Path) -> None:
    out = _git(top, "worktree", "remove", "--force", str(tree))
    if out.returncode != 0 and tree.exists():
        shutil.rmtree(tree, ignore_errors=True)
    _git(top, "worktree", "prune")


def remove_base(base: BaseTree | None) -> None:
    """Remove a worktree this job made; one it found already there belongs to its maker."""
    if base is None or not base.created or not base.worktree:
        return
    tree = Path(base.worktree)
    # The worktree knows its main repository: the parent of the shared git folder.
    common = _git(tree, "rev-parse", "--path-format=absolute", "--git-common-dir")
    top = str(Path(common.stdout.strip()).parent) if common.returncode == 0 and common.stdout.strip() else ""
    if top:
        _remove(top, tree)
    else:
        shutil.rmtree(tree, ignore_errors=True)
    log.info(f"removed the base worktree {tree}")
