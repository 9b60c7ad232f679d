"""The terminal's summary of a run: what changed first, and every word the same as report.md.

A terminal is narrow and scrolls away, so this table is a digest, not the report: at most
``ROW_LIMIT`` rows of what matters (regressions, failures, missing and skipped units,
improvements), the rest counted in a line that names how many and where they are. Long
pytest ids are shortened in the middle (their start names the file, their end the case) so a
row stays one line; the full names are in report.md and the dashboard. A failed unit's last
lines of output are printed under the table, because that is what the user reads next.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROW_LIMIT = 40
NAME_WIDTH = 48  # characters of a metric (or task) name before it is shortened in the middle
TAIL_LINES = 10  # lines of a failed unit's output shown in the terminal

STYLES = {"regression": "bold red", "failed": "bold red", "missing": "yellow", "skipped": "yellow",
          "inconclusive": "yellow", "improvement": "green", "new": "cyan", "unchanged": "dim"}
LOUD = ("regression", "failed", "missing", "improvement")


def shorten(name: str, width: int = NAME_WIDTH) -> str:
    """``tests/test_a.py::test_long…_case[10-x]``: keep both ends, drop the middle."""
    if len(name) <= width:
        return name
    keep = width - 1
    head = (keep + 1) // 2
    return name[:head] + "…" + name[len(name) - (keep - head):]


def unit_words(verdicts: dict[str, Any]) -> dict[str, str]:
    """unit id -> how report.md names its state ("skipped (dependency)", "failed (test)")."""
    out = {}
    for u in verdicts.get("units") or []:
        if not isinstance(u, dict) or u.get("status") not in ("failed", "skipped", "missing"):
            continue
        category = str(u.get("error_category") or "")
        out[str(u.get("unit"))] = f"{u['status']} ({category})" if category else str(u["status"])
    return out


def verdict_words(row: dict[str, Any], units: dict[str, str]) -> str:
    """The verdict cell: a skipped unit's series reads as report.md's unit table does."""
    verdict = str(row.get("verdict"))
    unit_state = units.get(f"{row.get('task')}@{row.get('target')}", "")
    if verdict == "missing" and unit_state.startswith("skipped"):
        return unit_state
    if row.get("host_busy") and verdict != "new":
        return f"{verdict}*"
    return verdict


def print_summary(verdicts: dict[str, Any], report_dir: Path) -> None:
    """Names, reasons and output are data: rich ``Text`` (never markup, so ``test_x[/dev/null]``
    stays itself) passed through ``log.inert`` (one line, control characters shown, bounded)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from dtf_ci.log import inert
    from dtf_ci.report_format import fmt_ci, fmt_pct, fmt_value

    console = Console(stderr=True)
    if not console.is_terminal:
        console.width = max(console.width, 140)
    rows = verdicts["series"]
    units = unit_words(verdicts)
    loud = [r for r in rows if r["verdict"] in LOUD]
    loud_ids = {id(r) for r in loud}
    quiet = [r for r in rows if id(r) not in loud_ids]
    candidates = loud + (quiet if len(rows) <= 12 else [])
    shown = candidates[:ROW_LIMIT]
    cells = []
    for r in shown:
        change = "—"
        if r["verdict"] != "new" and r.get("ratio") is not None:
            interval = fmt_ci(r.get("ci_low"), r.get("ci_high"))
            change = fmt_pct(r["ratio"]) + (f" ({interval})" if interval else "")
        cells.append([verdict_words(r, units), shorten(inert(r["task"], 1000), 24),
                      shorten(inert(r["metric"] or "—", 1000)), inert(r["target"]),
                      fmt_value(r.get("baseline_median"), r["unit"]),
                      fmt_value(r.get("current_median"), r["unit"]), change])
    table = Table(title=escape(f"dtf · {verdicts['overall']}"), title_justify="left")
    for i, col in enumerate(("verdict", "task", "metric", "target", "baseline", "current", "change")):
        # Every column keeps its full width except metric, which gives way (names are
        # already shortened in the middle, so its ellipsis is rare): one line per row.
        natural = max([len(col)] + [len(c[i]) for c in cells])
        table.add_column(col, justify="right" if i >= 4 else "left", no_wrap=True, overflow="ellipsis",
                         min_width=None if col == "metric" else natural)
    for r, c in zip(shown, cells, strict=True):
        table.add_row(Text(c[0], style=STYLES.get(r["verdict"], "")), *(Text(x) for x in c[1:]))
    if shown:
        console.print(table)
        console.print("[dim]baseline, current: medians · change: Hodges–Lehmann estimate of "
                      "current ÷ baseline (median of all pairwise ratios) with its 95% interval[/]")
        if any(r.get("host_busy") for r in shown):
            console.print("[dim]*: measured while the host was busy[/]")
    shown_ids = {id(r) for r in shown}
    hidden = [r for r in rows if id(r) not in shown_ids]
    if hidden and shown:
        kinds: dict[str, int] = {}
        for r in hidden:
            kinds[r["verdict"]] = kinds.get(r["verdict"], 0) + 1
        breakdown = ", ".join(f"{n} {v}" for v, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
        console.print(f"… {len(hidden)} more series not shown ({breakdown}): "
                      f"see {escape(str(report_dir / 'report.md'))}")
    _print_reasons(console, loud, units, verdicts)
    busy = verdicts.get("host-busy")
    if busy:
        console.print(Text("⚠ " + inert(busy, 500), style="bold yellow"))
    counts = ", ".join(f"{n} {v}" for v, n in verdicts["counts"].items() if n)
    console.print(f"{len(rows)} series: {counts or 'none'}")
    if verdicts.get("headline"):
        console.print(inert(f"headline: {verdicts['headline']}", 2000), markup=False, highlight=False,
                      soft_wrap=True)
    console.print(f"report: {report_dir / 'report.md'} · dashboard: {report_dir / 'index.html'}", markup=False)


def _print_reasons(console: Any, loud: list[dict[str, Any]], units: dict[str, str],
                   verdicts: dict[str, Any]) -> None:
    """Why each failed, missing or skipped unit has no verdict; a failure's last output lines."""
    from rich.text import Text

    from dtf_ci.log import inert

    tails = {str(u.get("unit")): str(u.get("output_tail") or "") for u in verdicts.get("units") or []
             if isinstance(u, dict) and u.get("status") == "failed"}
    said: set[str] = set()
    for r in loud:
        unit = f"{r['task']}@{r['target']}"
        if r["verdict"] not in ("failed", "missing") or unit in said:
            continue
        said.add(unit)
        state = units.get(unit, r["verdict"])
        console.print(Text.assemble("  ", (inert(unit), "bold"), " ", inert(state), ": ",
                                    inert(r.get("reason") or "", 1000)), soft_wrap=True)
        tail = [line for line in tails.get(unit, "").splitlines() if line.strip()][-TAIL_LINES:]
        if tail:
            console.print(Text(f"    last {len(tail)} lines of output:", style="dim"))
            for line in tail:
                console.print(Text("    │ " + inert(line, 500)), highlight=False, soft_wrap=True)
