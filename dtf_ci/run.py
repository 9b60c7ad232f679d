"""``dtf run``: execute one shard's units in order and write its result shard.

Retries are for the infrastructure only (the command could not start, was killed by a signal
from outside, the disk filled): re-running a failing test hides flakiness and wastes runner
time. A unit whose dependency failed is skipped with that reason, never run against stale
inputs. Every unit gets a row, whatever happened, so the report can say what is missing.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shlex
import shutil
import signal
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtf_ci import busy, gpu_sampling, limits, log
from dtf_ci.basetree import BaseTree
from dtf_ci.busy import UnitLoad
from dtf_ci.errors import PlanError, ResultsFormatError
from dtf_ci.execute import Outcome, run_command
from dtf_ci.model import PARSE_NOTES, Measurement
from dtf_ci.paths import PathRefused, confine, regular_file, relative_inside
from dtf_ci.repeats import repeat_bounds, should_stop
from dtf_ci.shard import ShardFiles, write_shard

ProgressFn = Callable[[str, str, dict[str, Any]], None]
#: Wraps the execution of one unit (its plan task dict): ``dtf local`` passes one that lets a
#: benchmark unit run alone while test units share the cores (dtf_ci.local.UnitGate).
GateFn = Callable[[dict[str, Any]], AbstractContextManager[None]]


@dataclass
class UnitResult:
    unit: str
    task: str
    target: str
    status: str = "passed"
    error_category: str = ""
    reason: str = ""
    attempts: int = 0
    repeat: int = 0
    started_at: str = ""
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    exit_code: int | None = None
    output_tail: list[str] = field(default_factory=list)
    samples: list[tuple[int, Measurement]] = field(default_factory=list)
    gpu: gpu_sampling.GpuUsage | None = None  # None: no NVML here, nothing sampled
    host_load: UnitLoad | None = None  # load average and CPU steal around the unit (dtf_ci.busy)
    base_samples: list[tuple[int, Measurement]] = field(default_factory=list)  # interleaved A/B
    notes: list[str] = field(default_factory=list)  # the format parser's notes, once each


NOTES_SHOWN = 5


def notes_reason(notes: list[str]) -> str:
    """A passed unit's reason for its parse notes: the first few, and how many more."""
    if not notes:
        return ""
    more = len(notes) - NOTES_SHOWN
    text = PARSE_NOTES + "; ".join(notes[:NOTES_SHOWN]) + (f"; … and {more} more" if more > 0 else "")
    return text[: limits.TEXT_MAX]


def _classify(outcome: Outcome) -> tuple[str, str, bool]:
    """(error category, reason, retry?) for a finished attempt; ('', '', False) when it passed."""
    if outcome.start_error:
        return "infrastructure", f"could not start: {outcome.start_error}", True
    if outcome.timed_out:
        return "timeout", "", False
    code = outcome.exit_code
    if code == 0:
        return "", "", False
    marker = outcome.infra_marker
    if marker:
        return "infrastructure", f"the machine failed: {marker!r} in the output", True
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        return "infrastructure", f"killed by signal {name} from outside dtf", True
    if code == 137:
        return "infrastructure", "killed by SIGKILL (out of memory?)", True
    if code == 127:
        missing = ""
        for line in reversed(outcome.tail):
            if "not found" in line:
                missing = line.strip()
                break
        return "command", f"command not found ({missing or 'exit 127'}): check the task's run and that the tool is installed on this target", False
    return "test", f"exited with code {code}", False


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


