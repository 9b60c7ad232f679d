"""The GitHub provider against a local GitHub API, through PyGithub's real HTTP code.

Every test builds its context with ``context(env)`` from a simulated Actions environment,
so ``GITHUB_API_URL`` is what points dtf at the local server, as it points dtf at GitHub
Enterprise Server in real use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from github_server import NOT_ACCESSIBLE, GitHubServer, error_body

from dtf_ci.errors import ProviderError
from dtf_ci.providers import PublishRequest, RunContext, github, github_http

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parent.parent / "data" / "github" / "events"
HEAD_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
MERGE_SHA = "1f0a2b3c4d5e6f708192a3b4c5d6e7f801234567"
MARKER = github.COMMENT_MARKER


def _event(tmp_path: Path, name: str, edit: Any = None) -> str:
    data = json.loads((EVENTS / name).read_text())
    if edit:
        edit(data)
    path = tmp_path / f"event-{name}"
    path.write_text(json.dumps(data))
    return str(path)


def pr_env(tmp_path: Path, api: GitHubServer | None = None, *, fork: bool = False,
           number: int = 2) -> dict[str, str]:
    """The environment of a ``pull_request`` job on the server's repository."""
    repo = api.repo if api else "Codertocat/Hello-World"

    def edit(data: dict) -> None:
        data["number"] = data["pull_request"]["number"] = number
        data["repository"]["full_name"] = data["pull_request"]["base"]["repo"]["full_name"] = repo
        data["pull_request"]["head"]["repo"]["full_name"] = (
            "contributor/Hello-World" if fork else repo)

    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": _event(tmp_path, "pull_request.synchronize.json", edit),
        "GITHUB_REPOSITORY": repo,
        "GITHUB_SHA": MERGE_SHA,
        "GITHUB_REF": f"refs/pull/{number}/merge",
        "GITHUB_REF_NAME": f"{number}/merge",
        "GITHUB_HEAD_REF": "changes",
        "GITHUB_BASE_REF": "master",
        "GITHUB_RUN_ID": "9876543210",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md"),
    }
    if api:
        env["GITHUB_API_URL"] = api.url
    return env


