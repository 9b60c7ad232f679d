"""Run one command once: a shell subprocess in its own process group, timed and measured.

Kept apart from the shard logic so its cost per call stays small and measurable: a unit of
``true`` must cost little more than the process start itself (see benchmarks/bench_run.py).
Resource use comes from ``os.wait4`` (CPU of the tree's waited processes, the largest RSS),
plus a psutil sampler that sums RSS over the live process tree for commands that run long
enough to be worth sampling.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

TAIL_LINES = 40
SAMPLE_AFTER_S = 0.2  # start the psutil tree sampler only for commands that live this long
SAMPLE_EVERY_S = 0.1
KILL_GRACE_S = 2.0
_INFRA_MARKERS = ("No space left on device", "Cannot allocate memory", "Resource temporarily unavailable")


@dataclass
class Outcome:
    exit_code: int | None  # None: could not start; negative: killed by that signal
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    timed_out: bool
    start_error: str
    tail: list[str]

    @property
    def infra_marker(self) -> str:
        for line in self.tail:
            for marker in _INFRA_MARKERS:
                if marker in line:
                    return marker
        return ""


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def run_command(
    command: str,
    *,
    cwd: str,
    env: dict[str, str],
    timeout_s: float,
    echo: bool = False,
) -> Outcome:
    """Run ``command`` through the shell; kill its whole process group on timeout."""
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(
            command, shell=True, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOENT:
            reason = f"cannot start in {cwd}: {reason}"
        return Outcome(None, time.perf_counter() - start, 0.0, 0.0, False, reason, [])

    def read_output() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            tail.append(line)
            if echo:
                print(line, flush=True)

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    result: dict[str, object] = {}

    def waiter() -> None:
        _, status, usage = os.wait4(proc.pid, 0)
        result["status"] = status
        result["usage"] = usage

    wait_thread = threading.Thread(target=waiter, daemon=True)
    wait_thread.start()
    peak_tree = 0
    timed_out = False
    deadline = start + timeout_s
    wait_thread.join(min(SAMPLE_AFTER_S, timeout_s))
    while wait_thread.is_alive():
        peak_tree = max(peak_tree, _tree_rss(proc.pid))
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            timed_out = True
            _kill_group(proc.pid, signal.SIGTERM)
            wait_thread.join(KILL_GRACE_S)
            _kill_group(proc.pid, signal.SIGKILL)
            wait_thread.join()
            break
        wait_thread.join(min(SAMPLE_EVERY_S, remaining))
    wall = time.perf_counter() - start
    if timed_out:
        # Children that ignored SIGTERM and were re-parented still hold the group: end them.
        _kill_group(proc.pid, signal.SIGKILL)
    reader.join(1.0)
    status = int(result.get("status", 0))  # type: ignore[call-overload]
    usage = result.get("usage")
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = (usage.ru_utime + usage.ru_stime) if usage is not None else 0.0  # type: ignore[attr-defined]
    max_rss_kb = usage.ru_maxrss if usage is not None else 0  # type: ignore[attr-defined]
    peak_mb = max(max_rss_kb / 1024.0, peak_tree / 2**20)
    return Outcome(proc.returncode, wall, cpu, peak_mb, timed_out, "", list(tail))
