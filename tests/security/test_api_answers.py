"""API answers are data: not JSON, a redirect, endless ``next`` links, a server that echoes
the token, or one that never stops failing all end as a clear note, and the history append
never depends on posting."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dtf_ci.aggregate import aggregate
from dtf_ci.errors import ProviderError
from dtf_ci.providers import PublishRequest, RunContext, github, github_http, gitlab
from tests.helpers import make_plan
from tests.integration.github_server import GitHubServer, error_body, fixture
from tests.integration.gitlab_server import GitLabServer
from tests.security.shards import all_text, make_shard

MARKER = github.COMMENT_MARKER
TOKEN = "ghp_FAKEtokenNEVERtoBEseen0123456789AB"


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    monkeypatch.setattr(github_http, "SLEEP", lambda s: None)
    monkeypatch.setattr(gitlab, "SLEEP", lambda s: None)
    monkeypatch.setattr(github_http, "POLICY", github_http.RetryPolicy(write_interval=0, max_items=500))
    monkeypatch.setattr(gitlab, "POLICY", gitlab.RetryPolicy(max_items=500))
    for name in ("DTF_COMMENT_AUTHOR", "GITHUB_STEP_SUMMARY", "GITHUB_TOKEN", "DTF_GITHUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def request() -> PublishRequest:
    return PublishRequest(comment_markdown=f"{MARKER}\nreport", summary_markdown="report",
                          state="success", description="ok", overall="unchanged")


def ctx_for(server: GitHubServer, **over) -> RunContext:
    fields = dict(provider="github", repo=server.repo, sha="a" * 40, pr_number=2,
                  head_repo=server.repo, api_url=server.url, event="pull_request")
    fields.update(over)
    return RunContext(**fields)


COMMENTS = r"/issues/2/comments$"


@pytest.mark.parametrize("status, body, headers, words", [
    (200, b"<html>a proxy's login page</html>", {}, "not what the API documents"),
    (200, b'{"unexpected": "object"}', {}, "not what the API documents"),
    (301, b"", {"location": "http://127.0.0.2:9/elsewhere"}, "not what the API documents"),
])
def test_odd_answers_are_provider_errors(status, body, headers, words):
    with GitHubServer() as server:
        server.fail("GET", COMMENTS, status, body=body, headers=headers, times=50)
        with pytest.raises(ProviderError, match=words) as info:
            github.publish(ctx_for(server), request(), token=TOKEN)
        assert server.statuses("a" * 40), "the status is still posted"
    assert "published: commit status" in info.value.message


def test_endless_next_links_are_cut_off():
    with GitHubServer() as server:
        item = fixture("issue-comment.json")
        item["user"]["login"] = "someone"
        server.fail("GET", COMMENTS, 200, body=[item] * 100, times=10 ** 6, headers={
            "link": f'<{server.url}/repos/{server.repo}/issues/2/comments?page=2>; rel="next"'})
        with pytest.raises(ProviderError, match="more than 500 comments; stopped reading"):
            github.publish(ctx_for(server), request(), token=TOKEN)
        assert len(server.requests_to("GET", COMMENTS)) <= 6


def test_gitlab_endless_next_links_are_cut_off():
    with GitLabServer() as server:
        for i in range(700):
            server.add_note(7, f"chatter {i}")
        ctx = RunContext(provider="gitlab", repo=server.project, sha="a" * 40, pr_number=7,
                         api_url=server.api_url, extra={"project_id": str(server.project_id)})
        with pytest.raises(ProviderError, match="more than 500 notes"):
            gitlab.publish(ctx, request(), token=TOKEN)


def test_a_call_gives_up_at_its_deadline(monkeypatch):
    monkeypatch.setattr(github_http, "POLICY", github_http.RetryPolicy(
        write_interval=0, max_attempts=1000, server_backoff=10, max_wait=10, deadline=35))
    with GitHubServer() as server:
        server.fail("GET", COMMENTS, 502, times=10 ** 6)
        with pytest.raises(ProviderError, match="within 35 s"):
            github.publish(ctx_for(server), request(), token=TOKEN)
        assert len(server.requests_to("GET", COMMENTS)) == 4  # waits 10, 10, 10; a fourth passes 35


def test_a_server_echoing_the_token_never_gets_it_printed(capsys):
    with GitHubServer() as server:
        server.fail("GET", COMMENTS, 422, times=5,
                    body=error_body(422, f"Validation Failed for token {TOKEN}"))
        with pytest.raises(ProviderError) as info:
            github.publish(ctx_for(server), request(), token=TOKEN)
    assert TOKEN not in info.value.message and "***" in info.value.message
    assert TOKEN not in capsys.readouterr().err


def test_history_is_appended_whatever_the_api_answers(tmp_path, monkeypatch):
    out = tmp_path / "shards"
    make_shard(out, "local-w1-1")
    plan = make_plan(tmp_path, {"a": {"run": "true"}}, run_id="r1")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with GitHubServer() as server:
        server.fail("POST", r"/statuses/", 301, body=b"", headers={"location": "http://127.0.0.2:9/x"}, times=50)
        ctx = ctx_for(server, pr_number=None, branch="main", default_branch="main", event="push")
        result = aggregate(out, tmp_path / "report", plan=plan, history_spec=str(tmp_path / "history"),
                           append="always", post=True, context=ctx)
    assert result.appended
    assert any(n.startswith("could not publish the report") for n in result.notes)


def test_no_token_in_any_output_or_log(tmp_path):
    """Run ``dtf aggregate --post`` as CI would, then grep every file written and the log."""
    out = tmp_path / "shards"
    make_shard(out, "local-w1-1", reason="exited with code 1")
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(make_plan(tmp_path, {"a": {"run": "true"}}, run_id="r1")))
    event = tmp_path / "event.json"
    with GitHubServer() as server:
        event.write_text(json.dumps({"number": 2, "pull_request": {
            "number": 2, "head": {"sha": "a" * 40, "ref": "x", "repo": {"full_name": server.repo}},
            "base": {"ref": "main"}}, "repository": {"full_name": server.repo, "default_branch": "main"}}))
        server.fail("GET", COMMENTS, 502, times=1)  # a retry logs a line
        server.fail("POST", r"/statuses/", 422, times=9,
                    body=error_body(422, f"echo {TOKEN}"))
        env = dict(os.environ, PYTHONPATH=os.getcwd(), GITHUB_ACTIONS="true", GITHUB_TOKEN=TOKEN,
                   GITHUB_EVENT_NAME="pull_request", GITHUB_EVENT_PATH=str(event),
                   GITHUB_REPOSITORY=server.repo, GITHUB_API_URL=server.url, GITHUB_RUN_ID="1",
                   GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"), GITHUB_OUTPUT=str(tmp_path / "output"))
        proc = subprocess.run([sys.executable, "-m", "dtf_ci", "aggregate", "--shards", str(out),
                               "--plan", str(plan_path), "--report-dir", str(tmp_path / "report"),
                               "--history", str(tmp_path / "history"), "--post", "--fail-on", "never"],
                              capture_output=True, text=True, env=env, timeout=300, cwd=os.getcwd())
        posted = server.comments(2)
    assert posted, proc.stderr  # the run really talked to the API
    assert "could not" in proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
    assert TOKEN not in all_text(tmp_path)
