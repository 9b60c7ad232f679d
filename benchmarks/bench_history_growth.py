"""History growth on the git-branch store: repository size, fetch time, aggregate time, compaction.

    python benchmarks/bench_history_growth.py                          # 120 runs x 2,000 series (minutes)
    python benchmarks/bench_history_growth.py --quick                  # 40 runs x 500 series
    python benchmarks/bench_history_growth.py --runs 1000 --series 20000   # the issue's year (GBs of disk)

Builds a year of default-branch runs (spread evenly over 2026) on a local bare remote that
serves partial fetches like GitHub does (``uploadpack.allowFilter``). The first runs are
written in bulk: each run's Parquet files are made with DuckDB in the layout
``GitBranchStore.append`` writes (same tables, same columns, zstd), and committed one commit
per run with ``git fast-import``, so the branch has the shape a year of appends gives it; the
last 3 runs are appended through dtf's own ``GitBranchStore`` (ls-remote, fetch, commit, push)
to time an append at that size. 5 samples per series per run, with noise.

Then, before and after ``dtf history compact`` (run as a CLI process in another clone), it
measures what a fresh CI job pays: a ``--depth 1`` clone of the default branch (what
``actions/checkout`` does); the store's first read (ls-remote, partial fetch of the branch,
checkout of the ``run.json`` files); fetching and reading the baseline window (30 runs), as
``series_history`` does for the aggregate step; the object bytes the job ended up holding;
and the whole ``dtf aggregate`` process on run N+1 (4 shards holding the same series, history
read from the branch, nothing appended). For comparison: the full fetch of the branch that
dtf did before partial fetches. Prints the machine line and the load average: on a shared
2-core machine times are inflated.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import load, machine  # noqa: E402

BRANCH = "dtf-data"
TARGETS = ("cpu", "a100", "h100", "mac")
WINDOW = 30
ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com", "LC_ALL": "C",
       "PYTHONPATH": str(ROOT)}
START = datetime(2026, 1, 1, 6, 0, tzinfo=timezone.utc)


def git(cwd: Path, *args: str, stdin: Any = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=ENV, text=True, capture_output=True, stdin=stdin)
    if done.returncode != 0:
        sys.exit(f"git {' '.join(args)}: {done.stderr}")
    return done.stdout.strip()


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def created(r: int, runs: int) -> str:
    return (START + timedelta(days=365 * r / runs)).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_meta(run_id: str, r: int, runs: int) -> dict[str, Any]:
    return {"run-id": run_id, "created-at": created(r, runs), "sha": f"{r + 1:040x}",
            "ref": "refs/heads/main", "branch": "main", "event": "push", "provider": "github",
            "suite-sha256": "d" * 64, "counts": {}, "overall": "unchanged"}


def fill_tables(con: Any, run_id: str, n_series: int, r: int) -> None:
    """The merged tables of one run: one unit per task and target, 5 samples per series."""
    tasks = n_series // len(TARGETS)
    for table in ("samples", "units", "hosts"):
        con.execute(f"DELETE FROM {table}")
    for t in TARGETS:
        con.execute("INSERT INTO hosts VALUES (?, ?, ?, 'linux', 'x86_64', 'EPYC', 16, 64.0, "
                    "'[\"linux\"]', '{\"arch\": \"x86_64\"}', NULL)", [f"h-{t}", f"box-{t}", t])
    targets = "(VALUES " + ", ".join(f"('{t}')" for t in TARGETS) + ") v(t)"
    con.execute(f"SELECT setseed({(r % 1000) / 1000 - 0.5})")
    con.execute(f"""
        INSERT INTO units
        SELECT $run, t || '-w1-1', printf('task%05d@', i) || t, printf('task%05d', i), t, 'h-' || t,
               'passed', '', '', 1, 5, NULL, 1.0, 1.0, 10.0, 0, '', NULL, NULL
        FROM range($n) r(i), {targets}""", {"run": run_id, "n": tasks})
    con.execute(f"""
        INSERT INTO samples
        SELECT $run, t || '-w1-1', printf('task%05d', i), t, 'h-' || t, 'real_time', 's', 'lower', rep,
               1e-3 * (1 + i % 97) * (1 + 0.0001 * $r) * (1 + 0.04 * (random() - 0.5)), 'head'
        FROM range($n) r(i), {targets}, range(5) k(rep)""", {"run": run_id, "n": tasks, "r": r})


def export(con: Any, folder: Path, run_id: str) -> dict[str, int]:
    """The run folder exactly as ``dtf_ci.history.export_tables`` writes it."""
    folder.mkdir(parents=True)
    rows = {}
    for table in ("samples", "units", "hosts"):
        cols = [c[0] for c in con.execute(f"DESCRIBE {table}").fetchall()]
        select = (f"SELECT * REPLACE ('{run_id}' AS run_id) FROM {table}" if "run_id" in cols
                  else f"SELECT '{run_id}' AS run_id, * FROM {table}")
        con.execute(f"COPY ({select}) TO '{folder / (table + '.parquet')}' (FORMAT parquet, COMPRESSION zstd)")
        rows[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return rows


def bulk_history(bare: Path, work: Path, runs: int, n_series: int) -> float:
    """Runs 0..runs-1 as one commit each on the branch, through git fast-import."""
    import duckdb

    from dtf_ci.history import RUN_SCHEMA
    from dtf_ci.history_git import README
    from dtf_ci.shard import create_tables

    con = duckdb.connect()
    create_tables(con)
    t0 = time.perf_counter()
    proc = subprocess.Popen(["git", "fast-import", "--quiet", "--done"], cwd=bare, env=ENV,
                            stdin=subprocess.PIPE)
    assert proc.stdin
    out = proc.stdin

    def blob(path: str, data: bytes) -> None:
        out.write(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")

    stamp = int(START.timestamp())
    for r in range(runs):
        run_id = f"run-{r:05d}"
        folder = work / "gen" / run_id
        fill_tables(con, run_id, n_series, r)
        rows = export(con, folder, run_id)
        meta = {"schema": RUN_SCHEMA, **run_meta(run_id, r, runs), "rows": rows}
        message = f"dtf: add run {run_id}".encode()
        out.write(f"commit refs/heads/{BRANCH}\ncommitter dtf <dtf@users.noreply.github.com> "
                  f"{stamp + r * 31536} +0000\ndata {len(message)}\n".encode() + message + b"\n")
        if r == 0:
            blob("README.md", README.format(branch=BRANCH).encode())
        blob(f"runs/{run_id}/run.json", (json.dumps(meta, indent=2) + "\n").encode())
        for table in ("hosts", "samples", "units"):
            blob(f"runs/{run_id}/{table}.parquet", (folder / f"{table}.parquet").read_bytes())
        out.write(b"\n")
        shutil.rmtree(folder)
        if r % 100 == 99:
            print(f"  generated {r + 1}/{runs} runs ({time.perf_counter() - t0:.0f} s)", flush=True)
    out.write(b"done\n")
    out.close()
    if proc.wait() != 0:
        sys.exit("git fast-import failed")
    con.close()
    return time.perf_counter() - t0


def shards(out: Path, run_id: str, n_series: int, r: int) -> Path:
    """Run N+1's result shards: one per target, the same series."""
    import duckdb

    from dtf_ci.shard import create_tables, write_shard

    con = duckdb.connect()
    create_tables(con)
    fill_tables(con, run_id, n_series, r)
    out.mkdir(parents=True)
    for t in TARGETS:
        sid = f"{t}-w1-1"
        rows = {table: con.execute(f"SELECT * FROM {table} WHERE target = ?",
                                   [t]).fetchall() for table in ("hosts", "units", "samples")}
        write_shard(out, run_id=run_id, shard_id=sid, meta={"target": t, "wave": "1", "suite-sha256": "d" * 64},
                    hosts=rows["hosts"], units=rows["units"], samples=rows["samples"])
    con.close()
    return out