def use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> RunContext:
    for key in ("GITHUB_TOKEN", "GH_TOKEN", "DTF_RUNNERS_TOKEN", "DTF_PR_NUMBER"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return github.context(env)


def request(text: str = "all unchanged", **kw: Any) -> PublishRequest:
    fields = dict(comment_markdown=f"{MARKER}\n## dtf\n{text}\n", summary_markdown=f"# dtf\n{text}\n",
                  state="success", description="dtf: 12 series unchanged", overall="unchanged")
    fields.update(kw)
    return PublishRequest(**fields)


# --- context -------------------------------------------------------------------------------


def test_context_from_a_pull_request_event(tmp_path: Path) -> None:
    env = pr_env(tmp_path)
    env["GITHUB_API_URL"] = "https://ghes.example.com/api/v3"
    ctx = github.context(env)
    assert ctx.provider == "github"
    assert ctx.repo == "Codertocat/Hello-World"
    assert ctx.sha == HEAD_SHA  # the PR head from the event, not the merge commit
    assert ctx.extra["merge_sha"] == MERGE_SHA
    assert ctx.ref == "refs/pull/2/merge"
    assert ctx.branch == "changes"  # GITHUB_HEAD_REF
    assert ctx.default_branch == "master"  # event repository.default_branch
    assert ctx.event == "pull_request"
    assert ctx.pr_number == 2
    assert ctx.base_ref == "master"
    assert ctx.head_repo == "Codertocat/Hello-World"
    assert not ctx.is_fork_pr and not ctx.on_main_line
    assert ctx.run_id == "9876543210"
    assert ctx.run_url == "https://github.com/Codertocat/Hello-World/actions/runs/9876543210"
    assert ctx.api_url == "https://ghes.example.com/api/v3"


def test_context_from_a_fork_pull_request(tmp_path: Path) -> None:
    ctx = github.context(pr_env(tmp_path, fork=True))
    assert ctx.head_repo == "contributor/Hello-World"
    assert ctx.is_fork_pr


def test_context_from_a_push_event(tmp_path: Path) -> None:
    env = {
        "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": _event(tmp_path, "push.json"),
        "GITHUB_REPOSITORY": "Codertocat/Hello-World",
        "GITHUB_SHA": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "GITHUB_REF": "refs/heads/master", "GITHUB_REF_NAME": "master", "GITHUB_HEAD_REF": "",
        "GITHUB_RUN_ID": "42", "GITHUB_SERVER_URL": "https://github.com",
    }
    ctx = github.context(env)
    assert ctx.sha == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    assert ctx.branch == "master" and ctx.default_branch == "master"
    assert ctx.pr_number is None and ctx.head_repo == ""
    assert ctx.on_main_line
    assert ctx.api_url == "https://api.github.com"
    assert ctx.run_url == "https://github.com/Codertocat/Hello-World/actions/runs/42"


def test_context_from_a_workflow_run_event_takes_the_verified_pr_number(tmp_path: Path) -> None:
    event = {
        "action": "completed",
        "workflow_run": {"id": 555, "head_sha": HEAD_SHA, "head_branch": "changes",
                         "event": "pull_request", "pull_requests": [],
                         "html_url": "https://github.com/Codertocat/Hello-World/actions/runs/555",
                         "head_repository": {"full_name": "contributor/Hello-World"}},
        "repository": {"full_name": "Codertocat/Hello-World", "default_branch": "master"},
    }
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    ctx = github.context({"GITHUB_EVENT_NAME": "workflow_run", "GITHUB_EVENT_PATH": str(path),
                          "GITHUB_REPOSITORY": "Codertocat/Hello-World", "GITHUB_RUN_ID": "556",
                          "DTF_PR_NUMBER": "2"})
    assert ctx.sha == HEAD_SHA and ctx.pr_number == 2 and ctx.branch == "changes"
    assert ctx.extra["source_run_id"] == "555"


def test_context_without_an_event_file(tmp_path: Path) -> None:
    ctx = github.context({"GITHUB_EVENT_PATH": str(tmp_path / "missing.json"),
                          "GITHUB_REPOSITORY": "a/b", "GITHUB_SHA": "abc"})
    assert ctx.repo == "a/b" and ctx.sha == "abc" and ctx.default_branch == ""


# --- runners -------------------------------------------------------------------------------


def test_runner_listing_follows_three_pages(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(250):
        github_api.add_runner(f"gpu-{i:03d}", ["self-hosted", "Linux", "X64", "gpu-a100"])
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    runners = github.list_runners(ctx, token="admin-token")
    assert [r.name for r in runners] == [f"gpu-{i:03d}" for i in range(250)]
    pages = github_api.requests_to("GET", r"/actions/runners$")
    assert len(pages) == 3
    assert [p.query.get("page", ["1"])[0] for p in pages] == ["1", "2", "3"]
    assert all(p.token == "admin-token" for p in pages)
    assert waits == []


def test_offline_and_busy_runners_are_reported_as_such(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    github_api.add_runner("box-1", ["self-hosted", "Linux", "X64", "gpu-a100"], busy=True)
    github_api.add_runner("mac-1", ["self-hosted", "macOS", "ARM64"], status="offline",
                          os="macos")
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    box, mac = github.list_runners(ctx, token="t")
    assert box.status == "online" and box.busy and box.os == "linux"
    assert box.labels == ("self-hosted", "Linux", "X64", "gpu-a100")
    assert mac.status == "offline" and not mac.busy and mac.os == "macos"


def test_organization_runners_are_added_when_asked(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    github_api.add_runner("repo-box", ["self-hosted", "Linux"])
    github_api.add_runner("org-box", ["self-hosted", "Linux", "gpu-h100"], org=True)
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    assert [r.name for r in github.list_runners(ctx, token="t")] == ["repo-box"]
    names = [r.name for r in github.list_runners(ctx, token="t", org=github_api.org)]
    assert names == ["repo-box", "org-box"]


def test_runner_token_comes_from_the_environment(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    github_api.add_runner("box", ["self-hosted"])
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    monkeypatch.setenv("GITHUB_TOKEN", "workflow-token")
    monkeypatch.setenv("DTF_RUNNERS_TOKEN", "runners-token")
    github.list_runners(ctx)
    assert github_api.requests[-1].token == "runners-token"


@pytest.mark.parametrize(("perm", "status", "words"), [
    ("read", 403, "Administration: read"),
    (None, 401, "refused the token"),
])
def test_runner_listing_refused_is_a_clear_provider_error(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch,
    perm: str | None, status: int, words: str,
) -> None:
    github_api.tokens = {"the-token": perm} if perm else {}
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    with pytest.raises(ProviderError) as info:
        github.list_runners(ctx, token="the-token")
    assert info.value.status == status
    assert words in info.value.message and "docs/github-actions.md#tokens" in info.value.message
    assert len(github_api.requests) == 1 and waits == []  # never retried


def test_runner_listing_of_an_unknown_repository_is_404(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    ctx = RunContext(provider="github", repo="octo-org/gone", api_url=ctx.api_url)
    with pytest.raises(ProviderError) as info:
        github.list_runners(ctx, token="t")
    assert info.value.status == 404 and "octo-org/gone" in info.value.message


def test_runner_listing_without_a_token_sends_nothing(
    tmp_path: Path, github_api: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    with pytest.raises(ProviderError) as info:
        github.list_runners(ctx)
    assert info.value.status == 401 and github_api.requests == []


# --- publish: the sticky comment -----------------------------------------------------------


def test_first_publish_creates_the_comment_the_second_edits_it(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    github_api.add_comment(2, "LGTM")
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    first = github.publish(ctx, request("1 regression", state="failure"), token="t")
    second = github.publish(ctx, request("all unchanged"), token="t")

    comments = github_api.comments(2)
    ours = [c for c in comments if MARKER in c["body"]]
    assert len(comments) == 2 and len(ours) == 1
    assert ours[0]["body"].startswith(MARKER) and "all unchanged" in ours[0]["body"]
    assert first.comment_url == second.comment_url == ours[0]["html_url"]
    assert len(github_api.requests_to("POST", r"/comments$")) == 1
    assert len(github_api.requests_to("PATCH", r"/issues/comments/\d+$")) == 1
    assert first.status_posted and second.status_posted and first.summary_written

    statuses = github_api.statuses(HEAD_SHA)
    assert [s["state"] for s in statuses] == ["success", "failure"]  # newest first
    assert statuses[0]["context"] == "dtf"
    assert statuses[0]["target_url"] == ctx.run_url
    assert waits == []


def test_the_marker_comment_is_found_on_a_later_page(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(150):
        github_api.add_comment(2, f"chatter {i}")
    ours = github_api.add_comment(2, f"{MARKER}\nold report", login="github-actions[bot]")
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    result = github.publish(ctx, request("new report"), token="t")
    assert result.comment_url == ours["html_url"]
    assert github_api.requests_to("POST", r"/comments$") == []
    assert "new report" in github_api.comments(2)[-1]["body"]
    pages = github_api.requests_to("GET", r"/issues/2/comments$")
    assert [p.query.get("page", ["1"])[0] for p in pages] == ["1", "2"]


def test_summary_is_written_and_the_marker_added_when_missing(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    github.publish(ctx, request(comment_markdown="no marker here"), token="t")
    assert github_api.comments(2)[0]["body"].startswith(MARKER)
    assert "# dtf" in (tmp_path / "step-summary.md").read_text()


def test_a_comment_over_githubs_limit_is_trimmed_not_refused(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    big = "| row |\n" * 20000
    github.publish(ctx, request(big), token="t")
    body = github_api.comments(2)[0]["body"]
    assert len(body) <= github.COMMENT_LIMIT and "trimmed" in body


# --- publish: retries ----------------------------------------------------------------------


def test_a_502_then_success_posts_the_comment_once(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    github_api.fail("POST", r"/issues/2/comments$", 502)
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    result = github.publish(ctx, request(), token="t")
    assert len(github_api.comments(2)) == 1 and result.comment_url
    assert [r.status for r in github_api.requests_to("POST", r"/comments$")] == [502, 201]
    assert waits == [github_http.POLICY.server_backoff]


def test_a_502_after_the_comment_landed_does_not_post_a_second(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    github_api.fail("POST", r"/issues/2/comments$", 502, after_effect=True)
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    result = github.publish(ctx, request(), token="t")
    assert len(github_api.comments(2)) == 1
    assert len(github_api.requests_to("POST", r"/comments$")) == 1  # the re-list found it
    assert result.comment_url == github_api.comments(2)[0]["html_url"]


def test_a_502_after_the_status_landed_does_not_post_a_second(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    github_api.fail("POST", r"/statuses/", 502, after_effect=True)
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    result = github.publish(ctx, request(), token="t")
    assert result.status_posted
    assert len(github_api.statuses(HEAD_SHA)) == 1
    assert len(github_api.requests_to("POST", r"/statuses/")) == 1
    assert len(github_api.requests_to("GET", rf"/commits/{HEAD_SHA}/statuses$")) == 1


def test_a_status_502_before_landing_is_posted_again(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    github_api.fail("POST", r"/statuses/", 503)
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    assert github.publish(ctx, request(), token="t").status_posted
    assert len(github_api.statuses(HEAD_SHA)) == 1
    assert len(github_api.requests_to("POST", r"/statuses/")) == 2


def test_a_secondary_rate_limit_waits_for_retry_after(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    github_api.fail_secondary_rate_limit("POST", r"/issues/2/comments$", retry_after=37)
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    github.publish(ctx, request(), token="t")
    assert waits == [37.0]
    assert [r.status for r in github_api.requests_to("POST", r"/comments$")] == [403, 201]
    assert len(github_api.comments(2)) == 1


def test_a_secondary_rate_limit_without_retry_after_backs_off_from_a_minute(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    github_api.fail_secondary_rate_limit("POST", r"/statuses/", retry_after=None, status=429)
    github_api.fail_secondary_rate_limit("POST", r"/statuses/", retry_after=None)
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    assert github.publish(ctx, request(), token="t").status_posted
    assert waits == [60.0, 120.0]


def test_a_primary_rate_limit_waits_until_the_reset(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(github_http, "NOW", lambda: 1_700_000_000.0)
    github_api.fail("GET", r"/actions/runners$", 403,
                    body=error_body(403, "API rate limit exceeded for installation ID 1."),
                    headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000030"})
    github_api.add_runner("box", ["self-hosted"])
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    assert [r.name for r in github.list_runners(ctx, token="t")] == ["box"]
    assert waits == [31.0]


def test_a_rate_limit_that_resets_later_than_max_wait_gives_up_at_once(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(github_http, "NOW", lambda: 1_700_000_000.0)
    github_api.fail("GET", r"/actions/runners$", 403,
                    body=error_body(403, "API rate limit exceeded for installation ID 1."),
                    headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700003600"})
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    with pytest.raises(ProviderError) as info:
        github.list_runners(ctx, token="t")
    assert "longer than dtf waits" in info.value.message and waits == []


def test_server_errors_are_retried_with_backoff_then_reported(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    github_api.fail("GET", r"/actions/runners$", 502, times=99)
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    with pytest.raises(ProviderError) as info:
        github.list_runners(ctx, token="t")
    assert info.value.status == 502 and "after 5 attempts" in info.value.message
    assert waits == [2.0, 4.0, 8.0, 16.0]


def test_a_422_is_reported_with_githubs_message_and_not_retried(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    github_api.fail("POST", r"/issues/2/comments$", 422, body=error_body(
        422, "Validation Failed",
        "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
        errors=[{"resource": "IssueComment", "code": "unprocessable", "field": "data",
                 "message": "Body cannot be blank"}]))
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    with pytest.raises(ProviderError) as info:
        github.publish(ctx, request(), token="t")
    message = info.value.message
    assert info.value.status == 422
    assert "422 Validation Failed" in message and "Body cannot be blank" in message
    assert "published: job summary, commit status" in message
    assert len(github_api.requests_to("POST", r"/comments$")) == 1 and waits == []
    assert github_api.comments(2) == [] and len(github_api.statuses(HEAD_SHA)) == 1
    assert (tmp_path / "step-summary.md").exists()


def test_the_status_description_fits_in_140_characters(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    github.publish(ctx, request(description="dtf: " + "regression in matmul@a100, " * 20,
                                state="failure"), token="t")
    (posted,) = github_api.requests_to("POST", r"/statuses/")
    assert len(posted.body["description"]) <= 140
    assert posted.body == {"state": "failure", "description": posted.body["description"],
                           "context": "dtf", "target_url": ctx.run_url}
    assert posted.path.endswith(HEAD_SHA)


def test_writes_are_paced_a_second_apart(
    tmp_path: Path, github_api: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[float] = []
    monkeypatch.setattr(github_http, "SLEEP", asked.append)
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    github.publish(ctx, request(), token="t")
    assert len(asked) == 1 and 0.5 < asked[0] <= 1.0  # between the comment and the status


def test_a_push_gets_a_status_and_no_comment(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = RunContext(provider="github", repo=github_api.repo, sha=HEAD_SHA, event="push",
                     run_url="https://github.com/x/y/actions/runs/1", api_url=github_api.url)
    result = github.publish(ctx, request(), token="t")
    assert result.status_posted and not result.comment_url
    assert "not a pull request: no PR comment" in result.notes
    assert github_api.requests_to("GET", r"/comments$") == []


# --- publish: forks and read-only tokens ---------------------------------------------------


def test_a_fork_pr_posts_nothing_and_does_not_fail(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api, fork=True))
    result = github.publish(ctx, request("1 regression"), token="read-only")
    assert result.notes == [github.FORK_NOTE]
    assert "docs/github-actions.md#fork-pull-requests" in result.notes[0]
    assert result.summary_written and not result.status_posted and not result.comment_url
    assert "1 regression" in (tmp_path / "step-summary.md").read_text()
    assert github_api.requests == []


def test_a_read_only_token_answered_403_is_a_note_not_a_failure(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    github_api.tokens = {"read-only": "read"}
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    monkeypatch.setenv("GITHUB_TOKEN", "read-only")
    result = github.publish(ctx, request("1 regression"))
    assert result.summary_written and not result.status_posted and not result.comment_url
    assert any(NOT_ACCESSIBLE in note for note in result.notes)
    assert "1 regression" in (tmp_path / "step-summary.md").read_text()
    posts = github_api.requests_to("POST", r"")
    assert [r.status for r in posts] == [403]  # no status attempt after the refusal
    assert waits == []


def test_a_fork_pr_refused_with_403_gets_the_fork_note(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    github_api.tokens = {"read-only": "read"}
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api, fork=True))
    # the workflow_run pattern posts for a fork with a privileged token; pretend it has none
    ctx = RunContext(**{**ctx.__dict__, "event": "workflow_run"})
    result = github.publish(ctx, request(), token="read-only")
    assert result.notes == [github.FORK_NOTE]


def test_no_token_posts_nothing(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    result = github.publish(ctx, request())
    assert result.summary_written and github_api.requests == []
    assert "no GitHub token" in result.notes[0]


def test_the_local_server_answers_with_githubs_shapes(
    tmp_path: Path, github_api: GitHubServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stand-in must stay true to the API description's examples (tests/data/github)."""
    import requests
    from github_server import fixture

    github_api.add_runner("box", ["self-hosted", "Linux", "X64", "gpu"])
    ctx = use_env(monkeypatch, pr_env(tmp_path, github_api))
    github.publish(ctx, request(), token="t")
    base = f"{github_api.url}/repos/{github_api.repo}"
    runners = requests.get(f"{base}/actions/runners", timeout=5).json()
    comments = requests.get(f"{base}/issues/2/comments", timeout=5).json()
    statuses = requests.get(f"{base}/commits/{HEAD_SHA}/statuses", timeout=5).json()

    want_runners = fixture("runner-paginated.json")
    assert set(runners) == set(want_runners)
    assert set(runners["runners"][0]) == set(want_runners["runners"][0])
    assert set(runners["runners"][0]["labels"][0]) == {"id", "name", "type"}
    assert set(comments[0]) == set(fixture("issue-comment-items.json")[0])
    assert set(statuses[0]) == set(fixture("status-items.json")[0])
    missing = requests.get(f"{github_api.url}/repos/nobody/nothing/actions/runners", timeout=5)
    assert missing.status_code == 404 and set(missing.json()) >= {"message", "documentation_url"}
