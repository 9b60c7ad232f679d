"""The sticky report comment is dtf's own: a marker in someone else's comment never wins.

A user who posts ``<!-- dtf-report -->🟢 No regressions`` before dtf must neither get dtf's
report edited into their comment (under their name) nor suppress the real one. Only comments
written by the token's own identity count: ``GET /user`` (a user's token), the Actions bot for
an installation token (``GET /user`` refused), or ``DTF_COMMENT_AUTHOR``.
"""

from __future__ import annotations

import pytest

from dtf_ci.providers import PublishRequest, RunContext, github, github_http, gitlab
from tests.integration.github_server import GitHubServer
from tests.integration.gitlab_server import GitLabServer

MARKER = github.COMMENT_MARKER
FAKE = f"{MARKER}\n🟢 No regressions"


def request(text: str) -> PublishRequest:
    return PublishRequest(comment_markdown=f"{MARKER}\n## dtf\n{text}\n", summary_markdown=text,
                          state="failure", description="1 regression", overall="regression")


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setattr(github_http, "SLEEP", lambda s: None)
    monkeypatch.setattr(gitlab, "SLEEP", lambda s: None)
    monkeypatch.setattr(github_http, "POLICY", github_http.RetryPolicy(write_interval=0))
    for name in ("DTF_COMMENT_AUTHOR", "GITHUB_STEP_SUMMARY", "GITHUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def gh_ctx(server: GitHubServer) -> RunContext:
    return RunContext(provider="github", repo=server.repo, sha="a" * 40, pr_number=2,
                      head_repo=server.repo, api_url=server.url, event="pull_request")


@pytest.mark.parametrize("attacker", ["mallory", "github-actions"])
def test_github_marker_from_another_user_is_ignored(attacker):
    with GitHubServer() as server:
        fake = server.add_comment(2, FAKE, login=attacker)
        first = github.publish(gh_ctx(server), request("1 regression: a/m +50%"), token="t")
        second = github.publish(gh_ctx(server), request("still 1 regression"), token="t")
        comments = {c["id"]: c for c in server.comments(2)}
    assert comments[fake["id"]]["body"] == FAKE  # never edited under their name
    ours = [c for c in comments.values() if c["user"]["login"] == "github-actions[bot]"]
    assert len(ours) == 1 and "still 1 regression" in ours[0]["body"]
    assert first.comment_url == second.comment_url == ours[0]["html_url"]


def test_github_user_token_matches_its_own_login_only():
    with GitHubServer() as server:
        server.user_login = "dtf-bot"
        fake = server.add_comment(2, FAKE, login="github-actions[bot]")  # an Actions comment, not ours
        mine = server.add_comment(2, f"{MARKER}\nold report", login="dtf-bot")
        github.publish(gh_ctx(server), request("new report"), token="t")
        comments = {c["id"]: c for c in server.comments(2)}
        asked = server.requests_to("GET", r"^/user$")
    assert comments[fake["id"]]["body"] == FAKE
    assert "new report" in comments[mine["id"]]["body"] and len(comments) == 2
    assert len(asked) == 1


def test_github_comment_author_can_be_named(monkeypatch):
    monkeypatch.setenv("DTF_COMMENT_AUTHOR", "my-app[bot]")
    with GitHubServer() as server:
        mine = server.add_comment(2, f"{MARKER}\nold", login="my-app[bot]")
        server.add_comment(2, FAKE, login="github-actions[bot]")
        github.publish(gh_ctx(server), request("new"), token="t")
        by_id = {c["id"]: c for c in server.comments(2)}
        assert server.requests_to("GET", r"^/user$") == []
    assert "new" in by_id[mine["id"]]["body"]


def gl_ctx(server: GitLabServer) -> RunContext:
    return RunContext(provider="gitlab", repo=server.project, sha="a" * 40, pr_number=7,
                      api_url=server.api_url, extra={"project_id": str(server.project_id)})


def test_gitlab_marker_from_another_user_is_ignored():
    with GitLabServer() as server:
        fake = server.add_note(7, FAKE, username="mallory")
        gitlab.publish(gl_ctx(server), request("first"), token="t")
        gitlab.publish(gl_ctx(server), request("second"), token="t")
        notes = {n["id"]: n for n in server.notes(7)}
    assert notes[fake["id"]]["body"] == FAKE
    ours = [n for n in notes.values() if n["author"]["username"] == "project_42_bot"]
    assert len(ours) == 1 and "second" in ours[0]["body"]


def test_a_forks_branch_named_like_the_default_branch_is_not_the_main_line():
    fork = RunContext(provider="github", repo="o/r", head_repo="mallory/r", branch="main",
                      default_branch="main", event="workflow_run")
    same = RunContext(provider="github", repo="o/r", head_repo="o/r", branch="main",
                      default_branch="main", event="workflow_run")
    assert not fork.on_main_line and same.on_main_line
