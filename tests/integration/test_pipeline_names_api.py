"""Two dtf pipelines on one pull request / merge request, against the local GitHub and GitLab
APIs (real HTTP on 127.0.0.1, through PyGithub and python-gitlab).

Each pipeline name has its own sticky comment and its own commit status, so a later green
of one pipeline never covers an earlier red of another; the default pipeline keeps the
``dtf`` context and the marker it always had, so a comment written before pipeline names
is still found and edited.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from github_server import GitHubServer
from gitlab_server import GitLabServer

from dtf_ci.providers import COMMENT_MARKER, PublishRequest, github
from dtf_ci.providers import gitlab as gitlab_provider

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parent.parent / "data" / "github" / "events"
BOT = "github-actions[bot]"


def report(text: str, pipeline: str = "", state: str = "success") -> PublishRequest:
    return PublishRequest(comment_markdown=f"{COMMENT_MARKER}\n## dtf\n{text}\n",
                          summary_markdown=f"# dtf\n{text}\n", state=state,
                          description=f"dtf: {text}", overall="unchanged", pipeline=pipeline)


# --- GitHub --------------------------------------------------------------------------------


@pytest.fixture
def gh(tmp_path: Path, github_api: GitHubServer, waits: list[float],
       monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[GitHubServer, Any, str]]:
    """The local GitHub API and the context of a pull_request job on PR #2."""
    event = json.loads((EVENTS / "pull_request.synchronize.json").read_text())
    event["number"] = event["pull_request"]["number"] = 2
    for repo in (event["repository"], event["pull_request"]["base"]["repo"],
                 event["pull_request"]["head"]["repo"]):
        repo["full_name"] = github_api.repo
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    env = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request",
           "GITHUB_EVENT_PATH": str(path), "GITHUB_REPOSITORY": github_api.repo,
           "GITHUB_RUN_ID": "77", "GITHUB_SERVER_URL": "https://github.com",
           "GITHUB_API_URL": github_api.url, "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    for key in ("GITHUB_TOKEN", "GH_TOKEN", "DTF_COMMENT_AUTHOR", "DTF_PR_NUMBER"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield github_api, github.context(env), event["pull_request"]["head"]["sha"]


def _latest(statuses: list[dict]) -> dict[str, str]:
    """The state each context shows on the PR: the newest status of each (GitHub's rule)."""
    shown: dict[str, str] = {}
    for s in statuses:  # newest first
        shown.setdefault(s["context"], s["state"])
    return shown


def test_two_names_get_two_comments_and_two_statuses(gh: tuple[GitHubServer, Any, str]) -> None:
    api, ctx, sha = gh
    red = github.publish(ctx, report("1 regression in gpu", "gpu", "failure"), token="t")
    green = github.publish(ctx, report("all unchanged on cpu", "cpu"), token="t")

    comments = api.comments(2)
    assert [c["body"].splitlines()[0] for c in comments] == [
        "<!-- dtf-report:gpu -->", "<!-- dtf-report:cpu -->"]
    assert "1 regression in gpu" in comments[0]["body"] and "cpu" in comments[1]["body"]
    assert red.comment_url != green.comment_url
    # the later green did not cover the earlier red
    assert _latest(api.statuses(sha)) == {"dtf / gpu": "failure", "dtf / cpu": "success"}


def test_rerunning_one_name_edits_only_its_own_comment(gh: tuple[GitHubServer, Any, str]) -> None:
    api, ctx, sha = gh
    github.publish(ctx, report("gpu first", "gpu", "failure"), token="t")
    github.publish(ctx, report("cpu first", "cpu"), token="t")
    before = {c["id"]: c["body"] for c in api.comments(2)}
    github.publish(ctx, report("gpu fixed", "gpu"), token="t")

    after = {c["id"]: c["body"] for c in api.comments(2)}
    assert set(after) == set(before)  # edited, nothing new
    (gpu_id,) = [i for i, b in after.items() if b.startswith("<!-- dtf-report:gpu -->")]
    assert "gpu fixed" in after[gpu_id]
    assert [i for i in after if after[i] != before[i]] == [gpu_id]  # cpu's untouched
    assert len(api.requests_to("POST", r"/comments$")) == 2
    assert len(api.requests_to("PATCH", r"/issues/comments/\d+$")) == 1
    assert _latest(api.statuses(sha)) == {"dtf / gpu": "success", "dtf / cpu": "success"}


def test_the_default_name_edits_a_comment_from_before_pipeline_names(
    gh: tuple[GitHubServer, Any, str]
) -> None:
    api, ctx, sha = gh
    api.add_comment(2, "LGTM")
    old = api.add_comment(2, f"{COMMENT_MARKER}\n## dtf\nold report", login=BOT)
    api.add_comment(2, f"{COMMENT_MARKER}\nquoted by a person", login="someone")
    result = github.publish(ctx, report("new report"), token="t")  # pipeline "" (the default)
    named = github.publish(ctx, report("nightly report", "nightly"), token="t")
    explicit_default = github.publish(ctx, report("newer report", "dtf"), token="t")

    comments = api.comments(2)
    assert result.comment_url == explicit_default.comment_url == old["html_url"]
    assert len(comments) == 4  # LGTM, ours (edited twice), the person's, nightly's
    ours = [c for c in comments if c["id"] == old["id"]][0]
    assert ours["body"].startswith(f"{COMMENT_MARKER}\n") and "newer report" in ours["body"]
    assert comments[-1]["html_url"] == named.comment_url
    assert comments[-1]["body"].startswith("<!-- dtf-report:nightly -->")
    assert [s["context"] for s in api.statuses(sha)] == ["dtf", "dtf / nightly", "dtf"]


