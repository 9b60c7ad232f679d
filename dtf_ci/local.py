"""``dtf local``: plan, run and aggregate on this machine, with an embedded history.

The same steps as in CI, on the same files (plan.json, shards, history, report), so a
developer gets the answer CI will give before pushing. Shards run in worker processes, wave
by wave; a live display shows which units are running.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import os
import shutil
import time
from pathlib import Path
from typing import Any

from dtf_ci import log


def _shard_worker(plan_path: str, shard_id: str, out_dir: str, queue: Any) -> dict[str, int]:
    """Run one shard in a worker process; report unit events through the queue."""
    from dtf_ci.run import execute_shard

    plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))

    def progress(event: str, unit: str, info: dict[str, Any]) -> None:
        queue.put((event, unit, info.get("status", "")))

    results = execute_shard(plan, shard_id, Path(out_dir), progress=progress)
    return {"units": len(results), "failed": sum(1 for r in results if r.status != "passed")}


class _Display:
    """Rich live progress when stderr is a terminal; one line per finished unit otherwise."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.done = 0
        self.running: dict[str, float] = {}
        self.live = None
        self.progress = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            console = Console(stderr=True)
            if console.is_terminal:
                self.progress = Progress(TextColumn("[bold]dtf local"), BarColumn(), MofNCompleteColumn(),
                                         TimeElapsedColumn(), TextColumn("{task.description}"), console=console)
                self.task = self.progress.add_task("", total=total)
                self.progress.start()

    def event(self, event: str, unit: str, status: str) -> None:
        if event == "start":
            self.running[unit] = time.monotonic()
        else:
            started = self.running.pop(unit, time.monotonic())
            self.done += 1
            if self.progress is None:
                mark = "✓" if status == "passed" else "✗"
                log.info(f"  {mark} {unit} {status} ({time.monotonic() - started:.1f}s) [{self.done}/{self.total}]")
        if self.progress is not None:
            desc = "running " + ", ".join(sorted(self.running)[:3]) if self.running else ""
            self.progress.update(self.task, completed=self.done, description=desc)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def run_waves(plan: dict[str, Any], plan_path: Path, shards_dir: Path, workers: int, show_progress: bool) -> None:
    total = len(plan.get("units", []))
    display = _Display(total, show_progress)
    ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    manager = ctx.Manager()
    queue = manager.Queue()
    try:
        waves = sorted({s["wave"] for s in plan.get("shards", [])})
        for wave in waves:
            shards = [s["id"] for s in plan["shards"] if s["wave"] == wave]
            with cf.ProcessPoolExecutor(max_workers=max(1, min(workers, len(shards))), mp_context=ctx) as pool:
                futures = {pool.submit(_shard_worker, str(plan_path), sid, str(shards_dir), queue): sid for sid in shards}
                pending = set(futures)
                while pending:
                    finished, pending = cf.wait(pending, timeout=0.1)
                    _drain(queue, display)
                    for fut in finished:
                        exc = fut.exception()
                        if exc is not None:
                            log.error(f"shard {futures[fut]} crashed: {exc}; its units will be reported as missing")
                _drain(queue, display)
    finally:
        display.close()
        manager.shutdown()


def _drain(queue: Any, display: _Display) -> None:
    while True:
        try:
            event, unit, status = queue.get_nowait()
        except Exception:  # queue.Empty through the manager proxy
            return
        display.event(event, unit, status)


def run_local_command(args: Any) -> int:
    from dtf_ci.aggregate import aggregate, print_summary
    from dtf_ci.errors import PolicyFailure
    from dtf_ci.history import open_history
    from dtf_ci.inventory import build_inventory
    from dtf_ci.plan import make_plan, write_plan
    from dtf_ci.providers import get_provider
    from dtf_ci.suite import load_suite

    suite = load_suite(args.suite)
    state = Path(args.dir)
    history_dir = state / "history"
    report_dir = state / "report"
    history_dir.mkdir(parents=True, exist_ok=True)
    workers = args.workers or os.cpu_count() or 1
    durations = None
    if getattr(args, "durations", None):
        from dtf_ci.estimates import load_durations

        durations = load_durations(args.durations)
    inventory = build_inventory(suite, "local", workers=workers)
    store = open_history(history_dir)
    plan = make_plan(suite, inventory, history=store, durations=durations)
    plan_path = state / "plan.json"
    write_plan(plan, plan_path)
    for item in plan.get("unschedulable", []):
        reasons = "; ".join(f"{t}: {r}" for t, r in item.get("reasons", {}).items())
        log.warning(f"task {item['task']} cannot run here ({reasons})")
    shards_dir = state / "shards"
    shutil.rmtree(shards_dir, ignore_errors=True)
    shards_dir.mkdir(parents=True)
    n_units, n_shards = len(plan.get("units", [])), len(plan.get("shards", []))
    log.info(f"dtf local: {n_units} units in {n_shards} shards, {workers} workers, run {plan.get('run-id')}")
    started = time.monotonic()
    run_waves(plan, plan_path, shards_dir, workers, show_progress=not args.no_progress)
    elapsed = time.monotonic() - started
    ctx = get_provider("local").context()
    result = aggregate(shards_dir, report_dir, plan=plan, history_spec=str(history_dir),
                       append="always", context=ctx, fail_on=args.fail_on)
    print_summary(result.verdicts, report_dir)
    log.info(f"ran in {elapsed:.1f}s (plan estimated {plan.get('makespan-s', 0):.1f}s); history: {history_dir}")
    for note in result.notes:
        log.info(f"note: {note}")
    if result.verdicts["policy"]["exit-code"]:
        from dtf_ci.policy import policy_message

        raise PolicyFailure(policy_message(result.verdicts["policy"]))
    return 0
