"""The plan: which units exist, on which target, in which wave and shard, and why.

``make_plan`` turns a validated suite and a runner inventory into the ``plan.json`` dict
(schema ``dtf.plan/1``, docs/file-formats.md): requirements are matched against each
target's labels and facts, tasks expand onto targets (``across: all`` / ``one``),
dependencies become waves, estimates come from history, and each (target, wave) is packed
into duration-balanced shards. The same inputs always give the same plan; only ``run-id``
and ``created-at`` differ between two calls.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dtf_ci.ci import is_jenkins
from dtf_ci.errors import PlanError, RequirementError, SuiteError
from dtf_ci.estimates import Estimator, history_inputs
from dtf_ci.inventory import Inventory
from dtf_ci.limits import pipeline_name
from dtf_ci.model import Suite, Task
from dtf_ci.plan_waves import TargetLimits, Unit, best_layout, lower_bound, place_tasks
from dtf_ci.requirements import facts_from_labels, merge_facts, parse_requirement

SCHEMA = "dtf.plan/1"
DEFAULT_JOB_OVERHEAD_S = 45.0


def default_run_id(env: dict[str, str] | None = None) -> str:
    """The CI's own run id (GitHub: run id-attempt; GitLab: pipeline id; Jenkins: build tag),
    else a UTC timestamp and 6 random hex: shards and history name the run the CI shows."""
    env = dict(os.environ) if env is None else env
    if env.get("GITHUB_RUN_ID"):
        return f"{env['GITHUB_RUN_ID']}-{env.get('GITHUB_RUN_ATTEMPT') or '1'}"
    if env.get("CI_PIPELINE_ID"):
        return f"gitlab-{env['CI_PIPELINE_ID']}"
    if env.get("BUILD_TAG") and is_jenkins(env):
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", env["BUILD_TAG"])
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


# --- changed paths -----------------------------------------------------------------------------

def _glob_regex(pattern: str) -> re.Pattern[str]:
    """GitHub Actions ``paths`` semantics: ``*`` stays within a folder, ``**`` crosses them."""
    pat = pattern.strip().removeprefix("./")
    if pat.endswith("/"):
        pat += "**"
    out, i = [], 0
    while i < len(pat):
        c = pat[i]
        if pat.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pat.find("]", i + 1)
            if j < 0:
                out.append(re.escape(c))
                i += 1
            else:
                body = pat[i + 1 : j].replace("\\", "\\\\")
                out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("^" + "".join(out) + "(?:/.*)?$")


def path_matches(pattern: str, path: str) -> bool:
    """Does a changed ``path`` match a task's ``paths`` glob (``src/**/*.py``, ``docs/``)?"""
    return bool(_glob_regex(pattern).match(path.strip().removeprefix("./")))


def select_by_paths(suite: Suite, changed: list[str] | None) -> tuple[set[str], list[dict[str, Any]]]:
    """Tasks to plan for these changed files, plus what they depend on; and the skipped ones."""
    if changed is None:
        return set(suite.tasks), []
    files = [f.strip().removeprefix("./") for f in changed if f.strip()]
    chosen: set[str] = set()
    for task in suite.tasks.values():
        if not task.paths:
            chosen.add(task.id)
            continue
        regexes = [_glob_regex(p) for p in task.paths]
        if any(rx.match(f) for f in files for rx in regexes):
            chosen.add(task.id)
    stack = list(chosen)
    while stack:
        tid = stack.pop()
        for dep in suite.resolved_dependencies(tid) if tid in suite.tasks else ():
            if dep in suite.tasks and dep not in chosen:
                chosen.add(dep)
                stack.append(dep)
    skipped = [{"task": t.id, "reason": f"no changed file matches paths: {', '.join(t.paths)}"}
               for t in suite.tasks.values() if t.id not in chosen]
    return chosen, skipped


# --- matching ----------------------------------------------------------------------------------

