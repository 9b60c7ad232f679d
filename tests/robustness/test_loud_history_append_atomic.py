"""Issue 9, item 12: a history append is atomic per run id, and kill -9 never half-writes it.

Two aggregates with the same run id used to share one ``.tmp-RUNID`` folder (the second
deleted the first's files while it wrote them): 3 of 10 tries corrupted the run. Now the
second is refused once the first landed. And a writer killed (-9, with its git children) at
any of at least 50 random moments leaves history that readers take as whole runs or nothing,
and that the next append of the same run repairs.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from dtf_ci.errors import HistoryError
from dtf_ci.history import LocalStore, open_history
from dtf_ci.shard import write_shard

ZYGOTE = Path(__file__).with_name("loud_append_zygote.py")
KILLS = 50


def _source_db(tmp: Path, name: str, value: float, rows: int = 400) -> Path:
    """A merged-run DuckDB file with ``rows`` samples, every one equal to ``value``."""
    out = tmp / f"src-{name}"
    samples = [("r", "s1", "t", "local", "h1", f"m{i % 20}", "s", "lower", i, value) for i in range(rows)]
    units = [("r", "s1", "t@local", "t", "local", "h1", "passed", "", "", 1, 1,
              "2026-01-01 00:00:00", 1.0, 1.0, 10.0, 0, "")]
    write_shard(out, run_id="r", shard_id="s1", meta={"target": "local"},
                hosts=[("h1", "box", "local", "linux", "x86_64", "cpu", 2, 8.0, "[]", "{}")],
                units=units, samples=samples)
    return out / "s1.duckdb"


class Zygote:
    """One warm fork server (see loud_append_zygote.py)."""

    def __init__(self, cwd: Path) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen([sys.executable, str(ZYGOTE)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=cwd, env=env)

    def start(self, **req: str) -> int:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line.startswith("pid "), line
        return int(line.split()[1])

    def wait(self) -> int:
        assert self.proc.stdout
        line = self.proc.stdout.readline()
        assert line.startswith("exit "), line
        return int(line.split()[1])

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # it finished first
        os.killpg(pid, signal.SIGKILL)


def _check_whole(folder: Path, value: float | None = None) -> dict:
    """A run readers see must be whole: run.json, every table readable, row counts as written."""
    meta = json.loads((folder / "run.json").read_text())
    con = duckdb.connect()
    try:
        for table, rows in meta["rows"].items():
            quoted = str(folder / f"{table}.parquet").replace("'", "''")
            got = con.execute(f"SELECT count(*) FROM read_parquet('{quoted}')").fetchone()[0]
            assert got == rows, (folder, table, got, rows)
        if value is not None:
            quoted = str(folder / "samples.parquet").replace("'", "''")
            assert con.execute(f"SELECT DISTINCT value FROM read_parquet('{quoted}')").fetchall() == [(value,)]
    finally:
        con.close()
    return meta


def _kill_at_random_moments(tmp_path: Path, store: str, root: Path, reader, repair, **extra: str) -> int:
    db = _source_db(tmp_path, "a", 1.0)
    zygote = Zygote(tmp_path)
    rng = random.Random(int(os.environ.get("DTF_KILL_SEED", "9")))
    try:
        durations = []
        for i in range(3):  # how long one whole append takes here, now
            t0 = time.monotonic()
            zygote.start(store=store, root=str(root), run_id=f"warm-{i}", db=str(db), writer="A",
                         result=str(tmp_path / "res"), **extra)
            assert zygote.wait() == 0 and (tmp_path / "res").read_text() == "ok"
            durations.append(time.monotonic() - t0)
        span = statistics.median(durations)
        killed = attempts = 0
        while killed < KILLS and attempts < 4 * KILLS:
            attempts += 1
            run_id = f"run-{attempts}"
            pid = zygote.start(store=store, root=str(root), run_id=run_id, db=str(db), writer="A",
                               result=str(tmp_path / "res"), **extra)
            time.sleep(rng.uniform(0.0, span))
            _kill(pid)
            if zygote.wait() == -signal.SIGKILL:
                killed += 1
            seen = reader()  # a reader right after the kill: the run whole, or not at all
            if run_id in seen:
                _check_whole(seen[run_id], 1.0)
            if run_id not in seen:
                repair(run_id, db)  # the next attempt of the same run lands, whole
                assert run_id in reader()
            else:
                with pytest.raises(HistoryError, match="appended once"):
                    repair(run_id, db)
        assert killed >= KILLS, f"only {killed} of {attempts} kills landed during an append"
        final = reader()
        assert set(final) >= {f"run-{i}" for i in range(1, attempts + 1)}
        for folder in final.values():
            _check_whole(folder, 1.0)
        return killed
    finally:
        zygote.close()


@pytest.mark.slow
def test_kill_9_at_50_random_moments_never_half_writes_the_folder_store(tmp_path) -> None:
    root = tmp_path / "history"

    def reader() -> dict[str, Path]:
        return {r.run_id: r.path for r in LocalStore(root).runs()}

    def repair(run_id: str, db: Path) -> None:
        LocalStore(root).append({"run-id": run_id, "created-at": "2026-12-06T08:00:00Z"}, db)

    _kill_at_random_moments(tmp_path, "local", root, reader, repair)
    leftovers = [p.name for p in (root / "runs").iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []  # every repair removed its run's stale copy


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.mark.slow
@pytest.mark.integration
def test_kill_9_at_50_random_moments_never_half_writes_the_git_branch_store(tmp_path) -> None:
    remote = tmp_path / "remote.git"
    _git("init", "-q", "--bare", str(remote), cwd=tmp_path)
    writer = tmp_path / "writer"
    _git("clone", "-q", str(remote), str(writer), cwd=tmp_path)
    reader_repo = tmp_path / "reader"
    _git("clone", "-q", str(remote), str(reader_repo), cwd=tmp_path)

    def reader() -> dict[str, Path]:
        store = open_history("git:dtf-data", repo_dir=reader_repo)
        runs = store.runs()
        store.materialize(runs)  # the git store fetches a run's files only when asked for them
        return {r.run_id: r.path for r in runs}

    def repair(run_id: str, db: Path) -> None:
        open_history("git:dtf-data", repo_dir=writer).append(
            {"run-id": run_id, "created-at": "2026-12-06T08:00:00Z"}, db)

    _kill_at_random_moments(tmp_path, "git", writer, reader, repair, branch="dtf-data")
    # the remote branch holds only whole run folders
    tree = _git("ls-tree", "-r", "--name-only", "dtf-data", cwd=remote).split()
    runs: dict[str, set[str]] = {}
    for path in tree:
        if path.startswith("runs/"):
            _, rid, name = path.split("/", 2)
            runs.setdefault(rid, set()).add(name)
    assert runs and all(names == {"run.json", "samples.parquet", "units.parquet", "hosts.parquet"}
                        for names in runs.values())


def test_two_aggregates_with_one_run_id_one_lands_whole_the_other_is_refused(tmp_path) -> None:
    root = tmp_path / "history"
    dbs = {"A": _source_db(tmp_path, "A", 1.0, rows=3000), "B": _source_db(tmp_path, "B", 2.0, rows=3000)}
    zygotes = {w: Zygote(tmp_path) for w in dbs}
    try:
        for attempt in range(10):
            run_id = f"same-{attempt}"
            for w, z in zygotes.items():
                z.start(store="local", root=str(root), run_id=run_id, db=str(dbs[w]), writer=w,
                        result=str(tmp_path / f"res-{w}"))
            assert [z.wait() for z in zygotes.values()] == [0, 0]
            results = {w: (tmp_path / f"res-{w}").read_text() for w in dbs}
            assert sorted(r.split(":")[0] for r in results.values()) == ["ok", "refused"], results
            loser = next(w for w, r in results.items() if r != "ok")
            assert "a run is appended once" in results[loser] and run_id in results[loser]
            winner = next(w for w, r in results.items() if r == "ok")
            meta = _check_whole(root / "runs" / run_id, 1.0 if winner == "A" else 2.0)
            assert meta["writer"] == winner  # run.json and every table from the same writer
    finally:
        for z in zygotes.values():
            z.close()
    assert [r.run_id for r in LocalStore(root).runs()] == [f"same-{i}" for i in range(10)]
