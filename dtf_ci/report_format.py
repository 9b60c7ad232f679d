"""Turn raw ``verdicts.json`` values into the words and numbers a person reads.

``report.py`` renders templates; this module decides what goes in them: units scaled so a
reader never counts zeros (``420 ns``, not ``4.2e-07 s``), changes as signed percents with
their interval, markdown that survives task names with ``|`` or backticks, and one view
model that tolerates a partial or older ``verdicts.json`` (a report must never fail because
a key is missing). Nothing here imports more than the standard library.
"""

from __future__ import annotations

import math
import re
from typing import Any

from dtf_ci.gpu_sampling import report_rows as gpu_report_rows
from dtf_ci.model import PARSE_NOTES

VERDICT_ORDER = (
    "failed",
    "regression",
    "missing",
    "inconclusive",
    "improvement",
    "new",
    "unchanged",
)
"""Worst first: ``overall`` is the first of these that is present (file-formats.md)."""

VERDICT_ICON = {
    "failed": "❌",
    "regression": "🔴",
    "missing": "🟠",
    "inconclusive": "🟡",
    "improvement": "🟢",
    "new": "🆕",
    "unchanged": "⚪",
}
HEADLINE_ICON = {"failed": "🔴", "regression": "🔴", "missing": "🟡", "inconclusive": "🟡"}

_TIME_UNITS = {"s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_TIME_STEPS = ((1e-9, "ns"), (1e-6, "µs"), (1e-3, "ms"), (1.0, "s"))
_BYTE_UNITS = {"b": 1.0, "bytes": 1.0, "kb": 1e3, "mb": 1e6, "gb": 1e9}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]|#!~])")


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 regression`` / ``2 regressions``: headlines read as sentences."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ZWSP = "\u200b"
# What GitHub and GitLab turn into live mentions, references and links in plain text.
# (``@`` only where a mention can start: ``task@target`` and e-mail addresses are no mentions.)
_LIVE = re.compile(r"(?<=(?<!\w)@)(?=\w)|(?<=[#!$~%&])(?=\w)|(?<=:)(?=//)|(?<=\bwww)(?=\.)", re.IGNORECASE)


def inert_text(text: str) -> str:
    """No mention (``@org/team``), issue or merge request reference, or bare link stays live.

    A zero-width space after ``@``/``#``/``!`` and inside ``://``/``www.`` breaks the pattern
    GitHub and GitLab look for, and reads the same. Entities would not do: GitHub finds
    mentions in the rendered text, after ``&#64;`` has become ``@`` again.
    """
    return _LIVE.sub(_ZWSP, text)