def target_facts(inventory: Inventory, history_facts: dict[str, dict[str, str]] | None = None) -> dict[str, dict[str, str]]:
    """Facts per target: the suite's, then detected ones from history, then label conventions."""
    history_facts = history_facts or {}
    return {name: merge_facts(info.spec.facts, history_facts.get(name), facts_from_labels(info.spec.runs_on))
            for name, info in inventory.targets.items()}


def match_task(task: Task, inventory: Inventory, facts: dict[str, dict[str, str]],
               cache: dict[tuple[str, ...], tuple[list[str], dict[str, str]]] | None = None,
               ) -> tuple[list[str], dict[str, str]]:
    """(targets that satisfy every requirement, {target: 'requires X: reason'} for the rest)."""
    if cache is not None:
        if task.requires not in cache:
            cache[task.requires] = match_task(task, inventory, facts)
        cached_ok, cached_failed = cache[task.requires]
        return list(cached_ok), dict(cached_failed)
    reqs = []
    for text in task.requires:
        try:
            reqs.append(parse_requirement(text))
        except RequirementError as exc:
            raise SuiteError([f"tasks.{task.id}.requires: {exc}"]) from exc
    ok: list[str] = []
    failed: dict[str, str] = {}
    for name, info in inventory.targets.items():
        for req in reqs:
            reason = req.check(info.spec.labels, facts[name])
            if reason is not None:
                failed[name] = f"requires {req.text}: {reason}"
                break
        else:
            ok.append(name)
    return ok, failed


def topological_tasks(suite: Suite, ids: Iterable[str]) -> list[str]:
    """Task ids with dependencies first, file order among equals; a cycle is a SuiteError."""
    id_set = set(ids)
    wanted = [t for t in suite.tasks if t in id_set]
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(tid: str, trail: list[str]) -> None:
        if state.get(tid) == 2:
            return
        if state.get(tid) == 1:
            cycle = trail[trail.index(tid):] + [tid]
            raise SuiteError([f"{suite.path}: tasks: dependency cycle {' -> '.join(cycle)}"])
        state[tid] = 1
        for dep in suite.resolved_dependencies(tid):
            if dep in suite.tasks:
                visit(dep, trail + [tid])
        state[tid] = 2
        order.append(tid)

    for tid in wanted:
        visit(tid, [])
    return [t for t in order if t in id_set]


# --- the plan ----------------------------------------------------------------------------------

