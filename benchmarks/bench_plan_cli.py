"""Whole-process `dtf plan` on a 20,000-task, ~1 MB `dtf.yml` with 4 targets and 200 runners.

    python benchmarks/bench_plan_cli.py            # median of 3 fresh processes (goal < 2.5 s)
    python benchmarks/bench_plan_cli.py --quick    # 2,000 tasks, one run

The planner alone is measured by bench_plan.py; this script times what a user waits for:
interpreter start, imports, reading and validating the YAML, planning and writing plan.json.
It also splits the in-process time into load / plan / write so a regression is easy to place.
Prints the machine line and the load average: on a shared 2-core machine every wall time is
inflated by the other work, so compare figures only within one run.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._machine import load, machine  # noqa: E402

TARGETS = {
    "cpu": (["self-hosted", "linux", "x64", "cpu"], {"os": "linux"}, 100),
    "a100": (["self-hosted", "linux", "x64", "gpu-a100"], {"gpu": "a100", "cuda": "12.4", "os": "linux"}, 40),
    "h100": (["self-hosted", "linux", "x64", "gpu-h100"], {"gpu": "h100", "cuda": "12.8", "os": "linux"}, 40),
    "mac": (["self-hosted", "macos", "arm64"], {"os": "macos"}, 20),
}


def write_suite(folder: Path, n: int, seed: int = 1) -> tuple[Path, Path]:
    """A realistic suite (groups, requirements, a few builds and dependencies) and its runners."""
    rng = random.Random(seed)
    lines = ["version: 1", "targets:"]
    for name, (labels, facts, _) in TARGETS.items():
        lines.append(f"  {name}:")
        lines.append(f"    runs-on: [{', '.join(labels)}]")
        lines.append("    facts: {" + ", ".join(f"{k}: '{v}'" for k, v in facts.items()) + "}")
    lines += ["defaults:", "  repeat: 5", "  timeout: 10m", "  threshold: 5%", "tasks:"]
    kinds = [("cpu", ["os == linux", "!gpu"]), ("gpu", ["gpu", "cuda >= 12"]), ("mac", ["os == macos"]), ("any", [])]
    for kind, req in kinds[:3]:
        lines += [f"  - id: build-{kind}", "    run: make -j8 all", "    requires: [" + ", ".join(f"'{r}'" for r in req) + "]",
                  "    produces: [build/]", "    group: builds"]
    for i in range(n - 3):
        kind, req = kinds[rng.choices(range(4), weights=[40, 30, 10, 20])[0]]
        group = f"g{rng.randrange(40):02d}"
        lines += [f"  - id: {group}.t{i:05d}", "    run: b {results}", "    format: junit"]
        if req:
            lines.append(f"    requires: {req[-1]!r}" if kind != "cpu" else "    requires: '!gpu'")
        if kind == "any":
            lines.append("    across: one")
        if kind != "any" and rng.random() < 0.05:
            lines.append(f"    depends-on: build-{kind}")
        if rng.random() < 0.1:
            lines.append(f"    group: {group}")
    suite = folder / "dtf.yml"
    suite.write_text("\n".join(lines) + "\n", encoding="utf-8")
    runners = ["runners:"]
    k = 0
    for name, (labels, _, count) in TARGETS.items():
        for _ in range(count):
            k += 1
            runners += [f"  - name: r{k:03d}-{name}", f"    labels: [{', '.join(labels)}]", "    status: online"]
    rfile = folder / "runners.yml"
    rfile.write_text("\n".join(runners) + "\n", encoding="utf-8")
    return suite, rfile


def time_process(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"`{' '.join(cmd)}` failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def in_process_split(suite: Path, runners: Path, out: Path) -> str:
    """Load, plan and write timed inside one process (after imports), to place a regression."""
    from dtf_ci.inventory import build_inventory
    from dtf_ci.plan import make_plan, write_plan
    from dtf_ci.suite import load_suite

    t0 = time.perf_counter()
    s = load_suite(suite)
    t1 = time.perf_counter()
    plan = make_plan(s, build_inventory(s, str(runners)), run_id="bench")
    t2 = time.perf_counter()
    write_plan(plan, out)
    t3 = time.perf_counter()
    return (f"load+validate {t1 - t0:.2f} s | plan {t2 - t1:.2f} s | write {t3 - t2:.2f} s "
            f"({out.stat().st_size / 1e6:.1f} MB plan.json, {len(plan['units'])} units, {len(plan['shards'])} shards)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2,000 tasks, one run")
    ap.add_argument("--tasks", type=int, default=None)
    ap.add_argument("--runs", type=int, default=None)
    args = ap.parse_args()
    n = args.tasks or (2_000 if args.quick else 20_000)
    runs = args.runs or (1 if args.quick else 3)
    for line in machine():
        print(line)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        suite, runners = write_suite(folder, n)
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent), DTF_NO_COLOR="1")
        cmd = [sys.executable, "-m", "dtf_ci", "plan", "--suite", str(suite), "--runners", str(runners),
               "--out", str(folder / "plan.json")]
        measured = [time_process(cmd, env) for _ in range(runs)]
        times = [wall for wall, _ in measured]
        cpu = [c for _, c in measured]
        print(f"suite: {n} tasks, {suite.stat().st_size / 1e6:.2f} MB dtf.yml, 4 targets, "
              f"{sum(c for *_, c in TARGETS.values())} runners")
        print(f"`dtf plan` whole process: median {statistics.median(times):.2f} s wall of {runs} "
              f"(min {min(times):.2f}, max {max(times):.2f}); CPU (user+sys) median {statistics.median(cpu):.2f} s; "
              f"goal < 2.5 s wall; load now {load()}")
        print("  (wall is inflated whenever the load average exceeds the core count; CPU time is not)")
        print("in one process: " + in_process_split(suite, runners, folder / "plan2.json"))


if __name__ == "__main__":
    main()
