"""History on a git branch, against real git: a bare repository as the remote, several clones.

Nothing is mocked: appends commit and push for real, races are real concurrent pushes (a
server-side hook holds each push until both have arrived, so they are based on the same tip
and one must be rejected and rebased).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import duckdb
import pytest

from dtf_ci.errors import HistoryError
from dtf_ci.history import open_history, series_history
from dtf_ci.history_git import GitBranchStore
from dtf_ci.shard import create_tables

pytestmark = pytest.mark.integration

BRANCH = "dtf-data"


def git(cwd: Path, *args: str, check: bool = True) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.com", "LC_ALL": "C"}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, text=True, capture_output=True)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {done.stderr}")
    return done.stdout.strip()


def make_source_db(path: Path, run_id: str, value: float = 1.0) -> Path:
    """A merged.duckdb with the tables of docs/file-formats.md, one unit and three samples."""
    con = duckdb.connect(str(path))
    create_tables(con)  # the shard tables, as dtf writes them
    con.execute("INSERT INTO hosts VALUES ('h1', 'box', 'cpu', 'linux', 'x86_64', 'Xeon', 2, 4.0, "
                "'[\"linux\"]', '{\"arch\": \"x86_64\"}', NULL)")
    con.execute("INSERT INTO units VALUES (?, 'cpu-w1-1', 'sort@cpu', 'sort', 'cpu', 'h1', 'passed', "
                "'', '', 1, 3, TIMESTAMP '2026-11-25 10:00:00', 2.5, 2.0, 10.0, 0, '', NULL, NULL)", [run_id])
    for rep in range(3):
        con.execute("INSERT INTO samples VALUES (?, 'cpu-w1-1', 'sort', 'cpu', 'h1', 'sort_10k', 's', "
                    "'lower', ?, ?, 'head')", [run_id, rep, value + rep])
    con.close()
    return path


def meta(run_id: str, minute: int) -> dict[str, object]:
    return {"run-id": run_id, "created-at": f"2026-11-25T10:{minute:02d}:00Z", "sha": "c" * 40,
            "ref": "refs/heads/main", "branch": "main", "event": "push", "provider": "github",
            "suite-sha256": "d" * 64, "counts": {}}


@pytest.fixture(autouse=True)
def no_user_git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Like a fresh CI runner: no global identity, so dtf's own applies unless a repo sets one."""
    (tmp_path / "gitconfig").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("AUTHOR", "COMMITTER"):
        monkeypatch.delenv(f"GIT_{name}_NAME", raising=False)
        monkeypatch.delenv(f"GIT_{name}_EMAIL", raising=False)


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare repository with a main branch, standing in for GitHub."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", str(bare), str(seed))
    (seed / "app.py").write_text("print('hi')\n")
    git(seed, "add", "app.py")
    git(seed, "commit", "--quiet", "-m", "app")
    git(seed, "push", "--quiet", "origin", "HEAD:main")
    return bare


def clone(remote: Path, where: Path, *, shallow: bool = False) -> Path:
    if shallow:  # what actions/checkout makes by default (fetch-depth: 1)
        git(where.parent, "clone", "--quiet", "--depth", "1", remote.as_uri(), str(where))
        git(where, "remote", "set-url", "origin", str(remote))
    else:
        git(where.parent, "clone", "--quiet", str(remote), str(where))
    return where


def remote_runs(remote: Path) -> list[str]:
    listing = git(remote, "ls-tree", "--name-only", f"{BRANCH}:runs")
    return sorted(listing.splitlines())


def user_state(repo: Path) -> tuple[str, str, str, str]:
    return (git(repo, "rev-parse", "--abbrev-ref", "HEAD"), git(repo, "rev-parse", "HEAD"),
            git(repo, "status", "--porcelain", "--untracked-files=all"),
            git(repo, "branch", "--list"))


