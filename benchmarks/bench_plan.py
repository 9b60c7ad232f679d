"""Planner figures: planning speed, makespan against the lower bound, and pytest-split side by side.

    python benchmarks/bench_plan.py            # all figures (needs `pip install pytest-split`)
    python benchmarks/bench_plan.py --quick    # fewer repetitions

Prints the machine it ran on first, because every timing here is only true of one machine.
Inputs are generated from fixed seeds, so two runs on one machine print the same ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections import namedtuple
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dtf_ci.estimates import HistoryInputs  # noqa: E402
from dtf_ci.inventory import Inventory, TargetInfo  # noqa: E402
from dtf_ci.model import Defaults, Suite, TargetSpec, Task  # noqa: E402
from dtf_ci.packing import pack  # noqa: E402
from dtf_ci.plan import make_plan  # noqa: E402

OVERHEAD = 45.0


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = f" | load average {os.getloadavg()[0]:.1f} (other work competes for the CPU)"
    return (f"machine: {platform.platform()} | CPU: {cpu} | cores: {os.cpu_count()} | "
            f"Python {platform.python_version()} ({platform.python_implementation()}){load}")


def suite_of(tasks: list[Task]) -> Suite:
    return Suite(path="bench.yml", root=".", version=1, targets={}, defaults=Defaults(),
                 tasks={t.id: t for t in tasks})


def inventory(slots: dict[str, tuple[tuple[str, ...], int]]) -> Inventory:
    inv = Inventory(source="bench")
    for name, (labels, n) in slots.items():
        inv.targets[name] = TargetInfo(spec=TargetSpec(name=name, runs_on=labels), online=n, slots=n)
    return inv


# --- 1. speed ------------------------------------------------------------------------------------

FOUR_TARGETS = {
    "cpu": (("self-hosted", "linux", "x64", "cpu"), 100),
    "a100": (("self-hosted", "linux", "x64", "gpu-a100", "cuda-12.4", "mem-256g"), 40),
    "h100": (("self-hosted", "linux", "x64", "gpu-h100", "cuda-12.8", "mem-512g"), 40),
    "mac": (("self-hosted", "macos", "arm64"), 20),
}


def big_suite(n: int, seed: int = 1) -> tuple[Suite, HistoryInputs]:
    """n tasks over 4 targets: CPU-only, GPU (both GPU targets), mac, and `across: one` tasks;
    one build per family that 5% of tasks depend on; history for four units in five."""
    rng = random.Random(seed)
    kinds = [("cpu", ("!gpu", "linux")), ("gpu", ("gpu", "cuda>=12")), ("mac", ("macos",)), ("any", ())]
    tasks = [Task(id=f"build-{k}", run="make", requires=req, produces=("build/",)) for k, req in kinds[:3]]
    durations: dict[tuple[str, str], list[float]] = {}
    for i in range(n - len(tasks)):
        kind, req = kinds[rng.choices(range(4), weights=[40, 30, 10, 20])[0]]
        deps = (f"build-{kind}",) if kind != "any" and rng.random() < 0.05 else ()
        task = Task(id=f"t{i:05d}", run="x", requires=req, across="one" if kind == "any" else "all",
                    depends_on=deps, timeout_s=600.0)
        tasks.append(task)
        base = rng.lognormvariate(3.0, 1.0)
        for target in FOUR_TARGETS:
            if rng.random() < 0.8:
                speed = {"cpu": 1.0, "a100": 0.5, "h100": 0.3, "mac": 1.2}[target]
                durations[(task.id, target)] = [base * speed * rng.uniform(0.9, 1.1) for _ in range(3)]
    return suite_of(tasks), HistoryInputs(durations=durations)


def bench_speed(repeats: int) -> None:
    suite, history = big_suite(20_000)
    inv = inventory(FOUR_TARGETS)
    times, cpu, plan = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        plan = make_plan(suite, inv, history=history, run_id="bench")
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    assert plan is not None
    print(f"[speed] 20,000 tasks, 4 targets, 200 runners: {len(plan['units'])} units, "
          f"{len(plan['shards'])} shards, {plan['waves']} waves; planning median "
          f"{statistics.median(times):.2f} s wall ({statistics.median(cpu):.2f} s CPU), best "
          f"{min(times):.2f} s over {repeats} runs (goal < 1.5 s)")
    ratio = plan["makespan-s"] / plan["lower-bound-s"]
    print(f"[bound] that plan (dependencies, `across: one`, history estimates): makespan "
          f"{plan['makespan-s']:.0f} s vs lower bound {plan['lower-bound-s']:.0f} s: "
          f"{100 * (ratio - 1):.2f}% above (goal < 5%)")


# --- 2. makespan vs lower bound -------------------------------------------------------------

def lognormal(n: int, seed: int, sigma: float = 1.0) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(3.0, sigma) for _ in range(n)]


def heavy_tailed(n: int, seed: int) -> list[float]:
    """Lognormal body plus four giants, each about 20% of the target's work."""
    body = lognormal(n, seed)
    giant = sum(body)  # four giants of 20% each leave 20% to the body: each equals the body
    return body + [giant * random.Random(seed).uniform(0.95, 1.05) for _ in range(4)]


