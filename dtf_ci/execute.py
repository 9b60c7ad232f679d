"""Run one command once: a shell subprocess in its own process group, timed and measured.

Kept apart from the shard logic so its cost per call stays small and measurable: a unit of
``true`` must cost little more than the process start itself (see benchmarks/bench_run.py).
Resource use comes from ``os.wait4`` (CPU of the tree's waited processes, the largest RSS),
plus a psutil sampler that sums RSS over the live process tree for commands that run long
enough to be worth sampling.

Platforms: Windows has no ``os.wait4`` nor process groups (``os.killpg``): there the exit
code comes from ``Popen.wait``, CPU and memory from the psutil sampler only, and a timeout
ends the tree through psutil. macOS reports ``ru_maxrss`` in bytes, Linux in KiB.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

TAIL_LINES = 40
SAMPLE_AFTER_S = 0.2  # start the psutil tree sampler only for commands that live this long
SAMPLE_EVERY_S = 0.1
KILL_GRACE_S = 2.0
_INFRA_MARKERS = ("No space left on device", "Cannot allocate memory", "Resource temporarily unavailable")
_WINDOWS = os.name == "nt"
_SIGKILL = getattr(signal, "SIGKILL", signal.SIGTERM)  # Windows has no SIGKILL


def maxrss_mb(ru_maxrss: int, platform: str | None = None) -> float:
    """``ru_maxrss`` in MiB: macOS (and iOS) count bytes, Linux and the BSDs KiB."""
    platform = platform or sys.platform
    return ru_maxrss / (2**20 if platform in ("darwin", "ios") else 1024.0)


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


def _tree_rss(pid: int, cpu: dict[int, float] | None = None) -> int:
    """RSS summed over the live tree; with ``cpu``, also each process's CPU seconds so far."""
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
            if cpu is not None:
                times = proc.cpu_times()
                cpu[proc.pid] = max(cpu.get(proc.pid, 0.0), times.user + times.system)
        except psutil.Error:
            continue
    return total


