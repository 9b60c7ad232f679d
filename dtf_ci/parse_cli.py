"""``dtf parse FILE [--format F] [--json]``: what dtf reads from a tool's results file.

A user checks a tool's output here before writing a suite: the series (metric, unit,
direction) and their samples, read by exactly the code ``dtf run`` uses, so a bad file gives
the same error ``dtf run`` would record as the unit's ``parse`` reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dtf_ci.model import ParseResult

SHOWN_SAMPLES = 5


def add_parse_parser(sub: Any, epilog: str) -> None:
    """Register the ``parse`` subcommand (kept here so cli.py stays a list of one-liners)."""
    p = sub.add_parser(
        "parse", help="show what dtf reads from a benchmark tool's results file",
        description="Read a results file the way `dtf run` would and print its series (metric, "
                    "unit, direction) and samples. A file dtf cannot read gives the error "
                    "`dtf run` would record (file, place, what was expected) and exit code 2. "
                    "--format takes dtf's format names, github-action-benchmark's tool names, "
                    "Bencher's adapter names or `auto` (default), see docs/formats.md.",
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE", help="the results file a tool wrote")
    p.add_argument("--format", default="auto", metavar="F",
                   help="format name or alias (default: auto, detected from the file)")
    p.add_argument("--json", action="store_true",
                   help="print JSON: format, tests, failures, notes and every series' samples")


def summarize(format_name: str, result: ParseResult) -> dict[str, Any]:
    """The parse result grouped by series, in file order, as ``--json`` prints it."""
    series: dict[str, dict[str, Any]] = {}
    for m in result.measurements:
        entry = series.setdefault(m.metric, {"metric": m.metric, "unit": m.unit,
                                             "direction": m.direction, "samples": []})
        entry["samples"].append(m.value)
    return {"format": format_name, "tests": result.tests, "failures": list(result.failures),
            "notes": list(result.notes), "series": list(series.values())}


def _text(path: str, doc: dict[str, Any]) -> str:
    rows = doc["series"]
    lines = [f"{path}: read as {doc['format']}: {len(rows)} series, {doc['tests']} tests"
             + (f", {len(doc['failures'])} failed" if doc["failures"] else "")]
    if rows:
        width = min(max(len(r["metric"]) for r in rows), 70)
        unit_w = max(4, max(len(r["unit"]) for r in rows))
        lines.append(f"  {'series':<{width}}  {'unit':<{unit_w}}  better  samples")
        for r in rows:
            shown = ", ".join(f"{v:.6g}" for v in r["samples"][:SHOWN_SAMPLES])
            more = f", ... ({len(r['samples'])} in all)" if len(r["samples"]) > SHOWN_SAMPLES else ""
            lines.append(f"  {r['metric']:<{width}}  {r['unit']:<{unit_w}}  {r['direction']:<6}  "
                         f"{shown}{more}")
    for name in doc["failures"]:
        lines.append(f"  failed: {name}")
    for note in doc["notes"]:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def run_parse_command(args: argparse.Namespace) -> int:
    from dtf_ci.formats import parse_with, resolve

    name, fmt = resolve(args.format, Path(args.file))
    result = parse_with(fmt, Path(args.file))
    doc = summarize(name, result)
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(_text(args.file, doc))
    return 0
