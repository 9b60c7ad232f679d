"""Interleaved A/B inside one job: the base revision and the head, alternately, ABBA.

Samples taken in one job share that job's machine: its CPU model, its neighbours, its
thermal state. Comparing them with samples from other jobs (history) counts the difference
between machines as a change in the code; on shared CI runners that difference (2.7 % from
job to job on GitHub-hosted runners, 10 % and more on busy self-hosted ones) is larger than
the changes teams care about. Running the base and the head alternately in the same job
cancels it: pair ``p`` is one base and one head sample taken back to back, and the order
alternates (base, head, head, base, base, head, ...), so a machine that speeds up or slows
down during the job moves both sides of a pair alike and the drift cancels over two pairs.

Each side gets ``repeat`` samples (``repetition`` = the pair's index, ``side`` = base or
head in the shard). The same suite file (the head's) is used for both sides; the commands
run in the base revision's worktree (:mod:`dtf_ci.basetree`). Dependencies of an
interleaved unit that ran earlier in the same shard (a ``build`` task) are run once in the
base tree too, so the base is built from its own sources.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dtf_ci import log
from dtf_ci.basetree import BaseTree, prepare_base
from dtf_ci.repeats import repeat_bounds
from dtf_ci.signedrank import MIN_PAIRS, undecided

if TYPE_CHECKING:
    from dtf_ci.run import ShardRunner, UnitResult


def has_interleaved(plan: dict[str, Any], units: list[str] | None = None) -> bool:
    """Does the plan (or these of its units) hold a ``baseline: interleaved`` task?"""
    tasks = plan.get("tasks", {})
    if units is None:
        return any(t.get("baseline") == "interleaved" for t in tasks.values())
    by_id = {u["id"]: u for u in plan.get("units", [])}
    return any(tasks.get(by_id.get(u, {}).get("task", ""), {}).get("baseline") == "interleaved" for u in units)


def base_for_shard(plan: dict[str, Any], shard: dict[str, Any], rev: str) -> BaseTree | None:
    """The base worktree for one shard's job, made only when the shard has interleaved units."""
    if not has_interleaved(plan, shard.get("units", [])):
        return None
    root = Path(plan.get("suite-root") or ".").resolve()
    base = prepare_base(rev, root)
    if base.error:
        log.error(f"interleaved units of shard {shard['id']} cannot be compared: {base.error}")
    else:
        log.info(f"base {rev} = {base.sha[:12]} checked out at {base.worktree}")
    return base


def _side_task(task: dict[str, Any], side: str) -> dict[str, Any]:
    return dict(task, env={**(task.get("env") or {}), "DTF_SIDE": side})


def _run_in(runner: ShardRunner, root: str, fn: Any) -> Any:
    """Run ``fn`` with the runner's working folder set to ``root`` (the base tree)."""
    saved = runner.root
    runner.root = root
    try:
        return fn()
    finally:
        runner.root = saved


def _same_shard_deps(runner: ShardRunner, unit: dict[str, Any]) -> list[str]:
    """Dependencies (transitive, dependencies first) that ran in this shard."""
    out: list[str] = []

    def visit(uid: str) -> None:
        for dep in runner.units_by_id.get(uid, {}).get("depends-on", []):
            if dep in runner.results and dep not in out:
                visit(dep)
                out.append(dep)

    visit(unit["id"])
    return out


def _build_base(runner: ShardRunner, unit: dict[str, Any], base: BaseTree) -> str:
    """Run the unit's same-shard dependencies once in the base tree; "" or why it failed."""
    from dtf_ci.run import UnitResult

    for dep in _same_shard_deps(runner, unit):
        if dep in runner.base_prepared:
            if runner.base_prepared[dep]:
                return runner.base_prepared[dep]
            continue
        dep_unit = runner.units_by_id[dep]
        dep_task = runner.plan["tasks"][dep_unit["task"]]
        if dep_task.get("baseline") == "interleaved":
            runner.base_prepared[dep] = ""  # it ran in the base tree already, alternately
            continue
        scratch = UnitResult(dep, dep_unit["task"], dep_unit["target"])
        _run_in(runner, base.root, lambda dep_unit=dep_unit, dep_task=dep_task, scratch=scratch:
                runner._run_repetition(dep_unit, _side_task(dep_task, "base"), None, 0,
                                       int(dep_task.get("retries") or 0), scratch))
        problem = "" if scratch.status == "passed" else (
            f"the base revision {base.rev} ({base.sha[:12]}) could not be built: {dep} "
            f"{scratch.status} in the base tree ({scratch.reason})")
        runner.base_prepared[dep] = problem
        if problem:
            return problem
    return ""


