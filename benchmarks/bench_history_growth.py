"""History growth on the git-branch store: repository size, fetch time and the aggregate's read.

    python benchmarks/bench_history_growth.py                 # 60 runs x 2,000 series (minutes)
    python benchmarks/bench_history_growth.py --quick         # 15 runs x 500 series
    python benchmarks/bench_history_growth.py --runs 1000 --series 20000   # the issue's year (hours, GBs)

Simulates default-branch runs appended through dtf's own GitBranchStore to a local bare
remote (each append: ls-remote, fetch, commit, push), 5 samples per series per run with
noise, like `dtf aggregate --history git:dtf-data` on main. Then it measures what a fresh CI
job pays: a clone of the default branch plus the fetch of the history branch (what the
store does on its first read), the bare remote's size, and `series_history` over the
baseline window (30 runs) against reading every run. Figures for the issue's 1,000 runs x
20,000 series are extrapolated linearly from the measured per-run growth and printed as such.
Prints the machine line and the load average: on a shared 2-core machine times are inflated.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import load, machine  # noqa: E402

BRANCH = "dtf-data"
ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com", "LC_ALL": "C"}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=ENV, text=True, capture_output=True)
    if done.returncode != 0:
        sys.exit(f"git {' '.join(args)}: {done.stderr}")
    return done.stdout.strip()


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def source_db(path: Path, run_id: str, n_series: int, rng: random.Random, drift: float) -> Path:
    """A merged.duckdb like aggregate's: one unit per task, 5 samples per series."""
    import duckdb

    from dtf_ci.shard import create_tables

    con = duckdb.connect(str(path))
    create_tables(con)
    con.execute("INSERT INTO hosts VALUES ('h1', 'box', 'cpu', 'linux', 'x86_64', 'EPYC', 2, 4.0, "
                "'[\"linux\"]', '{\"arch\": \"x86_64\"}', NULL)")
    tasks = n_series // 4
    con.execute(f"SELECT setseed({rng.random() - 0.5})")
    con.execute("""
        INSERT INTO units
        SELECT $run, t || '-w1-1', printf('task%05d@', i) || t, printf('task%05d', i), t, 'h1', 'passed',
               '', '', 1, 5, NULL, 1.0, 1.0, 10.0, 0, '', NULL, NULL
        FROM range($n) r(i), (VALUES ('cpu'), ('a100'), ('h100'), ('mac')) v(t)""", {"run": run_id, "n": tasks})
    con.execute("""
        INSERT INTO samples
        SELECT $run, t || '-w1-1', printf('task%05d', i), t, 'h1', 'real_time', 's', 'lower', rep,
               1e-3 * (1 + i % 97) * $drift * (1 + 0.04 * (random() - 0.5))
        FROM range($n) r(i), (VALUES ('cpu'), ('a100'), ('h100'), ('mac')) v(t), range(5) k(rep)""",
                {"run": run_id, "n": tasks, "drift": drift})
    con.close()
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="15 runs x 500 series")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--series", type=int)
    args = ap.parse_args()
    runs = args.runs or (15 if args.quick else 60)
    n_series = args.series or (500 if args.quick else 2000)
    for line in machine():
        print(line)
    from dtf_ci.history import open_history, series_history

    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bare = work / "remote.git"
        git(work, "init", "--quiet", "--bare", "-b", "main", str(bare))
        seed = work / "seed"
        git(work, "clone", "--quiet", str(bare), str(seed))
        (seed / "app.py").write_text("print('hi')\n")
        git(seed, "add", "app.py")
        git(seed, "commit", "--quiet", "-m", "app")
        git(seed, "push", "--quiet", "origin", "HEAD:main")
        appends = []
        for r in range(runs):
            run_id = f"run-{r:05d}"
            db = source_db(work / f"{run_id}.duckdb", run_id, n_series, rng, 1.0 + 0.0005 * r)
            meta = {"run-id": run_id, "created-at": f"2026-{1 + r * 12 // max(runs, 1):02d}-01T10:00:00Z",
                    "sha": f"{r:040x}", "ref": "refs/heads/main", "branch": "main", "event": "push",
                    "provider": "github", "suite-sha256": "d" * 64, "counts": {}}
            t0 = time.perf_counter()
            open_history(f"git:{BRANCH}", repo_dir=seed).append(meta, db)
            appends.append(time.perf_counter() - t0)
            db.unlink()
        size = du(bare)
        git(bare, "gc", "--quiet")
        size_gc = du(bare)
        # a fresh CI job: clone the default branch (depth 1, like actions/checkout), then the store fetches history
        fresh = work / "fresh"
        t0 = time.perf_counter()
        git(work, "clone", "--quiet", "--depth", "1", bare.as_uri(), str(fresh))
        git(fresh, "remote", "set-url", "origin", str(bare))
        t_clone = time.perf_counter() - t0
        store = open_history(f"git:{BRANCH}", repo_dir=fresh)
        t0 = time.perf_counter()
        all_runs = store.runs()
        t_fetch = time.perf_counter() - t0
        t0 = time.perf_counter()
        window = series_history(store, max_runs=30, branch="main")
        t_window = time.perf_counter() - t0
        t0 = time.perf_counter()
        everything = series_history(store, max_runs=len(all_runs), branch="main")
        t_all = time.perf_counter() - t0
        tip_files = sum(1 for _ in (store.root() / "runs").rglob("*.parquet"))
        shutil.rmtree(fresh)
    per_run = size_gc / runs
    scale = 20_000 / n_series
    print(f"simulated: {runs} default-branch runs x {n_series} series x 5 samples, appended with GitBranchStore")
    print(f"append: median {statistics.median(appends):.2f} s, last 10 median {statistics.median(appends[-10:]):.2f} s")
    print(f"bare remote: {size / 1e6:.1f} MB ({size_gc / 1e6:.1f} MB after git gc): {per_run / 1e3:.0f} kB per run; "
          f"{tip_files} Parquet files at the branch tip")
    print(f"fresh job: clone --depth 1 of main {t_clone:.2f} s; first history read (ls-remote + fetch of the "
          f"whole branch + checkout) {t_fetch:.2f} s for {len(all_runs)} runs")
    print(f"series_history: baseline window of 30 runs {t_window:.2f} s ({len(window)} series); "
          f"all {len(all_runs)} runs {t_all:.2f} s ({len(everything)} series)")
    print(f"extrapolated (linear, not measured) to 1,000 runs x 20,000 series: branch ~{per_run * scale * 1000 / 1e9:.2f} GB "
          f"packed; fetch ~{t_fetch / size_gc * per_run * scale * 1000:.0f} s at this fetch rate (fixed costs included: an upper bound); "
          f"the aggregate's read stays at the 30-run window: ~{t_window * scale:.1f} s")
    print(f"load now {load()} (times are inflated whenever the load exceeds the core count)")


if __name__ == "__main__":
    main()