def test_first_append_creates_an_orphan_branch_and_leaves_the_user_alone(
        tmp_path: Path, remote: Path) -> None:
    a = clone(remote, tmp_path / "a")
    (a / "app.py").write_text("print('work in progress')\n")  # the user's uncommitted change
    (a / "notes.txt").write_text("untracked\n")
    before = user_state(a)

    store = open_history(f"git:{BRANCH}", repo_dir=a)
    assert isinstance(store, GitBranchStore)
    assert store.runs() == []  # no branch yet: an empty history, not an error
    info = store.append(meta("r1", 1), make_source_db(tmp_path / "r1.duckdb", "r1"))

    assert info.run_id == "r1" and info.path == store.root() / "runs" / "r1"
    assert remote_runs(remote) == ["r1"]
    log = git(remote, "log", "--format=%s|%an|%ae|%P", BRANCH).splitlines()
    assert len(log) == 1
    subject, name, email, parents = log[0].split("|")
    assert subject == "dtf: add run r1" and parents == ""  # an orphan: no parent, no app code
    assert (name, email) == ("dtf", "dtf@users.noreply.github.com")
    files = git(remote, "ls-tree", "-r", "--name-only", BRANCH).splitlines()
    assert sorted(files) == ["README.md", "runs/r1/hosts.parquet", "runs/r1/run.json",
                             "runs/r1/samples.parquet", "runs/r1/units.parquet"]
    readme = git(remote, "show", f"{BRANCH}:README.md")
    assert "DuckDB" in readme and "read_parquet" in readme
    run_json = json.loads(git(remote, "show", f"{BRANCH}:runs/r1/run.json"))
    assert run_json["schema"] == "dtf.history-run/1" and run_json["sha"] == "c" * 40

    assert user_state(a) == before  # same branch, same commit, same dirty files
    assert (a / "app.py").read_text() == "print('work in progress')\n"
    assert not (a / "runs").exists()
    assert store.root().resolve().is_relative_to((a / ".git").resolve())

    # The same run again is refused, and nothing is pushed.
    head = git(remote, "rev-parse", BRANCH)
    with pytest.raises(HistoryError, match="already"):
        store.append(meta("r1", 2), make_source_db(tmp_path / "r1b.duckdb", "r1", value=9.0))
    assert git(remote, "rev-parse", BRANCH) == head


def test_sequential_appends_from_two_clones_both_land(tmp_path: Path, remote: Path) -> None:
    a = clone(remote, tmp_path / "a")
    b = clone(remote, tmp_path / "b", shallow=True)
    hook = a / ".git" / "hooks" / "pre-push"  # the user's own hooks are not run for data commits
    hook.write_text("#!/bin/sh\necho 'lint failed' >&2\nexit 1\n")
    hook.chmod(0o755)
    store_a = open_history(f"git:{BRANCH}", repo_dir=a)
    store_b = open_history(f"git:{BRANCH}", repo_dir=b)
    store_a.append(meta("r1", 1), make_source_db(tmp_path / "r1.duckdb", "r1", 1.0))
    git(b, "config", "user.name", "Alice")  # a configured identity is kept
    git(b, "config", "user.email", "alice@example.com")
    store_b.append(meta("r2", 2), make_source_db(tmp_path / "r2.duckdb", "r2", 2.0))
    store_a.append(meta("r3", 3), make_source_db(tmp_path / "r3.duckdb", "r3", 3.0))
    assert remote_runs(remote) == ["r1", "r2", "r3"]
    authors = git(remote, "log", "--reverse", "--format=%an <%ae>", BRANCH).splitlines()
    assert authors == ["dtf <dtf@users.noreply.github.com>", "Alice <alice@example.com>",
                       "dtf <dtf@users.noreply.github.com>"]

    # A fresh reader (a PR job) sees all three, in order, without writing anything.
    c = clone(remote, tmp_path / "c")
    reader = open_history(f"git:{BRANCH}", repo_dir=c)
    assert [r.run_id for r in reader.runs()] == ["r1", "r2", "r3"]
    hist = series_history(reader)
    assert hist[("sort", "sort_10k", "cpu")] == [
        ("r1", 2.0, [1.0, 2.0, 3.0]), ("r2", 3.0, [2.0, 3.0, 4.0]), ("r3", 4.0, [3.0, 4.0, 5.0])]
    assert git(c, "rev-parse", "--abbrev-ref", "HEAD") == "main"


