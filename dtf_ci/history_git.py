"""History on a git branch (``git:dtf-data``): the default store in CI.

A branch of the project's own repository needs no new service or secret: the job's token
already may push. The branch is checked out in a private worktree under the repository's git
folder (``.git/dtf-history/BRANCH``, detached HEAD), never in the user's worktree, so the
user's files, index and current branch are never touched; a worktree (not a separate clone)
shares the repository's config, so the credentials ``actions/checkout`` left there work.

Reading fetches only what is needed. The branch is fetched without file contents
(``--filter=blob:none``; ``--depth 1`` too when the repository is shallow, as CI checkouts
are), and the worktree is a sparse checkout holding only ``README.md`` and the runs' small
``run.json`` / months' ``runs.json``. A reader asks for the runs it will read
(:meth:`GitBranchStore.materialize`): their folders join the sparse set and git fetches just
their files, in one batch. So the aggregate step pays for its baseline window, not for a
year of history. The filter is given with the remote's URL rather than its name, so the
user's own ``git fetch origin`` keeps fetching everything (git records
``remote.URL.promisor`` in the repository's config for the objects it may fetch later).

An append writes the run folder with :class:`~dtf_ci.history.LocalStore` inside that
worktree and commits it with a private index (the branch's tree plus the new folder), then
pushes. A rejected push (another run landed first) is followed by a fetch and the same
commit made again on the new tip: runs are separate folders, so this never conflicts and
two runs appended at once both land. ``dtf history compact`` uses :meth:`GitBranchStore.rewrite_tip`:
one new commit on top of the tip, re-planned from the new tip when another writer won.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtf_ci.errors import HistoryError
from dtf_ci.history import LocalStore, _check_meta
from dtf_ci.history_files import MONTH_INDEX, MONTHS, TABLES, RunInfo

DTF_NAME = "dtf"
DTF_EMAIL = "dtf@users.noreply.github.com"
NETWORK_TIMEOUT_S = 600
BIG_FILE = "256k"

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

`dtf history compact` merges old runs into one folder per month (`months/YYYY-MM/`: the
same three Parquet files holding all of the month's runs, and `runs.json` listing them); every
row keeps its `run_id`, so `read_parquet(['runs/*/samples.parquet', 'months/*/samples.parquet'],
union_by_name = true)` reads both.

Do not edit the runs by hand; to drop a broken run, `git rm -r runs/RUNID` and push.
"""

#: What every reader needs: the runs' and months' small index files (sparse-checkout patterns).
BASE_PATTERNS = ("/README.md", "/runs/*/run.json", f"/{MONTHS}/*/{MONTH_INDEX}")