def md(text: Any, limit: int = 300) -> str:
    """Escape text for a markdown table cell: one line, no accidental code, links, mentions or columns."""
    s = " ".join(_CONTROL.sub(" ", str("" if text is None else text)).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = inert_text(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", s)


def _num(x: Any) -> float | None:
    """A finite float or None: JSON from other tools may carry null, strings or NaN."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def sig(x: float, digits: int = 3) -> str:
    """Three significant digits without scientific notation for everyday magnitudes."""
    if x == 0:
        return "0"
    if not math.isfinite(x):  # a value past float range must not blank the whole report
        return "—" if math.isnan(x) else ("∞" if x > 0 else "−∞")
    if not 1e-6 <= abs(x) < 1e15:  # 1e-300 would print 300 zeros
        return f"{x:.{digits - 1}e}"
    mag = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - mag)
    return f"{x:,.{decimals}f}"


def unit_scale(unit: str, values: list[float]) -> tuple[float, str]:
    """Pick one divisor and unit label for a set of values (a chart axis, a table row).

    Times are rescaled to ns/µs/ms/s, bytes to kB/MB/GB, rates (``ops/s``) to k/M/G, so a
    baseline and a current value of the same series always share one unit.
    """
    u = (unit or "").strip()
    finite = [abs(v) for v in values if v is not None and math.isfinite(v) and v != 0]
    ref = min(finite) if finite else 0.0
    low = u.lower()
    if low in _TIME_UNITS or u in _TIME_UNITS:
        base = _TIME_UNITS.get(u, _TIME_UNITS.get(low, 1.0))
        if not ref:
            return 1.0, u
        seconds = ref * base
        if seconds >= 120 and base == 1.0:
            return 1.0, "s"
        for step, label in reversed(_TIME_STEPS):
            if seconds >= step * 0.9995:
                return step / base, label
        return 1e-9 / base, "ns"
    if low in _BYTE_UNITS:
        base = _BYTE_UNITS[low]
        for step, label in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
            if ref * base >= step:
                return step / base, label
        return 1.0 / base if base != 1.0 else 1.0, "B"
    if ref >= 1e4:
        for step, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if ref >= step:
                return step, f"{prefix} {u}".strip() if "/" in u or not u else f"{prefix}{u}"
    return 1.0, u


def fmt_value(x: Any, unit: str, scale: tuple[float, str] | None = None) -> str:
    """One measured value with a human unit: ``12.0 ms``, ``1.85 M tokens/s``."""
    v = _num(x)
    if v is None:
        return "—"
    div, label = scale or unit_scale(unit, [v])
    return f"{sig(v / div)} {label}".strip()


def fmt_pct(ratio: Any) -> str:
    """A ratio as a signed percent change: ``1.312`` → ``+31.2%``."""
    r = _num(ratio)
    if r is None:
        return "—"
    pct = (r - 1.0) * 100.0
    if abs(pct) < 0.05:
        return "±0.0%"
    text = f"{abs(pct):.1f}" if abs(pct) < 100 else f"{abs(pct):,.0f}" if abs(pct) < 1e6 else f"{abs(pct):.2e}"
    return ("+" if pct > 0 else "−") + text + "%"


def fmt_ci(low: Any, high: Any) -> str:
    """The interval of the change, in the same signed percent words."""
    lo, hi = _num(low), _num(high)
    if lo is None or hi is None:
        return ""
    return f"{fmt_pct(lo)} … {fmt_pct(hi)}"


def fmt_p(p: Any) -> str:
    """p-values the way papers print them: ``<0.001`` rather than ``8e-05``."""
    v = _num(p)
    if v is None:
        return "—"
    if v < 0.001:
        return "<0.001"
    return f"{v:.3f}" if v < 0.1 else f"{v:.2f}"


def fmt_seconds(x: Any) -> str:
    """Wall time of a unit: ``3.2 s``, ``4 min 12 s``."""
    v = _num(x)
    if v is None:
        return "—"
    if v < 60:
        return fmt_value(v, "s")
    m, s = divmod(int(round(v)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def metric_change(s: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """The change of the metric itself (current / baseline) with its interval.

    ``verdicts.json`` calls its ratio direction-aware; a throughput metric may carry
    baseline/current instead of current/baseline. The medians settle which: the ratio closer
    to ``current/baseline`` in log space is kept, otherwise ratio and interval are inverted.
    A reader then sees "ops/s −12%" for a slower throughput, which is what the metric did.
    """
    ratio, lo, hi = _num(s.get("ratio")), _num(s.get("ci_low")), _num(s.get("ci_high"))
    base, cur = _num(s.get("baseline_median")), _num(s.get("current_median"))
    if ratio is None and base and cur is not None:
        ratio = cur / base
    if ratio is None or ratio <= 0:
        return ratio, lo, hi
    if base and cur and base > 0 and cur > 0:
        raw = math.log(cur / base)
        if abs(raw - math.log(ratio)) > abs(raw + math.log(ratio)) + 1e-12:
            inv = [1.0 / x if x else None for x in (hi, lo)]
            return 1.0 / ratio, inv[0], inv[1]
    return ratio, lo, hi


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def _host_name(d: dict[str, Any]) -> str:
    return _text(d.get("hostname") or d.get("host") or d.get("host_id") or d.get("host-id") or "?")


def drift_line(d: Any) -> str:
    """One drift finding as a sentence: "machine problem on host X (target Y): 38 of 40 ...".

    Reads the aggregate's shape (``hostname``, ``target``, ``factor``, ``series_count``,
    ``share``, ``series``) and tolerates older spellings (``affected``/``total``/``ratio``).
    """
    if not isinstance(d, dict):
        return _text(d)
    words = f"machine problem on host {_host_name(d)}"
    if d.get("target"):
        words += f" (target {d['target']})"
    moved = d.get("affected", d.get("series"))
    moved = len(moved) if isinstance(moved, list) else _num(moved)
    total = _num(d.get("series_count", d.get("total")))
    share = _num(d.get("share"))
    if moved is None and share is not None and total:
        moved = round(share * total)
    factor = _num(d.get("factor", d.get("ratio")))
    detail = []
    if moved is not None:
        detail.append(
            f"{moved:g} of {total:g} series" if total else plural(int(moved), "series", "series")
        )
    if factor is not None:
        detail.append(f"×{factor:.2f} together")
    if detail:
        return words + ": " + " ".join(detail)
    return words + (": " + _text(d["reason"]) if d.get("reason") else "")


def _change_text(s: dict[str, Any], ratio: float | None, unit: str) -> str:
    """The change as a percent; from a baseline of 0 (no ratio) as the difference, ``+2 B``."""
    diff = _num(s.get("difference"))
    if ratio is not None or diff is None:
        return fmt_pct(ratio)
    sign = "+" if diff > 0 else "−" if diff < 0 else "±"
    return f"{sign}{sig(abs(diff))}" + (f" {unit}" if unit else "")


def _series_row(s: dict[str, Any]) -> dict[str, Any]:
    """A series with everything the templates and the dashboard show, computed once."""
    ratio, lo, hi = metric_change(s)
    unit = _text(s.get("unit"))
    cur_vals = [v for v in (_num(x) for x in s.get("current_values") or []) if v is not None]
    hist: list[dict[str, Any]] = []
    medians: list[float] = []
    for h in s.get("history") or []:
        median = _num(h.get("median")) if isinstance(h, dict) else None
        if median is not None:
            hist.append({"run": _text(h.get("run-id", h.get("run_id", ""))), "median": median})
            medians.append(median)
    base, cur = _num(s.get("baseline_median")), _num(s.get("current_median"))
    scale = unit_scale(unit, [v for v in (base, cur) if v is not None] or cur_vals or medians)
    verdict = _text(s.get("verdict")) or "inconclusive"
    group = s.get("group")
    return {
        "task": _text(s.get("task")),
        "metric": _text(s.get("metric")),
        "target": _text(s.get("target")),
        "unit": unit,
        "verdict": verdict,
        "icon": VERDICT_ICON.get(verdict, "•"),
        "direction": _text(s.get("direction")) or "lower",
        "change": ratio,
        "change_text": _change_text(s, ratio, unit),
        "ci_text": fmt_ci(lo, hi),
        "p_text": fmt_p(s.get("p_value")),
        "p_value": _num(s.get("p_value")),
        "baseline_text": fmt_value(base, unit, scale),
        "current_text": fmt_value(cur, unit, scale),
        "baseline": base,
        "current": cur,
        "baseline_n": _num(s.get("baseline_n")),
        "current_n": _num(s.get("current_n")),
        "reason": _text(s.get("reason")),
        "scale": [scale[0], scale[1]],
        "history": hist,
        "current_values": cur_vals,
        "group": group if isinstance(group, str) else "",
        "changes": _chart_changes(s.get("change_points")),
        "window": _baseline_window(s, hist),
    }


def _chart_changes(raw: Any) -> list[dict[str, Any]] | None:
    """The change points of a series' history as the chart marks them (``change_points`` in
    verdicts.json: :func:`dtf_ci.history_changes.describe` objects), each field checked.
    None when they were not looked for (a missing series, an older verdicts.json): the chart
    must not say "no change of level" about a history nobody examined."""
    if not isinstance(raw, list):
        return None
    out = []
    for c in raw:
        if not isinstance(c, dict) or not isinstance(c.get("run-id"), str):
            continue
        raw_range = c.get("commit-range")
        rng: dict[str, Any] = raw_range if isinstance(raw_range, dict) else {}
        out.append({
            "run": c["run-id"], "from_run": _text(rng.get("from-run")), "to_run": _text(rng.get("to-run")),
            "from_sha": _text(rng.get("from")), "to_sha": _text(rng.get("to")),
            "before": _num(c.get("before")), "after": _num(c.get("after")),
            "relative": _num(c.get("relative")), "sigmas": _num(c.get("sigmas")),
            "confidence": _num(c.get("confidence")),
            "kind": "regression" if c.get("kind") == "regression" else "improvement",
        })
    return out


def _baseline_window(s: dict[str, Any], hist: list[dict[str, Any]]) -> list[str] | None:
    """First and last run of the baseline window this run was compared with, or None.

    From ``baseline_window`` when verdicts.json has it; an older file's ``baseline_runs``
    counts the last runs of its history. An interleaved series had no window: its base ran
    in the same job.
    """
    if s.get("baseline") == "interleaved":
        return None
    w = s.get("baseline_window")
    if isinstance(w, dict) and isinstance(w.get("from-run"), str) and isinstance(w.get("to-run"), str):
        return [w["from-run"], w["to-run"]]
    k = s.get("baseline_runs")
    if isinstance(k, int) and not isinstance(k, bool) and 0 < k <= len(hist):
        return [hist[-k]["run"], hist[-1]["run"]]
    return None


def _severity(row: dict[str, Any]) -> float:
    """How far from no change, in log space, so −20% and +25% rank alike."""
    c = row["change"]
    return abs(math.log(c)) if c and c > 0 else 0.0


def _targets_phrase(rows: list[dict[str, Any]]) -> str:
    names = sorted({r["target"] for r in rows if r["target"]})
    return " on " + ", ".join(names) if names else ""


def _bad_units(
    verdicts: dict[str, Any], by: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Units that failed, were skipped or are missing: failed first, each with its reason."""
    units = verdicts.get("units")
    out = [
        {
            "unit": _text(u.get("unit")),
            "status": _text(u.get("status")),
            "category": _text(u.get("error_category")),
            "reason": _text(u.get("reason")),
            "wall_text": fmt_seconds(u.get("wall_s")),
            "output_tail": _text(u.get("output_tail")),
        }
        for u in (units if isinstance(units, list) else [])
        if isinstance(u, dict) and u.get("status") in ("failed", "skipped", "missing")
    ]
    known = {u["unit"] for u in out}
    for r in by["failed"] + by["missing"]:  # a series whose unit is not listed still gets a row
        name = f"{r['task']}@{r['target']}"
        if name not in known:
            known.add(name)
            out.append(
                {
                    "unit": name,
                    "status": r["verdict"],
                    "category": "",
                    "reason": r["reason"],
                    "wall_text": "—",
                }
            )
    rank = {"failed": 0, "missing": 1, "skipped": 2}
    return sorted(out, key=lambda u: (rank.get(u["status"], 3), u["unit"]))


