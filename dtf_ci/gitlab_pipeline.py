"""plan.json -> a GitLab child pipeline: GitLab's way to fan out over a plan made at run time.

GitHub Actions takes a matrix from a job's output; GitLab cannot. Its equivalent is a
*dynamic child pipeline*: the plan job writes a pipeline file as an artifact and a trigger
job runs it (``trigger: include: - artifact: child.yml, job: plan``). This module writes that
file: one stage per wave, one job per shard, and a final ``aggregate`` job.

How the pieces travel, and why:

* **Runner tags.** A shard's ``runs-on`` labels *are* GitLab runner tags (``--runners gitlab``
  reads targets from the runners' ``tag_list``), so they become the job's ``tags:``, minus
  labels that only GitHub gives its runners (``self-hosted``, ``ubuntu-latest``, ...). A shard
  left with no tag runs on any runner that takes untagged jobs.
* **plan.json.** One small job in the child's first stage, ``plan``, fetches it from the
  parent pipeline's ``plan`` job (``needs: [{pipeline: $PARENT_PIPELINE_ID, job: plan}]``)
  and keeps it as its artifact; every later stage receives every earlier stage's artifacts,
  GitLab's default, so every shard job and ``aggregate`` get it from there, whatever
  happened to the shard jobs (a dead first-wave job used to take the plan with it). Only
  that job uses ``needs``: a job with ``needs`` ignores stage order, and listing every
  earlier shard would hit GitLab's limit of 50 needs per job.
* **Results.** Each shard job writes ``dtf-shards/ID.duckdb`` and its manifest, plus the
  ``produces`` files later waves need under ``dtf-shards/artifacts/``, and keeps exactly
  those paths (``when: always``), so a later job never uploads an earlier shard again.
* **Merge request context.** A child pipeline has ``CI_PIPELINE_SOURCE=parent_pipeline`` and
  no ``CI_MERGE_REQUEST_*`` variables. Run inside the plan job, the command line copies the
  parent's values into the child's ``variables:`` as ``DTF_<NAME>``, which
  :func:`dtf_ci.providers.gitlab.context` reads first, so ``aggregate`` comments on the right
  merge request and appends history only for the default branch. Those values are
  written with ``expand: false``: a branch may be named ``x$CI_JOB_TOKEN``, and GitLab would
  otherwise expand it into the child's variables (and from there into a public report).
* **Nothing from the plan becomes YAML or shell syntax.** The file is written by a YAML
  serializer; shard ids and the run id must be plain names (a newline in one would start a
  new job in the header comment), and everything reaching a shell line is quoted.

Run it as ``python -m dtf_ci.gitlab_pipeline --plan plan.json --out child.yml``.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

DEFAULT_INSTALL = ("python3 -m venv .dtf-venv && . .dtf-venv/bin/activate && "
                   'python -m pip install --quiet "dtf-ci{extra} @ ${DTF_SOURCE:?set DTF_SOURCE '
                   'to dtf at a pinned commit or a built wheel, see docs/gitlab.md}"')
"""Installs dtf in a virtual environment (works on ``python:*`` images and on shell runners
whose system Python refuses ``pip install``, PEP 668) from ``$DTF_SOURCE``: the repository at
a pinned commit (``git+https://…/dtf@<sha>``) or a wheel, never a bare package name that
whoever registers it first on the index would own. ``{extra}`` becomes each job's extra."""
EXTRA_PLACEHOLDER = "{extra}"


def install_line(install: str, extra: str) -> str:
    """The install line of one job kind: ``{extra}`` -> ``[aggregate]`` or nothing."""
    return install.replace(EXTRA_PLACEHOLDER, extra)

GITHUB_ONLY_LABELS = frozenset({"self-hosted"})
SHARDS_DIR = "dtf-shards"
REPORT_DIR = "dtf-report"
PLAN_FILE = "plan.json"
AGGREGATE_STAGE = "aggregate"

# The git history store pushes with the checkout's credentials. A GitLab job's checkout
# reads with CI_JOB_TOKEN, which may not push, so when DTF_HISTORY_TOKEN (a project access
# token with write_repository) is set, it becomes origin's push URL; reads keep the job token.
PUSH_URL_LINE = (
    'if [ -n "${DTF_HISTORY_TOKEN:-}" ]; then git remote set-url --push origin '
    '"$(printf %s "$CI_REPOSITORY_URL" | sed -E "s#^(https?://)([^@/]*@)?#\\1dtf:${DTF_HISTORY_TOKEN}@#")"; fi'
)


def runner_tags(runs_on: Iterable[str], *, keep_all: bool = False) -> list[str]:
    """A target's ``runs-on`` labels as GitLab runner tags.

    ``self-hosted`` and GitHub-hosted image names (``ubuntu-latest``, ``macos-14``) are
    labels GitHub gives its own runners; no GitLab runner has them unless someone tagged it
    so, and a job asking for a tag no runner has waits forever. ``keep_all`` keeps them.
    """
    from dtf_ci.inventory import is_hosted_label

    tags: list[str] = []
    for label in runs_on:
        label = str(label).strip()
        if not label or label in tags:
            continue
        if keep_all or (label.lower() not in GITHUB_ONLY_LABELS and not is_hosted_label(label)):
            tags.append(label)
    return tags


_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,199}$")


