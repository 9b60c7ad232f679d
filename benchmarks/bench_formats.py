"""Parsing speed of every text (console output) format: 100,000 benchmark lines each.

    python benchmarks/bench_formats.py            # 100,000 lines per format, 3 rounds
    python benchmarks/bench_formats.py --quick    # 10,000 lines, 1 round

Target: parsing 100,000 benchmark lines of any text format takes under 1 s. Each format gets
a file of its tool's own line shape (unique names, so no duplicate handling is measured as
the common case), parsed through ``parse_results`` as ``dtf run`` does; the median of the
rounds is printed with the lines per second and the machine's load average beside it. On a
shared machine the wall time is inflated by the load (other processes hold the cores), so the
CPU time of this process is printed too; the target is judged on both, and said which.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import load, machine  # noqa: E402

from dtf_ci.formats import parse_results  # noqa: E402

LINES: dict[str, Callable[[int], str]] = {
    "cargo-bench": lambda i: f"test bench_{i} ... bench:      {i * 7 % 99991:,} ns/iter (+/- {i % 97})\n",
    "criterion": lambda i: f"bench {i:<20}    time:   [1.{i % 9}0 µs 1.{i % 9}5 µs 1.{i % 9}9 µs]\n",
    "iai": lambda i: f"bench_{i}\n  Instructions:  {1000 + i}|{999 + i}  (+0.1%)\n",
    "go-bench": lambda i: f"BenchmarkF{i}-8   \t 1000000\t  {i % 977 + 0.5} ns/op\t  64 B/op\t  2 allocs/op\n",
    "benchmark-js": lambda i: f"fib({i}) x {i * 13 % 99991 + 1:,} ops/sec ±1.{i % 10}0% (90 runs sampled)\n",
    "luau": lambda i: f"SUCCESS: bench{i}   :   {i % 500 + 1}.041ms +/-  0.636% on luau\n",
    "catch2-seconds": lambda i: (f"bench {i:<30} 100   2   8.3712 ms \n   41.{i % 999} us   41.25 us   42.6 us \n"
                                 f"   3.256 us   2.163 us   5.353 us \n     \n"),
    "ruby-benchmark": lambda i: f"b{i}:  0.010000   0.000000   0.010000 (  0.{i % 1000:06d})\n",
    "dart-benchmark": lambda i: f"Bench{i}(RunTime): {i % 1000 + 0.25} us.\n",
    "console-time": lambda i: f"label {i}: {i % 1000 + 0.5}ms\n",
}
HEADERS = {"catch2-seconds": "benchmark name  samples  iterations  estimated\n  mean\n  std dev\n-----\n",
           "ruby-benchmark": "       user     system      total        real\n"}


def write(folder: Path, fmt: str, n: int) -> tuple[Path, int]:
    path = folder / f"{fmt}.txt"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(HEADERS.get(fmt, ""))
        fh.writelines(LINES[fmt](i) for i in range(n))
    with open(path, "rb") as fh:
        return path, sum(1 for _ in fh)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10,000 lines, one round")
    args = ap.parse_args()
    n, rounds = (10_000, 1) if args.quick else (100_000, 3)
    print("# dtf benchmark: parsing text formats\n")
    for line in machine():
        print(f"- {line}")
    print(f"\n{n:,} benchmarks per format, median of {rounds} round(s); target < 1 s for 100,000 lines\n")
    print("| format | file lines | measurements | median wall s | median CPU s | CPU s per 100,000 lines | load |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    worst = worst_wall = 0.0
    with tempfile.TemporaryDirectory(prefix="dtf-bench-formats-") as tmp:
        for fmt in LINES:
            path, lines = write(Path(tmp), fmt, n)
            walls, cpus, count = [], [], 0
            for _ in range(rounds):
                start, cpu = time.perf_counter(), time.process_time()
                result = parse_results(fmt, path)
                walls.append(time.perf_counter() - start)
                cpus.append(time.process_time() - cpu)
                count = len(result.measurements)
                del result  # freed outside the clock, not inside the next round's
            wall, cpu_s = statistics.median(walls), statistics.median(cpus)
            per = cpu_s * 100_000 / lines
            worst, worst_wall = max(worst, per), max(worst_wall, wall * 100_000 / lines)
            print(f"| {fmt} | {lines:,} | {count:,} | {wall:.3f} | {cpu_s:.3f} | {per:.3f} | {load()} |")
    print(f"\nslowest format: {worst:.3f} CPU s ({worst_wall:.3f} wall s) per 100,000 lines "
          f"(target < 1 s); load average at end: {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