def fresh_job(bare: Path, where: Path) -> dict[str, Any]:
    """What a fresh CI job pays to read the baseline window."""
    from dtf_ci.history import materialize, open_history, series_history

    t0 = time.perf_counter()
    git(where.parent, "clone", "--quiet", "--depth", "1", "--branch", "main", bare.as_uri(), str(where))
    t_clone = time.perf_counter() - t0
    store = open_history(f"git:{BRANCH}", repo_dir=where)
    t0 = time.perf_counter()
    runs = store.runs()
    t_first = time.perf_counter() - t0
    held_first = du(where / ".git" / "objects")
    window = [r for r in runs if r.branch == "main"][-WINDOW:]
    t0 = time.perf_counter()
    materialize(store, window)
    t_fetch_window = time.perf_counter() - t0
    t0 = time.perf_counter()
    series = series_history(store, max_runs=WINDOW, branch="main")
    t_read = time.perf_counter() - t0
    return {"clone": t_clone, "first": t_first, "fetch_window": t_fetch_window, "read": t_read,
            "series": len(series), "runs": len(runs), "held_first": held_first,
            "held": du(where / ".git" / "objects"), "compacted": sum(r.compacted for r in runs)}


def aggregate_job(bare: Path, where: Path, shard_dir: Path) -> tuple[float, str]:
    """The whole ``dtf aggregate`` process in a fresh shallow clone, history from the branch."""
    git(where.parent, "clone", "--quiet", "--depth", "1", "--branch", "main", bare.as_uri(), str(where))
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dtf_ci", "aggregate", "--shards", str(shard_dir),
                           "--history", f"git:{BRANCH}", "--report-dir", str(where.parent / f"{where.name}-report"),
                           "--append-history", "never", "--fail-on", "never"],
                          cwd=where, env=ENV, text=True, capture_output=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"dtf aggregate exited {done.returncode}: {done.stderr[-2000:]}")
    head = next((line for line in (where.parent / f"{where.name}-report" / "summary.md").read_text().splitlines()
                 if line.strip()), "")
    return wall, head[:120]