def _parse_notes(units: Any) -> list[str]:
    """What format parsers noted about passed units' results files (``dtf run`` keeps it in
    the unit's reason): a duplicate benchmark name kept apart, a value the tool wrote that dtf
    replaced. A person should see it beside the numbers it explains."""
    return [
        f"parse notes for {_text(u.get('unit'))}: {_text(u.get('reason')).removeprefix(PARSE_NOTES)}"
        for u in (units if isinstance(units, list) else [])
        if isinstance(u, dict) and u.get("status") == "passed" and not u.get("error_category")
        and _text(u.get("reason")).startswith(PARSE_NOTES)
    ]


def _unit_targets(units: list[dict[str, Any]], status: str | None = None) -> set[str]:
    return {
        u["unit"].rpartition("@")[2]
        for u in units
        if "@" in u["unit"] and status in (None, u["status"])
    }


def _headline(
    by: dict[str, list[dict[str, Any]]],
    bad: list[dict[str, Any]],
    drift: list[Any],
    targets: list[str],
) -> tuple[list[str], list[str]]:
    """The headline's parts and the "also" line.

    The headline answers "slower? where? how sure?" (failures, regressions with the worst
    change, missing units, machine problems); counts that do not change the answer
    (inconclusive, new, improvements next to a regression) go on the line below.
    """
    n_failed = sum(1 for u in bad if u["status"] == "failed") or len(by["failed"])
    n_skipped = sum(1 for u in bad if u["status"] == "skipped")
    n_missing = sum(1 for u in bad if u["status"] == "missing") or max(0, len(by["missing"]) - n_skipped)
    parts: list[str] = []
    also: list[str] = []
    if n_failed:
        where = sorted(_unit_targets(bad, "failed"))
        parts.append(
            plural(n_failed, "unit") + " failed" + (" on " + ", ".join(where) if where else "")
        )
    if by["regression"]:
        worst = by["regression"][0]
        parts.append(
            plural(len(by["regression"]), "regression")
            + _targets_phrase(by["regression"])
            + (f" (worst {worst['change_text']})" if worst["change"] else "")
        )
    if n_missing:
        parts.append(plural(n_missing, "unit") + " missing")
    if n_skipped:  # the same words as the unit table and the terminal
        parts.append(plural(n_skipped, "unit") + " skipped (dependency)")
    if drift:
        hosts = [_host_name(d) for d in drift if isinstance(d, dict)]
        parts.append("⚠️ machine problem" + (" on " + ", ".join(hosts) if hosts else ""))
    n_series = sum(len(rows) for rows in by.values())
    if parts:
        parts.append(f"{plural(len(by['unchanged']), 'series', 'series')} unchanged")
        if by["improvement"]:
            also.append(plural(len(by["improvement"]), "improvement"))
    else:
        parts.append(
            f"No regressions in {plural(n_series, 'series', 'series')} on {plural(len(targets), 'target')}"
        )
        if by["improvement"]:
            parts.append(plural(len(by["improvement"]), "improvement"))
    if by["inconclusive"]:
        also.append(f"{len(by['inconclusive'])} inconclusive")
    if by["new"]:
        also.append(plural(len(by["new"]), "new series", "new series"))
    return parts, also


