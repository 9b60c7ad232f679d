"""The GitHub Actions provider: run context, self-hosted runner inventory, and publishing.

Selected when ``GITHUB_ACTIONS=true``. Every API call goes to ``GITHUB_API_URL`` (GitHub
Enterprise Server, or a test server on localhost) through PyGithub, with dtf's own retry
rules (see :mod:`dtf_ci.providers.github_http` for why dtf owns them rather than PyGithub's
``GithubRetry``).

Publishing is built so that re-running a job, or retrying a request, never leaves a second
PR comment or status: the comment is found again by its marker line, among the comments written
by the token's own identity only, and edited in place, and a request that failed with a 5xx is checked for having landed before it is sent
again. Each pipeline (the action's ``name`` input, ``dtf plan --name``) has its own marker and
status context (:func:`dtf_ci.providers.status_context`: ``dtf``, or ``dtf / NAME``), so two dtf
calls in one workflow run never overwrite each other's comment or status. A pull request from a fork gets a read-only token; dtf then writes the job summary,
says where the report is, and does not fail.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from dtf_ci import log
from dtf_ci.errors import ProviderError
from dtf_ci.providers import (
    COMMENT_MARKER,
    STATUS_CONTEXT,
    PublishRequest,
    PublishResult,
    RunContext,
    Runner,
    has_marker,
    marked_body,
    status_context,
)
from dtf_ci.providers.github_http import DEFAULT_API_URL, GitHubAPI

__all__ = ["COMMENT_MARKER", "STATUS_CONTEXT", "context", "list_runners", "publish", "token_login"]

STATUS_STATES = ("error", "failure", "pending", "success")
DESCRIPTION_LIMIT = 140  # characters GitHub keeps of a commit status description
COMMENT_LIMIT = 65536  # characters GitHub accepts in an issue comment body

DOCS_FORK = "docs/github-actions.md#fork-pull-requests"
DOCS_TOKENS = "docs/github-actions.md#tokens"
FORK_NOTE = (
    "fork pull request: read-only token; the report is in the job summary and the dtf-report "
    f"artifact; see {DOCS_FORK}"
)

# Events whose token can write even when the pull request comes from a fork: they run in
# the base repository's context (the workflow_run pattern, or pull_request_target).
_PRIVILEGED_EVENTS = frozenset({"workflow_run", "pull_request_target"})
_PR_EVENTS = frozenset({"pull_request", "pull_request_target", "pull_request_review",
                        "pull_request_review_comment"})


# --- context -------------------------------------------------------------------------------


def _load_event(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError, RecursionError) as exc:
        log.warning(f"could not read the GitHub event file {path}: {exc}")
        return {}
    return data if isinstance(data, dict) else {}


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def context(env: Mapping[str, str] | None = None) -> RunContext:
    """This run's context from the ``GITHUB_*`` variables and the ``GITHUB_EVENT_PATH`` JSON.

    For pull request events the commit is the PR head (``pull_request.head.sha``), not
    ``GITHUB_SHA``, which is a merge commit nobody else will see; the status must land on the
    commit the PR shows. For ``workflow_run`` (the fork pattern) the commit and PR come from
    the triggering run; where GitHub leaves ``workflow_run.pull_requests`` empty (forks),
    ``DTF_PR_NUMBER`` supplies the number the workflow verified.
    """
    env = os.environ if env is None else env
    event_name = env.get("GITHUB_EVENT_NAME", "")
    event = _load_event(env.get("GITHUB_EVENT_PATH"))
    repo = env.get("GITHUB_REPOSITORY", "") or str(_get(event, "repository", "full_name") or "")
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    run_id = env.get("GITHUB_RUN_ID", "")
    sha = env.get("GITHUB_SHA", "")
    ref = env.get("GITHUB_REF", "")
    branch = env.get("GITHUB_REF_NAME", "")
    base_ref = env.get("GITHUB_BASE_REF", "")
    head_repo = ""
    pr_number: int | None = None
    extra: dict[str, str] = {}

    pr = event.get("pull_request")
    if event_name in _PR_EVENTS or isinstance(pr, dict):
        pr = pr if isinstance(pr, dict) else {}
        sha = str(_get(pr, "head", "sha") or sha)
        pr_number = _int_or_none(pr.get("number") or event.get("number"))
        branch = env.get("GITHUB_HEAD_REF") or str(_get(pr, "head", "ref") or "") or branch
        base_ref = base_ref or str(_get(pr, "base", "ref") or "")
        head_repo = str(_get(pr, "head", "repo", "full_name") or "")
        if env.get("GITHUB_SHA"):
            extra["merge_sha"] = env["GITHUB_SHA"]
    elif event_name == "workflow_run" and isinstance(event.get("workflow_run"), dict):
        wr = event["workflow_run"]
        sha = str(wr.get("head_sha") or sha)
        branch = str(wr.get("head_branch") or branch)
        head_repo = str(_get(wr, "head_repository", "full_name") or "")
        prs = [p for p in wr.get("pull_requests") or [] if isinstance(p, dict)]
        if prs:
            pr_number = _int_or_none(prs[0].get("number"))
            base_ref = str(_get(prs[0], "base", "ref") or base_ref)
        extra["source_run_id"] = str(wr.get("id") or "")
        extra["source_run_url"] = str(wr.get("html_url") or "")
        extra["source_event"] = str(wr.get("event") or "")
    if pr_number is None and env.get("DTF_PR_NUMBER"):
        pr_number = _int_or_none(env["DTF_PR_NUMBER"])

    for key, name in (("run_attempt", "GITHUB_RUN_ATTEMPT"), ("workflow", "GITHUB_WORKFLOW"),
                      ("actor", "GITHUB_ACTOR"), ("job", "GITHUB_JOB"),
                      ("server_url", "GITHUB_SERVER_URL")):
        if env.get(name):
            extra[key] = env[name]

    return RunContext(
        provider="github",
        repo=repo,
        sha=sha,
        ref=ref,
        branch=branch,
        default_branch=str(_get(event, "repository", "default_branch") or ""),
        event=event_name,
        pr_number=pr_number,
        base_ref=base_ref,
        head_repo=head_repo,
        run_id=run_id,
        run_url=f"{server}/{repo}/actions/runs/{run_id}" if repo and run_id else "",
        api_url=(env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
        extra=extra,
    )


# --- runners -------------------------------------------------------------------------------


def _runner(raw: Any) -> Runner:
    labels = tuple(str(lb.get("name", "")) if isinstance(lb, dict) else str(lb)
                   for lb in (raw.labels or []))
    return Runner(name=str(raw.name), labels=labels, status=str(raw.status or "offline"),
                  busy=bool(raw.busy), os=str(raw.os or ""))


def _runner_error(exc: ProviderError, where: str) -> ProviderError:
    status = exc.status
    if status == 401:
        why = "GitHub refused the token (401): it is missing, expired or revoked"
    elif status == 403:
        why = ("the token may not list self-hosted runners (403): that needs admin read access, "
               "which the workflow's GITHUB_TOKEN never has; pass a fine-grained token or GitHub "
               "App token with 'Administration: read' (repository) or 'Self-hosted runners: "
               "read' (organization) as runners-token")
    elif status == 404:
        why = ("GitHub answered 404: the repository or organization does not exist, or the "
               "token cannot see it (GitHub hides what a token may not read)")
    else:
        return exc
    return ProviderError(f"cannot list the self-hosted runners of {where}: {why}; see "
                         f"{DOCS_TOKENS}. ({exc.message})", status=status)


def list_runners(
    ctx: RunContext, *, token: str | None = None, org: str | None = None
) -> list[Runner]:
    """The repository's self-hosted runners, and the organization's when ``org`` is given.

    The token is ``token``, else ``DTF_RUNNERS_TOKEN``, else ``GITHUB_TOKEN``. Raises
    :class:`ProviderError` with ``status`` 401/403/404 and a message that says which token
    is needed; the planner catches it and plans from the suite's targets. When both the
    repository and the organization are asked and only one answers, its runners are used
    and the other failure is logged.
    """
    token = token or os.environ.get("DTF_RUNNERS_TOKEN") or os.environ.get("GITHUB_TOKEN")
    if not token:
        raise ProviderError("cannot list self-hosted runners: no token (set runners-token, or "
                            f"DTF_RUNNERS_TOKEN); see {DOCS_TOKENS}", status=401)
    if not ctx.repo and not org:
        raise ProviderError("cannot list self-hosted runners: GITHUB_REPOSITORY is not set")
    api = GitHubAPI(token, ctx.api_url or DEFAULT_API_URL)
    sources: list[tuple[str, Any]] = []
    if ctx.repo:
        sources.append((ctx.repo, lambda: list(api.bounded(api.repo(ctx.repo).get_self_hosted_runners(), "runners"))))
    if org:
        sources.append((f"organization {org}",
                        lambda: list(api.bounded(api.org(org).get_self_hosted_runners(), "runners"))))
    runners: dict[tuple[str, tuple[str, ...]], Runner] = {}
    errors: list[ProviderError] = []
    for where, fetch in sources:
        try:
            raws = api.call(f"list the self-hosted runners of {where}", fetch)
        except ProviderError as exc:
            errors.append(_runner_error(exc, where))
            continue
        for raw in raws:
            runner = _runner(raw)
            runners.setdefault((runner.name, runner.labels), runner)
    if errors and len(errors) == len(sources):
        raise errors[0]
    for err in errors:
        log.warning(str(err))
    return list(runners.values())


# --- publish -------------------------------------------------------------------------------


def _is_forbidden_for_token(exc: ProviderError) -> bool:
    return exc.status == 403 and "not accessible by integration" in exc.message.lower()


def _trim(text: str, limit: int, note: str) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - len(note) - 1]
    return cut.rsplit("\n", 1)[0] + "\n" + note


def _comment_body(markdown: str, pipeline: str = "") -> str:
    return _trim(marked_body(markdown, pipeline), COMMENT_LIMIT,
                 "\n> The comment was trimmed to fit GitHub's limit; the full report is in the "
                 "job summary and the `dtf-report` artifact.\n")


def _description(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 1] + "…"


ACTIONS_BOT = "github-actions[bot]"
"""Who writes with the workflow's ``GITHUB_TOKEN`` (an installation token; ``GET /user`` is refused)."""


