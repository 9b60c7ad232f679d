"""``dtf plan`` and ``dtf validate``: the suite and the inventory in, plan.json and matrices out.

Kept apart from plan.py so the planner stays a pure function of its inputs; everything that
touches the terminal, files named on the command line or ``$GITHUB_OUTPUT`` lives here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dtf_ci import log
from dtf_ci.gcpause import paused_gc

OUTPUT_WAVES = 4  # matrix-1..matrix-4 and has-work-1..4 are always written


def _read_changed_files(path: str) -> list[str]:
    from dtf_ci.errors import UsageError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the changed-files list ({exc.strerror or exc})") from exc
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def write_outputs(plan: dict[str, Any], plan_path: str) -> bool:
    """The GitHub Actions outputs: ``matrix`` (wave 1), ``matrix-N``, ``has-work-N``, ...

    Outputs for waves 1..4 are written even when empty, so a fixed workflow can reference
    them; an empty wave's matrix is ``{"include":[]}`` with ``has-work-N`` false, and the
    workflow's ``if:`` on has-work keeps GitHub from ever starting a job on it.
    """
    matrices = plan.get("matrix", [])
    empty: dict[str, list[Any]] = {"include": []}
    first = matrices[0] if matrices else empty
    if not log.set_output("matrix", _compact(first)):
        return False
    for n in range(1, max(OUTPUT_WAVES, len(matrices)) + 1):
        m = matrices[n - 1] if n <= len(matrices) else empty
        log.set_output(f"matrix-{n}", _compact(m))
        log.set_output(f"has-work-{n}", "true" if m["include"] else "false")
    log.set_output("waves", str(len(matrices)))
    log.set_output("shards", str(len(plan.get("shards", []))))
    log.set_output("plan-path", plan_path)
    return True


def warn_unschedulable(plan: dict[str, Any]) -> None:
    for entry in plan.get("unschedulable", []):
        reasons = "; ".join(f"{t}: {r}" for t, r in entry["reasons"].items())
        log.warning(f"task {entry['task']!r} cannot run on any target ({reasons})")


def run_plan_command(args: argparse.Namespace) -> int:
    """Load, plan, write plan.json, print one matrix line per wave; 0 unless the input is bad."""
    with paused_gc():
        return _run_plan(args)


def _run_plan(args: argparse.Namespace) -> int:
    from dtf_ci.estimates import load_durations
    from dtf_ci.inventory import build_inventory, check_servable_in_ci
    from dtf_ci.plan import make_plan, write_plan
    from dtf_ci.suite import load_suite

    suite = load_suite(args.suite)
    inventory = build_inventory(suite, getattr(args, "runners", None), org=getattr(args, "org", None))
    check_servable_in_ci(inventory, getattr(args, "runners", None))
    durations = load_durations(args.durations) if getattr(args, "durations", None) else None
    changed = _read_changed_files(args.changed_files) if getattr(args, "changed_files", None) else None
    plan = make_plan(suite, inventory, history=getattr(args, "history", None), durations=durations,
                     changed_files=changed, job_overhead=getattr(args, "job_overhead", None),
                     max_parallel=getattr(args, "max_parallel", None), run_id=getattr(args, "run_id", None),
                     name=getattr(args, "name", None))
    out = getattr(args, "out", None) or "plan.json"
    from dtf_ci.calibrate import attach_calibration

    attach_calibration(plan, suite.root)
    write_plan(plan, out)
    for note in plan["notes"]:
        (log.warning if note.startswith("warning:") else log.info)(note.removeprefix("warning: "))
    warn_unschedulable(plan)
    matrices = plan["matrix"]
    for m in matrices or [{"include": []}]:
        print(_compact(m))
    write_outputs(plan, out)
    log.info(f"plan: {len(plan['units'])} units in {len(plan['shards'])} shards over "
             f"{plan['waves']} wave(s); estimated {plan['makespan-s']:.0f} s "
             f"(lower bound {plan['lower-bound-s']:.0f} s) -> {out}")
    return 0


def run_validate_command(args: argparse.Namespace) -> int:
    """Print, per task, the targets it runs on and why each other target cannot run it.

    Returns 0 even when a task can run nowhere (it is printed as a warning): a suite may
    name hardware this machine or inventory lacks, and CI on other runners still runs it.
    Bad suites raise SuiteError, which the CLI turns into exit 2.
    """
    from dtf_ci.inventory import build_inventory
    from dtf_ci.plan import make_plan, match_task, target_facts
    from dtf_ci.suite import load_suite

    suite = load_suite(args.suite)
    inventory = build_inventory(suite, getattr(args, "runners", None))
    plan = make_plan(suite, inventory, run_id="validate")
    per_task: dict[str, list[str]] = {}
    for unit in plan["units"]:
        per_task.setdefault(unit["task"], []).append(unit["target"])
    blocked = {e["task"]: e["reasons"] for e in plan["unschedulable"]}
    facts = target_facts(inventory)
    for tid, task in suite.tasks.items():
        matches, failed = match_task(task, inventory, facts)
        on = per_task.get(tid, [])
        if tid in blocked:
            print(f"{tid}: (no target)")
        elif task.across == "one" and len(matches) > 1:
            print(f"{tid}: {', '.join(matches)} (across: one -> {', '.join(on)})")
        else:
            print(f"{tid}: {', '.join(on)}")
        reasons = blocked.get(tid, failed)
        for target in inventory.targets:
            if target not in on and target in reasons:
                print(f"  not {target}: {reasons[target]}")
    for target in inventory.targets:
        units = [u["id"] for u in plan["units"] if u["target"] == target]
        shards = [s for s in plan["shards"] if s["target"] == target]
        print(f"target {target}: {len(units)} unit(s) in {len(shards)} shard(s)")
    for note in plan["notes"]:
        log.info(note)
    warn_unschedulable(plan)
    def count(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    print(f"suite OK: {count(len(suite.tasks), 'task')}, {count(len(plan['units']), 'unit')} on "
          f"{count(len(inventory.targets), 'target')}")
    return 0
