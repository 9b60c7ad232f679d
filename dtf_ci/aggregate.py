"""``dtf aggregate``: merge, decide, report, publish, append to history, apply the policy.

Order matters for "lose nothing": the report is written before anything is posted, posting
failures only degrade the report's notes, and history is appended last, atomically, and only
for runs on the main line. The exit code follows ``--fail-on`` once a report exists.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtf_ci import history_marks, log
from dtf_ci.errors import FatalError, HistoryError, InfrastructureError, PolicyFailure
from dtf_ci.verdicts import ORDER, decide, overall, read_run

VERDICTS_SCHEMA = "dtf.verdicts/1"


@dataclass
class AggregateResult:
    verdicts: dict[str, Any]
    report_files: dict[str, Path] = field(default_factory=dict)
    appended: bool = False
    notes: list[str] = field(default_factory=list)


def _missing_units(plan: dict[str, Any] | None, merge: Any, present: set[str]) -> list[dict[str, Any]]:
    """Every planned unit without a result, with the reason: its shard was absent or rejected,
    or its shard arrived without it. Missing units fail the run by default (:mod:`dtf_ci.policy`)."""
    if not plan:
        return []
    reasons = {r["shard"]: f"shard {r['shard']} rejected: {r['reason']}" for r in merge.rejected}
    for shard_id in merge.absent:
        reasons[shard_id] = f"shard {shard_id} produced no result (the job failed, was cancelled, or its artifact was not uploaded)"
    out = []
    for shard in plan.get("shards", []):
        for unit_id in shard["units"]:
            if unit_id in present:
                continue
            reason = reasons.get(shard["id"], f"shard {shard['id']} arrived without a result for {unit_id}")
            task, _, target = unit_id.partition("@")
            out.append({"unit": unit_id, "task": task, "target": target, "status": "missing",
                        "error_category": "", "reason": reason, "shard_id": shard["id"]})
    return out


def _annotate_rows(rows: list[dict[str, Any]], merged: str, hw_now: dict[Any, Any],
                   hw_changed: dict[Any, str], notes: list[str], plan: dict[str, Any] | None) -> None:
    """Hardware each series ran on, hardware changes, and machine-hygiene warnings."""
    from dtf_ci import hwbaseline, hygiene

    hwbaseline.apply_changed(rows, hw_changed)
    hwbaseline.annotate(rows, hw_now)
    hygiene.annotate_rows(rows, hygiene.host_facts(merged))
    tasks = (plan or {}).get("tasks") or {}
    unpaired = [r for r in rows if (tasks.get(r["task"]) or {}).get("baseline") == "interleaved"
                and r.get("baseline") != "interleaved" and r["verdict"] not in ("failed", "missing")
                and not str(r.get("reason") or "").startswith("base:")]
    for row in unpaired:
        row["reason"] = ((row.get("reason") or "") + "; " if row.get("reason") else "") + \
            "compared with history: this run had no --base for its interleaved task"
    if unpaired:
        notes.append(f"{len(unpaired)} series of interleaved tasks ran without a base revision and were "
                     "compared with history: pass --base REV (in CI: --base auto, the action's default)")
    flagged: dict[str, list[str]] = {}
    for row in rows:
        if row.get("hygiene"):
            for w in row["hygiene"]:
                if w not in flagged.setdefault(row["target"], []):
                    flagged[row["target"]].append(w)
            row["reason"] = (row.get("reason") or "").rstrip() + ("; " if row.get("reason") else "") + \
                "⚠ " + ", ".join(row["hygiene"])
    for target, warns in flagged.items():
        notes.append(f"machine hygiene on {target}: {', '.join(warns)}; timings there include the machine's "
                     "power management (set the governor to performance, turn turbo off, lock GPU clocks)")
    cal = (plan or {}).get("calibration") or {}
    if cal.get("file"):
        notes.append(f"threshold: auto from {cal['file']} (written by dtf calibrate): "
                     f"{len(cal.get('thresholds') or [])} series use their calibrated threshold")
    for target, kinds in hwbaseline.hardware_by_target(hw_now).items():
        notes.append(f"hardware: {target} ran on {' and '.join(kinds)}")


def aggregate(
    shards_dir: Path,
    report_dir: Path,
    *,
    plan: dict[str, Any] | None = None,
    history_spec: str | None = None,
    fdr: float = 0.05,
    append: str | Callable[[dict[str, Any]], tuple[bool, str]] = "auto",
    post: bool = False,
    context: Any = None,
    fail_on: str = "regression",
    pipeline: str = "",
) -> AggregateResult:
    from dtf_ci.merge import merge_shards
    from dtf_ci.providers import get_provider

    provider = get_provider(context.provider if context is not None else None)
    ctx = context if context is not None else provider.context()
    report_dir.mkdir(parents=True, exist_ok=True)
    merged_path = report_dir / "merged.duckdb"
    merge = merge_shards(shards_dir, merged_path, plan)
    if not merge.accepted and not (plan and plan.get("shards")):
        raise InfrastructureError(
            f"no usable shard in {shards_dir}"
            + (f" ({len(merge.rejected)} rejected: " + "; ".join(r["reason"] for r in merge.rejected) + ")" if merge.rejected else "")
            + "; check that the run jobs uploaded their dtf-shard-* artifacts"
        )
    run = read_run(str(merged_path))
    present = {u["unit"] for u in run.units}
    missing = _missing_units(plan, merge, present)
    skipped = [dict(u, status="missing") for u in run.units if u["status"] == "skipped"]
    thresholds = {tid: float(t.get("threshold", 0.03)) for tid, t in (plan or {}).get("tasks", {}).items()}
    notes: list[str] = []
    store, history, run_shas = None, {}, {}
    run_dates: dict[str, str] = {}
    no_baseline: str | None = None
    if history_spec:
        from dtf_ci.history import open_history, series_history

        try:
            store = open_history(history_spec)
            # In CI the baseline is the default branch's history; locally, whatever was run here.
            main = ctx.default_branch if ctx.provider != "local" and ctx.default_branch else None
            main_runs = [r for r in store.runs() if main is None or r.branch == main]
            run_shas = {r.run_id: r.sha for r in main_runs}
            run_dates = {r.run_id: r.created_at for r in main_runs}
            history = series_history(store, max_runs=30, branch=main)
        except HistoryError as exc:
            no_baseline = f"history unavailable because {exc}"
            notes.append(f"no baseline: {no_baseline}; every series is compared as new and this "
                         "run is not appended to history")
            log.warning(notes[-1])
            store, history, run_shas = None, {}, {}
    from dtf_ci import hwbaseline
    from dtf_ci.calibrate import series_thresholds
    from dtf_ci.paired import read_pairs

    hw_now = hwbaseline.current_keys(str(merged_path))
    hw_changed: dict[tuple[str, str, str], str] = {}
    if history and store is not None:
        past_ids = {rid for entries in history.values() for rid, _, _ in entries}
        history, hw_changed = hwbaseline.filter_history(history, hw_now, hwbaseline.history_keys(store, past_ids))
    rows, drift = decide(run, history, thresholds=thresholds, missing_units=missing + skipped, fdr=fdr,
                         main_line=ctx.on_main_line and ctx.provider != "local", sha=ctx.sha, run_shas=run_shas,
                         paired=read_pairs(str(merged_path)), series_thresholds=series_thresholds(plan))
    _annotate_rows(rows, str(merged_path), hw_now, hw_changed, notes, plan)
    history_marks.annotate_groups(rows, plan)
    busy_note = _set_aside_busy(rows, run)
    for sha in dict.fromkeys(r["landed_in"] for r in rows if r.get("landed_in")):
        # Usually this run's commit; an earlier one when the last runs already sat on the new level.
        landed = [r for r in rows if r.get("landed_in") == sha]
        shown = ", ".join(f"{r['task']}/{r['metric']} on {r['target']}" for r in landed[:5])
        more = f" and {len(landed) - 5} more" if len(landed) > 5 else ""
        notes.append(f"landed in {sha[:12]}: {len(landed)} change(s) on the main line: {shown}{more}")
    counts = Counter(r["verdict"] for r in rows)
    run_id = (plan or {}).get("run-id") or (merge.run_ids[0] if merge.run_ids else "")
    units = [_unit_row(u, run.host_load.get(u["unit"])) for u in run.units] + [_unit_row(u) for u in missing]
    verdicts = {
        "schema": VERDICTS_SCHEMA, "run-id": run_id, "sha": ctx.sha, "ref": ctx.ref,
        "branch": ctx.branch, "event": ctx.event, "pr": ctx.pr_number, "run-url": ctx.run_url,
        "overall": overall(counts), "counts": {v: counts.get(v, 0) for v in ORDER},
        "tested": sum(1 for r in rows if r.get("p_value") is not None), "fdr": fdr,
        "shards": {"accepted": [s.shard_id for s in merge.accepted], "rejected": merge.rejected,
                   "absent": merge.absent},
        "drift": drift, "host-busy": busy_note, "notes": notes, "series": rows, "units": units,
        "hardware": hwbaseline.hardware_by_target(hw_now),
        "unschedulable": (plan or {}).get("unschedulable", []), "no-baseline": no_baseline,
        # In CI without the plan (its artifact not downloaded), units that never ran are unseen.
        "plan-missing": plan is None and ctx.provider != "local",
        # What the dashboard's history charts link to: each run's commit, on the forge.
        "history-runs": history_marks.history_runs(rows, run_shas, run_dates),
        "repository": history_marks.repository_of(ctx),
    }
    if plan and ctx.provider != "local":
        verdicts["job-overhead-s"] = measure_job_overheads(merged_path, plan)
    _apply_policy(verdicts, fail_on)
    accepted = _acceptance(append, verdicts, store)
    result = AggregateResult(verdicts=verdicts, notes=notes)
    _write_json(report_dir / "verdicts.json", verdicts)
    from dtf_ci.report import write_report

    result.report_files = write_report(verdicts, report_dir, run_url=ctx.run_url or None)
    if post:
        _publish(provider, ctx, verdicts, report_dir, result, pipeline)
    if store is not None and verdicts["policy"]["missing-units"]:
        result.notes.append(f"history not appended: {verdicts['policy']['missing-units']} unit(s) "
                            "missing; a partial run never becomes a baseline")
        log.warning(result.notes[-1])
    elif accepted is not None:
        if accepted:
            result.appended = _append(store, verdicts, ctx, merged_path, plan, result)
    elif store is not None and _should_append(str(append), ctx):
        result.appended = _append(store, verdicts, ctx, merged_path, plan, result)
    elif store is not None:
        result.notes.append("history not appended: only runs on the default branch are appended (pull requests read it)")
    return result


def measure_job_overheads(merged: Path, plan: dict[str, Any]) -> dict[str, float]:
    """Per target, the median time from the plan's creation to the first unit of a wave-1 shard.

    That span is what one more CI job costs before it does any work: queueing for a runner,
    starting it, checking out, installing dtf. The planner learns it from history
    (``job-overhead-s`` in run.json) instead of assuming 45 s.
    """
    import datetime as dt
    import statistics

    import duckdb

    try:
        created = dt.datetime.strptime(str(plan.get("created-at")), "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return {}
    wave1 = {s["id"]: s["target"] for s in plan.get("shards", []) if s.get("wave") == 1}
    con = duckdb.connect(str(merged), read_only=True)
    try:
        rows = con.execute("SELECT shard_id, min(started_at) FROM units WHERE started_at IS NOT NULL GROUP BY shard_id").fetchall()
    finally:
        con.close()
    per_target: dict[str, list[float]] = {}
    for shard_id, first in rows:
        if shard_id in wave1 and first is not None:
            seconds = (first - created).total_seconds()
            if 0 <= seconds < 3600:  # clocks of different machines; ignore the absurd
                per_target.setdefault(wave1[shard_id], []).append(seconds)
    return {t: round(statistics.median(v), 1) for t, v in per_target.items()}


def _set_aside_busy(rows: list[dict[str, Any]], run: Any) -> str:
    """Series measured on a busy host: marked, their changes set aside (dtf_ci.busy)."""
    from dtf_ci.busy import set_aside_busy

    # An interleaved series ran base and head on the same busy host alike: the load cancels
    # out of its pairs, so its verdict stands.
    note = set_aside_busy([r for r in rows if r.get("baseline") != "interleaved"], run.host_load)
    if note:
        rows.sort(key=lambda r: (ORDER.index(r["verdict"]), r["task"], r["target"], r["metric"]))
        log.warning(note)
    return note


def _unit_row(u: dict[str, Any], load: Any = None) -> dict[str, Any]:
    keys = ("unit", "task", "target", "status", "error_category", "reason", "attempts", "wall_s",
            "cpu_s", "peak_rss_mb", "exit_code", "shard_id", "gpu_peak_mem_mb", "gpu_util_pct")
    row = {k: u.get(k) for k in keys}
    if load is not None:
        from dataclasses import asdict

        row["host_load"] = asdict(load)
        row["host_busy"] = load.busy()
    tail = u.get("output_tail") or ""
    row["output_tail"] = "\n".join(tail.splitlines()[-15:]) if u.get("status") == "failed" else ""
    return row


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    # Indented JSON forces Python's slow encoder; big runs get the compact, C-encoded form.
    indent = 1 if len(data.get("series", ())) <= 2000 else None
    tmp.write_text(json.dumps(data, indent=indent, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _acceptance(append: Any, verdicts: dict[str, Any], store: Any) -> bool | None:
    """With an acceptance policy for ``append`` (``dtf local``): its answer, noted in the report.

    None when ``append`` is a plain mode (auto/always/never) or there is no history.
    """
    if store is None or not callable(append):
        return None
    ok, why = append(verdicts)
    verdicts["history-append"] = {"accepted": ok, "why": why}
    if why:
        verdicts["notes"].append(why)
    return ok


def _should_append(mode: str, ctx: Any) -> bool:
    if mode == "always":
        return True
    if mode == "never":
        return False
    allowed = [b.strip() for b in os.environ.get("DTF_HISTORY_BRANCHES", "").split(",") if b.strip()]
    return bool(ctx.on_main_line or (ctx.pr_number is None and ctx.branch in allowed))


def _append(store: Any, verdicts: dict[str, Any], ctx: Any, merged: Path, plan: dict[str, Any] | None,
            result: AggregateResult) -> bool:
    from dtf_ci.shard import now_iso

    meta = {"run-id": verdicts["run-id"] or now_iso(), "created-at": now_iso(), "sha": ctx.sha,
            "ref": ctx.ref, "branch": ctx.branch, "event": ctx.event, "provider": ctx.provider,
            "suite-sha256": (plan or {}).get("suite-sha256", ""), "counts": verdicts["counts"],
            "overall": verdicts["overall"], "job-overhead-s": verdicts.get("job-overhead-s") or {},
            "host-busy": verdicts.get("host-busy") or "",
            "acceptance": (verdicts.get("history-append") or {}).get("why", "")}
    try:
        store.append(meta, merged)
    except FatalError as exc:
        result.notes.append(f"history not appended: {exc}")
        log.error(result.notes[-1])
        return False
    return True


def _publish(provider: Any, ctx: Any, verdicts: dict[str, Any], report_dir: Path, result: AggregateResult,
             pipeline: str = "") -> None:
    from dtf_ci.providers import PublishRequest, status_context
    from dtf_ci.report import render_comment, render_summary

    # The status says what the headline and the exit code say: one policy answer for all.
    # A named pipeline's comment says whose it is (its status context) in its footer.
    title = status_context(pipeline)
    request = PublishRequest(
        comment_markdown=render_comment(verdicts, title=title),
        summary_markdown=render_summary(verdicts, title=title),
        state=verdicts["policy"]["state"], description=status_description(verdicts),
        overall=verdicts["overall"], report_dir=str(report_dir), pipeline=pipeline,
    )
    # Each provider knows its own token variables (GitLab: DTF_GITLAB_TOKEN, GITLAB_TOKEN);
    # only GitHub's are read here, so a GitHub token never reaches GitLab's API.
    token = None
    if ctx.provider in ("github", "jenkins"):  # Jenkins hands a GitHub PR's report to GitHub
        token = os.environ.get("DTF_GITHUB_TOKEN") or os.environ.get("GITHUB_TOKEN")
    try:
        published = provider.publish(ctx, request, token=token)
    except Exception as exc:  # noqa: BLE001 - an API's odd answer must not cost the history append
        result.notes.append(f"could not publish the report: {exc}")
        log.error(result.notes[-1])
        return
    result.notes.extend(published.notes)


def _apply_policy(verdicts: dict[str, Any], fail_on: str) -> None:
    """Put the policy's answer and the headline it implies into ``verdicts`` (one source)."""
    from dtf_ci.policy import evaluate
    from dtf_ci.report_format import build_view

    verdicts["policy"] = evaluate(verdicts, fail_on)
    verdicts["headline"] = build_view(verdicts)["headline_plain"]