def make_plan(suite: Suite, targets: Inventory, *, history: Any = None,
              durations: dict[str, float] | None = None, changed_files: list[str] | None = None,
              job_overhead: float | None = None, max_parallel: int | None = None,
              run_id: str | None = None, name: str | None = None) -> dict[str, Any]:
    """The plan.json dict for this suite on these targets (docs/file-formats.md, docs/planner.md).

    ``name`` is the pipeline's name (``dtf plan --name``): the aggregate step posts its PR
    comment and commit status under it (``dtf / NAME``); empty or ``dtf`` is the default."""
    hist = history_inputs(history)
    facts = target_facts(targets, hist.facts)
    estimator = Estimator(hist.durations, durations)
    notes = list(targets.notes) + list(hist.notes)
    limits = _limits(targets, job_overhead, max_parallel, hist.job_overheads)
    learned = {t: hist.job_overheads[t] for t in targets.targets
               if t in hist.job_overheads and job_overhead is None and targets.targets[t].job_overhead_s is None}
    if learned:
        notes.append("job start-up cost learned from history: "
                      + ", ".join(f"{t} {v:g} s" for t, v in sorted(learned.items())))

    selected, skipped = select_by_paths(suite, changed_files)
    order = topological_tasks(suite, selected)
    candidates: dict[str, list[str]] = {}
    unschedulable: list[dict[str, Any]] = []
    match_cache: dict[tuple[str, ...], tuple[list[str], dict[str, str]]] = {}
    for tid in order:
        task = suite.tasks[tid]
        ok, failed = match_task(task, targets, facts, match_cache)
        deps = suite.resolved_dependencies(tid)
        missing = [d for d in deps if d not in suite.tasks]
        blocked = [d for d in deps if d in suite.tasks and d not in candidates]
        if missing or blocked or not ok:
            if missing:
                why = f"depends on {missing[0]!r}, which is not a task of the suite"
            elif blocked:
                why = f"depends on {blocked[0]!r}, which cannot be scheduled"
            reasons = {name: (failed.get(name) or why) for name in targets.targets} if (missing or blocked) else failed
            if not targets.targets:
                reasons = {"*": "no target to plan on"}
            unschedulable.append({"task": tid, "reasons": reasons})
            continue
        candidates[tid] = ok

    placement = place_tasks(suite, order, candidates, estimator, limits)
    units: list[Unit] = []
    by_task: dict[str, dict[str, int]] = {}
    for tid in order:
        for target in placement.get(tid, []):
            est, source = estimator.estimate(suite.tasks[tid], target)
            u = Unit(len(units), tid, target, round(est, 3), source)
            units.append(u)
            by_task.setdefault(tid, {})[target] = u.index
    for u in units:
        for dep in suite.resolved_dependencies(u.task):
            placed = by_task.get(dep, {})
            if u.target in placed:
                u.deps.append(placed[u.target])
            else:
                u.deps.extend(sorted(placed.values()))

    target_order = list(targets.targets)
    result = best_layout(units, limits, target_order)
    bound = lower_bound(units, limits)
    makespan = round(result.makespan, 1)
    bound = round(bound, 1) if units else 0.0
    plan_overhead = job_overhead if job_overhead is not None else _common_overhead(limits)

    shards_json = [{"id": s.id, "wave": s.wave, "target": s.target,
                    "runs-on": list(targets.targets[s.target].spec.runs_on),
                    "units": [units[i].id for i in s.units], "estimate-s": round(s.load, 1)}
                   for s in result.shards]
    matrix = []
    for w in range(1, result.waves + 1):
        include = [{"shard": s["id"], "target": s["target"], "runs-on": s["runs-on"], "wave": w}
                   for s in shards_json if s["wave"] == w]
        if include:
            matrix.append({"include": include})
    return {
        "schema": SCHEMA,
        "run-id": run_id or default_run_id(),
        "name": pipeline_name(name),
        "created-at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "suite": suite.path,
        "suite-sha256": _sha256(suite.path),
        "suite-root": _relative(suite.root),
        "runners-source": targets.source,
        "notes": notes,
        "targets": {name: {"runs-on": list(info.spec.runs_on), "facts": facts[name],
                           "runners-online": info.online, "runners-offline": info.offline,
                           "autoscaled": info.spec.autoscaled, "max-runners": info.spec.max_runners}
                    for name, info in targets.targets.items()},
        "tasks": {tid: _task_json(suite.tasks[tid]) for tid in order if tid in by_task},
        "units": [{"id": u.id, "task": u.task, "target": u.target,
                   "depends-on": [units[d].id for d in u.deps], "estimate-s": u.est,
                   "estimate-source": u.source, "shard": u.shard} for u in units],
        "shards": shards_json,
        "unschedulable": unschedulable,
        "skipped-by-paths": skipped,
        "artifacts": _artifacts(suite, units),
        "matrix": matrix,
        "waves": len(matrix),
        "makespan-s": makespan,
        "lower-bound-s": bound,
        "job-overhead-s": plan_overhead,
    }


def _limits(inv: Inventory, job_overhead: float | None, max_parallel: int | None,
            learned: dict[str, float] | None = None) -> dict[str, TargetLimits]:
    """Slots and start-up cost per target: --job-overhead, else the inventory's own (local
    processes), else learned from history, else the default."""
    learned = learned or {}
    out = {}
    for name, info in inv.targets.items():
        slots = max(1, info.slots)
        if max_parallel:
            slots = min(slots, max(1, max_parallel))
        if job_overhead is not None:
            overhead = float(job_overhead)
        elif info.job_overhead_s is not None:
            overhead = info.job_overhead_s
        elif name in learned:
            overhead = learned[name]
        else:
            overhead = DEFAULT_JOB_OVERHEAD_S
        out[name] = TargetLimits(slots=slots, overhead=max(0.0, overhead))
    return out


