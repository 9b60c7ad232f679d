"""History on a git branch (``git:dtf-data``): the default store in CI.

A branch of the project's own repository needs no new service or secret: the job's token
already may push. The branch is checked out in a private worktree under the repository's git
folder (``.git/dtf-history/BRANCH``, detached HEAD), never in the user's worktree, so the
user's files, index and current branch are never touched; a worktree (not a separate clone)
shares the repository's config, so the credentials ``actions/checkout`` left there work.

An append writes the run folder with :class:`~dtf_ci.history.LocalStore` inside that
worktree, commits it, and pushes. A rejected push (another run landed first) is followed by
``git fetch`` and ``git rebase``: runs are separate folders, so a rebase never conflicts and
two runs appended at once both land.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dtf_ci.errors import HistoryError
from dtf_ci.history import LocalStore, RunInfo, _check_meta

DTF_NAME = "dtf"
DTF_EMAIL = "dtf@users.noreply.github.com"
NETWORK_TIMEOUT_S = 600

README = """# dtf history

This branch ({branch}) is the history of the dtf benchmark runs of this repository. dtf appends one folder per run on the main line and never rewrites one:

    runs/RUNID/run.json          what the run was (sha, ref, branch, event, created-at)
    runs/RUNID/samples.parquet   one row per measured value
    runs/RUNID/units.parquet     one row per task on a target (status, wall_s, ...)
    runs/RUNID/hosts.parquet     the machines and their detected hardware facts

Query it with DuckDB from a checkout of this branch:

    SELECT task, metric, target, run_id, median(value) AS median
    FROM read_parquet('runs/*/samples.parquet', union_by_name = true)
    GROUP BY ALL ORDER BY task, metric, target, run_id;