def check_plan_names(plan: dict[str, Any]) -> None:
    """Refuse a plan whose run id or shard ids are not plain names (they reach YAML keys,
    comments, artifact paths that GitLab expands, and shell lines)."""
    from dtf_ci.errors import PlanError

    bad = [f"run-id {plan.get('run-id')!r}"] if not _PLAIN.match(str(plan.get("run-id") or "run")) else []
    bad += [f"shard id {s.get('id')!r}" for s in plan.get("shards") or () if not _PLAIN.match(str(s.get("id")))]
    if bad:
        raise PlanError(f"the plan holds names that cannot go into a pipeline file: {', '.join(bad[:5])}; "
                        "ids are letters, digits and . _ - @ + (write the plan with `dtf plan`)")


def parent_variables(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parent pipeline's values a child pipeline lacks, as ``DTF_<NAME>`` variables."""
    from dtf_ci.providers.gitlab import FORWARDED

    env = os.environ if env is None else env
    return {f"DTF_{name}": env[name] for name in FORWARDED if env.get(name)}


def _shard_job(shard: dict[str, Any], plan: dict[str, Any], *, first_wave: bool,
               install: str, plan_job: str, keep_all: bool,
               target_images: Mapping[str, str] | None = None) -> dict[str, Any]:
    sid = str(shard["id"])
    units = set(shard.get("units") or ())
    produced = [f"{SHARDS_DIR}/artifacts/{a['name']}/" for a in plan.get("artifacts") or ()
                if a.get("unit") in units and a.get("name")]
    job: dict[str, Any] = {"stage": f"wave-{shard['wave']}"}
    image = (target_images or {}).get(str(shard.get("target", "")))
    if image:  # e.g. a CUDA image for the GPU target's jobs, a slim one for the CPU target's
        job["image"] = image
    tags = runner_tags(shard.get("runs-on") or (), keep_all=keep_all)
    if tags:
        job["tags"] = tags
    if not first_wave:  # like GitHub's !cancelled(): run even when an earlier shard failed
        job["when"] = "always"
    job["interruptible"] = True
    job["script"] = [install_line(install, ""), f"dtf run --plan {PLAN_FILE} --shard {shlex.quote(sid)} "
                              f"--out {SHARDS_DIR} --artifacts {SHARDS_DIR}/artifacts --base auto"]
    paths = [f"{SHARDS_DIR}/{sid}.duckdb", f"{SHARDS_DIR}/{sid}.manifest.json", *produced]
    job["artifacts"] = {"paths": paths,
                        "when": "always", "expire_in": "1 week"}
    return job


PLAN_STAGE = "plan"
PLAN_RELAY_JOB = "plan.json"


def _plan_relay_job(plan_job: str, tags: Sequence[str]) -> dict[str, Any]:
    """Fetch plan.json from the parent's plan job once, for every later job of the child."""
    job: dict[str, Any] = {"stage": PLAN_STAGE,
                           "needs": [{"pipeline": "$PARENT_PIPELINE_ID", "job": plan_job}]}
    if tags:
        job["tags"] = list(tags)
    job["interruptible"] = True
    job["script"] = [f"test -s {PLAN_FILE}"]
    job["artifacts"] = {"paths": [PLAN_FILE], "expire_in": "1 week"}
    return job


def _aggregate_job(*, install: str, history: str | None, fail_on: str,
                   tags: Sequence[str], environment: str | None = None) -> dict[str, Any]:
    command = f"dtf aggregate --shards {SHARDS_DIR} --plan {PLAN_FILE}"
    if history:
        command += f" --history {shlex.quote(history)}"
    command += f" --report-dir {REPORT_DIR} --post --fail-on {shlex.quote(fail_on)}"
    script = [install_line(install, "[aggregate]")]
    if history and history.startswith("git:"):
        script.append(PUSH_URL_LINE)
    script.append(command)
    job: dict[str, Any] = {"stage": AGGREGATE_STAGE}
    if tags:
        job["tags"] = list(tags)
    job["when"] = "always"  # report failed and missing shards too
    job["interruptible"] = False  # it may be pushing history
    if environment:  # tokens scoped to a protected environment reach this job only
        job["environment"] = {"name": environment, "action": "access"}
    job["script"] = script
    job["artifacts"] = {"paths": [f"{REPORT_DIR}/"], "expose_as": "dtf report", "when": "always"}
    return job


def child_pipeline(
    plan: dict[str, Any],
    *,
    image: str | None,
    dtf_install: str,
    history: str | None = None,
    fail_on: str = "regression",
    plan_job: str = "plan",
    aggregate_tags: Sequence[str] = (),
    variables: Mapping[str, str] | None = None,
    keep_all_labels: bool = False,
    target_images: Mapping[str, str] | None = None,
    aggregate_environment: str | None = None,
) -> str:
    """The child pipeline YAML for ``plan`` (a ``dtf.plan/1`` dict), as text.

    ``image`` is the default image of every job (None: the runners' own default);
    ``dtf_install`` the shell line that installs dtf; ``history`` the store ``aggregate``
    reads and appends to; ``plan_job`` the parent job whose artifacts hold ``plan.json``;
    ``aggregate_tags`` the tags of the aggregate job; ``variables`` are written as global
    variables (see :func:`parent_variables`); ``target_images`` the image of each target's
    shard jobs, over ``image`` (a GPU target needs a CUDA image). A plan without shards gives a pipeline of
    one job that says so, since GitLab refuses to trigger an empty child pipeline.
    """
    import yaml

    check_plan_names(plan)
    shards = sorted(plan.get("shards") or (), key=lambda s: (int(s["wave"]), str(s["id"])))
    waves = sorted({int(s["wave"]) for s in shards})
    doc: dict[str, Any] = {"stages": ([PLAN_STAGE] if shards else [])
                           + [f"wave-{w}" for w in waves] + [AGGREGATE_STAGE]}
    if image:
        doc["default"] = {"image": image}
    if variables:  # taken literally: GitLab must not expand a `$` in a branch name
        doc["variables"] = {str(k): {"value": str(v), "expand": False} for k, v in variables.items()}
    if shards:
        doc[PLAN_RELAY_JOB] = _plan_relay_job(plan_job, aggregate_tags)
    for shard in shards:
        doc[f"run {shard['id']}"] = _shard_job(shard, plan, first_wave=int(shard["wave"]) == waves[0],
                                               install=dtf_install, plan_job=plan_job,
                                               keep_all=keep_all_labels,
                                               target_images=target_images)
    if shards:
        doc[AGGREGATE_STAGE] = _aggregate_job(install=dtf_install, history=history,
                                              fail_on=fail_on, tags=aggregate_tags,
                                              environment=aggregate_environment)
    else:
        skipped = len(plan.get("unschedulable") or ())
        job: dict[str, Any] = {"stage": AGGREGATE_STAGE}
        if aggregate_tags:
            job["tags"] = list(aggregate_tags)
        job["script"] = [f"echo {shlex.quote(f'dtf: the plan has no shards ({skipped} task(s) no target can run); nothing to run')}"]
        doc["nothing to run"] = job
    head = (f"# Generated by dtf from {PLAN_FILE} (run {plan.get('run-id', '?')}): "
            f"{len(shards)} shard(s) in {len(waves)} wave(s).\n"
            "# Do not edit: the plan job writes it again for every pipeline.\n")
    return head + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1 << 20)