def bench_bound(cases: list[tuple[str, list[float], int]]) -> None:
    for name, weights, runners in cases:
        tasks = [Task(id=f"t{i:05d}", run="x") for i in range(len(weights))]
        durations = {t.id: w for t, w in zip(tasks, weights, strict=True)}
        inv = inventory({"cpu": (("self-hosted", "linux"), runners)})
        plan = make_plan(suite_of(tasks), inv, durations=durations, run_id="bench")
        ratio = plan["makespan-s"] / plan["lower-bound-s"]
        print(f"[bound] {name}: {len(weights)} units, {runners} runners -> {len(plan['shards'])} shards; "
              f"makespan {plan['makespan-s']:.1f} s vs lower bound {plan['lower-bound-s']:.1f} s "
              f"(start-up {OVERHEAD:.0f} s counted): {100 * (ratio - 1):.2f}% above (goal < 5%)")


# --- 3. pytest-split side by side -----------------------------------------------------------

def bench_pytest_split(cases: list[tuple[str, list[float], int]]) -> None:
    try:
        from pytest_split import algorithms
    except ImportError:
        print("[pytest-split] not installed: pip install pytest-split")
        return
    Item = namedtuple("Item", "nodeid")
    print("[pytest-split] longest shard on the same durations and shard count (lower is better; "
          "ratio = theirs / dtf)")
    for name, weights, k in cases:
        items = [Item(f"test_{i:05d}") for i in range(len(weights))]
        durations = {it.nodeid: w for it, w in zip(items, weights, strict=True)}
        least = max(g.duration for g in algorithms.LeastDurationAlgorithm()(k, items, durations))
        chunks = max(g.duration for g in algorithms.DurationBasedChunksAlgorithm()(k, items, durations))
        t0 = time.perf_counter()
        ours = max(sum(weights[i] for i in b) for b in pack(weights, k))
        elapsed = time.perf_counter() - t0
        bound = max(sum(weights) / k, max(weights))
        print(f"  {name:<42} k={k:<3} bound {bound:9.1f} | dtf {ours:9.1f} ({elapsed * 1000:.0f} ms) | "
              f"least_duration {least:9.1f} ({least / ours:.4f}x) | "
              f"duration_based_chunks {chunks:9.1f} ({chunks / ours:.4f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(machine())
    bench_speed(3 if args.quick else 7)
    bench_bound([
        ("lognormal sigma=1.0", lognormal(2000, 11), 50),
        ("lognormal sigma=1.0, small", lognormal(300, 12), 20),
        ("heavy-tailed (4 units ~20% each)", heavy_tailed(1000, 13), 20),
    ])
    rng = random.Random(5)
    bench_pytest_split([
        ("lognormal sigma=1.0, n=2000", lognormal(2000, 21), 50),
        ("lognormal sigma=1.0, n=200", lognormal(200, 22), 20),
        ("lognormal sigma=2.0, n=500", lognormal(500, 23, sigma=2.0), 16),
        ("heavy-tailed, n=1000", heavy_tailed(1000, 24), 20),
        ("uniform 10-100 s, n=30", [rng.uniform(10, 100) for _ in range(30)], 8),
        ("lognormal sigma=1.0, n=40 (few per shard)", lognormal(40, 26), 16),
        ("uniform 60-120 s, n=21 (2k+1 items)", [rng.uniform(60, 120) for _ in range(21)], 10),
        ("file order sorted ascending, n=400", sorted(lognormal(400, 25)), 10),
    ])


if __name__ == "__main__":
    main()
