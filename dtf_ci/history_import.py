"""``dtf history import``: bring a team's past benchmark results into dtf's history.

A team switching from github-action-benchmark (GAB) or asv keeps years of results: GAB's
``data.js`` on gh-pages, asv's ``results/`` folder. Importing them as dtf history runs (one
per commit, oldest first, marked ``event: import``) gives the first dtf run on a pull request
a baseline and the dashboard its past. Everything is read and checked before anything is
appended, so a malformed file appends nothing; runs already in the history (same run id,
derived from the source and the commit) are skipped, so importing twice adds nothing. Runs
are appended through the history store's own ``append``, like ``dtf aggregate`` does.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dtf_ci.errors import ResultsFormatError, UsageError
from dtf_ci.formats._common import describe, expect_list, expect_name, expect_object, fail, number
from dtf_ci.model import Direction

SOURCES = ("gab", "asv")
_GAB_PREFIX = re.compile(r"^\s*window\.BENCHMARK_DATA\s*=\s*")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_HIGHER_TOOLS = ("benchmarkjs", "pytest", "customBiggerIsBetter")


@dataclass
class ImportedRun:
    """One commit's results, ready to append: samples rows (task, target, metric, unit,
    direction, repetition, value) and the run's metadata."""

    sha: str
    created_at: datetime
    source: str
    samples: list[tuple[str, str, str, str, Direction, int, float]] = field(default_factory=list)
    failures: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    repetitions: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return f"imported-{self.source}-{self.sha}"


def add_import_parser(history_sub: Any, epilog: str) -> None:
    """Register ``dtf history import`` under the ``history`` command's subparsers."""
    p = history_sub.add_parser(
        "import", help="import github-action-benchmark's data.js or asv's results as history runs",
        description="Read past results of github-action-benchmark (its gh-pages data.js, or a "
                    "folder holding one) or asv (a results folder) and append them to a dtf "
                    "history as one run per commit, oldest first, marked imported. Everything is "
                    "checked before anything is appended: a malformed file appends nothing. "
                    "Runs already imported are skipped, so running it twice adds nothing.",
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", metavar="PATH", help="gab: data.js or a folder with one; asv: the results folder")
    p.add_argument("--from", dest="source", required=True, choices=SOURCES,
                   help="gab: github-action-benchmark; asv: airspeed velocity")
    p.add_argument("--history", required=True, metavar="H",
                   help="history store to append to: a folder, or git:BRANCH")
    p.add_argument("--target", metavar="T",
                   help="the dtf target the results were measured on, as your suite names it "
                        "(required for gab; asv default: the asv machine name)")
    p.add_argument("--task", action="append", default=[], metavar="[SET=]TASK",
                   help="the dtf task id the series belong to: TASK for all, or SET=TASK per "
                        "github-action-benchmark benchmark set (repeatable); default: the set "
                        "name (gab) or 'asv'")
    p.add_argument("--branch", default="main", metavar="B",
                   help="branch the imported runs are recorded on (default main: the default "
                        "branch, where pull requests look for their baseline)")
    p.add_argument("--dry-run", action="store_true", help="check and count, append nothing")


def _task_map(values: list[str]) -> tuple[str | None, dict[str, str]]:
    default: str | None = None
    mapping: dict[str, str] = {}
    for value in values:
        if "=" in value:
            key, task = value.rsplit("=", 1)
            mapping[key] = task
        else:
            default = value
    return default, mapping


def _slug(name: str) -> str:
    return _SAFE.sub("-", name).strip("-.") or "benchmarks"


def _instant_ms(path: Path, place: str, value: Any) -> datetime:
    ms = number(path, place, value, what="a time in milliseconds since 1970")
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise fail(path, place, f"expected a time in milliseconds since 1970, found {ms!r}") from None


# --------------------------------------------------------------------------- gab


def gab_files(path: Path) -> list[Path]:
    """The data.js files PATH names: the file itself, or every data.js under the folder."""
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.rglob("data.js") if ".git" not in p.parts)
        if found:
            return found
        raise UsageError(f"{path}: no data.js in this folder; give github-action-benchmark's "
                         "data.js (on the gh-pages branch, under benchmark-data-dir-path, "
                         "default dev/bench/data.js)")
    raise UsageError(f"{path}: no such file or folder")