def _common_overhead(limits: dict[str, TargetLimits]) -> float:
    values = {lim.overhead for lim in limits.values()}
    return values.pop() if len(values) == 1 else DEFAULT_JOB_OVERHEAD_S


def _artifacts(suite: Suite, units: list[Unit]) -> list[dict[str, Any]]:
    """``produces`` of a unit whose dependents run in another shard travel as an artifact."""
    consumers: dict[int, list[int]] = {}
    for u in units:
        for d in u.deps:
            if units[d].shard != u.shard and suite.tasks[units[d].task].produces:
                consumers.setdefault(d, []).append(u.index)
    out = []
    for d in sorted(consumers):
        u = units[d]
        name = re.sub(r'[^A-Za-z0-9._-]+', "-", f"dtf-produces-{u.task}-{u.target}")
        out.append({"name": name, "unit": u.id, "paths": list(suite.tasks[u.task].produces),
                    "consumers": [units[c].id for c in consumers[d]]})
    return out


def _task_json(task: Task) -> dict[str, Any]:
    return {"run": task.run, "format": task.format, "repeat": task.repeat, "timeout-s": task.timeout_s,
            "retries": task.retries, "threshold": task.threshold, "max-repeat": task.max_repeat,
            "produces": list(task.produces), "env": dict(task.env), "parallel": task.runs_in_parallel,
            "baseline": task.baseline, "threshold-auto": task.threshold_auto, "group": task.group}


def _sha256(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def _relative(folder: str) -> str:
    try:
        return os.path.relpath(folder) if folder else "."
    except ValueError:  # another drive on Windows
        return folder


# --- plan files --------------------------------------------------------------------------------

def write_plan(plan: dict[str, Any], path: str | Path) -> None:
    """Write plan.json atomically: a temporary file in the same folder renamed into place."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=str(target.parent))
    try:
        # One compact line from the C encoder: json.dump(indent=...) takes the pure-Python
        # path, seconds for a 20,000-task plan. Read it with `python -m json.tool plan.json`.
        text = json.dumps(plan, separators=(",", ":"))
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_plan(path: str | Path) -> dict[str, Any]:
    """Read a plan; PlanError names the file and what is wrong with it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PlanError(f"{path}: no such plan file (write one with `dtf plan --out {path}`)") from exc
    except OSError as exc:
        raise PlanError(f"{path}: cannot read the plan ({exc.strerror or exc})") from exc
    try:
        plan = json.loads(text)
    except ValueError as exc:
        raise PlanError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(plan, dict):
        raise PlanError(f"{path}: expected a JSON object with schema {SCHEMA!r}")
    if plan.get("schema") != SCHEMA:
        raise PlanError(f"{path}: schema is {plan.get('schema')!r}, this dtf reads {SCHEMA!r}")
    for key, kind in (("shards", list), ("units", list), ("tasks", dict), ("targets", dict)):
        if not isinstance(plan.get(key), kind):
            raise PlanError(f"{path}: {key!r} is missing or not a {kind.__name__}")
    return plan


def shard_of(plan: dict[str, Any], shard_id: str) -> dict[str, Any]:
    """The shard with this id; PlanError lists the ids the plan has."""
    for shard in plan.get("shards", []):
        if shard.get("id") == shard_id:
            return shard
    known = [s.get("id") for s in plan.get("shards", [])]
    shown = ", ".join(map(str, known[:20])) + (" ..." if len(known) > 20 else "")
    raise PlanError(f"plan has no shard {shard_id!r}; its shards: {shown or '(none)'}")