def token_login(api: GitHubAPI) -> str:
    """The login the token writes comments as: only its comments may be taken as dtf's.

    ``DTF_COMMENT_AUTHOR`` names it outright (another GitHub App's installation token writes
    as ``<app-slug>[bot]`` and cannot ask). Otherwise ``GET /user`` answers for a personal or
    user token; an installation token is refused there (403), and is the Actions token.
    """
    named = os.environ.get("DTF_COMMENT_AUTHOR", "").strip()
    if named:
        return named
    try:
        login = api.call("learn whose token this is (GET /user)", lambda: api.gh.get_user().login)
    except ProviderError as exc:
        if exc.status == 403:
            return ACTIONS_BOT
        raise
    if not isinstance(login, str) or not login:
        raise ProviderError("GitHub API: GET /user answered without a login; set DTF_COMMENT_AUTHOR")
    return login


def _find_marker_comment(api: GitHubAPI, issue: Any, login: str, pipeline: str = "") -> Any:
    """This pipeline's sticky comment: starts with its marker, written by this token's identity.

    A comment by anyone else carrying the marker is ignored (a user posting the marker first
    must not get dtf's report edited under their name, nor suppress it). Oldest first.
    """
    for comment in api.bounded(issue.get_comments(), "comments"):
        author = getattr(comment.user, "login", None) if comment.user is not None else None
        if (isinstance(author, str) and author.lower() == login.lower()
                and has_marker(comment.body, pipeline)):
            return comment
    return None