def read_gab(path: Path, target: str, tasks: tuple[str | None, dict[str, str]]) -> list[ImportedRun]:
    """Parse one data.js into runs (not yet merged across files)."""
    from dtf_ci.formats._common import read_bytes
    from dtf_ci.formats.go_bench import direction_of

    hint = "expected github-action-benchmark's data.js (`window.BENCHMARK_DATA = {...}`)"
    text = read_bytes(path, hint).decode("utf-8-sig", errors="replace")
    m = _GAB_PREFIX.match(text)
    body = text[m.end():] if m else text
    body = body.rstrip().removesuffix(";")
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as exc:
        raise fail(path, f"line {exc.lineno} column {exc.colno}", f"invalid JSON ({exc.msg}); {hint}") from None
    except (ValueError, RecursionError) as exc:
        raise fail(path, "", f"invalid JSON ({exc}); {hint}") from None
    doc = expect_object(path, "top level", doc, "an object with `entries`")
    entries = expect_object(path, "entries", doc.get("entries"), "benchmark sets by name")
    default_task, task_by_set = tasks
    runs: dict[str, ImportedRun] = {}
    for set_name, raw_list in entries.items():
        task = task_by_set.get(set_name) or default_task or _slug(set_name)
        for i, raw in enumerate(expect_list(path, f"entries[{set_name!r}]", raw_list, "one entry per run")):
            place = f"entries[{set_name!r}][{i}]"
            entry = expect_object(path, place, raw, "one benchmark run")
            commit = expect_object(path, f"{place}.commit", entry.get("commit"), "the commit")
            sha = expect_name(path, f"{place}.commit.id", commit.get("id"))
            if not re.fullmatch(r"[0-9a-fA-F]{7,64}", sha):
                raise fail(path, f"{place}.commit.id", f"expected a commit hash, found {describe(sha)}")
            when = _instant_ms(path, f"{place}.date", entry.get("date"))
            raw_tool = entry.get("tool")
            tool: str = raw_tool if isinstance(raw_tool, str) else ""
            run = runs.setdefault(sha, ImportedRun(sha=sha.lower(), created_at=when, source="gab"))
            run.created_at = min(run.created_at, when)
            key = (task, target)
            rep = run.repetitions.get(key, 0)
            run.repetitions[key] = rep + 1
            for k, rb in enumerate(expect_list(path, f"{place}.benches", entry.get("benches"), "the benchmarks")):
                bplace = f"{place}.benches[{k}]"
                bench = expect_object(path, bplace, rb, "one benchmark")
                name = expect_name(path, f"{bplace}.name", bench.get("name"))
                value = number(path, f"{bplace}.value", bench.get("value"), what="a number",
                               allow_string=True)
                raw_unit = bench.get("unit")
                unit: str = raw_unit if isinstance(raw_unit, str) else ""
                run.samples.append((task, target, name, unit, _gab_direction(tool, unit, direction_of),
                                    rep, value))
    return list(runs.values())


def _gab_direction(tool: str, unit: str, direction_of: Any) -> Direction:
    """The direction dtf's parser gives the same series under the same tool name."""
    if tool in _HIGHER_TOOLS or (tool == "jmh" and unit.startswith("ops/")):
        return "higher"
    if tool in ("go", "cargo"):
        return direction_of(unit)  # type: ignore[no-any-return]
    return "lower"


# --------------------------------------------------------------------------- asv


def read_asv(root: Path, target: str | None, task: str) -> list[ImportedRun]:
    """Every results file of every machine folder under an asv results folder."""
    from dtf_ci.formats import asv
    from dtf_ci.formats._text import Collector

    if not root.is_dir():
        raise UsageError(f"{root}: not a folder; give asv's results folder (results_dir in "
                         "asv.conf.json, default .asv/results)")
    units = asv.read_units(root / "benchmarks.json")
    files = sorted(p for p in root.glob("*/*.json") if p.name != "machine.json")
    if not files:
        raise UsageError(f"{root}: no asv results (MACHINE/COMMIT-ENV.json files) in this folder")
    envs: dict[str, set[str]] = {}
    docs: list[tuple[Path, dict[str, Any]]] = []
    for path in files:
        doc = asv.load_results(path)
        docs.append((path, doc))
        envs.setdefault(path.parent.name, set()).add(str(doc.get("env_name") or ""))
    runs: dict[str, ImportedRun] = {}
    for path, doc in docs:
        sha = expect_name(path, "commit_hash", doc.get("commit_hash"))
        when = _instant_ms(path, "date", doc.get("date"))
        machine = path.parent.name
        tgt = target or machine
        if len(envs[machine]) > 1:
            tgt = f"{tgt}-{_slug(str(doc.get('env_name') or ''))}"
        out = Collector(path)
        asv.add_results(path, doc, out, units)
        run = runs.setdefault(sha, ImportedRun(sha=sha.lower(), created_at=when, source="asv"))
        run.created_at = min(run.created_at, when)
        key = (task, tgt)
        rep = run.repetitions.get(key, 0)
        run.repetitions[key] = rep + 1
        for m in out.result.measurements:
            run.samples.append((task, tgt, m.metric, m.unit, m.direction, rep, m.value))
        if out.result.failures:
            run.failures.setdefault(key, []).extend(out.result.failures)
    return list(runs.values())


# --------------------------------------------------------------------------- append