def test_a_committed_half_written_run_is_skipped_with_advice(
        tmp_path: Path, remote: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    a = clone(remote, tmp_path / "a")
    store = open_history(f"git:{BRANCH}", repo_dir=a)
    info = store.append(meta("r1", 1), make_source_db(tmp_path / "r1.duckdb", "r1"))
    # Someone commits a run folder by hand, without its run.json.
    c = clone(remote, tmp_path / "c")
    git(c, "checkout", "--quiet", BRANCH)
    (c / "runs" / "broken").mkdir()
    (c / "runs" / "broken" / "samples.parquet").write_bytes((info.path / "samples.parquet").read_bytes())
    git(c, "add", "runs")
    git(c, "commit", "--quiet", "-m", "by hand")
    git(c, "push", "--quiet", "origin", BRANCH)
    capsys.readouterr()

    reader = open_history(f"git:{BRANCH}", repo_dir=clone(remote, tmp_path / "d"))
    assert [r.run_id for r in reader.runs()] == ["r1"]
    assert [p.parent.name for p in reader.parquet_files("samples")] == ["r1"]
    err = capsys.readouterr().err
    assert "runs/broken" in err and "no run.json" in err and "git rm -r runs/broken" in err


HOLD_HOOK = """#!/bin/sh
# Hold every push until two pushes have arrived, so both are based on the same tip.
dir="{arrivals}"
mkdir -p "$dir" && touch "$dir/$$"
i=0
while [ "$(ls "$dir" | wc -l)" -lt 2 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
exit 0
"""


@pytest.mark.parametrize("branch_exists", [True, False], ids=["existing-branch", "new-branch"])
def test_two_racing_appends_both_land(tmp_path: Path, remote: Path, branch_exists: bool) -> None:
    a = clone(remote, tmp_path / "a")
    b = clone(remote, tmp_path / "b")
    if branch_exists:
        open_history(f"git:{BRANCH}", repo_dir=a).append(
            meta("r0", 0), make_source_db(tmp_path / "r0.duckdb", "r0"))
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(HOLD_HOOK.format(arrivals=tmp_path / "arrivals"))
    hook.chmod(0o755)

    stores = [GitBranchStore(a, BRANCH, backoff_s=0.05), GitBranchStore(b, BRANCH, backoff_s=0.05)]
    dbs = [make_source_db(tmp_path / f"{rid}.duckdb", rid) for rid in ("ra", "rb")]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def appender(i: int) -> None:
        try:
            start.wait()
            stores[i].append(meta(("ra", "rb")[i], 10 + i), dbs[i])
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=appender, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    expected = ["r0", "ra", "rb"] if branch_exists else ["ra", "rb"]
    assert remote_runs(remote) == expected
    assert sorted(s.push_attempts for s in stores) == [1, 2]  # one was rejected and rebased
    log = git(remote, "log", "--format=%H %P", BRANCH).splitlines()
    assert [len(line.split()) for line in log] == [2] * (len(expected) - 1) + [1]  # linear: rebased
    for repo in (a, b):
        assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
        assert git(repo, "status", "--porcelain") == ""


def test_unreachable_remote_raises_and_touches_nothing(tmp_path: Path, remote: Path) -> None:
    a = clone(remote, tmp_path / "a")
    git(a, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    (a / "app.py").write_text("dirty\n")
    before = user_state(a)
    worktrees = git(a, "worktree", "list")

    store = open_history(f"git:{BRANCH}", repo_dir=a)
    with pytest.raises(HistoryError) as caught:
        store.append(meta("r1", 1), make_source_db(tmp_path / "r1.duckdb", "r1"))
    message = str(caught.value)
    assert "origin" in message and BRANCH in message and "cannot reach" in message
    with pytest.raises(HistoryError, match="cannot reach remote 'origin'"):
        store.runs()
    assert user_state(a) == before
    assert git(a, "worktree", "list") == worktrees
    assert (a / "app.py").read_text() == "dirty\n"


def test_not_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="needs a git repository"):
        open_history(f"git:{BRANCH}", repo_dir=tmp_path)
    with pytest.raises(HistoryError, match="not a usable branch name"):
        open_history("git:bad..name", repo_dir=tmp_path)
