"""The GitLab CI provider: run context, runner inventory, and publishing to a merge request.

Selected when ``GITLAB_CI=true`` (or ``CI_API_V4_URL`` is set). Every API call goes to
``CI_API_V4_URL`` (GitLab.com, a self-managed instance, or a test server on localhost)
through python-gitlab, with dtf's retry rules rather than python-gitlab's (which sleep with
``time.sleep`` and retry a POST blindly), for the reasons :mod:`dtf_ci.providers.github_http`
gives: a note whose POST failed with a 5xx is looked for before it is posted again; every
wait goes through :data:`SLEEP`; a wait longer than :attr:`RetryPolicy.max_wait` gives up.
5xx, lost connections and timeouts are retried with exponential backoff; a 429 waits for
``Retry-After`` (else ``RateLimit-Reset``, else a backoff); every other 4xx is final.

dtf's jobs run in a generated child pipeline (:mod:`dtf_ci.gitlab_pipeline`), which has
``CI_PIPELINE_SOURCE=parent_pipeline`` and no ``CI_MERGE_REQUEST_*`` variables. The generator
copies the parent's values into the child as ``DTF_<NAME>``, and :func:`context` reads those
first (:data:`FORWARDED`), so the aggregate job knows its merge request.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from dtf_ci import log
from dtf_ci.errors import ProviderError
from dtf_ci.providers import (
    COMMENT_MARKER,
    PublishRequest,
    PublishResult,
    RunContext,
    Runner,
    bounded_listing,
    has_marker,
    marked_body,
    status_context,
)

T = TypeVar("T")

__all__ = ["COMMENT_MARKER", "STATUS_NAME", "context", "list_runners", "publish", "token_username"]

STATUS_NAME = "dtf"  # the default pipeline's; a named one's is `dtf / NAME` (status_context)
STATE_MAP = {"success": "success", "failure": "failed", "error": "failed", "pending": "pending"}
DESCRIPTION_LIMIT = 255  # characters GitLab accepts in a commit status description
NOTE_LIMIT = 1_000_000  # characters GitLab accepts in a note body
DEFAULT_API_URL = "https://gitlab.com/api/v4"
DOCS_TOKENS = "docs/gitlab.md#tokens"

FORWARDED = (
    "CI_PIPELINE_SOURCE", "CI_PIPELINE_ID", "CI_PIPELINE_URL", "CI_MERGE_REQUEST_IID",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", "CI_MERGE_REQUEST_SOURCE_PROJECT_PATH",
    "CI_MERGE_REQUEST_PROJECT_PATH", "CI_MERGE_REQUEST_PROJECT_ID",
    "CI_MERGE_REQUEST_DIFF_BASE_SHA",  # `dtf run --base auto` in the child's shard jobs
)
"""Parent-pipeline variables a child pipeline lacks; read as ``DTF_<NAME>`` first."""

SLEEP: Callable[[float], None] = time.sleep
"""Every wait of this module goes through here; tests replace it with a recorder."""

NOW: Callable[[], float] = time.time
"""Wall clock in epoch seconds, compared with ``RateLimit-Reset``; replaceable in tests."""


# --- context -------------------------------------------------------------------------------


def _value(env: Mapping[str, str], name: str) -> str:
    """``DTF_<name>`` (the parent's value), else ``name``; an unexpanded ``$VAR`` is empty."""
    keys = (f"DTF_{name}", name) if name in FORWARDED else (name,)
    for key in keys:
        value = (env.get(key) or "").strip()
        if value and not value.startswith("$"):
            return value
    return ""


def _int_or_none(value: str) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def context(env: Mapping[str, str] | None = None) -> RunContext:
    """This run's context from GitLab's predefined variables.

    In a merged-results pipeline ``CI_COMMIT_SHA`` is a merge commit nobody else sees; the
    merge request's head (``CI_MERGE_REQUEST_SOURCE_BRANCH_SHA``) is where the status must
    land, as GitLab's commit status API asks, so it becomes ``sha``.
    """
    env = os.environ if env is None else env
    get = lambda name: _value(env, name)  # noqa: E731
    pr_number = _int_or_none(get("CI_MERGE_REQUEST_IID") or get("DTF_PR_NUMBER"))
    commit_sha = get("CI_COMMIT_SHA")
    sha = get("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA") or commit_sha
    tag = get("CI_COMMIT_TAG")
    if pr_number is not None:
        branch = get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or get("CI_COMMIT_REF_NAME")
        ref = f"refs/merge-requests/{pr_number}/head"
    elif tag:
        branch, ref = "", f"refs/tags/{tag}"
    else:
        branch = get("CI_COMMIT_BRANCH") or get("CI_COMMIT_REF_NAME")
        ref = f"refs/heads/{branch}" if branch else ""
    extra = {key: get(name) for key, name in (
        ("project_id", "CI_PROJECT_ID"), ("mr_project", "CI_MERGE_REQUEST_PROJECT_PATH"),
        ("mr_project_id", "CI_MERGE_REQUEST_PROJECT_ID"), ("server_url", "CI_SERVER_URL"),
        ("job_url", "CI_JOB_URL"), ("tag", "CI_COMMIT_TAG")) if get(name)}
    if commit_sha and commit_sha != sha:
        extra["merge_sha"] = commit_sha
    return RunContext(
        provider="gitlab",
        repo=get("CI_PROJECT_PATH"),
        sha=sha,
        ref=ref,
        branch=branch,
        default_branch=get("CI_DEFAULT_BRANCH"),
        event=get("CI_PIPELINE_SOURCE"),
        pr_number=pr_number,
        base_ref=get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME"),
        head_repo=get("CI_MERGE_REQUEST_SOURCE_PROJECT_PATH"),
        run_id=get("CI_PIPELINE_ID"),
        run_url=get("CI_PIPELINE_URL"),
        api_url=(get("CI_API_V4_URL") or DEFAULT_API_URL).rstrip("/"),
        extra=extra,
    )


# --- HTTP ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. The defaults suit a CI job; tests shrink them."""

    max_attempts: int = 5  # tries of one request, the first included
    max_wait: float = 900.0  # longest single wait in seconds; longer waits give up at once
    server_backoff: float = 2.0  # first wait after a 5xx or a lost connection, then doubled
    rate_backoff: float = 60.0  # first wait after a 429 that names no time, then doubled
    timeout: float = 30.0  # seconds per HTTP request
    deadline: float = 600.0  # seconds one call may take, every retry and wait included
    max_items: int = 10_000  # items one listing may return before it is cut off


POLICY = RetryPolicy()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((str(v) for k, v in headers.items() if k.lower() == name.lower()), None)


def _wait(status: int | None, headers: Mapping[str, str], attempt: int,
          policy: RetryPolicy) -> float | None:
    """Seconds to wait before trying again, or None when the failure is final."""
    if status is None or status >= 500:
        return min(policy.server_backoff * 2 ** (attempt - 1), policy.max_wait)
    if status != 429:
        return None
    for name, offset in (("retry-after", None), ("ratelimit-reset", NOW)):
        try:
            seconds = float(_header(headers, name) or "")
        except ValueError:  # absent, or an HTTP date
            continue
        return max(0.0, seconds if offset is None else seconds - offset() + 1.0)
    return min(policy.rate_backoff * 2 ** (attempt - 1), policy.max_wait)


def _words(message: Any) -> str:
    """GitLab's error body in one line: ``{"message": {"body": ["is too long"]}}`` -> ``body is too long``."""
    if isinstance(message, dict):
        return "; ".join(f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}"
                         for k, v in message.items())
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    text = str(message or "").strip()
    return text.splitlines()[0][:300] if text else "no message"