def _write_db(run: ImportedRun, db: Path) -> None:
    """One DuckDB file with the shard tables, as ``HistoryStore.append`` expects it."""
    import duckdb

    from dtf_ci.shard import TABLES, create_tables

    con = duckdb.connect(str(db))
    try:
        create_tables(con)
        started = run.created_at.replace(tzinfo=None)
        label = "github-action-benchmark" if run.source == "gab" else "asv"

        def insert(table: str, values: dict[str, Any]) -> None:
            cols = [c for c, _ in TABLES[table]]
            row = tuple(values.get(c) for c in cols)
            con.execute(f"INSERT INTO {table} VALUES ({', '.join('?' for _ in cols)})", row)

        targets = sorted({t for _, t, *_ in run.samples} | {t for _, t in run.repetitions})
        for target in targets:
            insert("hosts", {"host_id": f"imported-{target}", "hostname": "", "target": target,
                             "os": "", "arch": "", "cpu_model": "", "cpu_count": 0, "memory_gb": 0.0,
                             "labels": "[]", "facts": "{}"})
        for (task, target), reps in sorted(run.repetitions.items()):
            failed = run.failures.get((task, target), [])
            reason = f"imported from {label}" + (
                f"; {len(failed)} benchmarks had no result: {', '.join(failed[:5])}" if failed else "")
            insert("units", {"run_id": run.run_id, "shard_id": "imported", "unit": f"{task}@{target}",
                             "task": task, "target": target, "host_id": f"imported-{target}",
                             "status": "passed", "error_category": "", "reason": reason,
                             "attempts": 1, "repeat": reps, "started_at": started, "wall_s": 0.0,
                             "cpu_s": 0.0, "peak_rss_mb": 0.0, "exit_code": 0, "output_tail": ""})
        cols = [c for c, _ in TABLES["samples"]]
        rows = []
        for task, target, metric, unit, direction, rep, value in run.samples:
            values = {"run_id": run.run_id, "shard_id": "imported", "task": task, "target": target,
                      "host_id": f"imported-{target}", "metric": metric, "unit": unit,
                      "direction": direction, "repetition": rep, "value": value}
            rows.append(tuple(values.get(c) for c in cols))
        if rows:
            con.executemany(f"INSERT INTO samples VALUES ({', '.join('?' for _ in cols)})", rows)
    finally:
        con.close()


@dataclass
class ImportResult:
    appended: list[str]
    skipped: list[str]
    samples: int


def import_history(source: str, path: Path, store: Any, *, target: str | None, tasks: list[str],
                   branch: str, dry_run: bool = False) -> ImportResult:
    """Read everything, then append the runs not yet in ``store``, oldest first."""
    task_map = _task_map(tasks)
    if source == "gab":
        if not target:
            raise UsageError("--target is required with --from gab: github-action-benchmark's "
                             "data does not say which machine measured it; give the dtf target "
                             "your suite runs these benchmarks on")
        runs: list[ImportedRun] = []
        for file in gab_files(path):
            runs.extend(read_gab(file, target, task_map))
        runs = _merge(runs)
    else:
        if task_map[1]:
            raise UsageError("--task SET=TASK is for --from gab; give --task TASK for asv")
        runs = read_asv(path, target, task_map[0] or "asv")
    runs.sort(key=lambda r: (r.created_at, r.sha))
    present = {r.run_id for r in store.runs()}
    todo = [r for r in runs if r.run_id not in present]
    skipped = [r.run_id for r in runs if r.run_id in present]
    if not dry_run:
        with tempfile.TemporaryDirectory(prefix="dtf-import-") as tmp:
            for run in todo:
                db = Path(tmp) / f"{run.run_id}.duckdb"
                _write_db(run, db)
                store.append({
                    "run-id": run.run_id,
                    "created-at": run.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "sha": run.sha, "ref": f"refs/heads/{branch}", "branch": branch,
                    "event": "import", "provider": "import", "imported-from": source,
                    "imported-path": path.name,
                }, db)
                db.unlink()
    return ImportResult([r.run_id for r in todo], skipped, sum(len(r.samples) for r in todo))


def _merge(runs: list[ImportedRun]) -> list[ImportedRun]:
    """Runs of one commit from several data.js files become one run."""
    merged: dict[str, ImportedRun] = {}
    for run in runs:
        if run.sha not in merged:
            merged[run.sha] = run
            continue
        into = merged[run.sha]
        into.created_at = min(into.created_at, run.created_at)
        offset = dict(into.repetitions)
        for task, target, metric, unit, direction, rep, value in run.samples:
            into.samples.append((task, target, metric, unit, direction,
                                 rep + offset.get((task, target), 0), value))
        for key, reps in run.repetitions.items():
            into.repetitions[key] = into.repetitions.get(key, 0) + reps
    return list(merged.values())


def run_history_import_command(args: argparse.Namespace) -> int:
    from dtf_ci.history import open_history

    store = open_history(args.history)
    try:
        result = import_history(args.source, Path(args.path), store, target=args.target,
                                tasks=args.task, branch=args.branch, dry_run=args.dry_run)
    except ResultsFormatError as exc:
        raise UsageError(f"nothing imported: {exc}") from None
    verb = "would append" if args.dry_run else "appended"
    print(f"dtf history import: {verb} {len(result.appended)} runs ({result.samples} samples) to "
          f"{args.history}; {len(result.skipped)} already there")
    return 0