@dataclass
class TipChange:
    """What one commit on top of the branch's tip does: folders removed, files added."""

    message: str
    remove: list[str] = field(default_factory=list)  # folders (e.g. runs/RUNID) to delete
    add: dict[str, Path] = field(default_factory=dict)  # path in the tree -> file on disk


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
        self._wanted: set[str] = set()  # files (or run folders) checked out on top of BASE_PATTERNS
        self._holding = False  # this object holds the worktree lock (no nested locking)
        self._url = ""
        self._worktree_git: Path | None = None
        self._shallow: bool | None = None

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

    def materialize(self, runs: list[RunInfo], tables: tuple[str, ...] = TABLES) -> None:
        """Fetch and check out the ``tables`` files of ``runs``, nothing else, in one batch."""
        files = {(run.path / f"{t}.parquet").relative_to(self._worktree).as_posix()
                 for run in runs for t in tables}
        if files <= self._wanted:
            return
        with self._locked():
            if not self._synced:  # HEAD moved by our own push: the index must follow the tip first
                self._sync()
            self._wanted |= files
            self._write_sparse()
            self._git(["read-tree", "-mu", "HEAD"], sparse=True)  # fetches missing files in one batch
        missing = [f for f in sorted(files) if not (self._worktree / f).is_file()]
        if missing:
            raise HistoryError(f"history git:{self.branch}: {len(missing)} file(s) of the {self.where} "
                               f"could not be fetched (first: {missing[0]}); check that the remote "
                               "is reachable and run again")

    def append(self, run_meta: dict[str, Any], source_db: Path) -> RunInfo:
        """Commit the run on the branch and push it, re-committing over runs that landed first."""
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
            add = {f"{folder}/{f.name}": f for f in sorted(info.path.iterdir()) if f.is_file()}
            if not tip:
                add["README.md"] = readme
            commit = self._commit(tip, TipChange(f"dtf: add run {run_id}", add=add))
            self._git(["update-ref", "--no-deref", "HEAD", commit])
            self._push(run_id, folder)
            self._wanted.add(folder + "/")  # its files stay checked out; the next read syncs the tree
            self._synced = False
            return info

    def rewrite_tip(self, prepare: Callable[[LocalStore], TipChange | None]) -> str:
        """One new commit on top of the branch's tip, pushed without force; '' when nothing to do.

        ``prepare`` sees the synced tip (as a folder store whose runs it may materialize) and
        says what to change. A push rejected because another writer landed first is followed
        by a fresh sync and a fresh ``prepare``, so the change is always made on the newest
        tip: concurrent appends land, and a second compaction finds nothing left to do.
        """
        last = ""
        for attempt in range(1, self.tries + 1):
            self.push_attempts = attempt
            with self._locked():
                tip = self._sync()
                if not tip:
                    return ""
                change = prepare(self._local)
                if change is None:
                    return ""
                commit = self._commit(tip, change)
                pushed = self._git(["push", "--no-verify", "--quiet", self.remote,
                                    f"{commit}:refs/heads/{self.branch}"], check=False, network=True)
                if pushed.returncode == 0:
                    self._git(["update-ref", "--no-deref", "HEAD", commit])
                    self._synced = False
                    return commit
                last = (pushed.stderr or pushed.stdout).strip()
                now = self._remote_tip()
                if now == commit:
                    self._synced = False
                    return commit  # it landed although git reported a failure
                if now == tip:
                    raise HistoryError(f"history git:{self.branch}: the remote '{self.remote}' refused "
                                       f"the commit '{change.message}' on branch '{self.branch}': {last}")
            time.sleep(self.backoff_s * attempt * random.uniform(0.5, 1.5))
        raise HistoryError(f"history git:{self.branch}: could not push to the {self.where} after "
                           f"{self.tries} tries (other writers kept landing first); last answer: {last}. "
                           "Run it again; nothing was changed")

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
        """Make our one commit again on top of the fetched tip: its tree plus our run folder.

        Not ``git rebase``: the history may be fetched shallow, and a run is a folder of its
        own, so the new commit is simply the other writer's tree with our folder added (a
        README.md of two branches born at once is theirs).
        """
        ours = self._git(["rev-parse", "HEAD"]).stdout.strip()
        message = self._git(["log", "-1", "--format=%B", ours]).stdout.strip()
        theirs = self._git(["rev-parse", "FETCH_HEAD"]).stdout.strip()
        entries = self._git(["ls-tree", "-r", "--full-tree", ours, "--", folder]).stdout
        with self._private_index() as env:
            self._git(["read-tree", theirs], env=env)
            self._git(["update-index", "--index-info"], env=env, stdin=entries)
            tree = self._git(["write-tree"], env=env).stdout.strip()
        commit = self._git(["commit-tree", tree, "-p", theirs, "-m", message],
                           identity=True).stdout.strip()
        self._git(["update-ref", "--no-deref", "HEAD", commit])

    def _commit(self, tip: str, change: TipChange) -> str:
        """A commit on ``tip`` (none: a new branch) with ``change`` applied, via a private index."""
        with self._private_index() as env:
            self._git(["read-tree", tip] if tip else ["read-tree", "--empty"], env=env)
            if change.remove:
                self._git(["rm", "-r", "--cached", "--quiet", "--ignore-unmatch", "--", *change.remove],
                          env=env)
            added = sorted(change.add.items())
            oids = self._git(["hash-object", "-w", "--stdin-paths"], stdin="".join(
                f"{file}\n" for _, file in added)).stdout.split() if added else []
            lines = [f"100644 {oid}\t{path}\n" for (path, _), oid in zip(added, oids, strict=True)]
            if lines:
                self._git(["update-index", "--add", "--index-info"], env=env, stdin="".join(lines))
            tree = self._git(["write-tree"], env=env).stdout.strip()
        return self._git(["commit-tree", tree, "-m", change.message] + (["-p", tip] if tip else []),
                         identity=True).stdout.strip()

    @contextlib.contextmanager
    def _private_index(self) -> Iterator[dict[str, str]]:
        """An index file of our own: commits are built without touching the sparse worktree's."""
        index = self._git_dir() / f"dtf-index-{os.getpid()}"
        index.unlink(missing_ok=True)
        try:
            yield {"GIT_INDEX_FILE": str(index)}
        finally:
            index.unlink(missing_ok=True)

    def _sync_once(self) -> None:
        if not self._synced:
            with self._locked():
                self._sync()

    def _git_dir(self) -> Path:
        """The private worktree's own git folder (``.git/worktrees/NAME``)."""
        if self._worktree_git is None:
            self._worktree_git = Path(self._git(["rev-parse", "--absolute-git-dir"]).stdout.strip())
        return self._worktree_git

    def _write_sparse(self) -> None:
        git_dir = self._git_dir()
        (git_dir / "info").mkdir(exist_ok=True)
        patterns = list(BASE_PATTERNS) + [f"/{path}" for path in sorted(self._wanted)]
        (git_dir / "info" / "sparse-checkout").write_text("\n".join(patterns) + "\n", encoding="utf-8")

    def _sync(self) -> str:
        """Make the worktree the remote branch's tip (empty when there is none); return the tip."""
        tip = self._remote_tip()
        self._ensure_worktree()
        self._clear_stale_state()
        self._write_sparse()
        if tip:
            head = self._git(["rev-parse", "HEAD"], check=False).stdout.strip()
            if head != tip or not self._exists(f"{tip}^{{tree}}"):
                self._fetch()
            self._git(["reset", "--quiet", "--hard", tip], sparse=True)
            listing = self._git(["ls-tree", "-r", "--name-only", "--full-tree", tip]).stdout.splitlines()
        else:
            self._git(["read-tree", "--empty"])
            listing = []
        self._git(["clean", "-ffdxq"])
        self._local.set_listing(listing)
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
        for stale in git_dir.glob("dtf-index-*"):  # a killed writer's private index
            stale.unlink(missing_ok=True)
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
        """Fetch the branch's commits and trees, no file contents (those come on demand).

        By URL, not by remote name: git then records the promisor for that URL and leaves
        the user's remote (and their own fetches) as they were. Shallow (``--depth 1``) only
        in a repository that is shallow already, so a developer's full clone stays full.
        """
        if not self._url:
            found = self._git(["remote", "get-url", self.remote], cwd=self.repo_dir, check=False)
            url = found.stdout.strip() if found.returncode == 0 else self.remote
            if "://" not in url and not re.match(r"^[^/\\]+@[^:/]+:", url):  # a path: git names promisors by URL
                local = Path(url) if Path(url).is_absolute() else self.repo_dir / url
                url = local.resolve().as_uri() if local.exists() else url
            self._url = url
        if self._shallow is None:
            self._shallow = self._git(["rev-parse", "--is-shallow-repository"], cwd=self.repo_dir,
                                      check=False).stdout.strip() == "true"
        shallow = self._shallow
        got = self._git(["fetch", "--quiet", "--no-tags", "--filter=blob:none"]
                        + (["--depth", "1"] if shallow else []) + [self._url,
                         f"refs/heads/{self.branch}"], check=False, network=True)
        if got.returncode != 0:
            raise HistoryError(f"history git:{self.branch}: cannot fetch the {self.where}: "
                               f"{got.stderr.strip()}")

    def _ensure_worktree(self) -> None:
        wt = self._worktree
        if (wt / ".git").is_file() and self._git(["rev-parse", "--git-dir"], check=False).returncode == 0:
            return
        self._worktree_git = None
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
        if self._holding:
            yield
            return
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; CI jobs do not share a checkout
            yield
            return
        with open(self._lock_path, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            self._holding = True
            try:
                yield
            finally:
                self._holding = False
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _git(self, args: list[str], *, cwd: Path | None = None, check: bool = True,
             identity: bool = False, network: bool = False, sparse: bool = False,
             env: dict[str, str] | None = None, stdin: str | None = None,
             ) -> subprocess.CompletedProcess[str]:
        cwd = cwd or self._worktree
        # The user's hooks (pre-push linters) and signing setup are not for dtf's data commits.
        pre = ["git", "-c", "commit.gpgSign=false", "-c", "advice.detachedHead=false",
               # Parquet is compressed already: no delta search on it (a month file is tens of MB)
               "-c", f"core.bigFileThreshold={BIG_FILE}"]
        if self._hooks is not None:
            pre[1:1] = ["-c", f"core.hooksPath={self._hooks}"]
        if sparse:  # the private worktree's checkout only: never written to the shared config
            pre += ["-c", "core.sparseCheckout=true", "-c", "core.sparseCheckoutCone=false"]
        if identity:
            pre += _identity_overrides(cwd)
        # A checkout may fetch the files it lacks from the remote: a network operation.
        slow = network or sparse
        try:
            done = subprocess.run(pre + args, cwd=cwd, env={**_env(), **(env or {})}, text=True,
                                  capture_output=True,
                                  input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                                  timeout=NETWORK_TIMEOUT_S if slow else 120)
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
        self._tree: dict[str, set[str]] = {}  # folder (runs/X, months/M) -> its file names

    def set_listing(self, paths: list[str]) -> None:
        """The branch tip's files: folders are found here, not on the (sparse) disk."""
        tree: dict[str, set[str]] = {}
        for path in paths:
            parts = path.split("/")
            if len(parts) >= 3 and parts[0] in ("runs", MONTHS):
                tree.setdefault(f"{parts[0]}/{parts[1]}", set()).add("/".join(parts[2:]))
        self._tree = tree

    def _subfolders(self, where: str) -> list[Path]:
        return [self.root() / name for name in sorted(self._tree) if name.split("/")[0] == where]

    def _listing(self, folder: Path) -> set[str] | None:
        return self._tree.get(folder.relative_to(self.root()).as_posix(), set())

    def delete_hint(self, folder: Path) -> str:
        return (f"remove it from branch '{self._branch}' (git rm -r {shlex.quote('runs/' + folder.name)}, commit, "
                "push)")
