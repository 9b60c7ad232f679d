"""Measure how long ``dtf hw`` takes on this machine, whole and per probe.

    python benchmarks/bench_hw.py             # 15 runs of each command
    python benchmarks/bench_hw.py --quick     # 5 runs
    python benchmarks/bench_hw.py --browsers  # also time `dtf hw --browsers` (3 runs)

Commands, timed in interleaved rounds (a different order each round) as fresh processes:

- ``python -c pass``: the interpreter's own start-up, the baseline;
- ``python -m dtf_ci hw`` and ``python -m dtf_ci hw --json``.

Then the probes in-process (``probe_host()``, uncached, repeated): the median seconds of each
section from the document's ``probe_seconds``, and the total. Finally the per-unit cost of the
GPU sampling hook where NVML is absent (``gpu_sampling.sampling`` around nothing).

Target: ``dtf hw`` under 2 s in total on a machine without accelerators.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _machine import load, machine  # noqa: E402

TARGET_S = 2.0


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 runs instead of 15")
    ap.add_argument("--browsers", action="store_true", help="also time `dtf hw --browsers`")
    args = ap.parse_args()
    runs = 5 if args.quick else 15
    print("# dtf hw\n")
    for line in machine():
        print(f"- {line}")
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "dtf hw": [sys.executable, "-m", "dtf_ci", "hw"],
        "dtf hw --json": [sys.executable, "-m", "dtf_ci", "hw", "--json"],
    }
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(runs):
        order = list(commands)
        random.shuffle(order)
        for name in order:
            times[name].append(_time(commands[name]))
    base = statistics.median(times["python -c pass"])
    print(f"\n## Whole command ({runs} runs each, fresh processes)\n")
    print("| command | median s | max s | minus interpreter start s |")
    print("| --- | --: | --: | --: |")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| `{name}` | {med:.3f} | {max(ts):.3f} | {med - base:.3f} |")
    worst = max(statistics.median(times["dtf hw"]), statistics.median(times["dtf hw --json"]))
    print(f"\ntarget: < {TARGET_S:.0f} s in total → median {worst:.3f} s: "
          f"{'met' if worst < TARGET_S else 'NOT met'}")

    from dtf_ci import gpu_sampling
    from dtf_ci.hardware import probe_host

    sections: dict[str, list[float]] = {}
    totals = []
    for _ in range(runs):
        start = time.perf_counter()
        host = probe_host()
        totals.append(time.perf_counter() - start)
        for name, secs in host.details["probe_seconds"].items():
            sections.setdefault(name, []).append(secs)
    print(f"\n## Probes in-process ({runs} runs, median)\n")
    print("| probe | median ms |")
    print("| --- | --: |")
    for name, ts in sections.items():
        print(f"| {name} | {statistics.median(ts) * 1000:.2f} |")
    print(f"| **total `probe_host()`** | {statistics.median(totals) * 1000:.2f} |")

    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        with gpu_sampling.sampling(None):
            pass
    per = (time.perf_counter() - start) / n
    print(f"\nGPU sampling hook per repetition without NVML: {per * 1e6:.1f} µs "
          f"(NVML available: {gpu_sampling._nvml() is not None})")

    if args.browsers:
        ts = [_time([sys.executable, "-m", "dtf_ci", "hw", "--browsers", "--json"]) for _ in range(3)]
        print(f"\n`dtf hw --browsers --json`: median {statistics.median(ts):.2f} s over 3 runs "
              "(launches Chromium once or twice; opt-in, never part of `dtf run`)")
    print(f"\nload average at end: {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