def full_fetch(bare: Path, where: Path) -> float:
    """What dtf did before partial fetches: every commit and every file of the branch."""
    git(where.parent, "clone", "--quiet", "--depth", "1", "--branch", "main", bare.as_uri(), str(where))
    t0 = time.perf_counter()
    git(where, "fetch", "--quiet", "--no-tags", bare.as_uri(), f"refs/heads/{BRANCH}")
    return time.perf_counter() - t0


def report(label: str, job: dict[str, Any], agg: tuple[float, str], bare_size: int) -> None:
    print(f"{label}: bare remote {bare_size / 1e6:.1f} MB; fresh job: clone --depth 1 of main {job['clone']:.2f} s; "
          f"first history read (ls-remote, partial fetch, run.json checkout) {job['first']:.2f} s for "
          f"{job['runs']} runs ({job['compacted']} in months); fetch of the {WINDOW}-run window "
          f"{job['fetch_window']:.2f} s; series_history read {job['read']:.2f} s ({job['series']} series); "
          f"objects held by the job {job['held_first'] / 1e6:.2f} MB after the first read, "
          f"{job['held'] / 1e6:.2f} MB with the window")
    print(f"{label}: dtf aggregate on the next run, whole process (history from the branch) {agg[0]:.1f} s — {agg[1]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="40 runs x 500 series")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--series", type=int)
    ap.add_argument("--workdir", type=Path, help="scratch folder (default: a temporary one)")
    args = ap.parse_args()
    runs = args.runs or (40 if args.quick else 120)
    n_series = args.series or (500 if args.quick else 2000)
    for line in machine():
        print(line)
    print(f"load at start {load()}")
    from dtf_ci.history import open_history

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        bare = work / "remote.git"
        git(work, "init", "--quiet", "--bare", "-b", "main", str(bare))
        git(bare, "config", "uploadpack.allowFilter", "true")  # GitHub and GitLab serve partial fetches
        seed = work / "seed"
        git(work, "clone", "--quiet", str(bare), str(seed))
        (seed / "app.py").write_text("print('hi')\n")
        git(seed, "add", "app.py")
        git(seed, "commit", "--quiet", "-m", "app")
        git(seed, "push", "--quiet", "origin", "HEAD:main")
        bulk = runs - 3
        t_bulk = bulk_history(bare, work, bulk, n_series)
        appends = []
        writer = work / "writer"
        git(work, "clone", "--quiet", "--depth", "1", "--branch", "main", bare.as_uri(), str(writer))
        git(writer, "remote", "set-url", "origin", str(bare))
        import duckdb

        from dtf_ci.shard import create_tables
        for r in range(bulk, runs):
            run_id = f"run-{r:05d}"
            db = work / f"{run_id}.duckdb"
            con = duckdb.connect(str(db))
            create_tables(con)
            fill_tables(con, run_id, n_series, r)
            con.close()
            t0 = time.perf_counter()
            open_history(f"git:{BRANCH}", repo_dir=writer).append(run_meta(run_id, r, runs), db)
            appends.append(time.perf_counter() - t0)
            db.unlink()
        size_before = du(bare)
        shard_dir = shards(work / "shards", "run-next", n_series, runs)
        print(f"simulated: {runs} default-branch runs x {n_series} series x 5 samples over 2026 "
              f"({bulk} written in bulk in {t_bulk:.0f} s, the last 3 appended with GitBranchStore: "
              f"median {statistics.median(appends):.2f} s each at this size)")
        t_full = full_fetch(bare, work / "full")
        shutil.rmtree(work / "full")
        print(f"before compaction: full fetch of the branch (all commits and files, what dtf did before) {t_full:.2f} s")
        job = fresh_job(bare, work / "job1")
        agg = aggregate_job(bare, work / "agg1", shard_dir)
        report("before compaction", job, agg, size_before)
        for f in ("job1", "agg1"):
            shutil.rmtree(work / f)

        compactor = work / "compactor"
        git(work, "clone", "--quiet", "--depth", "1", "--branch", "main", bare.as_uri(), str(compactor))
        git(compactor, "remote", "set-url", "origin", str(bare))
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "dtf_ci", "history", "compact", "--history",
                               f"git:{BRANCH}"], cwd=compactor, env=ENV, text=True, capture_output=True)
        t_compact = time.perf_counter() - t0
        if done.returncode != 0:
            sys.exit(f"dtf history compact exited {done.returncode}: {done.stderr[-2000:]}")
        shutil.rmtree(compactor)
        size_after = du(bare)
        tip_files = git(bare, "ls-tree", "-r", "--name-only", BRANCH).count(".parquet")
        print(f"dtf history compact (default --keep-runs {WINDOW}): {t_compact:.1f} s — {done.stdout.strip()}")
        print(f"after compaction: {tip_files} Parquet files at the tip; the bare remote grew by "
              f"{(size_after - size_before) / 1e6:.1f} MB (the month files; the runs' old files stay in "
              "the branch's past commits)")
        job = fresh_job(bare, work / "job2")
        agg = aggregate_job(bare, work / "agg2", shard_dir)
        report("after compaction", job, agg, size_after)
    print(f"load at end {load()} (times are inflated whenever the load exceeds the core count)")


if __name__ == "__main__":
    main()
