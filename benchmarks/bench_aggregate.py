"""Measure ``dtf aggregate`` on a large run: wall time, peak memory, and where the time goes.

    python benchmarks/bench_aggregate.py            # 256 shards, 1,000,000 samples, 20,000 series
    python benchmarks/bench_aggregate.py --quick    # 32 shards, 40,000 samples, 2,000 series

The data comes from ``benchmarks/gen_shards.py`` (written once into ``--workdir``, default
``/tmp/dtf-bench-aggregate[-quick]``, and reused while its parameters match): valid shards
written by ``dtf_ci.shard.write_shard``, a plan.json naming them, and a history of earlier
runs of the same series. Then:

1. ``dtf aggregate --shards DIR --plan plan.json --history H --report-dir R --fail-on never``
   in a fresh process (``--repeat`` times, median), each on a fresh copy of the history (the
   command appends this run to it, as on the main line). Wall time, and peak memory both as
   the largest sum of RSS over the process tree (psutil, polled every 50 ms) and as the
   kernel's ``ru_maxrss`` of the process (from ``os.wait4``).
2. One in-process ``dtf_ci.aggregate.aggregate(...)`` under cProfile: the top 20 functions
   by cumulative time (and 15 by own time), plus a table of the phases (merge, verify, read,
   history, decide, statistics, report, verdicts.json, append) taken from the profile.
   cProfile inflates pure-Python phases more than DuckDB ones, and DuckDB's methods
   (pybind11) are not listed: their time counts as their caller's own time.
3. With ``--phases``: one more in-process run without the profiler, each phase timed by a
   wrapper around its function (true wall times; adds about one aggregate's time).

The load average is printed with each figure: when it is above the core count, other
processes share the CPU and wall times are inflated; CPU seconds are less affected.

Targets (full size, this 2-core machine): under 15 s and under 2 GiB peak.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import load, machine  # noqa: E402
from gen_shards import FULL, QUICK, Layout, Params, generate  # noqa: E402

TARGET_S = 15.0
TARGET_GIB = 2.0
CI_VARIABLES = ("GITHUB_ACTIONS", "GITLAB_CI", "CI_API_V4_URL", "JENKINS_URL")


def machine_with_duckdb() -> list[str]:
    import duckdb

    return machine(f"; duckdb {duckdb.__version__}")


def fresh_history(lay: Layout, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(lay.history, dest)
    return dest


def tree_rss(proc: Any) -> int:
    import psutil

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def timed_command(lay: Layout, work: Path) -> dict[str, Any]:
    """Run the real command once; wall time, peak tree RSS (polled), ru_maxrss, exit code."""
    import psutil

    history = fresh_history(lay, work / "history-copy")
    report = work / "report"
    shutil.rmtree(report, ignore_errors=True)
    cmd = [sys.executable, "-m", "dtf_ci", "aggregate", "--shards", str(lay.shards),
           "--plan", str(lay.plan), "--history", str(history), "--report-dir", str(report),
           "--fail-on", "never"]
    env = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
    log_path = work / "aggregate.log"
    peak = 0
    with open(log_path, "w") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        ps = psutil.Process(proc.pid)
        done = threading.Event()
        result: dict[str, Any] = {}

        def wait() -> None:
            _, status, usage = os.wait4(proc.pid, 0)
            result["wall"] = time.perf_counter() - start
            result["status"], result["usage"] = status, usage
            done.set()

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        while not done.wait(0.05):
            peak = max(peak, tree_rss(ps))
        waiter.join()
    proc.returncode = os.waitstatus_to_exitcode(result["status"])
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise SystemExit(f"dtf aggregate exited {proc.returncode}:\n{tail}")
    verdicts = json.loads((report / "verdicts.json").read_text())
    return {"wall": result["wall"], "peak_tree": peak,
            "maxrss": result["usage"].ru_maxrss * 1024, "cpu": result["usage"].ru_utime
            + result["usage"].ru_stime, "verdicts": verdicts,
            "files": {p.name: p.stat().st_size for p in report.iterdir() if p.is_file()}}


# The phases of aggregate(), read off the profile: (file under dtf_ci/, function, label).
PHASES = [
    ("merge.py", "merge_shards", "merge_shards (verify + merge into merged.duckdb)"),
    ("shard_check.py", "check_tables", "  check_tables (row counts + schema), all shards"),
    ("verdicts.py", "read_run", "read_run (merged.duckdb → Python)"),
    ("history.py", "series_history", "series_history (history Parquet → Python)"),
    ("verdicts.py", "decide", "decide (verdicts)"),
    ("stats.py", "compare_many", "  stats.compare_many"),
    ("stats.py", "series_noise", "  stats.series_noise, all series"),
    ("changepoints.py", "baseline_window", "  stats.baseline_window, all series"),
    ("aggregate.py", "_write_json", "_write_json (verdicts.json)"),
    ("report.py", "write_report", "write_report (report.md, summary.md, index.html, badges)"),
    ("aggregate.py", "_append", "_append (history Parquet export)"),
]


# With --phases: the same functions timed without the profiler, by wrapping them where
# aggregate() looks them up: (module, attribute, label).
WRAPPED = [
    ("dtf_ci.merge", "merge_shards", PHASES[0][2]), ("dtf_ci.merge", "check_tables", PHASES[1][2]),
    ("dtf_ci.aggregate", "read_run", PHASES[2][2]),
    ("dtf_ci.history", "series_history", PHASES[3][2]), ("dtf_ci.aggregate", "decide", PHASES[4][2]),
    ("dtf_ci.stats", "compare_many", PHASES[5][2]), ("dtf_ci.stats", "series_noise", PHASES[6][2]),
    ("dtf_ci.stats", "baseline_window", PHASES[7][2]), ("dtf_ci.aggregate", "_write_json", PHASES[8][2]),
    ("dtf_ci.report", "write_report", PHASES[9][2]), ("dtf_ci.aggregate", "_append", PHASES[10][2]),
]


@contextlib.contextmanager
def phase_timers() -> Iterator[dict[str, list[float]]]:
    """Wrap each phase function with a wall-clock timer; put the originals back afterwards."""
    import importlib

    times: dict[str, list[float]] = {label: [] for *_, label in WRAPPED}
    saved: list[tuple[Any, str, Any]] = []

    def wrap(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                times[label].append(time.perf_counter() - t0)
        return timed

    for module_name, attr, label in WRAPPED:
        module = importlib.import_module(module_name)
        original = getattr(module, attr)
        saved.append((module, attr, original))
        setattr(module, attr, wrap(original, label))
    try:
        yield times
    finally:
        for module, attr, original in reversed(saved):
            setattr(module, attr, original)


def phases_unprofiled(lay: Layout, work: Path) -> tuple[float, list[str]]:
    """One in-process aggregate() without the profiler, each phase timed by a wrapper."""
    from dtf_ci.aggregate import aggregate
    from dtf_ci.plan import load_plan
    from dtf_ci.providers import RunContext

    history = fresh_history(lay, work / "history-phases")
    report = work / "report-phases"
    shutil.rmtree(report, ignore_errors=True)
    plan = load_plan(lay.plan)
    ctx = RunContext(provider="local", branch="main", default_branch="main", event="local")
    with phase_timers() as times:
        start = time.perf_counter()
        aggregate(lay.shards, report, plan=plan, history_spec=str(history), append="auto",
                  context=ctx)
        elapsed = time.perf_counter() - start
    rows = [f"| {label} | {len(ts)} | {sum(ts):.2f} | {sum(ts) / elapsed:.0%} |"
            for *_, label in WRAPPED if (ts := times[label])]
    return elapsed, rows


def phase_table(stats: pstats.Stats, total: float) -> list[str]:
    """Markdown rows: calls and cumulative seconds of each phase function."""
    found: dict[str, tuple[int, float]] = {}
    for (filename, _line, name), (_cc, ncalls, _tt, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        for file, fn, label in PHASES:
            if name == fn and filename.endswith(f"dtf_ci/{file}"):
                found[label] = (ncalls, cumtime)
    rows = []
    for *_, label in PHASES:
        if label in found:
            calls, secs = found[label]
            rows.append(f"| {label} | {calls} | {secs:.2f} | {secs / total:.0%} |")
    return rows


def profile_in_process(lay: Layout, work: Path, top: int) -> tuple[float, list[str], str]:
    from dtf_ci.aggregate import aggregate
    from dtf_ci.plan import load_plan
    from dtf_ci.providers import RunContext

    history = fresh_history(lay, work / "history-profile")
    report = work / "report-profile"
    shutil.rmtree(report, ignore_errors=True)
    plan = load_plan(lay.plan)
    ctx = RunContext(provider="local", branch="main", default_branch="main", event="local")
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    aggregate(lay.shards, report, plan=plan, history_spec=str(history), append="auto", context=ctx)
    prof.disable()
    elapsed = time.perf_counter() - start
    text = io.StringIO()
    for key, n in (("cumulative", top), ("tottime", 15)):
        text.write(f"\n### top {n} by {key} time\n")
        pstats.Stats(prof, stream=text).sort_stats(key).print_stats(n)
    phases = phase_table(pstats.Stats(prof), elapsed)
    return elapsed, phases, text.getvalue().replace(str(ROOT) + "/", "")


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small run (smoke test)")
    ap.add_argument("--workdir", type=Path, help="data folder (default /tmp/dtf-bench-aggregate, "
                                                 "or /tmp/dtf-bench-aggregate-quick)")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs of the command (median)")
    ap.add_argument("--force", action="store_true", help="generate the data again")
    ap.add_argument("--no-profile", action="store_true", help="skip the in-process cProfile run")
    ap.add_argument("--phases", action="store_true",
                    help="also time the phases in-process without the profiler (one more run)")
    opts = ap.parse_args()
    params: Params = QUICK if opts.quick else FULL
    work = opts.workdir or Path("/tmp/dtf-bench-aggregate" + ("-quick" if opts.quick else ""))

    print("# dtf aggregate on a large run\n")
    for line in machine_with_duckdb():
        print(f"- {line}")
    t0 = time.perf_counter()
    lay = generate(work / "data", params, force=opts.force)
    gen_s = time.perf_counter() - t0
    print(f"- data: {params.shards} shards, {params.samples:,} samples in {params.series:,} series "
          f"({params.targets} targets × {params.tasks} tasks × {params.metrics} metrics, "
          f"{params.repetitions} repetitions), {params.units:,} units, "
          f"{params.history_runs} earlier runs in history; in {lay.workdir} "
          f"(generated or checked in {gen_s:.1f} s)")
    shard_bytes = sum(p.stat().st_size for p in lay.shards.glob("*.duckdb"))
    print(f"- shard files: {shard_bytes / 2**20:.0f} MiB")

    runs = [timed_command(lay, work) for _ in range(opts.repeat)]
    wall = statistics.median(r["wall"] for r in runs)
    peak = max(max(r["peak_tree"], r["maxrss"]) for r in runs)
    v = runs[-1]["verdicts"]
    print(f"\n## `dtf aggregate` in a fresh process ({opts.repeat} run(s); load {load()})\n")
    print("| wall s (median) | walls | CPU s | peak RSS, tree (psutil, 50 ms) | ru_maxrss |")
    print("| ---: | --- | ---: | ---: | ---: |")
    walls = ", ".join(f"{r['wall']:.2f}" for r in runs)
    print(f"| {wall:.2f} | {walls} | "
          f"{statistics.median(r['cpu'] for r in runs):.1f} | "
          f"{gib(max(r['peak_tree'] for r in runs))} | {gib(max(r['maxrss'] for r in runs))} |")
    print(f"\n- verdicts: {len(v['series']):,} series; "
          + ", ".join(f"{n} {k}" for k, n in v["counts"].items() if n)
          + f"; shards accepted {len(v['shards']['accepted'])}, rejected "
          f"{len(v['shards']['rejected'])}, absent {len(v['shards']['absent'])}")
    sizes = runs[-1]["files"]
    print("- report files: " + ", ".join(f"{name} {size / 2**20:.1f} MiB"
                                         for name, size in sorted(sizes.items())))
    if len(v["series"]) != params.series:
        print(f"- WARNING: expected {params.series:,} series")

    if opts.phases:
        elapsed, rows = phases_unprofiled(lay, work)
        print(f"\n## In-process aggregate() without profiler, phases timed: {elapsed:.2f} s "
              f"(load {load()})\n")
        print("| phase | calls | seconds | share |")
        print("| --- | ---: | ---: | ---: |")
        print("\n".join(rows))

    if not opts.no_profile:
        elapsed, phases, profile = profile_in_process(lay, work, 20)
        print(f"\n## In-process aggregate() under cProfile: {elapsed:.2f} s (load {load()})\n")
        print("Phases: cumulative time of each phase function in the profile (the profiler "
              "inflates pure-Python phases the most):\n")
        print("| phase | calls | seconds | share |")
        print("| --- | ---: | ---: | ---: |")
        print("\n".join(phases))
        print(profile)

    ok_time, ok_mem = wall < TARGET_S, peak < TARGET_GIB * 2**30
    print("## Targets\n")
    print(f"- wall {wall:.2f} s < {TARGET_S:g} s: {'MET' if ok_time else 'MISSED'}")
    print(f"- peak memory {gib(peak)} < {TARGET_GIB:g} GiB: {'MET' if ok_mem else 'MISSED'}")
    return 0 if ok_time and ok_mem else 1


if __name__ == "__main__":
    raise SystemExit(main())
