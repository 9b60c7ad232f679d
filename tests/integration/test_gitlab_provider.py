"""The GitLab provider against a local GitLab API v4, through python-gitlab's real HTTP code.

Every test builds its context with ``context(env)`` from a simulated GitLab CI job, so
``CI_API_V4_URL`` is what points dtf at the local server, as it points dtf at a self-managed
GitLab in real use.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from gitlab_server import RATE_LIMITED, GitLabServer

from dtf_ci.errors import ProviderError
from dtf_ci.providers import PublishRequest, RunContext, get_provider
from dtf_ci.providers import gitlab as provider

pytestmark = pytest.mark.integration

SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
MERGE_SHA = "1f0a2b3c4d5e6f708192a3b4c5d6e7f801234567"
MARKER = provider.COMMENT_MARKER
PIPELINE_URL = "https://gitlab.example.com/octo-group/octo-project/-/pipelines/1234"


@pytest.fixture
def gitlab_api() -> Iterator[GitLabServer]:
    with GitLabServer() as server:
        yield server


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait the GitLab client asks for, recorded instead of slept."""
    asked: list[float] = []
    monkeypatch.setattr(provider, "SLEEP", asked.append)
    for name in ("DTF_GITLAB_TOKEN", "GITLAB_TOKEN", "DTF_RUNNERS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return asked


def mr_env(api: GitLabServer | None = None, **over: str) -> dict[str, str]:
    """The environment of a job in a merge request pipeline (GitLab's predefined variables)."""
    env = {
        "GITLAB_CI": "true",
        "CI_PROJECT_PATH": api.project if api else "octo-group/octo-project",
        "CI_PROJECT_ID": str(api.project_id) if api else "42",
        "CI_COMMIT_SHA": SHA,
        "CI_COMMIT_REF_NAME": "feature/faster",
        "CI_DEFAULT_BRANCH": "main",
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_PIPELINE_ID": "1234",
        "CI_PIPELINE_URL": PIPELINE_URL,
        "CI_SERVER_URL": "https://gitlab.example.com",
        "CI_MERGE_REQUEST_IID": "7",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature/faster",
        "CI_MERGE_REQUEST_SOURCE_PROJECT_PATH": "octo-group/octo-project",
        "CI_MERGE_REQUEST_PROJECT_PATH": "octo-group/octo-project",
        "CI_API_V4_URL": api.api_url if api else "https://gitlab.example.com/api/v4",
    }
    env.update(over)
    return {k: v for k, v in env.items() if v}


def push_env(api: GitLabServer | None = None, **over: str) -> dict[str, str]:
    env = mr_env(api, **{"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_REF_NAME": "main",
                         "CI_COMMIT_BRANCH": "main", **over})
    return {k: v for k, v in env.items() if not k.startswith("CI_MERGE_REQUEST_")}


def request(text: str = "all unchanged", **kw: Any) -> PublishRequest:
    fields = dict(comment_markdown=f"{MARKER}\n## dtf\n{text}\n", summary_markdown=f"# dtf\n{text}\n",
                  state="success", description="dtf: 12 series unchanged", overall="unchanged")
    fields.update(kw)
    return PublishRequest(**fields)


def ours(api: GitLabServer, iid: int = 7) -> list[dict]:
    return [n for n in api.notes(iid) if MARKER in n["body"]]


# --- context -------------------------------------------------------------------------------


def test_the_provider_is_registered() -> None:
    assert get_provider("gitlab") is provider


def test_context_of_a_merge_request_pipeline() -> None:
    ctx = provider.context(mr_env(CI_API_V4_URL="https://gitlab.corp.example/gitlab/api/v4/"))
    assert ctx.provider == "gitlab" and ctx.repo == "octo-group/octo-project"
    assert ctx.sha == SHA and "merge_sha" not in ctx.extra
    assert ctx.branch == "feature/faster" and ctx.default_branch == "main"
    assert ctx.ref == "refs/merge-requests/7/head"
    assert ctx.event == "merge_request_event" and ctx.pr_number == 7 and ctx.base_ref == "main"
    assert ctx.head_repo == "octo-group/octo-project" and not ctx.is_fork_pr
    assert ctx.run_id == "1234" and ctx.run_url == PIPELINE_URL
    assert ctx.api_url == "https://gitlab.corp.example/gitlab/api/v4"  # self-managed, honoured
    assert not ctx.on_main_line


def test_context_of_a_push_to_the_default_branch_is_on_the_main_line() -> None:
    env = push_env()
    del env["CI_API_V4_URL"]
    ctx = provider.context(env)
    assert ctx.branch == "main" and ctx.ref == "refs/heads/main" and ctx.pr_number is None
    assert ctx.on_main_line and ctx.api_url == "https://gitlab.com/api/v4"


def test_context_of_a_merged_results_pipeline_uses_the_source_branch_head() -> None:
    ctx = provider.context(mr_env(CI_COMMIT_SHA=MERGE_SHA, CI_MERGE_REQUEST_SOURCE_BRANCH_SHA=SHA))
    assert ctx.sha == SHA and ctx.extra["merge_sha"] == MERGE_SHA


def test_context_of_a_fork_merge_request() -> None:
    ctx = provider.context(mr_env(CI_MERGE_REQUEST_SOURCE_PROJECT_PATH="contributor/octo-project"))
    assert ctx.head_repo == "contributor/octo-project" and ctx.is_fork_pr


def test_context_of_a_tag_pipeline_is_not_on_the_main_line() -> None:
    ctx = provider.context(push_env(CI_COMMIT_TAG="v1.2", CI_COMMIT_REF_NAME="v1.2",
                                    CI_COMMIT_BRANCH=""))
    assert ctx.ref == "refs/tags/v1.2" and ctx.branch == "" and not ctx.on_main_line


def test_context_in_a_child_pipeline_reads_the_forwarded_parent_values() -> None:
    env = push_env(CI_PIPELINE_SOURCE="parent_pipeline", CI_PIPELINE_ID="1235",
                   CI_PIPELINE_URL="https://gitlab.example.com/x/-/pipelines/1235",
                   CI_COMMIT_REF_NAME="feature/faster", CI_COMMIT_BRANCH="feature/faster")
    env.update(DTF_CI_PIPELINE_SOURCE="merge_request_event", DTF_CI_PIPELINE_ID="1234",
               DTF_CI_PIPELINE_URL=PIPELINE_URL, DTF_CI_MERGE_REQUEST_IID="7",
               DTF_CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main",
               DTF_CI_MERGE_REQUEST_SOURCE_BRANCH_NAME="feature/faster",
               DTF_CI_MERGE_REQUEST_SOURCE_BRANCH_SHA="$CI_MERGE_REQUEST_SOURCE_BRANCH_SHA")
    ctx = provider.context(env)
    assert ctx.event == "merge_request_event" and ctx.pr_number == 7 and ctx.base_ref == "main"
    assert ctx.run_id == "1234" and ctx.run_url == PIPELINE_URL
    assert ctx.sha == SHA  # an unexpanded "$VAR" counts as unset
    assert not ctx.on_main_line


def test_context_outside_gitlab_is_empty_but_valid() -> None:
    ctx = provider.context({})
    assert ctx.provider == "gitlab" and ctx.repo == "" and ctx.pr_number is None
    assert not ctx.on_main_line


# --- runners -------------------------------------------------------------------------------


def test_runner_listing_follows_the_pages_and_reads_each_runners_tags(
    gitlab_api: GitLabServer, waits: list[float]
) -> None:
    for i in range(130):
        gitlab_api.add_runner(f"gpu-{i:03d}", ["linux", "cuda-12", "gpu-a100"])
    runners = provider.list_runners(provider.context(mr_env(gitlab_api)), token="maint")
    assert [r.name for r in runners] == [f"gpu-{i:03d}" for i in range(130)]
    assert all(r.labels == ("linux", "cuda-12", "gpu-a100") for r in runners)
    pages = gitlab_api.requests_to("GET", r"/projects/.*/runners$")
    assert [p.query.get("page", ["1"])[0] for p in pages] == ["1", "2"]
    assert pages[0].path == "/api/v4/projects/42/runners"  # CI_PROJECT_ID, not the path
    assert len(gitlab_api.requests_to("GET", r"^/api/v4/runners/\d+$")) == 130
    assert all(r.token == "maint" for r in gitlab_api.requests) and waits == []


def test_offline_paused_and_busy_runners(gitlab_api: GitLabServer, waits: list[float]) -> None:
    gitlab_api.add_runner("box-1", ["linux", "gpu-h100"], busy=True)
    gitlab_api.add_runner("box-2", ["linux", "gpu-h100"], online=False)
    gitlab_api.add_runner("box-3", ["linux", "gpu-h100"], paused=True)
    gitlab_api.add_runner("mac-1", ["macos", "arm64"], platform="darwin",
                          runner_type="instance_type")
    box1, box2, box3, mac = provider.list_runners(provider.context(mr_env(gitlab_api)), token="t")
    assert (box1.status, box1.busy, box1.os) == ("online", True, "linux")
    assert box2.status == "offline" and box3.status == "offline"  # paused takes no jobs
    assert mac.labels == ("macos", "arm64") and mac.os == "darwin"


def test_group_runners_are_listed_when_org_is_given(
    gitlab_api: GitLabServer, waits: list[float]
) -> None:
    gitlab_api.add_runner("project-box", ["linux"])
    gitlab_api.add_runner("group-box", ["linux", "gpu-a100"], group=True, runner_type="group_type")
    ctx = provider.context(mr_env(gitlab_api))
    assert [r.name for r in provider.list_runners(ctx, token="t", org=gitlab_api.group)] == [
        "group-box"]
    assert gitlab_api.requests[0].path == "/api/v4/groups/octo-group/runners"


def test_a_runner_whose_details_are_hidden_is_left_out(
    gitlab_api: GitLabServer, waits: list[float]
) -> None:
    gitlab_api.add_runner("visible", ["linux"])
    hidden = gitlab_api.add_runner("hidden", ["linux", "secret"])
    gitlab_api.state.hidden_details.add(hidden["id"])
    runners = provider.list_runners(provider.context(mr_env(gitlab_api)), token="t")
    assert [r.name for r in runners] == ["visible"]


@pytest.mark.parametrize(("tokens", "status", "words"), [
    ({}, 401, "refused the token"),
    ({"the-token": "developer"}, 403, "Maintainer role"),
])
def test_runner_listing_refused_is_a_clear_provider_error(
    gitlab_api: GitLabServer, waits: list[float], tokens: dict, status: int, words: str
) -> None:
    gitlab_api.tokens = tokens
    with pytest.raises(ProviderError) as info:
        provider.list_runners(provider.context(mr_env(gitlab_api)), token="the-token")
    assert info.value.status == status
    assert words in info.value.message and "docs/gitlab.md#tokens" in info.value.message
    assert len(gitlab_api.requests) == 1 and waits == []  # never retried


def test_runner_listing_of_an_unknown_project_is_404(
    gitlab_api: GitLabServer, waits: list[float]
) -> None:
    ctx = provider.context(mr_env(gitlab_api, CI_PROJECT_PATH="octo-group/gone", CI_PROJECT_ID=""))
    with pytest.raises(ProviderError) as info:
        provider.list_runners(ctx, token="t")
    assert info.value.status == 404 and "octo-group/gone" in info.value.message


def test_runner_listing_without_a_token_sends_nothing(
    gitlab_api: GitLabServer, waits: list[float]
) -> None:
    with pytest.raises(ProviderError) as info:
        provider.list_runners(provider.context(mr_env(gitlab_api)))
    assert info.value.status == 401 and gitlab_api.requests == []


def test_runner_token_comes_from_the_environment(
    gitlab_api: GitLabServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    gitlab_api.add_runner("box", ["linux"])
    monkeypatch.setenv("GITLAB_TOKEN", "general")
    monkeypatch.setenv("DTF_RUNNERS_TOKEN", "runners-only")
    provider.list_runners(provider.context(mr_env(gitlab_api)))
    assert {r.token for r in gitlab_api.requests} == {"runners-only"}


def test_plan_lists_runners_with_the_api_token_alone(
    gitlab_api: GitLabServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dtf plan --runners gitlab` with only DTF_GITLAB_TOKEN set (docs/gitlab.md#tokens: the
    runners token falls back to it) lists the runners instead of planning from the suite."""
    from dtf_ci.inventory import build_inventory
    from dtf_ci.suite import Defaults, Suite, Task

    gitlab_api.add_runner("box", ["linux", "bench-box"])
    for name, value in mr_env(gitlab_api).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DTF_GITLAB_TOKEN", "api-token")
    suite = Suite(path="dtf.yml", root=".", version=1, targets={}, defaults=Defaults(),
                  tasks={"t": Task(id="t", run="true")})
    inv = build_inventory(suite, "gitlab")
    assert inv.source == "gitlab", inv.notes
    assert [t.spec.runs_on for t in inv.targets.values()] == [("linux", "bench-box")]
    assert {r.token for r in gitlab_api.requests} == {"api-token"}


def test_server_errors_are_retried_with_backoff_then_reported(
    gitlab_api: GitLabServer, waits: list[float]
) -> None:
    gitlab_api.fail("GET", r"/runners$", 502, times=99)
    with pytest.raises(ProviderError) as info:
        provider.list_runners(provider.context(mr_env(gitlab_api)), token="t")
    assert info.value.status == 502 and "after 5 attempts" in info.value.message
    assert waits == [2.0, 4.0, 8.0, 16.0]


# --- publish: the sticky note and the status -----------------------------------------------


def test_first_publish_creates_the_note_the_second_edits_it(
    gitlab_api: GitLabServer, waits: list[float]
) -> None:
    gitlab_api.add_note(7, "LGTM")
    gitlab_api.add_note(7, f"mentioned {MARKER} in passing", system=True)
    ctx = provider.context(mr_env(gitlab_api))
    first = provider.publish(ctx, request("1 regression", state="failure"), token="t")
    second = provider.publish(ctx, request("all unchanged"), token="t")

    assert len(gitlab_api.notes(7)) == 3 and len(mine := ours(gitlab_api)) == 2
    (note,) = [n for n in mine if not n["system"]]
    assert note["body"].startswith(MARKER) and "all unchanged" in note["body"]
    assert first.comment_url == second.comment_url == (
        f"https://gitlab.example.com/octo-group/octo-project/-/merge_requests/7#note_{note['id']}")
    assert len(gitlab_api.requests_to("POST", r"/notes$")) == 1
    assert len(gitlab_api.requests_to("PUT", r"/notes/\d+$")) == 1
    listed = gitlab_api.requests_to("GET", r"/merge_requests/7/notes$")
    assert all(r.query["sort"] == ["asc"] for r in listed)

    statuses = gitlab_api.statuses(SHA)
    assert [s["status"] for s in statuses] == ["success", "failed"]  # newest first
    assert statuses[0]["name"] == "dtf" and statuses[0]["target_url"] == PIPELINE_URL
    assert statuses[0]["pipeline_id"] == 1234
    assert first.status_posted and second.status_posted and waits == []


def test_the_marker_note_is_found_on_a_later_page(
    gitlab_api: GitLabServer, waits: list[float]
) -> None:
    for i in range(120):
        gitlab_api.add_note(7, f"chatter {i}")
    old = gitlab_api.add_note(7, f"{MARKER}\nold report", username="project_42_bot")
    provider.publish(provider.context(mr_env(gitlab_api)), request("new report"), token="t")
    assert gitlab_api.requests_to("POST", r"/notes$") == []
    assert [n["id"] for n in ours(gitlab_api)] == [old["id"]]
    assert "new report" in ours(gitlab_api)[0]["body"]


def test_the_marker_is_added_when_the_markdown_lacks_it(
    gitlab_api: GitLabServer, waits: list[float]
) -> None:
    provider.publish(provider.context(mr_env(gitlab_api)),
                     request(comment_markdown="no marker here"), token="t")
    assert ours(gitlab_api)[0]["body"].startswith(MARKER)


def test_a_push_gets_a_status_and_no_note(gitlab_api: GitLabServer, waits: list[float]) -> None:
    result = provider.publish(provider.context(push_env(gitlab_api)), request(), token="t")
    assert result.status_posted and not result.comment_url
    assert "not a merge request: no merge request note" in result.notes
    assert gitlab_api.requests_to("GET", r"/notes$") == []


def test_the_status_payload_states_and_description(
    gitlab_api: GitLabServer, waits: list[float]
) -> None:
    ctx = provider.context(mr_env(gitlab_api))
    provider.publish(ctx, request(state="error", description="dtf: " + "regression, " * 40),
                     token="t")
    (posted,) = gitlab_api.requests_to("POST", r"/statuses/")
    assert posted.path == f"/api/v4/projects/42/statuses/{SHA}"
    assert posted.body["state"] == "failed" and posted.body["name"] == "dtf"
    assert len(posted.body["description"]) <= 255 and posted.body["target_url"] == PIPELINE_URL


def test_a_merged_results_pipeline_posts_on_the_source_head_without_pipeline_id(
    gitlab_api: GitLabServer, waits: list[float]
) -> None:
    ctx = provider.context(mr_env(gitlab_api, CI_COMMIT_SHA=MERGE_SHA,
                                  CI_MERGE_REQUEST_SOURCE_BRANCH_SHA=SHA))
    provider.publish(ctx, request(), token="t")
    (posted,) = gitlab_api.requests_to("POST", r"/statuses/")
    assert posted.path.endswith(SHA) and "pipeline_id" not in posted.body


def test_pending_twice_is_not_a_failure(gitlab_api: GitLabServer, waits: list[float]) -> None:
    ctx = provider.context(mr_env(gitlab_api))
    provider.publish(ctx, request(state="pending"), token="t")
    result = provider.publish(ctx, request(state="pending"), token="t")
    assert result.status_posted and "the dtf commit status already was pending" in result.notes
    assert [r.status for r in gitlab_api.requests_to("POST", r"/statuses/")] == [201, 400]


def test_the_token_comes_from_dtf_gitlab_token(
    gitlab_api: GitLabServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITLAB_TOKEN", "general")
    monkeypatch.setenv("DTF_GITLAB_TOKEN", "poster")
    provider.publish(provider.context(mr_env(gitlab_api)), request())
    assert {r.token for r in gitlab_api.requests} == {"poster"}


def test_without_a_token_nothing_is_sent(gitlab_api: GitLabServer, waits: list[float]) -> None:
    result = provider.publish(provider.context(mr_env(gitlab_api)),
                              request(report_dir="dtf-report"))
    assert not result.status_posted and not result.comment_url
    assert any("no GitLab token" in n and "DTF_GITLAB_TOKEN" in n for n in result.notes)
    assert any("artifacts: expose_as" in n for n in result.notes)
    assert gitlab_api.requests == []


# --- publish: retries and errors -----------------------------------------------------------


def test_a_502_then_success_posts_the_note_once(
    gitlab_api: GitLabServer, waits: list[float]
) -> None:
    gitlab_api.fail("POST", r"/merge_requests/7/notes$", 502)
    result = provider.publish(provider.context(mr_env(gitlab_api)), request(), token="t")
    assert len(ours(gitlab_api)) == 1 and result.comment_url
    assert [r.status for r in gitlab_api.requests_to("POST", r"/notes$")] == [502, 201]
    assert waits == [provider.POLICY.server_backoff]


def test_a_502_after_the_note_landed_does_not_post_a_second(
    gitlab_api: GitLabServer, waits: list[float]
) -> None:
    gitlab_api.fail("POST", r"/merge_requests/7/notes$", 502, after_effect=True)
    result = provider.publish(provider.context(mr_env(gitlab_api)), request(), token="t")
    assert len(ours(gitlab_api)) == 1
    assert len(gitlab_api.requests_to("POST", r"/notes$")) == 1  # the re-list found it
    assert result.comment_url.endswith(f"#note_{ours(gitlab_api)[0]['id']}")


def test_a_502_after_the_status_landed_does_not_post_a_second(
    gitlab_api: GitLabServer, waits: list[float]
) -> None:
    gitlab_api.fail("POST", r"/statuses/", 502, after_effect=True)
    result = provider.publish(provider.context(push_env(gitlab_api)), request(), token="t")
    assert result.status_posted and len(gitlab_api.statuses(SHA)) == 1
    assert len(gitlab_api.requests_to("POST", r"/statuses/")) == 1
    (check,) = gitlab_api.requests_to("GET", rf"/commits/{SHA}/statuses$")
    assert check.query["name"] == ["dtf"]


def test_a_429_waits_for_retry_after(gitlab_api: GitLabServer, waits: list[float]) -> None:
    gitlab_api.rate_limit("POST", r"/merge_requests/7/notes$", retry_after=37)
    provider.publish(provider.context(mr_env(gitlab_api)), request(), token="t")
    assert waits == [37.0]
    assert [r.status for r in gitlab_api.requests_to("POST", r"/notes$")] == [429, 201]
    assert len(ours(gitlab_api)) == 1


def test_a_429_without_retry_after_waits_until_the_reset(
    gitlab_api: GitLabServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provider, "NOW", lambda: 1_700_000_000.0)
    gitlab_api.rate_limit("GET", r"/runners$", reset_at=1_700_000_030)
    gitlab_api.add_runner("box", ["linux"])
    assert [r.name for r in provider.list_runners(provider.context(mr_env(gitlab_api)),
                                                  token="t")] == ["box"]
    assert waits == [31.0]


def test_a_429_asking_for_longer_than_max_wait_gives_up_at_once(
    gitlab_api: GitLabServer, waits: list[float]
) -> None:
    gitlab_api.rate_limit("GET", r"/runners$", retry_after=3600)
    with pytest.raises(ProviderError) as info:
        provider.list_runners(provider.context(mr_env(gitlab_api)), token="t")
    assert info.value.status == 429 and "longer than dtf waits" in info.value.message
    assert RATE_LIMITED in info.value.message and waits == []


def test_a_400_is_reported_with_gitlabs_words_and_not_retried(
    gitlab_api: GitLabServer, waits: list[float]
) -> None:
    gitlab_api.fail("POST", r"/merge_requests/7/notes$", 400,
                    body={"message": {"note": ["is too long (maximum is 1000000 characters)"]}})
    with pytest.raises(ProviderError) as info:
        provider.publish(provider.context(mr_env(gitlab_api)), request(), token="t")
    message = info.value.message
    assert info.value.status == 400
    assert "400 note is too long (maximum is 1000000 characters)" in message
    assert "published: commit status" in message  # the status was still set
    assert len(gitlab_api.requests_to("POST", r"/notes$")) == 1 and waits == []
    assert ours(gitlab_api) == [] and len(gitlab_api.statuses(SHA)) == 1


def test_a_validation_error_on_the_status_is_reported_clearly(
    gitlab_api: GitLabServer, waits: list[float]
) -> None:
    ctx = provider.context(push_env(gitlab_api, CI_PIPELINE_URL="not a url"))
    with pytest.raises(ProviderError) as info:
        provider.publish(ctx, request(), token="t")
    assert info.value.status == 400 and "target_url must be a valid URL" in info.value.message
    assert len(gitlab_api.requests_to("POST", r"/statuses/")) == 1 and waits == []


def test_a_push_context_built_by_hand_is_enough(gitlab_api: GitLabServer, waits: list[float]) -> None:
    ctx = RunContext(provider="gitlab", repo=gitlab_api.project, sha=SHA, event="push",
                     api_url=gitlab_api.api_url)
    assert provider.publish(ctx, request(), token="t").status_posted
    assert gitlab_api.requests[0].path == f"/api/v4/projects/octo-group/octo-project/statuses/{SHA}"
