"""The ``dtf`` command: argument parsing and exit codes only.

Each subcommand's work lives in its own module, imported only when that subcommand runs,
so ``dtf --help`` never pays for DuckDB, numpy or PyGithub.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from dtf_ci import __version__
from dtf_ci.policy import HELP as FAIL_ON_HELP
from dtf_ci.policy import fail_on_type

# Modules of the optional extras (pyproject.toml): a runner installs only the core
# (PyYAML, DuckDB, psutil), so a command that needs more says which extra brings it.
_EXTRA_OF_MODULE = {
    "requests": "providers", "github": "providers", "gitlab": "providers",
    "jinja2": "aggregate", "numpy": "aggregate", "rich": "aggregate",
}

EPILOG = """\
exit codes: 0 fine, 1 the policy failed (regressions, failed or missing units, no baseline),
            2 bad input or usage, 3 infrastructure failure that left no usable answer
docs: docs/ in the dtf repository (suite.md, cli.md, file-formats.md, statistics.md)
"""


def _add_plan_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runners", metavar="SOURCE",
                   help="where runners come from: github, gitlab, local (this machine) or a "
                        "runners FILE (YAML/JSON: runners: [{name, labels, status}]); default: "
                        "the suite's targets, else this machine")
    p.add_argument("--org", metavar="ORG",
                   help="with --runners github: also list the organization's self-hosted runners")
    p.add_argument("--history", metavar="H",
                   help="history store for past durations and detected facts: a folder, or "
                        "git:BRANCH")
    p.add_argument("--durations", metavar="FILE",
                   help="JSON object of task id -> seconds (pytest-split's .test_durations "
                        "shape), one more source of estimates")
    p.add_argument("--changed-files", metavar="FILE",
                   help="file with one changed path per line: plan only tasks whose `paths` "
                        "match, plus what they depend on")
    p.add_argument("--job-overhead", type=float, metavar="SECONDS",
                   help="start-up cost of one CI job (default 45 s, or learned from history)")
    p.add_argument("--max-parallel", type=int, metavar="N",
                   help="most shards of one target that may run at once")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dtf",
        description="CI-native, hardware-aware testing and benchmarking: plan the suite onto "
                    "hardware targets, run shards on runners, aggregate the verdicts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dtf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("validate", help="check a suite; print the units each target would get",
                       description="Check a suite file and print, per task, the targets it "
                                   "would run on and, for each target it cannot run on, the "
                                   "requirement that failed.", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="dtf.yml", metavar="FILE", help="suite file (default dtf.yml)")
    p.add_argument("--runners", metavar="SOURCE", help="as for `dtf plan`")

    p = sub.add_parser("hw", help="detect this machine's hardware",
                       description="Print this machine's hardware facts (CPU, ISA features, "
                                   "governor and turbo, cgroup limits, GPUs and their clock "
                                   "state, accelerators), the runner labels they imply and its "
                                   "fingerprint. Every fact can be written in a task's "
                                   "`requires:` (docs/hardware.md).", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true",
                   help="print the versioned JSON document (schema dtf.hw/1) instead of a table")
    p.add_argument("--browsers", action="store_true",
                   help="also launch the installed browsers headless (playwright) and report "
                        "WebGPU, WebNN and WebGL: facts webgpu, webnn, browser-chromium")
    p.add_argument("--chromium", metavar="PATH",
                   help="with --browsers: the Chromium to launch (default $DTF_CHROMIUM, "
                        "/usr/bin/chromium, else playwright's own)")
    p.add_argument("--diff", nargs=2, metavar=("A.json", "B.json"),
                   help="compare two `dtf hw --json` files fact by fact; exit 1 when hardware "
                        "facts differ, 0 when only run-to-run facts (clocks, versions) do")

    p = sub.add_parser("plan", help="write the plan and print the matrix",
                       description="Expand the suite's tasks onto hardware targets, order them "
                                   "by dependency, pack duration-balanced shards, write "
                                   "plan.json and print the matrix JSON. Inside GitHub Actions "
                                   "the matrices are also written to $GITHUB_OUTPUT.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="dtf.yml", metavar="FILE", help="suite file (default dtf.yml)")
    _add_plan_options(p)
    p.add_argument("--out", default="plan.json", metavar="FILE", help="plan file to write (default plan.json)")
    p.add_argument("--run-id", metavar="ID", help="run id to use (default: from CI, else generated)")
    p.add_argument("--name", metavar="NAME",
                   help="the pipeline's name, when one CI run has several dtf pipelines: its PR comment "
                        "and commit status are its own ('dtf / NAME'); default: plain 'dtf' "
                        "(docs/github-actions.md#several-suites-in-one-workflow-run)")

    p = sub.add_parser("run", help="execute one shard of a plan",
                       description="Execute the units of one shard in dependency order with "
                                   "timeouts, retries for infrastructure errors and repeated "
                                   "samples; write DIR/ID.duckdb and DIR/ID.manifest.json.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--plan", default="plan.json", metavar="FILE", help="plan file (default plan.json)")
    p.add_argument("--shard", required=True, metavar="ID", help="shard id from the plan's matrix")
    p.add_argument("--out", default="dtf-shards", metavar="DIR", help="output folder (default dtf-shards)")
    p.add_argument("--artifacts", metavar="DIR",
                   help="folder holding `produces` artifacts of earlier waves (default: none)")
    _add_base_option(p)

    p = sub.add_parser("aggregate", help="merge shards, decide verdicts, report, append history",
                       description="Check and merge all shards, compare every series with its "
                                   "baseline from history, write the report folder, optionally "
                                   "post the PR comment and commit status, append the run to "
                                   "history, and exit by the --fail-on policy.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shards", default="dtf-shards", metavar="DIR", help="folder of shard files (searched recursively)")
    p.add_argument("--plan", metavar="FILE", help="plan file: units of absent shards are reported as missing")
    p.add_argument("--history", metavar="H", help="history store: a folder, or git:BRANCH")
    p.add_argument("--report-dir", default="dtf-report", metavar="R", help="report folder (default dtf-report)")
    p.add_argument("--post", action="store_true",
                   help="post the PR comment and commit status, write the job summary")
    p.add_argument("--name", metavar="NAME",
                   help="the pipeline's name its PR comment and commit status are kept under "
                        "('dtf / NAME'); default: the plan's (dtf plan --name), else plain 'dtf'")
    p.add_argument("--fail-on", type=fail_on_type, default="regression", metavar="POLICY",
                   help=FAIL_ON_HELP)
    p.add_argument("--append-history", choices=["auto", "always", "never"], default="auto",
                   help="auto (default): append only on the main line (default branch or local)")
    p.add_argument("--fdr", type=float, default=0.05, metavar="Q",
                   help="false discovery rate across the run's series (default 0.05)")

    p = sub.add_parser("local", help="plan + run + aggregate on this machine",
                       description="Run the whole pipeline on this machine: plan the suite onto "
                                   "this machine, run the shards in parallel worker processes, "
                                   "aggregate against the history in .dtf/history and write the "
                                   "report to .dtf/report.", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="dtf.yml", metavar="FILE", help="suite file (default dtf.yml)")
    p.add_argument("--workers", type=int, metavar="N", help="parallel shards (default: number of cores)")
    p.add_argument("--dir", default=".dtf", metavar="DIR", help="state folder (default .dtf): history/, report/, shards/")
    p.add_argument("--fail-on", type=fail_on_type, default="regression", metavar="POLICY",
                   help="as for `dtf aggregate`")
    p.add_argument("--durations", metavar="FILE", help="as for `dtf plan`")
    p.add_argument("--no-progress", action="store_true", help="no live progress display")
    p.add_argument("--accept", action="store_true",
                   help="append this run to the local history even with regressions, failed or "
                        "missing units, or a busy host (default: only runs without them)")
    _add_base_option(p)
    _add_history_parser(sub)
    from dtf_ci.parse_cli import add_parse_parser

    add_parse_parser(sub, EPILOG)

    p = sub.add_parser("calibrate", help="A/A runs: per-series noise and the smallest detectable change",
                       description="Run the suite's tasks against themselves (head against head, "
                                   "interleaved) N times on this machine; write per series the noise "
                                   "seen and the smallest change dtf could detect at the suite's "
                                   "threshold. `threshold: auto` uses the file; the report links it.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="dtf.yml", metavar="FILE", help="suite file (default dtf.yml)")
    p.add_argument("--runs", type=int, default=5, metavar="N", help="A/A jobs to run (default 5)")
    p.add_argument("--out", metavar="FILE",
                   help="calibration file to write (default: dtf-calibration.json next to the suite)")
    p.add_argument("--dir", default=".dtf", metavar="DIR", help="state folder (default .dtf)")
    return parser


def _add_history_parser(sub: Any) -> None:
    p = sub.add_parser("history", help="the history store: change points, import, compact, list runs, drop a bad run",
                       description="Commands on the history store: `changes` lists change points; "
                                   "`import` brings in github-action-benchmark's or asv's past "
                                   "results; `compact` merges old runs by month and applies "
                                   "retention; `list` and `drop` see and edit a local history folder "
                                   "(default .dtf/history, the one `dtf local` uses).", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    hsub = p.add_subparsers(dest="history_command", metavar="SUBCOMMAND")
    from dtf_ci.history_changes import add_parser as add_changes_parser

    add_changes_parser(hsub, EPILOG)
    from dtf_ci.history_import import add_import_parser

    add_import_parser(hsub, EPILOG)
    from dtf_ci.history_compact import add_compact_parser

    add_compact_parser(hsub, EPILOG)
    for name, text in (("list", "one line per run, oldest first: id, time, sha, verdicts"),
                       ("drop", "remove runs (whole, atomically) so they are no baseline any more")):
        q = hsub.add_parser(name, help=text, description=text)
        q.add_argument("--history", default=".dtf/history", metavar="H",
                       help="history folder (default .dtf/history)")
        if name == "drop":
            q.add_argument("run", nargs="+", metavar="RUN", help="run id, as `dtf history list` shows it")


def _add_base_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", metavar="REV",
                   help="base revision for `baseline: interleaved` tasks: a commit, branch or tag, "
                        "run alternately with the head in this job (ABBA). `auto`: in CI, the "
                        "pull request's merge-base (fetched when the clone is shallow), on the "
                        "default branch the parent commit. Without it such tasks use history.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    from dtf_ci import log
    from dtf_ci.errors import FatalError

    try:
        return _dispatch(args)
    except FatalError as exc:
        print(log.guard(f"dtf {args.command}: {exc}"), file=sys.stderr)
        _post_failure(args, exc)
        return exc.return_code
    except KeyboardInterrupt:
        print("dtf: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        import errno

        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG):
            raise
        where = f" writing {exc.filename}" if exc.filename else ""
        print(log.guard(f"dtf {args.command}: {exc.strerror}{where}: free space (or a writable "
                        "folder) for the output and run again; files already complete are kept"), file=sys.stderr)
        return 3
    except ModuleNotFoundError as exc:
        extra = _EXTRA_OF_MODULE.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"dtf {args.command}: needs the Python package '{exc.name}', which this "
              f"installation lacks; install dtf with the '{extra}' extra "
              f"(pip install 'dtf-ci[{extra}]', or '.[{extra}]' from a checkout)",
              file=sys.stderr)
        return 2


def _post_failure(args: argparse.Namespace, exc: Exception) -> None:
    """A failed plan, or an aggregate --post that failed before its report, still posts the
    ``dtf`` status where a token allows (a required check must never just not arrive)."""
    from dtf_ci.errors import FatalError, PolicyFailure

    if not isinstance(exc, FatalError) or isinstance(exc, PolicyFailure):
        return
    if args.command == "plan" or (args.command == "aggregate" and getattr(args, "post", False)):
        from dtf_ci.failure_status import publish_failure

        publish_failure(args.command, exc, pipeline=_pipeline_of(args))


def _pipeline_of(args: argparse.Namespace) -> str:
    """The pipeline name a failure status goes under: --name, else the plan's (aggregate)."""
    name = getattr(args, "name", None)
    if not name and args.command == "aggregate" and getattr(args, "plan", None):
        try:
            from dtf_ci.plan import load_plan

            name = load_plan(args.plan).get("name")
        except Exception:  # noqa: BLE001 - an unreadable plan posts under the default name
            name = None
    from dtf_ci.limits import pipeline_name

    return pipeline_name(name)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "validate":
        from dtf_ci.plan_cli import run_validate_command

        return run_validate_command(args)
    if args.command == "hw":
        from dtf_ci.hw_cli import run_hw_command

        return run_hw_command(args)
    if args.command == "plan":
        from dtf_ci.plan_cli import run_plan_command

        return run_plan_command(args)
    if args.command == "run":
        from dtf_ci.run import run_shard_command

        return run_shard_command(args)
    if args.command == "aggregate":
        from dtf_ci.aggregate import run_aggregate_command

        return run_aggregate_command(args)
    if args.command == "local":
        from dtf_ci.local import run_local_command

        return run_local_command(args)
    if args.command == "history":
        if args.history_command == "changes":
            from dtf_ci.history_changes import run_history_changes_command

            return run_history_changes_command(args)
        if args.history_command == "import":
            from dtf_ci.history_import import run_history_import_command

            return run_history_import_command(args)
        if args.history_command == "compact":
            from dtf_ci.history_compact import run_compact_command

            return run_compact_command(args)
        from dtf_ci.history_cli import run_history_command

        return run_history_command(args)
    if args.command == "parse":
        from dtf_ci.parse_cli import run_parse_command

        return run_parse_command(args)
    if args.command == "calibrate":
        from dtf_ci.calibrate import run_calibrate_command

        return run_calibrate_command(args)
    raise AssertionError(args.command)