def test_a_named_pipeline_takes_neither_the_default_comment_nor_a_strangers(
    gh: tuple[GitHubServer, Any, str]
) -> None:
    api, ctx, _ = gh
    default = api.add_comment(2, f"{COMMENT_MARKER}\nthe default pipeline", login=BOT)
    planted = api.add_comment(2, "<!-- dtf-report:gpu -->\n🟢 all fine", login="mallory")
    github.publish(ctx, report("gpu report", "gpu", "failure"), token="t")
    comments = {c["id"]: c for c in api.comments(2)}
    assert comments[default["id"]]["body"].endswith("the default pipeline")
    assert comments[planted["id"]]["body"].endswith("🟢 all fine")
    (ours,) = [c for c in comments.values() if c["user"]["login"] == BOT and "gpu report" in c["body"]]
    assert ours["id"] not in (default["id"], planted["id"])


def test_a_hostile_name_is_bounded_and_inert(gh: tuple[GitHubServer, Any, str]) -> None:
    api, ctx, sha = gh
    hostile = "--> <script>x</script>\n<!-- dtf-report -->" + "Ä/../" * 20_000
    github.publish(ctx, report("hostile", hostile), token="t")
    (status,) = api.statuses(sha)
    context = status["context"]
    assert context == "dtf / script-x-script-dtf-report"  # [a-z0-9-], at most 40
    (comment,) = api.comments(2)
    first = comment["body"].splitlines()[0]
    assert first == f"<!-- dtf-report:{context[6:]} -->"
    assert comment["body"].count("<!--") == 1 and "<script>" not in comment["body"]


# --- GitLab --------------------------------------------------------------------------------


@pytest.fixture
def gl(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[GitLabServer, Any]]:
    asked: list[float] = []
    monkeypatch.setattr(gitlab_provider, "SLEEP", asked.append)
    for key in ("DTF_GITLAB_TOKEN", "GITLAB_TOKEN", "DTF_COMMENT_AUTHOR"):
        monkeypatch.delenv(key, raising=False)
    with GitLabServer() as server:
        env = {"GITLAB_CI": "true", "CI_PROJECT_PATH": server.project,
               "CI_PROJECT_ID": str(server.project_id), "CI_API_V4_URL": server.api_url,
               "CI_COMMIT_SHA": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
               "CI_COMMIT_REF_NAME": "feature", "CI_DEFAULT_BRANCH": "main",
               "CI_PIPELINE_SOURCE": "merge_request_event", "CI_PIPELINE_ID": "1234",
               "CI_PIPELINE_URL": "https://gitlab.example.com/g/p/-/pipelines/1234",
               "CI_SERVER_URL": "https://gitlab.example.com", "CI_MERGE_REQUEST_IID": "7",
               "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}
        yield server, gitlab_provider.context(env)
    assert asked == []


def _shown(statuses: list[dict]) -> dict[str, str]:
    shown: dict[str, str] = {}
    for s in statuses:  # newest first
        shown.setdefault(s["name"], s["status"])
    return shown


def test_gitlab_two_names_get_two_notes_and_two_statuses(gl: tuple[GitLabServer, Any]) -> None:
    api, ctx = gl
    gitlab_provider.publish(ctx, report("gpu regressed", "gpu", "failure"), token="t")
    gitlab_provider.publish(ctx, report("cpu unchanged", "cpu"), token="t")
    notes = api.notes(7)
    assert [n["body"].splitlines()[0] for n in notes] == [
        "<!-- dtf-report:gpu -->", "<!-- dtf-report:cpu -->"]
    assert _shown(api.statuses(ctx.sha)) == {"dtf / gpu": "failed", "dtf / cpu": "success"}

    gitlab_provider.publish(ctx, report("gpu fixed", "gpu"), token="t")  # a re-run of one
    again = api.notes(7)
    assert [n["id"] for n in again] == [n["id"] for n in notes]
    assert "gpu fixed" in again[0]["body"] and again[1]["body"] == notes[1]["body"]
    assert len(api.requests_to("POST", r"/notes$")) == 2
    assert _shown(api.statuses(ctx.sha)) == {"dtf / gpu": "success", "dtf / cpu": "success"}


def test_gitlab_default_name_edits_a_note_from_before_pipeline_names(
    gl: tuple[GitLabServer, Any]
) -> None:
    api, ctx = gl
    old = api.add_note(7, f"{COMMENT_MARKER}\nold report", username="project_42_bot")
    gitlab_provider.publish(ctx, report("new report"), token="t")
    gitlab_provider.publish(ctx, report("nightly", "nightly"), token="t")
    notes = api.notes(7)
    assert len(notes) == 2 and notes[0]["id"] == old["id"] and "new report" in notes[0]["body"]
    assert notes[1]["body"].startswith("<!-- dtf-report:nightly -->")
    assert set(_shown(api.statuses(ctx.sha))) == {"dtf", "dtf / nightly"}
