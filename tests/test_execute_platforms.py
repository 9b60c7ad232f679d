"""`dtf run` on Windows and macOS, with their behaviour faked here on Linux.

Windows has no ``os.wait4`` and no process groups (``os.killpg``); before this was handled a
command that slept and exited 5 was recorded as exit 0 in a few milliseconds. macOS reports
``ru_maxrss`` in bytes where Linux reports KiB. The real platforms run in ci.yml
(windows-latest, macos-latest).
"""

from __future__ import annotations

import os
import sys

import pytest

from dtf_ci import execute
from dtf_ci.execute import maxrss_mb, run_command

PY = sys.executable
posix_shell = pytest.mark.skipif(os.name == "nt", reason="the command uses POSIX shell syntax")


@pytest.fixture
def windows_like(monkeypatch: pytest.MonkeyPatch) -> None:
    """What Windows lacks: os.wait4 and os.killpg."""
    monkeypatch.delattr(os, "wait4", raising=False)
    monkeypatch.delattr(os, "killpg", raising=False)


# --- on this platform, whichever it is (ci.yml runs these on Windows and macOS too) --------


def test_exit_code_and_duration_of_a_real_command(tmp_path) -> None:
    out = run_command(f'"{PY}" -c "import time, sys; time.sleep(1); print(7); sys.exit(5)"',
                      cwd=str(tmp_path), env=dict(os.environ), timeout_s=60)
    assert out.exit_code == 5 and out.tail == ["7"]
    assert out.wall_s >= 1.0


def test_peak_memory_of_a_real_command_is_in_mib(tmp_path) -> None:
    out = run_command(f'"{PY}" -c "import time; b = bytearray(60 * 2**20); time.sleep(0.5)"',
                      cwd=str(tmp_path), env=dict(os.environ), timeout_s=60)
    assert out.exit_code == 0
    assert 60 <= out.peak_rss_mb < 4000  # neither KiB read as MiB nor bytes read as KiB


def test_a_timeout_ends_a_real_command(tmp_path) -> None:
    out = run_command(f'"{PY}" -c "import time; time.sleep(60)"', cwd=str(tmp_path),
                      env=dict(os.environ), timeout_s=1)
    assert out.timed_out and out.exit_code != 0
    assert out.wall_s < 30


# --- Windows and macOS behaviour, faked on a POSIX machine -----------------------------------


@posix_shell
def test_exit_code_and_duration_without_wait4(windows_like: None, tmp_path) -> None:
    out = run_command("sleep 0.5; echo done; exit 5", cwd=str(tmp_path), env=dict(os.environ),
                      timeout_s=30)
    assert out.exit_code == 5
    assert out.wall_s >= 0.5  # it waited for the command, not for nothing
    assert out.tail == ["done"] and not out.timed_out


@posix_shell
def test_resources_come_from_the_sampler_without_wait4(windows_like: None, tmp_path) -> None:
    script = ("import time\nblock = bytearray(80 * 2**20)\nend = time.time() + 1.0\n"
              "while time.time() < end: sum(range(10000))\n")
    (tmp_path / "busy.py").write_text(script)
    out = run_command(f"{PY} busy.py", cwd=str(tmp_path), env=dict(os.environ), timeout_s=30)
    assert out.exit_code == 0
    assert out.peak_rss_mb >= 80  # the 80 MiB block, seen by the psutil sampler
    assert out.cpu_s > 0


@posix_shell
def test_a_timeout_ends_the_tree_without_process_groups(windows_like: None, tmp_path) -> None:
    marker = tmp_path / "child-survived"
    out = run_command(f"sleep 3 && touch {marker} & sleep 30", cwd=str(tmp_path),
                      env=dict(os.environ), timeout_s=0.5)
    assert out.timed_out and out.exit_code != 0
    import time

    time.sleep(3.5)
    assert not marker.exists()  # the background child was ended with its parent


def test_maxrss_units_per_platform() -> None:
    assert maxrss_mb(2048, "linux") == 2.0  # KiB
    assert maxrss_mb(2 * 2**20, "darwin") == 2.0  # bytes
    assert maxrss_mb(2048, "freebsd13") == 2.0


@pytest.mark.skipif(sys.platform == "darwin" or not hasattr(os, "wait4"),
                    reason="fakes macOS on a Linux kernel (KiB)")
def test_macos_maxrss_is_read_in_bytes(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """A macOS-like kernel: ru_maxrss in bytes. The recorded peak must not be 1024x too big."""
    real_wait4 = os.wait4

    def bytes_wait4(pid: int, options: int):  # the Linux answer, rescaled as macOS reports it
        pid_, status, usage = real_wait4(pid, options)

        class Usage:
            ru_utime, ru_stime = usage.ru_utime, usage.ru_stime
            ru_maxrss = usage.ru_maxrss * 1024

        return pid_, status, Usage()

    monkeypatch.setattr(os, "wait4", bytes_wait4)
    monkeypatch.setattr(execute.sys, "platform", "darwin")
    out = run_command(f"{PY} -c \"b = bytearray(50 * 2**20)\"", cwd=str(tmp_path),
                      env=dict(os.environ), timeout_s=30)
    assert out.exit_code == 0
    assert 50 <= out.peak_rss_mb < 2000