# --- command line --------------------------------------------------------------------------


def parse_target_images(values: Sequence[str]) -> dict[str, str]:
    """``TARGET=IMAGE`` pairs; an image is one token (no spaces), a target a plain name."""
    from dtf_ci.errors import UsageError

    out: dict[str, str] = {}
    for value in values:
        target, sep, image = value.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", target) or \
                not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:/@+-]*", image):
            raise UsageError(f"--target-image {value!r}: write TARGET=IMAGE, e.g. "
                             "a100=nvidia/cuda:12.4.1-runtime-ubuntu22.04")
        out[target] = image
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dtf_ci.gitlab_pipeline",
        description="Write a GitLab child pipeline for a dtf plan: one stage per wave, one job "
                    "per shard (its runs-on labels as runner tags), and an aggregate job. Run it "
                    "in the parent pipeline's plan job, keep plan.json and the output as that "
                    "job's artifacts, and trigger the output with `trigger: include: - artifact: "
                    "child.yml, job: plan`. Inside GitLab CI the parent's merge request and "
                    "pipeline variables are copied into the child as DTF_<NAME>.",
        epilog="exit codes: 0 written, 2 bad input (a missing or malformed plan). "
               "docs: docs/gitlab.md",
    )
    parser.add_argument("--plan", default=PLAN_FILE, metavar="FILE",
                        help="the plan written by `dtf plan` (default plan.json); child jobs read "
                             "it as plan.json from the plan job's artifacts")
    parser.add_argument("--out", default="child.yml", metavar="FILE",
                        help="the child pipeline file to write (default child.yml; '-' for stdout)")
    parser.add_argument("--image", metavar="IMAGE",
                        help="default image of every child job, e.g. python:3.12 (default: none, "
                             "the runners' own default; shell runners ignore it)")
    parser.add_argument("--target-image", action="append", default=[], metavar="TARGET=IMAGE",
                        help="image of one target's shard jobs, over --image (repeatable), e.g. "
                             "a100=nvidia/cuda:12.4.1-runtime-ubuntu22.04")
    parser.add_argument("--aggregate-environment", metavar="NAME",
                        help="environment of the aggregate job (action: access): scope the "
                             "write tokens to it and protect it, so only this job gets them "
                             "(docs/gitlab.md#tokens)")
    parser.add_argument("--history", metavar="H",
                        help="history store for the aggregate job: a folder, or git:BRANCH "
                             "(e.g. git:dtf-data); default: none")
    parser.add_argument("--install", default=DEFAULT_INSTALL, metavar="CMD",
                        help="shell line that installs dtf in each job; {extra} becomes the "
                             "job's extra ([aggregate] for aggregate) (default: a virtual "
                             f"environment, dtf from $DTF_SOURCE: {DEFAULT_INSTALL!r})")
    from dtf_ci.policy import fail_on_type

    parser.add_argument("--fail-on", type=fail_on_type, metavar="POLICY",
                        default="regression", help="as for `dtf aggregate` (default regression)")
    parser.add_argument("--plan-job", default="plan", metavar="JOB",
                        help="the parent pipeline job whose artifacts hold plan.json (default plan)")
    parser.add_argument("--aggregate-tag", action="append", default=[], metavar="TAG",
                        help="runner tag for the aggregate job (repeatable; default: untagged)")
    parser.add_argument("--keep-labels", action="store_true",
                        help="keep every runs-on label as a tag, self-hosted and GitHub-hosted "
                             "image names included")
    parser.add_argument("--no-context", action="store_true",
                        help="do not copy the parent pipeline's CI_MERGE_REQUEST_* and "
                             "CI_PIPELINE_* values into the child")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from dtf_ci.errors import FatalError
    from dtf_ci.plan import load_plan

    try:
        target_images = parse_target_images(args.target_image)
        plan = load_plan(args.plan)
        unknown = sorted(set(target_images) - set(plan.get("targets") or {}))
        if unknown:
            from dtf_ci.errors import UsageError

            raise UsageError(f"--target-image names no target of the plan: {', '.join(unknown)} "
                             f"(targets: {', '.join(sorted(plan.get('targets') or {})) or 'none'})")
        text = child_pipeline(
            plan, image=args.image, dtf_install=args.install, history=args.history,
            fail_on=args.fail_on, plan_job=args.plan_job, aggregate_tags=args.aggregate_tag,
            variables=None if args.no_context else parent_variables(),
            keep_all_labels=args.keep_labels, target_images=target_images,
            aggregate_environment=args.aggregate_environment)
    except FatalError as exc:
        from dtf_ci import log

        print(log.guard(f"dtf gitlab-pipeline: {exc}"), file=sys.stderr)
        return exc.return_code
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
        jobs = len(plan.get("shards") or ())
        print(f"wrote {args.out}: {jobs} shard job(s) and an aggregate job", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