def _policy_headline(
    verdicts: dict[str, Any], parts: list[str], state: str
) -> tuple[list[str], str]:
    """Fold the ``--fail-on`` answer (``verdicts["policy"]``) into the headline and its colour.

    No baseline leads the headline ("no baseline: history unavailable because ..."), since
    "no regressions" would then be unmeasured; a run the policy failed is never green, and one
    it let through with missing units or no baseline is yellow, not green.
    """
    raw = verdicts.get("policy")
    policy: dict[str, Any] = raw if isinstance(raw, dict) else {}
    no_baseline = _text(verdicts.get("no-baseline") or policy.get("no-baseline"))
    if no_baseline:
        parts = [f"no baseline: {no_baseline}"] + [
            p for p in parts if not p.startswith("No regressions")
        ]
    if verdicts.get("plan-missing"):
        parts = ["no plan: missing units cannot be seen", *parts]
    if policy.get("state") == "failure" and state not in ("failed", "regression"):
        state = "failed"
    elif (no_baseline or policy.get("accepted") or verdicts.get("plan-missing")) and state not in (
        "failed",
        "regression",
    ):
        state = "inconclusive"
    return parts, state


def build_view(
    verdicts: dict[str, Any], title: str = "dtf", run_url: str | None = None
) -> dict[str, Any]:
    """Everything the templates need, from a possibly partial ``verdicts.json`` dict."""
    verdicts = verdicts if isinstance(verdicts, dict) else {}
    raw = verdicts.get("series")
    rows = [_series_row(s) for s in (raw if isinstance(raw, list) else []) if isinstance(s, dict)]
    by: dict[str, list[dict[str, Any]]] = {v: [] for v in VERDICT_ORDER}
    for r in rows:
        by.setdefault(r["verdict"], []).append(r)
    for v in ("regression", "improvement", "inconclusive"):
        by[v].sort(key=lambda r: (-_severity(r), r["task"], r["metric"], r["target"]))
    for v in ("unchanged", "new", "missing", "failed"):
        by[v].sort(key=lambda r: (r["task"], r["metric"], r["target"]))
    counts = {v: len(by[v]) for v in VERDICT_ORDER}
    bad = _bad_units(verdicts, by)
    shards: dict[str, Any] = verdicts["shards"] if isinstance(verdicts.get("shards"), dict) else {}
    rejected = [
        {"shard": _text(r.get("shard")), "reason": _text(r.get("reason"))}
        if isinstance(r, dict)
        else {"shard": _text(r), "reason": ""}
        for r in shards.get("rejected") or []
    ]
    drift_raw: list[Any] = verdicts["drift"] if isinstance(verdicts.get("drift"), list) else []
    targets = sorted({r["target"] for r in rows if r["target"]} | _unit_targets(bad))
    overall = _text(verdicts.get("overall")) or next(
        (v for v in VERDICT_ORDER if counts[v]), "unchanged"
    )
    tested = verdicts.get("tested")
    if not isinstance(tested, int):
        tested = sum(counts[v] for v in ("regression", "improvement", "unchanged", "inconclusive"))
    fdr = _num(verdicts.get("fdr"))
    parts, also = _headline(by, bad, drift_raw, targets)
    busy = _text(verdicts.get("host-busy"))
    if busy:  # the numbers above may be the load: say so in the headline itself
        parts.append("⚠️ " + busy)
    state = "failed" if any(u["status"] == "failed" for u in bad) else overall
    parts, state = _policy_headline(verdicts, parts, state)
    if busy and state in ("unchanged", "new", "improvement"):
        state = "inconclusive"
    sha = _text(verdicts.get("sha"))
    notes = (
        [_text(n) for n in verdicts.get("notes") or [] if n]
        if isinstance(verdicts.get("notes"), list)
        else []
    )
    for u in verdicts.get("unschedulable") or []:
        if isinstance(u, dict):
            why = u.get("reasons")
            why = (
                "; ".join(f"{k}: {v}" for k, v in why.items())
                if isinstance(why, dict)
                else _text(why)
            )
            notes.append(
                f"task {_text(u.get('task'))} runs on no target" + (f" ({why})" if why else "")
            )
    notes.extend(_parse_notes(verdicts.get("units")))
    notes = [n[:1].upper() + n[1:] + ("" if n.rstrip()[-1:] in ".!?)" else ".") for n in notes]
    url = run_url or verdicts.get("run-url") or None
    from dtf_ci.history_marks import commit_links, is_sha

    runs = verdicts.get("history-runs")
    history_runs = {
        rid: _text(r.get("sha")) for rid, r in (runs.items() if isinstance(runs, dict) else ())
        if isinstance(rid, str) and isinstance(r, dict)
    }
    return {
        "title": title,
        "run_url": _text(url) if url else None,
        "notes": notes,
        "headline": HEADLINE_ICON.get(state, "🟢") + " " + " · ".join(parts),
        "headline_plain": " · ".join(p.replace("⚠️ ", "") for p in parts),
        "also": also,
        "state": {
            "failed": "bad",
            "regression": "bad",
            "missing": "warn",
            "inconclusive": "warn",
        }.get(state, "good"),
        "overall": overall,
        "run_id": _text(verdicts.get("run-id")),
        "sha": sha,
        "short_sha": sha[:7],
        "ref": _text(verdicts.get("ref")),
        "counts": counts,
        "fdr_note": f"{plural(tested, 'series', 'series')} tested"
        + (f", false discovery rate {fdr * 100:g}%" if fdr is not None else ""),
        "targets": targets,
        "changed": by["regression"] + by["improvement"],
        "by": by,
        "rows": rows,
        "bad_units": bad,
        "rejected": rejected,
        "absent": [_text(a) for a in shards.get("absent") or []],
        "drift": [drift_line(d) for d in drift_raw],
        "accepted": [_text(a) for a in shards.get("accepted") or []],
        "gpu_units": gpu_report_rows(verdicts.get("units")),
        "history_runs": history_runs,
        "links": (links := commit_links(verdicts.get("repository"))),
        "commit_url": links["commit"] + sha if links and is_sha(sha) else "",
        "groups": sorted({r["group"] for r in rows if r["group"]}),
    }