class GitLabAPI:
    """A python-gitlab client whose every request is retried by dtf's rules, not its own."""

    def __init__(self, token: str | None, api_url: str = DEFAULT_API_URL, *,
                 policy: RetryPolicy | None = None) -> None:
        import gitlab
        import requests

        class _Client(gitlab.Gitlab):
            def http_request(self, *args: Any, **kwargs: Any) -> Any:
                kwargs.update(obey_rate_limit=False, retry_transient_errors=False, max_retries=0)
                return super().http_request(*args, **kwargs)

        self.policy = policy or POLICY
        self._secret = token or ""
        self.headers: Mapping[str, str] = {}  # of the last response: Retry-After after a 429
        session = requests.Session()
        session.hooks["response"].append(self._remember)
        base = (api_url or DEFAULT_API_URL).rstrip("/").removesuffix("/api/v4")
        self.gl = _Client(url=base, private_token=token, timeout=self.policy.timeout,
                          per_page=100, user_agent="dtf-ci", keep_base_url=True, session=session)

    def _remember(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self.headers = response.headers

    def call(self, what: str, fn: Callable[[], T], *,
             recover: Callable[[], T | None] | None = None) -> T:
        """:meth:`_call`, with the token cut out of every message (a server may echo it)."""
        try:
            return self._call(what, fn, recover=recover)
        except ProviderError as exc:
            raise ProviderError(log.redact(exc.message, self._secret), status=exc.status) from None

    def _call(self, what: str, fn: Callable[[], T], *,
              recover: Callable[[], T | None] | None = None) -> T:
        """Run ``fn`` (one request, or a paginated listing) with retries.

        ``recover`` runs after a failure that may have landed (5xx, lost connection), before
        trying again: when it finds the result, that is returned and nothing is sent again.
        """
        from gitlab.exceptions import GitlabError
        from requests.exceptions import ConnectionError as RequestsConnectionError
        from requests.exceptions import Timeout

        attempt = 0
        started = time.monotonic()
        waited = slept = 0.0
        while True:
            attempt += 1
            self.headers = {}
            try:
                return fn()
            except ProviderError:
                raise
            except GitlabError as exc:
                status, words = exc.response_code, _words(exc.error_message)
            except (RequestsConnectionError, Timeout) as exc:
                status, words = None, f"no answer ({type(exc).__name__})"
            except (ValueError, TypeError, AttributeError, KeyError, IndexError, RuntimeError) as exc:
                raise ProviderError(f"GitLab API: could not {what}: the answer is not what the API "
                                    f"documents ({type(exc).__name__}: {str(exc)[:200]})") from None
            said = f"{status} {words}" if status else words
            wait = _wait(status, self.headers, attempt, self.policy)
            if wait is None:
                raise ProviderError(f"GitLab API: could not {what}: {said}", status=status)
            if attempt >= self.policy.max_attempts:
                raise ProviderError(f"GitLab API: could not {what} after {attempt} attempts: "
                                    f"{said}", status=status)
            if wait > self.policy.max_wait:
                raise ProviderError(f"GitLab API: could not {what}: asked to wait {wait:.0f} s, "
                                    f"longer than dtf waits ({self.policy.max_wait:.0f} s): {said}",
                                    status=status)
            if waited + (time.monotonic() - started - slept) + wait > self.policy.deadline:
                raise ProviderError(f"GitLab API: could not {what} within {self.policy.deadline:.0f} s "
                                    f"(attempt {attempt}): {said}", status=status)
            log.info(log.redact(f"GitLab API: {what}: {said}; retrying in {wait:.1f} s "
                                f"(attempt {attempt + 1} of {self.policy.max_attempts})", self._secret))
            before = time.monotonic()
            SLEEP(wait)
            slept += time.monotonic() - before
            waited += wait
            if recover is not None and (status is None or status >= 500):
                found = self.call(f"check whether the last try to {what} landed", recover)
                if found is not None:
                    log.info(f"GitLab API: {what}: the earlier try had landed; not sending it again")
                    return found

    def bounded(self, items: Iterable[T], what: str) -> Iterator[T]:
        """A listing cut off at ``max_items`` items or ``deadline`` seconds, with a clear error."""
        return bounded_listing(items, what, api="GitLab", max_items=self.policy.max_items,
                               deadline=self.policy.deadline)


# --- runners -------------------------------------------------------------------------------


def _runner(raw: Any, details: Any) -> Runner:
    data = {**raw.attributes, **(details.attributes if details is not None else {})}
    paused = bool(data.get("paused")) or data.get("active") is False
    online = data.get("online") is True or (data.get("online") is None and data.get("status") == "online")
    return Runner(name=str(data.get("description") or data.get("name") or f"runner-{data.get('id')}"),
                  labels=tuple(str(t) for t in data.get("tag_list") or ()),
                  status="online" if online and not paused else "offline",
                  busy=str(data.get("job_execution_status") or "").lower() in ("active", "running"),
                  os=str(data.get("platform") or ""))


def _runner_error(exc: ProviderError, where: str) -> ProviderError:
    why = {401: "GitLab refused the token (401): it is missing, expired or revoked",
           403: "the token may not list runners (403): that needs at least the Maintainer role "
                "on the project (Owner on a group) and an access token with read_api scope",
           404: "GitLab answered 404: the project or group does not exist, or the token cannot "
                "see it"}.get(exc.status or 0)
    if why is None:
        return exc
    return ProviderError(f"cannot list the runners of {where}: {why}; see {DOCS_TOKENS}. "
                         f"({exc.message})", status=exc.status)


def list_runners(
    ctx: RunContext, *, token: str | None = None, org: str | None = None
) -> list[Runner]:
    """The project's runners (its own, its groups' and allowed instance runners), or the
    group's when ``org`` is given, with each runner's tags from its details.

    GitLab's list endpoints do not return tags, so each runner's details are read too
    (``GET /runners/:id``). A runner whose details the token may not read is left out with a
    warning. Raises :class:`ProviderError` with ``status`` 401/403/404 when the listing
    itself is refused; the planner then plans from the suite's targets.
    """
    token = (token or os.environ.get("DTF_RUNNERS_TOKEN") or os.environ.get("DTF_GITLAB_TOKEN")
             or os.environ.get("GITLAB_TOKEN"))
    if not token:
        raise ProviderError(f"cannot list GitLab runners: no token (set DTF_RUNNERS_TOKEN); "
                            f"see {DOCS_TOKENS}", status=401)
    project = ctx.extra.get("project_id") or ctx.repo
    if not org and not project:
        raise ProviderError("cannot list GitLab runners: CI_PROJECT_PATH is not set")
    api = GitLabAPI(token, ctx.api_url)
    owner: Any = api.gl.groups.get(org, lazy=True) if org else api.gl.projects.get(project, lazy=True)
    where = f"group {org}" if org else f"project {ctx.repo or project}"
    try:
        raws: list[Any] = api.call(f"list the runners of {where}",
                                   lambda: list(api.bounded(owner.runners.list(iterator=True), "runners")))
    except ProviderError as exc:
        raise _runner_error(exc, where) from None
    runners: list[Runner] = []
    for raw in {r.id: r for r in raws}.values():
        try:
            details = api.call(f"read runner {raw.id}", partial(api.gl.runners.get, raw.id))
        except ProviderError as exc:
            if exc.status not in (401, 403, 404):
                raise
            log.warning(f"runner {raw.attributes.get('description') or raw.id}: left out, its "
                        f"tags cannot be read ({exc.message})")
            continue
        runners.append(_runner(raw, details))
    return runners


# --- publish -------------------------------------------------------------------------------


def _note_body(markdown: str, pipeline: str = "") -> str:
    body = marked_body(markdown, pipeline)
    if len(body) <= NOTE_LIMIT:
        return body
    note = ("\n> The note was trimmed to fit GitLab's limit; the full report is in the dtf-report "
            "job artifact.\n")
    return body[: NOTE_LIMIT - len(note) - 1].rsplit("\n", 1)[0] + "\n" + note


def token_username(api: GitLabAPI) -> str:
    """The username the token writes notes as (``GET /user``; a project token's bot user too).

    Only notes by this user are taken as dtf's: a note by anyone else carrying the marker
    is ignored. ``DTF_COMMENT_AUTHOR`` names it outright.
    """
    named = os.environ.get("DTF_COMMENT_AUTHOR", "").strip()
    if named:
        return named
    user = api.call("learn whose token this is (GET /user)", lambda: api.gl.http_get("/user"))
    name = user.get("username") if isinstance(user, dict) else None
    if not isinstance(name, str) or not name:
        raise ProviderError("GitLab API: GET /user answered without a username; set DTF_COMMENT_AUTHOR")
    return name


def _find_marker_note(api: GitLabAPI, mr: Any, username: str, pipeline: str = "") -> Any:
    # this pipeline's note (its marker line), oldest first, so that a second marker note
    # (someone quoting ours) never wins
    for note in api.bounded(mr.notes.list(iterator=True, sort="asc", order_by="created_at"), "notes"):
        author = note.attributes.get("author")
        name = author.get("username") if isinstance(author, dict) else None
        if (not note.attributes.get("system") and isinstance(name, str) and name.lower() == username.lower()
                and has_marker(note.body, pipeline)):
            return note
    return None


def _upsert_note(api: GitLabAPI, ctx: RunContext, iid: int, body: str, pipeline: str = "") -> str:
    project = (ctx.extra.get("mr_project_id") or ctx.extra.get("mr_project")
               or ctx.extra.get("project_id") or ctx.repo)
    mr = api.gl.projects.get(project, lazy=True).mergerequests.get(iid, lazy=True)
    where = f"merge request !{iid} of {ctx.extra.get('mr_project') or ctx.repo}"
    username = token_username(api)
    note = api.call(f"list the notes of {where}", lambda: _find_marker_note(api, mr, username, pipeline))
    if note is None:
        note = api.call(f"post dtf's note on {where}", lambda: mr.notes.create({"body": body}),
                        recover=lambda: _find_marker_note(api, mr, username, pipeline))
    if note.body != body:  # an old report, or a landed earlier try: bring it up to date
        note.body = body
        api.call(f"update dtf's note on {where}", note.save)
    server = (ctx.extra.get("server_url") or ctx.api_url.removesuffix("/api/v4")).rstrip("/")
    path = ctx.extra.get("mr_project") or ctx.repo
    return f"{server}/{path}/-/merge_requests/{iid}#note_{note.id}"


def _post_status(api: GitLabAPI, ctx: RunContext, state: str, description: str,
                 pipeline: str = "") -> bool:
    """Set the pipeline's status (``dtf``, or ``dtf / NAME``); True when set, False when
    GitLab says it already is."""
    project = api.gl.projects.get(ctx.extra.get("project_id") or ctx.repo, lazy=True)
    name = status_context(pipeline)
    data: dict[str, Any] = {"state": state, "name": name, "description": description}
    if ctx.run_url:
        data["target_url"] = ctx.run_url[:255]
    if ctx.run_id.isdigit() and "merge_sha" not in ctx.extra:  # the pipeline is on this sha
        data["pipeline_id"] = int(ctx.run_id)

    def landed() -> Any:
        for status in api.bounded(project.commits.get(ctx.sha, lazy=True).statuses.list(
                iterator=True, name=name), "statuses"):
            if getattr(status, "name", name) == name and status.status == state and (status.description or "") == description:
                return status
        return None

    try:
        api.call(f"set the commit status on {ctx.sha[:12]}",
                 lambda: project.commits.get(ctx.sha, lazy=True).statuses.create(data),
                 recover=landed)
    except ProviderError as exc:  # pending -> pending is refused: the status already says so
        if exc.status == 400 and "cannot transition status" in exc.message.lower():
            return False
        raise
    return True


def publish(
    ctx: RunContext, request: PublishRequest, *, token: str | None = None
) -> PublishResult:
    """Update the pipeline's sticky merge request note and set its commit status.

    The pipeline is ``request.pipeline``: its note marker and status name (``dtf``, or
    ``dtf / NAME``) are its own, so two dtf pipelines on one merge request keep apart.

    The token is ``token``, else ``DTF_GITLAB_TOKEN``, else ``GITLAB_TOKEN``: a project or
    group access token with ``api`` scope (``CI_JOB_TOKEN`` may do neither). GitLab has no job
    summary, so ``summary.md`` stays in the report folder, which the job keeps as an artifact
    (``artifacts: expose_as``). A failure of one step does not stop the other; all failures
    are raised together as one :class:`ProviderError` that says what was published.
    """
    result = PublishResult()
    if request.report_dir:
        result.notes.append(f"GitLab has no job summary: the report is in {request.report_dir} "
                            "(keep it as a job artifact, artifacts: expose_as)")
    token = token or os.environ.get("DTF_GITLAB_TOKEN") or os.environ.get("GITLAB_TOKEN")
    if not token:
        result.notes.append("no GitLab token: nothing posted (set DTF_GITLAB_TOKEN to a project "
                            f"access token with api scope); see {DOCS_TOKENS}")
        return result
    if not ctx.repo and not ctx.extra.get("project_id"):
        result.notes.append("CI_PROJECT_PATH is not set: nothing posted")
        return result
    api = GitLabAPI(token, ctx.api_url)
    failures: list[ProviderError] = []
    if ctx.pr_number is not None:
        try:
            result.comment_url = _upsert_note(api, ctx, ctx.pr_number,
                                              _note_body(request.comment_markdown, request.pipeline),
                                              request.pipeline)
        except ProviderError as exc:
            failures.append(exc)
    else:
        result.notes.append("not a merge request: no merge request note")
    if ctx.sha:
        state = STATE_MAP.get(request.state, "failed")
        if request.state not in STATE_MAP:
            result.notes.append(f"unknown status state {request.state!r}: posted 'failed'")
        description = " ".join(request.description.split())[:DESCRIPTION_LIMIT]
        try:
            if not _post_status(api, ctx, state, description, request.pipeline):
                result.notes.append(f"the {status_context(request.pipeline)} commit status "
                                    f"already was {state}")
            result.status_posted = True
        except ProviderError as exc:
            failures.append(exc)
    if failures:
        done = [what for what, ok in (("merge request note", bool(result.comment_url)),
                                      ("commit status", result.status_posted)) if ok]
        raise ProviderError("; ".join(exc.message for exc in failures)
                            + f" (published: {', '.join(done) or 'nothing'})",
                            status=failures[0].status)
    return result