def _upsert_comment(api: GitHubAPI, ctx: RunContext, body: str, pipeline: str = "") -> str:
    issue = api.repo(ctx.repo).get_issue(ctx.pr_number)
    where = f"PR #{ctx.pr_number} of {ctx.repo}"
    login = token_login(api)
    existing = api.call(f"list the comments of {where}",
                        lambda: _find_marker_comment(api, issue, login, pipeline))
    if existing is not None:
        api.call(f"update dtf's comment on {where}", lambda: existing.edit(body), write=True)
        return str(existing.html_url or "")
    created = api.call(f"post dtf's comment on {where}", lambda: issue.create_comment(body),
                       write=True, recover=lambda: _find_marker_comment(api, issue, login, pipeline))
    if created.body != body:  # a landed earlier try found by the recovery: bring it up to date
        api.call(f"update dtf's comment on {where}", lambda: created.edit(body), write=True)
    return str(created.html_url or "")


def _post_status(api: GitHubAPI, ctx: RunContext, state: str, description: str,
                 pipeline: str = "") -> None:
    from github.CommitStatus import CommitStatus
    from github.PaginatedList import PaginatedList

    repo = api.repo(ctx.repo)
    commit = repo.get_commit(ctx.sha)
    target_url = ctx.run_url or None
    context_name = status_context(pipeline)

    def landed() -> Any:
        statuses = PaginatedList(CommitStatus, api.gh.requester,
                                 f"{repo.url}/commits/{ctx.sha}/statuses", None)
        for status in api.bounded(statuses, "statuses"):  # newest first; only the newest of ours counts
            if status.context == context_name:
                same = (status.state == state and status.description == description
                        and (status.target_url or None) == target_url)
                return status if same else None
        return None

    kwargs: dict[str, Any] = {"state": state, "description": description,
                              "context": context_name}
    if target_url:
        kwargs["target_url"] = target_url
    api.call(f"set the commit status {context_name!r} on {ctx.sha[:12]}", lambda: commit.create_status(**kwargs),
             write=True, recover=landed)