class ShardRunner:
    """Runs the units of one shard; holds what the units share (host, plan, folders)."""

    def __init__(self, plan: dict[str, Any], shard: dict[str, Any], *, out_dir: Path,
                 artifacts_dir: Path | None = None, progress: ProgressFn | None = None,
                 echo: bool = False, gate: GateFn | None = None, base: BaseTree | None = None) -> None:
        self.plan = plan
        self.gate: GateFn = gate or (lambda _task: nullcontext())
        self.shard = shard
        self.out_dir = out_dir
        self.artifacts_dir = artifacts_dir
        self.progress = progress or (lambda *_: None)
        self.echo = echo
        self.root = str(Path(plan.get("suite-root") or ".").resolve())
        self.units_by_id = {u["id"]: u for u in plan.get("units", [])}
        self.results: dict[str, UnitResult] = {}
        self.work = Path(tempfile.mkdtemp(prefix=f"dtf-{str(shard['id'])[:60]}-"))
        self.base = base  # the base revision's tree for `baseline: interleaved` units
        self.base_prepared: dict[str, str] = {}  # unit -> "" or why its base side failed

    def run(self) -> list[UnitResult]:
        try:
            for unit_id in self.shard["units"]:
                self.results[unit_id] = self._run_unit(self.units_by_id[unit_id])
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
        return list(self.results.values())

    def _failed_dependency(self, unit: dict[str, Any]) -> str | None:
        for dep in unit.get("depends-on", []):
            res = self.results.get(dep)
            if res is not None and res.status != "passed":
                return f"dependency {dep} {res.status}"
            if res is None and not self._import_artifacts(dep):
                return f"dependency {dep} (another shard) left no artifact"
        return None

    def _import_artifacts(self, dep_unit: str) -> bool:
        """Copy an earlier wave's ``produces`` into the suite folder; True when nothing is needed."""
        arts = [a for a in self.plan.get("artifacts", []) if a.get("unit") == dep_unit]
        if not arts or self.artifacts_dir is None:
            return True  # locally the files are already in place
        for art in arts:
            try:
                src = confine(self.artifacts_dir, str(art["name"]))
            except PathRefused as exc:
                log.error(f"artifact of {dep_unit} refused: {exc}")
                return False
            if not src.is_dir():
                return False
            shutil.copytree(src, self.root, dirs_exist_ok=True)
        return True

    def _export_artifacts(self, unit_id: str) -> None:
        for art in self.plan.get("artifacts", []):
            if art.get("unit") != unit_id:
                continue
            for rel in art.get("paths", []):
                try:  # produces stay inside the suite folder, and inside the artifact folder
                    dest = confine(self.out_dir / "artifacts", str(art["name"]))
                    src, target = confine(Path(self.root), str(rel)), dest / relative_inside(str(rel))
                except PathRefused as exc:
                    log.error(f"{unit_id}: produces {exc}; not exported")
                    continue
                if src.is_dir():
                    shutil.copytree(src, target, dirs_exist_ok=True)
                elif src.is_file():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, target)

    def _run_unit(self, unit: dict[str, Any]) -> UnitResult:
        task = self.plan["tasks"][unit["task"]]
        res = UnitResult(unit["id"], unit["task"], unit["target"])
        blocked = self._failed_dependency(unit)
        if blocked:
            res.started_at = _now()
            self.progress("start", unit["id"], {})
            res.status, res.error_category, res.reason = "skipped", "dependency", f"skipped: {blocked}"
            self.progress("end", unit["id"], {"status": res.status})
            return res
        with self.gate(task):
            res.started_at = _now()
            self.progress("start", unit["id"], {})
            before = busy.snapshot()
            res.repeat = self._repeat(unit, task, res)
            res.host_load = busy.between(before, busy.snapshot(), cpu_s=res.cpu_s, wall_s=res.wall_s)
        if res.status == "passed":
            self._export_artifacts(unit["id"])
        self.progress("end", unit["id"], {"status": res.status, "wall_s": res.wall_s})
        return res

    def _repeat(self, unit: dict[str, Any], task: dict[str, Any], res: UnitResult) -> int:
        """Run repetitions until the stop rule says enough; the number taken."""
        if task.get("baseline") == "interleaved" and self.base is not None:
            from dtf_ci.interleave import run_interleaved

            run_interleaved(self, unit, task, res)
            return res.repeat
        repeat, max_repeat = repeat_bounds(task, unit)
        retries = int(task.get("retries") or 0)
        threshold = float(task.get("threshold") or 0.03)
        fmt = task.get("format")
        rep = 0
        while rep < max_repeat:
            if self._enough(res, rep, repeat, max_repeat, threshold):
                break
            if not self._run_repetition(unit, task, fmt, rep, retries, res):
                break
            rep += 1
        return rep

    def _enough(self, res: UnitResult, n: int, repeat: int, max_repeat: int, threshold: float) -> bool:
        """The adaptive-repeat stop rule (dtf_ci.repeats): precise enough, or cannot become so."""
        by_metric: dict[str, list[float]] = {}
        for _, m in res.samples:
            by_metric.setdefault(m.metric, []).append(m.value)
        return should_stop(by_metric, n=n, repeat=repeat, max_repeat=max_repeat, threshold=threshold).stop

    def _run_repetition(self, unit: dict[str, Any], task: dict[str, Any], fmt: str | None,
                        rep: int, retries: int, res: UnitResult) -> bool:
        results_path = self.work / f"{unit['task']}-{rep}.out"
        command = task["run"].replace("{results}", shlex.quote(str(results_path)))
        env = dict(os.environ)
        env.update({str(k): str(v) for k, v in (task.get("env") or {}).items()})
        env.update({"DTF_UNIT": unit["id"], "DTF_TASK": unit["task"], "DTF_TARGET": unit["target"],
                    "DTF_REPETITION": str(rep), "DTF_RESULTS": str(results_path),
                    "DTF_RUN_ID": str(self.plan.get("run-id", ""))})
        for attempt in range(retries + 1):
            results_path.unlink(missing_ok=True)
            with gpu_sampling.sampling(res.gpu, env) as gpu:
                outcome = run_command(command, cwd=self.root, env=env,
                                      timeout_s=float(task.get("timeout-s") or 900), echo=self.echo)
            res.gpu = gpu or res.gpu
            res.attempts += 1
            res.wall_s += outcome.wall_s
            res.cpu_s += outcome.cpu_s
            res.peak_rss_mb = max(res.peak_rss_mb, outcome.peak_rss_mb)
            res.exit_code = outcome.exit_code
            res.output_tail = outcome.tail
            category, reason, retry = _classify(outcome)
            if category == "timeout":
                reason = f"timed out after {task.get('timeout-s')}s (the process group was killed); raise the task's timeout or make it faster"
            if not category:
                break
            if retry and attempt < retries:
                log.warning(f"{unit['id']}: {reason}; retrying ({attempt + 1} of {retries})")
                continue
            res.status, res.error_category, res.reason = "failed", category, reason
            return False
        return self._collect(fmt, results_path, rep, outcome, res)

    def _collect(self, fmt: str | None, path: Path, rep: int, outcome: Outcome, res: UnitResult) -> bool:
        if not fmt:
            res.samples.append((rep, Measurement("wall_s", outcome.wall_s, "s", "lower")))
            return True
        from dtf_ci.formats import parse_results

        if not path.exists():
            res.status, res.error_category = "failed", "parse"
            res.reason = f"the command exited 0 but wrote no results file for format {fmt} (is {{results}} passed to the tool's output option?)"
            return False
        try:
            regular_file(path, limits.max_results_bytes())  # a FIFO would hang, /dev/zero never end
        except PathRefused as exc:
            res.status, res.error_category = "failed", "parse"
            res.reason = f"results of repetition {rep}: {exc}"
            return False
        try:
            parsed = parse_results(fmt, path)
        except ResultsFormatError as exc:
            res.status, res.error_category = "failed", "parse"
            res.reason = f"results of repetition {rep}: {exc.place + ': ' if exc.place else ''}{exc.problem}"
            return False
        long_name = next((m for m in parsed.measurements
                          if len(m.metric) > limits.NAME_MAX or len(m.unit) > limits.NAME_MAX), None)
        if long_name is not None:  # names travel into badges, logs and the aggregate's checks
            res.status, res.error_category = "failed", "parse"
            res.reason = (f"results of repetition {rep}: a metric name or unit of more than {limits.NAME_MAX} "
                          f"characters ({log.inert(long_name.metric, 60)}); shorten the benchmark's names")
            return False
        for m in parsed.measurements:
            if math.isfinite(m.value):
                res.samples.append((rep, m))
        new_notes = [n for n in dict.fromkeys(parsed.notes) if n not in res.notes]
        for note in new_notes:  # each repetition's file says the same things: once each
            log.warning(f"{res.unit}: {log.inert(note, 300)}")
        res.notes.extend(new_notes)
        if parsed.failures:
            shown = ", ".join(parsed.failures[:5]) + (" …" if len(parsed.failures) > 5 else "")
            res.status, res.error_category = "failed", "test"
            res.reason = f"{len(parsed.failures)} of {parsed.tests} test cases failed: {shown}"
            return False
        if not parsed.measurements and not parsed.tests:
            res.status, res.error_category = "failed", "parse"
            res.reason = f"the results file held no measurements for format {fmt}"
            return False
        return True


