"""Shared timing helper: the best of a few inner loops, like timeit, to keep samples stable."""

import json
import os
import time


def slowdown(name: str) -> float:
    """QUICKSTART_SLOWDOWN=1.3 makes the named benchmark do 30% more work (a real slowdown)."""
    target = os.environ.get("QUICKSTART_SLOWDOWN_TARGET", "sort_ints")
    return float(os.environ.get("QUICKSTART_SLOWDOWN", "1")) if name == target else 1.0


def best_of(fn, loops: int = 3) -> float:
    """CPU seconds of the fastest loop: CPU time, unlike wall time, does not count the time
    this process waited for a core, so samples stay comparable on a busy laptop or runner."""
    best = float("inf")
    for _ in range(loops):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def write(path: str, rows: list) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(rows, fh, indent=1)


def scaled(name: str, items: list) -> list:
    """The input, grown by the slowdown factor: F times the data is real extra work."""
    k = slowdown(name)
    if k == 1:
        return items
    reps = int(k) + 1
    return (items * reps)[: int(len(items) * k)]
