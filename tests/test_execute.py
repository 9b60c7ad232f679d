"""run_command: the select loop (POSIX) and the thread pair (Windows path) behave alike."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from dtf_ci import execute
from dtf_ci.execute import TAIL_LINES, run_command

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX shell commands")


@pytest.fixture(params=["selector", "threads"])
def runner(request, monkeypatch):
    if request.param == "threads":
        monkeypatch.delattr(os, "wait4")  # what Windows lacks: the thread pair takes over
    return lambda cmd, **kw: run_command(cmd, cwd=".", env=dict(os.environ), timeout_s=kw.pop("timeout_s", 20), **kw)


def test_exit_code_and_tail_of_both_streams(runner):
    out = runner("for i in $(seq 1 100); do echo line$i; done; printf err >&2; exit 3")
    assert out.exit_code == 3 and not out.timed_out
    assert len(out.tail) == TAIL_LINES and out.tail[-2] == "line100" and out.tail[-1] == "err"


def test_timeout_ends_a_group_that_ignores_sigterm(runner):
    out = runner("trap '' TERM; sleep 30 & sleep 30; wait", timeout_s=0.3)
    assert out.timed_out and out.exit_code is not None and out.exit_code < 0
    assert out.wall_s < 10


def test_a_child_holding_the_pipe_does_not_hang_or_count(runner):
    out = runner("(sleep 3 &); echo started")
    assert out.exit_code == 0 and out.tail == ["started"]
    assert out.wall_s < 1.0  # the time to exit, not the drain that follows


def test_closed_output_still_waits_for_the_exit(runner):
    out = runner("exec >/dev/null 2>&1; sleep 0.3; exit 4")
    assert out.exit_code == 4 and out.wall_s >= 0.3


def test_invalid_utf8_and_a_line_without_newline(runner):
    out = runner("printf 'a\\377b\\nlast'")
    assert out.tail == ["a\ufffdb", "last"]


def test_cpu_and_memory_are_measured(runner):
    code = "x = bytearray(60_000_000); sum(range(3_000_000))"
    out = runner(f"{sys.executable} -c '{code}'")
    assert out.exit_code == 0 and out.peak_rss_mb > 50 and out.cpu_s > 0


def test_selector_loop_starts_no_thread(monkeypatch):
    started: list[object] = []
    monkeypatch.setattr(threading.Thread, "start", lambda self: started.append(self))
    out = run_command("echo ok", cwd=".", env=dict(os.environ), timeout_s=10)
    assert out.tail == ["ok"] and started == []


def test_very_long_line_is_cut_into_pieces(monkeypatch):
    monkeypatch.setattr(execute, "_MAX_LINE", 1000)
    out = run_command("head -c 5000 /dev/zero | tr '\\0' x", cwd=".", env=dict(os.environ), timeout_s=10)
    assert [len(line) for line in out.tail] == [1000] * 5