def status_description(verdicts: dict[str, Any]) -> str:
    """The commit status line: the report's headline, cut to GitHub's 140 characters."""
    text = " ".join(str(verdicts.get("headline") or "").split()) or "no series"
    return text if len(text) <= 140 else text[:139] + "…"


def policy_exit(verdicts: dict[str, Any], fail_on: str) -> int:
    """The exit code ``--fail-on`` gives this run (see :mod:`dtf_ci.policy`)."""
    from dtf_ci.policy import evaluate

    return int(evaluate(verdicts, fail_on)["exit-code"])


def print_summary(verdicts: dict[str, Any], report_dir: Path) -> None:
    """The terminal's summary table (dtf_ci.terminal)."""
    from dtf_ci.terminal import print_summary as _print

    _print(verdicts, report_dir)


def _pipeline(args: Any, plan: dict[str, Any] | None) -> str:
    """The pipeline's name: ``--name``, else the plan's (``dtf plan --name``), else the default."""
    from dtf_ci.limits import pipeline_name

    return pipeline_name(getattr(args, "name", None) or (plan or {}).get("name"))


def run_aggregate_command(args: Any) -> int:
    plan = None
    if args.plan:
        from dtf_ci.plan import load_plan

        plan = load_plan(args.plan)
    report_dir = Path(args.report_dir)
    with log.group("dtf aggregate"):
        result = aggregate(Path(args.shards), report_dir, plan=plan, history_spec=args.history,
                           fdr=args.fdr, append=args.append_history, post=args.post,
                           fail_on=args.fail_on, pipeline=_pipeline(args, plan))
    print_summary(result.verdicts, report_dir)
    for note in result.notes:
        log.info(f"note: {note}")
    log.set_output("verdict", result.verdicts["overall"])
    log.set_output("report-dir", str(report_dir))
    policy = result.verdicts["policy"]
    if policy["exit-code"]:
        from dtf_ci.policy import policy_message

        raise PolicyFailure(policy_message(policy))
    return 0