def write_results(plan: dict[str, Any], shard: dict[str, Any], results: list[UnitResult],
                  out_dir: Path, base: BaseTree | None = None) -> ShardFiles:
    """Turn unit results into the shard's tables and write the shard files."""
    from dtf_ci.hardware import probe

    host = probe()
    run_id, shard_id, target = str(plan.get("run-id", "")), shard["id"], shard["target"]
    hosts = [(host.fingerprint, host.hostname, target, host.os, host.arch, host.cpu_model,
              host.cpu_count, host.memory_gb, json.dumps(list(host.labels)), json.dumps(host.facts),
              json.dumps(host.to_json(), sort_keys=True, default=str))]
    units, samples = [], []
    for r in results:
        reason = r.reason or (notes_reason(r.notes) if r.status == "passed" and not r.error_category else "")
        units.append((run_id, shard_id, r.unit, r.task, r.target, host.fingerprint, r.status,
                      r.error_category, reason, r.attempts, r.repeat, r.started_at,
                      round(r.wall_s, 6), round(r.cpu_s, 6), round(r.peak_rss_mb, 3),
                      r.exit_code, "\n".join(r.output_tail), *gpu_sampling.unit_columns(r.gpu)))
        for side, side_samples in (("head", r.samples), ("base", r.base_samples)):
            for rep, m in side_samples:
                samples.append((run_id, shard_id, r.task, r.target, host.fingerprint, m.metric, m.unit,
                                m.direction, rep, repr(float(m.value)), side))
    meta = {"target": target, "wave": str(shard.get("wave", 1)),
            "suite-sha256": str(plan.get("suite-sha256", "")),
            busy.META_KEY: busy.encode({r.unit: r.host_load for r in results if r.host_load})}
    if base is not None:
        meta.update({"base-rev": base.rev, "base-sha": base.sha, "base-error": base.error})
    return write_shard(out_dir, run_id=run_id, shard_id=shard_id, meta=meta, hosts=hosts,
                       units=units, samples=samples)


