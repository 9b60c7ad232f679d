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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dtf_ci import log


class UnitGate:
    """Benchmark units run alone; other units (tests, builds) share the cores.

    Shards run in parallel worker processes, but a benchmark timed while another unit keeps
    a core busy measures the neighbour as much as the code. Every unit takes slots of one
    semaphore with as many slots as workers: a unit of a task with ``parallel: false`` (the
    default for tasks with a ``format``) takes them all, any other unit takes one. Slots are
    taken under one lock, so a waiting benchmark is not overtaken forever (no starvation) and
    two units never each hold part of what the other needs (no deadlock).
    """

    def __init__(self, slots: int, lock: Any, semaphore: Any) -> None:
        self.slots = max(1, slots)
        self.lock = lock
        self.semaphore = semaphore

    @contextmanager
    def __call__(self, task: dict[str, Any]) -> Iterator[None]:
        parallel = task.get("parallel")
        if parallel is None:
            parallel = task.get("format") is None
        need = 1 if parallel else self.slots
        with self.lock:
            for _ in range(need):
                self.semaphore.acquire()
        try:
            yield
        finally:
            for _ in range(need):
                self.semaphore.release()


def _shard_worker(plan_path: str, shard_id: str, out_dir: str, queue: Any,
                  gate: UnitGate | None = None, base: Any = None) -> dict[str, int]:
    """Run one shard in a worker process; report unit events through the queue."""
    from dtf_ci.run import execute_shard

    plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))

    def progress(event: str, unit: str, info: dict[str, Any]) -> None:
        queue.put((event, unit, info.get("status", "")))

    results = execute_shard(plan, shard_id, Path(out_dir), progress=progress, gate=gate, base=base)
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


def run_waves(plan: dict[str, Any], plan_path: Path, shards_dir: Path, workers: int, show_progress: bool,
              base: Any = None) -> None:
    total = len(plan.get("units", []))
    display = _Display(total, show_progress)
    ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    manager = ctx.Manager()
    queue = manager.Queue()
    gate = UnitGate(workers, manager.Lock(), manager.Semaphore(max(1, workers)))
    try:
        waves = sorted({s["wave"] for s in plan.get("shards", [])})
        for wave in waves:
            shards = [s["id"] for s in plan["shards"] if s["wave"] == wave]
            with cf.ProcessPoolExecutor(max_workers=max(1, min(workers, len(shards))), mp_context=ctx) as pool:
                futures = {pool.submit(_shard_worker, str(plan_path), sid, str(shards_dir), queue, gate, base): sid
                           for sid in shards}
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


class AcceptancePolicy:
    """Which runs ``dtf local`` appends to its history: the ones the user would accept.

    The history is the baseline of every later run. A run with a regression, a failed or
    missing unit, or measured on a busy host would move the baseline towards what went wrong:
    the next run then hides a real slowdown or reports a false improvement. Such a run is
    appended only with ``--accept`` (the change was intended). The exception is the very first
    run on a busy host: a busy baseline beats none, and it is marked as busy in the history
    (``dtf history list``; ``dtf history drop RUN`` removes it once a quiet run exists).
    """

    def __init__(self, *, accept: bool, has_baseline: bool) -> None:
        self.accept = accept
        self.has_baseline = has_baseline

    def __call__(self, verdicts: dict[str, Any]) -> tuple[bool, str]:
        counts = verdicts.get("counts") or {}
        run_id = verdicts.get("run-id") or "this run"
        problems = [f"{counts[v]} {v}" for v in ("regression", "failed", "missing") if counts.get(v)]
        busy = str(verdicts.get("host-busy") or "")
        only_busy = bool(busy and self.has_baseline and not problems)
        if busy and self.has_baseline:
            problems.append(busy.split(";")[0])
        if self.accept:
            why = f"run {run_id} appended to history with --accept" + (f" ({', '.join(problems)})" if problems else "")
            return True, why
        if problems:
            advice = ("rerun on a quieter host, or with --accept to take it anyway" if only_busy
                      else "if the change is intended, rerun with --accept")
            return False, (f"run {run_id} not appended to history ({', '.join(problems)}): the baseline "
                           f"stays the last accepted run; {advice}")
        if busy:
            return True, (f"run {run_id} appended as the first baseline although the {busy.split(';')[0]}; "
                          f"`dtf history drop {run_id}` once a quiet run exists")
        return True, ""


def _local_base(plan: dict[str, Any], rev: str | None) -> Any:
    """The base worktree for ``--base REV``, made once for the whole local run.

    Unlike a CI job (where the head's samples are still worth uploading), a developer at a
    terminal is better served by stopping at once when the base cannot be had: the message
    says how to get it.
    """
    from dtf_ci.interleave import has_interleaved

    if not rev:
        if has_interleaved(plan):
            log.warning("the suite has `baseline: interleaved` tasks but no --base was given: they are "
                        "compared with history (pass --base REV, e.g. --base HEAD~1 or --base main)")
        return None
    if not has_interleaved(plan):
        log.warning(f"--base {rev}: no task has `baseline: interleaved`, so nothing runs the base "
                    "(set it on a task or in defaults)")
        return None
    from dtf_ci.basetree import prepare_base
    from dtf_ci.errors import UsageError

    if rev == "auto":
        from dtf_ci.cibase import resolve_ci_base

        found = resolve_ci_base(Path(plan.get("suite-root") or "."))
        if found.error:
            raise UsageError(f"--base auto: {found.error}")
        log.info(f"--base auto: {found.describe()}")
        rev = found.rev
    # Outside the head's tree (the temporary folder): a test runner or a glob in the head must
    # never find the base's copy of the sources.
    base = prepare_base(rev, Path(plan.get("suite-root") or ".").resolve())
    if base.error:
        raise UsageError(base.error)
    log.info(f"base {rev} = {base.sha[:12]}: interleaved units run there and in the head alternately")
    return base


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
    from dtf_ci.calibrate import attach_calibration

    attach_calibration(plan, suite.root)
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
    base = _local_base(plan, getattr(args, "base", None))
    try:
        run_waves(plan, plan_path, shards_dir, workers, show_progress=not args.no_progress, base=base)
    finally:
        from dtf_ci.basetree import remove_base

        remove_base(base)
    elapsed = time.monotonic() - started
    ctx = get_provider("local").context()
    policy = AcceptancePolicy(accept=bool(getattr(args, "accept", False)), has_baseline=bool(store.runs()))
    result = aggregate(shards_dir, report_dir, plan=plan, history_spec=str(history_dir),
                       append=policy, context=ctx, fail_on=args.fail_on)
    print_summary(result.verdicts, report_dir)
    appended = f"appended run {plan.get('run-id')}" if result.appended else "not appended"
    log.info(f"ran in {elapsed:.1f}s (plan estimated {plan.get('makespan-s', 0):.1f}s); "
             f"history: {history_dir} ({appended})")
    for note in result.notes:
        log.info(f"note: {note}")
    if result.verdicts["policy"]["exit-code"]:
        from dtf_ci.policy import policy_message

        raise PolicyFailure(policy_message(result.verdicts["policy"]))
    return 0