def _kill_group(pgid: int, sig: int) -> None:
    """End the command's process group; without process groups (Windows), its live tree."""
    if hasattr(os, "killpg"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        return
    import psutil

    try:
        root = psutil.Process(pgid)
        procs = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()


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
    # its own process group, so a timeout ends the whole tree (Windows: a new process group
    # is what lets psutil find the tree without touching dtf)
    group: dict[str, object] = (
        {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if _WINDOWS  # type: ignore[attr-defined]
        else {"start_new_session": True})
    try:
        proc = subprocess.Popen(
            command, shell=True, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **group,  # type: ignore[call-overload]
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOENT:
            reason = f"cannot start in {cwd}: {reason}"
        return Outcome(None, time.perf_counter() - start, 0.0, 0.0, False, reason, [])
    if hasattr(os, "wait4") and proc.stdout is not None:
        return _watch_selector(proc, start, timeout_s, echo, tail)
    return _watch_threads(proc, start, timeout_s, echo, tail)


def _watch_threads(proc: subprocess.Popen[bytes], start: float, timeout_s: float, echo: bool,
                   tail: collections.deque[str]) -> Outcome:
    """Windows (no ``select`` on pipes, no ``wait4``): a reader thread and a waiter thread."""

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

    wait4 = getattr(os, "wait4", None)

    def waiter() -> None:
        if wait4 is None:  # Windows: the exit code only; resources come from the sampler
            result["returncode"] = proc.wait()
            return
        _, status, usage = wait4(proc.pid, 0)
        result["status"] = status
        result["usage"] = usage

    wait_thread = threading.Thread(target=waiter, daemon=True)
    wait_thread.start()
    peak_tree = 0
    tree_cpu: dict[int, float] | None = None if wait4 else {}
    timed_out = False
    deadline = start + timeout_s
    # without wait4 the sampler is all there is: start it at once
    wait_thread.join(min(SAMPLE_AFTER_S if wait4 else 0.0, timeout_s))
    while wait_thread.is_alive():
        peak_tree = max(peak_tree, _tree_rss(proc.pid, tree_cpu))
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            timed_out = True
            _kill_group(proc.pid, signal.SIGTERM)
            wait_thread.join(KILL_GRACE_S)
            _kill_group(proc.pid, _SIGKILL)
            wait_thread.join()
            break
        wait_thread.join(min(SAMPLE_EVERY_S, remaining))
    wall = time.perf_counter() - start
    if timed_out:
        # Children that ignored SIGTERM and were re-parented still hold the group: end them.
        _kill_group(proc.pid, _SIGKILL)
    reader.join(1.0)
    if wait4 is None:
        proc.returncode = int(result["returncode"])  # type: ignore[call-overload]
        cpu = sum((tree_cpu or {}).values())
        return Outcome(proc.returncode, wall, cpu, peak_tree / 2**20, timed_out, "", list(tail))
    status = int(result.get("status", 0))  # type: ignore[call-overload]
    usage = result.get("usage")
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = (usage.ru_utime + usage.ru_stime) if usage is not None else 0.0  # type: ignore[attr-defined]
    max_rss = usage.ru_maxrss if usage is not None else 0  # type: ignore[attr-defined]
    peak_mb = max(maxrss_mb(max_rss), peak_tree / 2**20)
    return Outcome(proc.returncode, wall, cpu, peak_mb, timed_out, "", list(tail))



DRAIN_AFTER_EXIT_S = 1.0
"""How long output is still read after the command exits while a child it left behind keeps
the pipe open (a daemon started in the background): then the tail is what arrived."""
_MAX_LINE = 1 << 20  # a "line" longer than this (no newline at all) is cut into pieces
_POLL_S = (0.0005, 0.05)  # without pidfd: first and longest interval between exit checks


def _watch_selector(proc: subprocess.Popen[bytes], start: float, timeout_s: float, echo: bool,
                    tail: collections.deque[str]) -> Outcome:
    """POSIX: one ``select`` loop in this thread reads the output, notices the exit, samples
    and enforces the timeout — no threads to start per unit (issue 13: < 1 ms per unit).

    The exit is seen through a pidfd (Linux >= 5.3) registered beside the pipe; elsewhere
    (macOS) by ``wait4(WNOHANG)`` once the pipe closed, or every 50 ms while a child keeps
    it open. Resources still come from ``wait4`` (CPU of the waited tree, largest RSS).
    """
    assert proc.stdout is not None
    out_fd = proc.stdout.fileno()
    os.set_blocking(out_fd, False)
    selector = selectors.DefaultSelector()
    selector.register(out_fd, selectors.EVENT_READ, "out")
    pidfd = _pidfd(proc.pid)
    if pidfd is not None:
        selector.register(pidfd, selectors.EVENT_READ, "exit")
    partial = bytearray()

    def emit(raw: bytes | bytearray) -> None:
        line = raw.decode("utf-8", errors="replace").rstrip("\n")
        tail.append(line)
        if echo:
            print(line, flush=True)

    status: int | None = None
    usage: Any = None
    out_open, exit_seen, timed_out = True, False, False
    deadline = start + timeout_s
    next_sample = start + SAMPLE_AFTER_S
    kill_at: float | None = None
    drain_until = exited_at = 0.0
    poll = _POLL_S[0]
    peak_tree = 0
    try:
        while True:
            if status is None and (exit_seen or pidfd is None):
                pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    status, usage = st, ru
                    exited_at = time.perf_counter()
                    drain_until = exited_at + DRAIN_AFTER_EXIT_S
            now = time.perf_counter()
            if status is not None and (not out_open or now >= drain_until):
                break
            wake = [drain_until] if status is not None else [next_sample, kill_at or deadline]
            if status is None:
                if now >= deadline and not timed_out:
                    timed_out = True
                    _kill_group(proc.pid, signal.SIGTERM)
                    kill_at = now + KILL_GRACE_S
                elif kill_at is not None and now >= kill_at:
                    _kill_group(proc.pid, _SIGKILL)
                    kill_at = now + KILL_GRACE_S
                if now >= next_sample:
                    peak_tree = max(peak_tree, _tree_rss(proc.pid))
                    next_sample = now + SAMPLE_EVERY_S
                wake = [next_sample, kill_at or deadline]
                if pidfd is None:  # no exit event to wait for: look again soon
                    wake.append(now + (poll if not out_open else _POLL_S[1]))
                    poll = min(poll * 2, _POLL_S[1])
            if not out_open and status is None and pidfd is None:
                time.sleep(max(0.0, min(wake) - now))
                continue
            for key, _ in selector.select(max(0.0, min(wake) - now)):
                if key.data == "exit":
                    exit_seen = True
                    selector.unregister(key.fd)
                    continue
                chunk = _read(out_fd)
                if chunk is None:
                    continue
                if not chunk:
                    out_open = False
                    selector.unregister(out_fd)
                    continue
                partial += chunk
                *lines, rest = partial.split(b"\n")
                for raw in lines:
                    emit(raw)
                partial = bytearray(rest)
                while len(partial) > _MAX_LINE:
                    emit(bytes(partial[:_MAX_LINE]))
                    del partial[:_MAX_LINE]
    finally:
        selector.close()
        if pidfd is not None:
            os.close(pidfd)
        proc.stdout.close()
    if partial:
        emit(bytes(partial))
    wall = exited_at - start
    if timed_out:
        # Children that ignored SIGTERM and were re-parented still hold the group: end them.
        _kill_group(proc.pid, _SIGKILL)
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    peak_mb = max(maxrss_mb(usage.ru_maxrss), peak_tree / 2**20)
    return Outcome(proc.returncode, wall, cpu, peak_mb, timed_out, "", list(tail))


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` exits (Linux >= 5.3), else None."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except OSError:  # an older kernel, or seccomp in a container
        return None


def _read(fd: int) -> bytes | None:
    """Up to 64 KiB of output; b"" at the end; None when nothing is there after all."""
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""