def execute_shard(plan: dict[str, Any], shard_id: str, out_dir: Path, *, artifacts_dir: Path | None = None,
                  progress: ProgressFn | None = None, echo: bool = False,
                  gate: GateFn | None = None, base_rev: str | None = None,
                  base: BaseTree | None = None) -> list[UnitResult]:
    """Run one shard and write it. ``base_rev`` (``--base``): this job makes the base worktree
    for its interleaved units and removes it afterwards; ``base``: one made by the caller."""
    shards = {s["id"]: s for s in plan.get("shards", [])}
    if shard_id not in shards:
        known = ", ".join(sorted(shards)) or "none"
        raise PlanError(f"the plan has no shard {shard_id!r} (its shards: {known})")
    shard = shards[shard_id]
    from dtf_ci.interleave import base_for_shard

    own_base = base is None and bool(base_rev)
    if own_base and base_rev:
        base = base_for_shard(plan, shard, base_rev)
    try:
        runner = ShardRunner(plan, shard, out_dir=out_dir, artifacts_dir=artifacts_dir,
                             progress=progress, echo=echo, gate=gate, base=base)
        results = runner.run()
    finally:
        if own_base:
            from dtf_ci.basetree import remove_base

            remove_base(base)
    write_results(plan, shard, results, out_dir, base=base)
    return results


def _load_plan(path: str) -> dict[str, Any]:
    from dtf_ci.plan import load_plan

    return load_plan(path)


def _base_arg(args: Any, plan: dict[str, Any]) -> tuple[str | None, BaseTree | None]:
    """``--base``: a revision, ``auto`` (the CI's merge-base or parent), or none.

    Returns (revision for this job to check out, or a BaseTree that already says why not).
    """
    rev = getattr(args, "base", None)
    from dtf_ci.interleave import has_interleaved

    if not rev or not has_interleaved(plan):
        return None, None
    if rev == "auto":
        from dtf_ci.cibase import resolve_ci_base

        found = resolve_ci_base(Path(plan.get("suite-root") or "."))
        log.info(f"--base auto: {found.describe()}")
        if found.error:
            return None, BaseTree("auto", error=found.error)
        return found.rev, None
    return str(rev), None


def run_shard_command(args: Any) -> int:
    """``dtf run``: 0 when every unit passed, 1 when some failed (the shard is written either way)."""
    plan = _load_plan(args.plan)
    out_dir = Path(args.out)
    artifacts = Path(args.artifacts) if getattr(args, "artifacts", None) else None
    from dtf_ci.ci import CIProvider, detect_ci_provider

    echo = detect_ci_provider() is not CIProvider.local

    def progress(event: str, unit: str, info: dict[str, Any]) -> None:
        if event == "start":
            log.info(f"▶ {unit}")
        else:
            log.info(f"  {unit}: {info.get('status')}")

    with log.group(f"dtf run {args.shard}"):
        base_rev, base = _base_arg(args, plan)
        results = execute_shard(plan, args.shard, out_dir, artifacts_dir=artifacts,
                                progress=progress, echo=echo, base_rev=base_rev, base=base)
    failed = [r for r in results if r.status != "passed"]
    for r in failed:
        log.error(f"{r.unit}: {r.status} ({r.error_category}): {r.reason}")
    log.info(f"shard {args.shard}: {len(results) - len(failed)} of {len(results)} units passed; "
             f"wrote {out_dir / (args.shard + '.duckdb')}")
    # The shard is the result: a failing unit is reported by aggregate, not by this job's status.
    return 0