def publish(
    ctx: RunContext, request: PublishRequest, *, token: str | None = None
) -> PublishResult:
    """Write the job summary, update the pipeline's sticky PR comment, set its commit status.

    The pipeline is ``request.pipeline``: its comment marker and status context (``dtf``, or
    ``dtf / NAME``) are its own, so other pipelines' comments and statuses stay untouched.

    The token is ``token``, else ``GITHUB_TOKEN``. The job summary is written first, so it
    exists whatever the API does. A fork PR (read-only token), or a 403 "Resource not
    accessible by integration", is not a failure: the result's notes say where the report
    is. Any other API failure (a 422, a 404, retries exhausted) is raised as one
    :class:`ProviderError` after the remaining steps were still tried, naming what was and
    was not published.
    """
    result = PublishResult()
    result.summary_written = log.append_step_summary(request.summary_markdown)
    read_only = ctx.is_fork_pr and ctx.event not in _PRIVILEGED_EVENTS
    if read_only:
        result.notes.append(FORK_NOTE)
        return result
    token = token or os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if not token:
        result.notes.append("no GitHub token: nothing posted (pass github-token to the action, "
                            f"or set GITHUB_TOKEN); see {DOCS_TOKENS}")
        return result
    if not ctx.repo:
        result.notes.append("GITHUB_REPOSITORY is not set: nothing posted")
        return result

    api = GitHubAPI(token, ctx.api_url or DEFAULT_API_URL)
    failures: list[ProviderError] = []
    forbidden = False

    if ctx.pr_number is not None:
        try:
            result.comment_url = _upsert_comment(
                api, ctx, _comment_body(request.comment_markdown, request.pipeline), request.pipeline)
        except ProviderError as exc:
            if _is_forbidden_for_token(exc):
                forbidden = True
            else:
                failures.append(exc)
    else:
        result.notes.append("not a pull request: no PR comment")

    if ctx.sha and not forbidden:
        state = request.state if request.state in STATUS_STATES else "error"
        if state != request.state:
            result.notes.append(f"unknown status state {request.state!r}: posted 'error'")
        try:
            _post_status(api, ctx, state, _description(request.description), request.pipeline)
            result.status_posted = True
        except ProviderError as exc:
            if _is_forbidden_for_token(exc):
                forbidden = True
            else:
                failures.append(exc)

    if forbidden:
        result.notes.append(FORK_NOTE if ctx.is_fork_pr else (
            "the token may not write to this repository (403 Resource not accessible by "
            "integration): give the job `pull-requests: write` and `statuses: write`; the "
            f"report is in the job summary and the dtf-report artifact; see {DOCS_TOKENS}"))
    if failures:
        done = [what for what, ok in (("job summary", result.summary_written),
                                      ("PR comment", bool(result.comment_url)),
                                      ("commit status", result.status_posted)) if ok]
        lines = "; ".join(exc.message for exc in failures)
        raise ProviderError(f"{lines} (published: {', '.join(done) or 'nothing'})",
                            status=failures[0].status)
    return result
