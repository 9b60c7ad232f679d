"""The Jenkins provider: run context from a pipeline's environment; no runner API; local report.

Selected inside a Jenkins build (``dtf_ci.ci.is_jenkins``: ``JENKINS_URL``, ``JENKINS_HOME``,
``BUILD_ID`` with ``JOB_NAME``, or ``CHANGE_ID`` with ``BUILD_NUMBER``). Jenkins has no single "where do I report" answer: the
source may live on GitHub, GitLab, Bitbucket or a plain git server, and each has its own
plugin. So dtf does the part that is the same everywhere (the context, the report folder)
and leaves posting to the team, with one exception that needs no plugin: a build of a
GitHub repository, given ``GITHUB_TOKEN`` and ``DTF_GITHUB_REPOSITORY``, posts the sticky PR
comment and the ``dtf`` commit status through dtf's GitHub provider.

Agents are not listed through the API either (that needs an administrator's token and the
agents' labels are not the hardware facts dtf plans with): plan from the suite's ``targets``
or a runners file whose labels are the agents' labels (see ``docs/jenkins.md``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from dtf_ci.errors import ProviderError
from dtf_ci.providers import PublishRequest, PublishResult, RunContext, Runner

DEFAULT_BRANCH = "main"
DOCS = "docs/jenkins.md"


def _branch_name(value: str) -> str:
    """``origin/main``, ``refs/remotes/origin/main``, ``refs/heads/main`` -> ``main``."""
    value = value.strip()
    for prefix in ("refs/remotes/", "remotes/", "refs/heads/"):
        value = value.removeprefix(prefix)
    return value.split("/", 1)[1] if value.startswith("origin/") else value


def _repo_from_url(url: str) -> str:
    """``https://github.com/owner/name.git`` or ``git@host:group/sub/name.git`` -> the path."""
    url = url.strip()
    match = re.match(r"^(?:[a-z+]+://)?(?:[^@/]+@)?[^/:]+(?::\d+)?[:/](.+?)(?:\.git)?/?$", url)
    return match.group(1) if match else ""


def _without_credentials(url: str) -> str:
    """``https://user:token@host/o/n.git`` -> ``https://host/o/n.git``: a job's remote URL
    may carry a token (the Git plugin keeps what the job was configured with)."""
    return re.sub(r"^([a-z+]+://)[^@/]*@", r"\1", url.strip())


def context(env: Mapping[str, str] | None = None) -> RunContext:
    """This build's context from the variables Jenkins and its Git and multibranch plugins set.

    A multibranch build of a change request (pull or merge request) has ``CHANGE_ID``, and
    ``BRANCH_NAME`` is then ``PR-7``, not a branch: the branch is ``CHANGE_BRANCH``. A plain
    pipeline only has the Git plugin's ``GIT_BRANCH`` (``origin/main``). Jenkins does not know
    the repository's default branch: ``DTF_DEFAULT_BRANCH`` says it (``main`` otherwise).
    ``DTF_SHA`` overrides ``GIT_COMMIT``, for builds of a merge commit that want the status on
    the change's head.
    """
    env = os.environ if env is None else env
    get = lambda name: (env.get(name) or "").strip()  # noqa: E731
    repo = get("DTF_REPOSITORY") or _repo_from_url(get("GIT_URL") or get("GIT_URL_1"))
    change = get("CHANGE_ID")
    pr_number = int(change) if change.isdigit() else None
    tag = get("TAG_NAME")
    if change:
        branch = get("CHANGE_BRANCH")
        ref = f"refs/pull/{change}/head"
    elif tag:
        branch, ref = "", f"refs/tags/{tag}"
    else:
        branch = get("BRANCH_NAME") or _branch_name(get("GIT_BRANCH") or get("GIT_LOCAL_BRANCH"))
        ref = f"refs/heads/{branch}" if branch else ""
    fork = get("CHANGE_FORK")
    head_repo = ""
    if change:
        name = repo.rsplit("/", 1)[-1]
        head_repo = (fork if "/" in fork else f"{fork}/{name}") if fork else repo
    extra = {key: get(name) for key, name in (
        ("job_name", "JOB_NAME"), ("change_url", "CHANGE_URL"), ("change_id", "CHANGE_ID"),
        ("node_name", "NODE_NAME"), ("git_url", "GIT_URL")) if get(name)}
    if "git_url" in extra:
        extra["git_url"] = _without_credentials(extra["git_url"])
    return RunContext(
        provider="jenkins",
        repo=repo,
        sha=get("DTF_SHA") or get("GIT_COMMIT"),
        ref=ref,
        branch=branch,
        default_branch=get("DTF_DEFAULT_BRANCH") or DEFAULT_BRANCH,
        event="pull_request" if change else ("tag" if tag else "push"),
        pr_number=pr_number,
        base_ref=get("CHANGE_TARGET"),
        head_repo=head_repo,
        run_id=get("BUILD_ID") or get("BUILD_NUMBER"),
        run_url=get("BUILD_URL"),
        api_url=get("JENKINS_URL").rstrip("/"),
        extra=extra,
    )


def list_runners(
    ctx: RunContext, *, token: str | None = None, org: str | None = None
) -> list[Runner]:
    """Always refused with 404, which the planner takes as "plan from the suite's targets"."""
    raise ProviderError(
        "Jenkins agents are not listed: pass --runners FILE (runners: [{name, labels}], the "
        "labels being your agents' labels) or name the targets in the suite; targets' "
        f"runs-on become agent label expressions (a && b). See {DOCS}.", status=404)


def _github_context(ctx: RunContext, repo: str, env: Mapping[str, str]) -> RunContext:
    """The same build, seen as the GitHub provider needs it.

    ``head_repo`` is left empty on purpose: on GitHub Actions a fork's pull request gets a
    read-only token, and the GitHub provider then posts nothing; on Jenkins the token is the
    team's own credential, which may post on any pull request of the repository.
    """
    return RunContext(
        provider="github", repo=repo, sha=ctx.sha, ref=ctx.ref, branch=ctx.branch,
        default_branch=ctx.default_branch, event=ctx.event, pr_number=ctx.pr_number,
        base_ref=ctx.base_ref, head_repo="", run_id=ctx.run_id, run_url=ctx.run_url,
        api_url=(env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
        extra=dict(ctx.extra),
    )


def publish(
    ctx: RunContext, request: PublishRequest, *, token: str | None = None
) -> PublishResult:
    """Post nothing and say where the report is, unless the source is on GitHub.

    With ``DTF_GITHUB_REPOSITORY`` (``owner/name``) and a GitHub token (``token``, else
    ``GITHUB_TOKEN``) set, the GitHub provider posts the sticky PR comment (for a change
    request build) and the ``dtf`` commit status, with the build's URL as the status link.
    """
    github_repo = os.environ.get("DTF_GITHUB_REPOSITORY", "").strip()
    token = token or os.environ.get("GITHUB_TOKEN")
    if github_repo and token:
        from dtf_ci.providers import github

        return github.publish(_github_context(ctx, github_repo, os.environ), request, token=token)
    where = request.report_dir or "the report folder"
    return PublishResult(notes=[
        f"Jenkins: nothing posted; the report is in {where} (archive it with archiveArtifacts "
        f"and show report.md however the team likes; set DTF_GITHUB_REPOSITORY and "
        f"GITHUB_TOKEN to post on GitHub); see {DOCS}"])