def _absorb(res: UnitResult, part: UnitResult) -> None:
    res.attempts += part.attempts
    res.wall_s += part.wall_s
    res.cpu_s += part.cpu_s
    res.peak_rss_mb = max(res.peak_rss_mb, part.peak_rss_mb)
    res.notes.extend(n for n in part.notes if n not in res.notes)


def _undecided(res: UnitResult, threshold: float) -> bool:
    """Adaptive pairs: more while any metric's change looks material but is not yet significant."""
    by_metric: dict[str, tuple[dict[int, float], dict[int, float]]] = {}
    for side, samples in ((0, res.base_samples), (1, res.samples)):
        for rep, m in samples:
            by_metric.setdefault(m.metric, ({}, {}))[side][rep] = m.value
    for base, head in by_metric.values():
        d = [math.log(head[r] / base[r]) for r in sorted(set(base) & set(head)) if base[r] > 0 and head[r] > 0]
        if d and undecided(d, threshold):
            return True
    return False


def run_interleaved(runner: ShardRunner, unit: dict[str, Any], task: dict[str, Any], res: UnitResult) -> None:
    """Take ``repeat`` samples per side in ABBA order; fill ``res`` (head) and its base samples.

    At least :data:`MIN_PAIRS` pairs (the signed-rank test cannot reach 1 % with fewer); then,
    like history-mode units' adaptive repeats, more pairs up to ``max-repeat`` (by default 3x
    ``repeat`` for a task with a format, see :func:`dtf_ci.repeats.repeat_bounds`) while a
    change looks material but is not yet significant.

    A base that cannot be checked out, built or run leaves the head's samples and an
    ``infrastructure`` reason on the unit: aggregate then calls the series inconclusive.
    """
    from dtf_ci.run import UnitResult

    base = runner.base
    assert base is not None
    repeat, max_repeat = repeat_bounds(task)
    pairs = max(repeat, MIN_PAIRS)
    most = max(pairs, max_repeat)
    threshold = float(task.get("threshold") or 0.03)
    retries = int(task.get("retries") or 0)
    fmt = task.get("format")
    problem = base.error or _build_base(runner, unit, base)
    pair = 0
    while pair < most:
        if pair >= pairs and (problem or not _undecided(res, threshold)):
            break
        order = ("base", "head") if pair % 2 == 0 else ("head", "base")
        for side in order:
            if side == "base" and problem:
                continue
            part = UnitResult(res.unit, res.task, res.target, gpu=res.gpu if side == "head" else None)
            side_task = _side_task(task, side)
            if side == "base":
                _run_in(runner, base.root, lambda part=part, side_task=side_task, pair=pair:
                        runner._run_repetition(unit, side_task, fmt, pair, retries, part))
            else:
                runner._run_repetition(unit, side_task, fmt, pair, retries, part)
            _absorb(res, part)
            if side == "head":
                res.gpu = part.gpu or res.gpu  # GPU use is the head's; the base's is not this unit's
                res.samples.extend(part.samples)
                res.exit_code, res.output_tail = part.exit_code, part.output_tail
                if part.status != "passed":
                    res.status, res.error_category, res.reason = part.status, part.error_category, part.reason
                    res.repeat = pair
                    return
            elif part.status != "passed":
                problem = (f"the base revision {base.rev} ({base.sha[:12]}) failed to run this unit: "
                           f"{part.reason or part.status}")
            else:
                res.base_samples.extend(part.samples)
        pair += 1
    repeat = pair
    res.repeat = repeat
    if problem:
        res.error_category, res.reason = "infrastructure", f"base: {problem}"
        res.base_samples.clear()  # half a base is no base: the series is inconclusive
        log.error(f"{unit['id']}: {res.reason}")

