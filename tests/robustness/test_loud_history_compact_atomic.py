"""``dtf history compact`` killed with SIGKILL at random moments never loses or half-shows a run.

A real ``dtf history compact`` process on a folder store, killed at random moments of its
work: after every kill a reader sees every run, once, with every value; the next compaction
finishes the job and changes nothing a reader sees.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dtf_ci.history import LocalStore
from tests.test_history_compact import add, snapshot

REPO = Path(__file__).resolve().parents[2]
KILLS = 8


@pytest.mark.slow
def test_compaction_killed_at_random_moments_keeps_every_run_readable(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "h")
    days = ["2026-08-03", "2026-08-20", "2026-09-03", "2026-09-20", "2026-10-01", "2026-10-15",
            "2026-11-02", "2026-11-20"]
    for i, day in enumerate(days):
        add(store, tmp_path, f"r{i}", f"{day}T10:00:00Z", 1.0 + i / 10)
    before = snapshot(store)
    rng = random.Random(int(os.environ.get("DTF_KILL_SEED", "13")))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "dtf_ci", "history", "compact", "--history", str(store.root())]
    killed = 0
    for attempt in range(3 * KILLS):
        keep = 6 - attempt % 5  # a different plan each time: months are merged again and again
        # The kill moment is a random fraction of how long this very compaction takes here and now
        # (timed on a copy of the store), so kills land mid-work on a quiet machine and on a loaded
        # one alike; fixed seconds (0.3-2.5 s) landed no kill at all once the machine was quiet.
        probe = tmp_path / f"probe-{attempt}"
        shutil.copytree(store.root(), probe)
        t0 = time.monotonic()
        subprocess.run(cmd[:-1] + [str(probe), "--keep-runs", str(keep)], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
        whole = time.monotonic() - t0
        shutil.rmtree(probe)
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd + ["--keep-runs", str(keep)], env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 0.95) * whole)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait(timeout=120)
        assert snapshot(store) == before, f"attempt {attempt} (keep {keep}, {time.monotonic() - t0:.1f} s)"
        if killed >= KILLS:
            break
    assert killed >= KILLS // 2, f"only {killed} kills landed during a compaction"
    done = subprocess.run(cmd + ["--keep-runs", "2"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert snapshot(store) == before
    root = store.root()
    assert sorted(p.name for p in (root / "runs").iterdir()) == ["r6", "r7"]
    assert sorted(p.name for p in (root / "months").iterdir()) == ["2026-08", "2026-09", "2026-10"]