Do not edit the runs by hand; to drop a broken run, `git rm -r runs/RUNID` and push.
"""


class GitBranchStore:
    """History kept on ``branch`` of ``remote``, read and written through a private worktree."""

    def __init__(self, repo_dir: Path, branch: str, *, remote: str = "origin",
                 tries: int = 5, backoff_s: float = 0.5) -> None:
        self.repo_dir = Path(repo_dir)
        self.branch = branch
        self.remote = remote
        self.tries = max(1, tries)
        self.backoff_s = backoff_s
        self.push_attempts = 0  # pushes the last append needed (1 when nobody raced it)
        self._synced = False
        self._hooks: Path | None = None
        if not re.fullmatch(r"[A-Za-z0-9._/-]+", branch) or branch.startswith(("-", "/")) \
                or ".." in branch or branch.endswith(("/", ".lock")):
            raise HistoryError(f"history git:{branch}: not a usable branch name")
        if not self.repo_dir.is_dir():
            raise HistoryError(f"history git:{branch}: the repository folder {self.repo_dir} does not exist")
        common = self._git(["rev-parse", "--path-format=absolute", "--git-common-dir"],
                           cwd=self.repo_dir, check=False)
        if common.returncode != 0:
            raise HistoryError(f"history git:{branch} needs a git repository, and {self.repo_dir} "
                               "is not in one (use a folder path for --history instead)")
        cache = Path(common.stdout.strip()) / "dtf-history"
        self._worktree = cache / re.sub(r"[^A-Za-z0-9._-]", "_", branch)
        self._hooks = cache / "no-hooks"
        self._lock_path = cache / f"{self._worktree.name}.lock"
        self._local = _WorktreeStore(self._worktree, label=f"git:{branch} ({remote})",
                                     branch=branch)

    def __repr__(self) -> str:
        return f"GitBranchStore({str(self.repo_dir)!r}, {self.branch!r}, remote={self.remote!r})"

    @property
    def where(self) -> str:
        return f"branch '{self.branch}' of remote '{self.remote}'"

    # --- HistoryStore ---------------------------------------------------------------------

    def root(self) -> Path:
        self._sync_once()
        return self._worktree

    def runs(self) -> list[RunInfo]:
        self._sync_once()
        return self._local.runs()

    def parquet_files(self, table: str) -> list[Path]:
        self._sync_once()
        return self._local.parquet_files(table)

    def append(self, run_meta: dict[str, Any], source_db: Path) -> RunInfo:
        """Commit the run on the branch and push it, rebasing over runs that landed first."""
        run_id = _check_meta(run_meta)
        folder = f"runs/{run_id}"
        with self._locked():
            tip = self._sync()
            if tip and self._exists(f"{tip}:{folder}"):
                raise HistoryError(f"history git:{self.branch}: run {run_id} is already on the "
                                   f"{self.where}; a run is appended once")
            readme = self._worktree / "README.md"
            if not tip:
                readme.write_text(README.format(branch=self.branch), encoding="utf-8")
            info = self._local.append(run_meta, source_db)
            self._git(["add", "--", folder] + ([] if tip else ["README.md"]))
            tree = self._git(["write-tree"]).stdout.strip()
            commit = self._git(["commit-tree", tree, "-m", f"dtf: add run {run_id}"]
                               + (["-p", tip] if tip else []), identity=True).stdout.strip()
            self._git(["update-ref", "--no-deref", "HEAD", commit])
            self._push(run_id, folder)
            return info

    # --- git work -------------------------------------------------------------------------

    def _push(self, run_id: str, folder: str) -> None:
        last = ""
        for attempt in range(1, self.tries + 1):
            self.push_attempts = attempt
            pushed = self._git(["push", "--no-verify", "--quiet", self.remote,
                                f"HEAD:refs/heads/{self.branch}"], check=False, network=True)
            if pushed.returncode == 0:
                return
            last = (pushed.stderr or pushed.stdout).strip()
            tip = self._remote_tip()  # raises when the remote cannot be reached at all
            head = self._git(["rev-parse", "HEAD"]).stdout.strip()
            base = self._git(["rev-parse", "--verify", "--quiet", "HEAD^"], check=False).stdout.strip()
            if tip == head:
                return  # it landed although git reported a failure
            if tip == base:  # nobody raced us: the remote refused (permissions, protection)
                raise HistoryError(f"history git:{self.branch}: the remote '{self.remote}' refused "
                                   f"to take run {run_id} on branch '{self.branch}': {last}")
            if attempt == self.tries:
                break
            time.sleep(self.backoff_s * attempt * random.uniform(0.5, 1.5))
            if not self._remote_tip():
                continue  # the branch vanished; push ours as a new branch
            self._fetch()
            if self._exists(f"FETCH_HEAD:{folder}"):
                mine = self._git(["rev-parse", f"HEAD:{folder}"]).stdout.strip()
                theirs = self._git(["rev-parse", f"FETCH_HEAD:{folder}"]).stdout.strip()
                if mine == theirs:
                    return  # an earlier push of ours landed although git reported a failure
                raise HistoryError(f"history git:{self.branch}: run {run_id} was appended to the "
                                   f"{self.where} by someone else meanwhile; a run is appended once")
            self._rebase(folder)
        raise HistoryError(f"history git:{self.branch}: could not push run {run_id} to the "
                           f"{self.where} after {self.tries} tries; last answer: {last}")

    def _rebase(self, folder: str) -> None:
        """Put our one commit on top of the fetched tip (a folder of its own: no conflict)."""
        done = self._git(["rebase", "--quiet", "FETCH_HEAD"], check=False, identity=True)
        if done.returncode == 0:
            return
        # Only a differing README.md of two branches born at once can get here: keep theirs.
        self._git(["rebase", "--abort"], check=False)
        ours = self._git(["rev-parse", "HEAD"]).stdout.strip()
        self._git(["reset", "--quiet", "--hard", "FETCH_HEAD"])
        self._git(["checkout", ours, "--", folder])
        tree = self._git(["write-tree"]).stdout.strip()
        message = self._git(["log", "-1", "--format=%B", ours]).stdout.strip()
        commit = self._git(["commit-tree", tree, "-p", "FETCH_HEAD", "-m", message],
                           identity=True).stdout.strip()
        self._git(["update-ref", "--no-deref", "HEAD", commit])

    def _sync_once(self) -> None:
        if not self._synced:
            with self._locked():
                self._sync()

    def _sync(self) -> str:
        """Make the worktree the remote branch's tip (empty when there is none); return the tip."""
        tip = self._remote_tip()
        self._ensure_worktree()
        self._clear_stale_state()
        if tip:
            head = self._git(["rev-parse", "HEAD"], check=False).stdout.strip()
            if head != tip:
                self._fetch()
            self._git(["reset", "--quiet", "--hard", tip])
        else:
            self._git(["read-tree", "--empty"])
        self._git(["clean", "-ffdxq"])
        self._synced = True
        return tip

    def _clear_stale_state(self) -> None:
        """Remove what a killed dtf left in the private worktree's git folder.

        Only ever called under :meth:`_locked`, so no live git works in this worktree: an
        ``index.lock`` or ``HEAD.lock`` from a kill -9 mid-``git add`` / ``update-ref``, or a
        half-done rebase, would otherwise make every later append fail.
        """
        found = self._git(["rev-parse", "--absolute-git-dir"], check=False)
        if found.returncode != 0 or not found.stdout.strip():
            return
        git_dir = Path(found.stdout.strip())
        for name in ("index.lock", "HEAD.lock"):
            (git_dir / name).unlink(missing_ok=True)
        for name in ("rebase-merge", "rebase-apply"):
            if (git_dir / name).exists():
                shutil.rmtree(git_dir / name, ignore_errors=True)

    def _remote_tip(self) -> str:
        """The branch's commit on the remote, '' when it has no such branch; raises if unreachable."""
        found = self._git(["ls-remote", "--exit-code", "--heads", self.remote,
                           f"refs/heads/{self.branch}"], cwd=self.repo_dir, check=False, network=True)
        if found.returncode == 2:
            return ""
        if found.returncode != 0:
            raise HistoryError(f"history git:{self.branch}: cannot reach remote '{self.remote}' to "
                               f"read or write the {self.where}: {found.stderr.strip()}")
        return found.stdout.split()[0]

    def _fetch(self) -> None:
        got = self._git(["fetch", "--quiet", "--no-tags", self.remote,
                         f"refs/heads/{self.branch}"], check=False, network=True)
        if got.returncode != 0:
            raise HistoryError(f"history git:{self.branch}: cannot fetch the {self.where}: "
                               f"{got.stderr.strip()}")

    def _ensure_worktree(self) -> None:
        wt = self._worktree
        if (wt / ".git").is_file() and self._git(["rev-parse", "--git-dir"], check=False).returncode == 0:
            return
        if wt.exists():
            shutil.rmtree(wt)
        (self._worktree.parent / "no-hooks").mkdir(parents=True, exist_ok=True)
        # A worktree needs a commit; an empty one that no ref keeps works in any repository.
        empty = self._git(["mktree"], cwd=self.repo_dir).stdout.strip()  # sha1 or sha256 repos
        start = self._git(["commit-tree", empty, "-m", "dtf history worktree"],
                          cwd=self.repo_dir, identity=True).stdout.strip()
        # --force twice: a worktree whose creation was killed stays registered and "locked".
        self._git(["worktree", "add", "--force", "--force", "--detach", "--quiet", str(wt), start],
                  cwd=self.repo_dir)

    def _exists(self, rev: str) -> bool:
        return self._git(["rev-parse", "--verify", "--quiet", rev], check=False).returncode == 0

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One dtf at a time per worktree on this machine (other machines race through push)."""
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; CI jobs do not share a checkout
            yield
            return
        with open(self._lock_path, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _git(self, args: list[str], *, cwd: Path | None = None, check: bool = True,
             identity: bool = False, network: bool = False) -> subprocess.CompletedProcess[str]:
        cwd = cwd or self._worktree
        # The user's hooks (pre-push linters) and signing setup are not for dtf's data commits.
        pre = ["git", "-c", "commit.gpgSign=false", "-c", "advice.detachedHead=false"]
        if self._hooks is not None:
            pre[1:1] = ["-c", f"core.hooksPath={self._hooks}"]
        if identity:
            pre += _identity_overrides(cwd)
        try:
            done = subprocess.run(pre + args, cwd=cwd, env=_env(), text=True, capture_output=True,
                                  stdin=subprocess.DEVNULL,
                                  timeout=NETWORK_TIMEOUT_S if network else 120)
        except FileNotFoundError as exc:
            missing = "git is not installed" if cwd.is_dir() else f"{cwd} does not exist"
            raise HistoryError(f"history git:{self.branch}: {missing}") from exc
        except subprocess.TimeoutExpired as exc:
            raise HistoryError(f"history git:{self.branch}: 'git {' '.join(args)}' did not finish "
                               f"in {exc.timeout:.0f} s (remote '{self.remote}')") from exc
        if check and done.returncode != 0:
            raise HistoryError(f"history git:{self.branch}: 'git {' '.join(args)}' failed: "
                               f"{done.stderr.strip()}")
        return done


def _identity_overrides(cwd: Path) -> list[str]:
    """dtf's name and e-mail for whatever the repository and environment leave unset."""
    out: list[str] = []
    for key, envs, value in (("user.name", ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"), DTF_NAME),
                             ("user.email", ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"), DTF_EMAIL)):
        if all(os.environ.get(e) for e in envs):
            continue
        found = subprocess.run(["git", "config", "--get", key], cwd=cwd, env=_env(), text=True,
                               capture_output=True, stdin=subprocess.DEVNULL)
        if found.returncode != 0 or not found.stdout.strip():
            out += ["-c", f"{key}={value}"]
    return out


def _env() -> dict[str, str]:
    """The environment for git: no inherited repository overrides, no prompts, C messages."""
    drop = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY",
            "GIT_NAMESPACE", "GIT_PREFIX")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update({"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"})
    return env


class _WorktreeStore(LocalStore):
    """The worktree read as a folder store; its repair advice is about the branch."""

    def __init__(self, root: Path, *, label: str, branch: str) -> None:
        super().__init__(root, label=label)
        self._branch = branch

    def delete_hint(self, folder: Path) -> str:
        return (f"remove it from branch '{self._branch}' (git rm -r {shlex.quote('runs/' + folder.name)}, commit, "
                "push)")
