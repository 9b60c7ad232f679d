"""The Jenkins provider: context from a build's environment, no agent listing, local report,
and posting through the GitHub provider when the source is on GitHub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dtf_ci.ci import CIProvider, detect_ci_provider
from dtf_ci.errors import ProviderError
from dtf_ci.providers import PublishRequest, get_provider, github_http
from dtf_ci.providers import jenkins as provider

SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
BUILD_URL = "https://ci.example.com/job/octo/job/PR-7/3/"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "jenkins" / "Jenkinsfile"


def build_env(**over: str) -> dict[str, str]:
    """A multibranch pipeline build of a branch (Jenkins core, Git and Branch API variables)."""
    env = {
        "JENKINS_URL": "https://ci.example.com/",
        "BUILD_URL": "https://ci.example.com/job/octo/job/main/12/",
        "BUILD_ID": "12",
        "BUILD_NUMBER": "12",
        "JOB_NAME": "octo/main",
        "BRANCH_NAME": "main",
        "GIT_COMMIT": SHA,
        "GIT_BRANCH": "main",
        "GIT_URL": "https://github.com/octo-org/octo-repo.git",
    }
    env.update(over)
    return {k: v for k, v in env.items() if v}


def pr_env(**over: str) -> dict[str, str]:
    return build_env(**{"BUILD_URL": BUILD_URL, "BUILD_ID": "3", "BUILD_NUMBER": "3",
                        "JOB_NAME": "octo/PR-7", "BRANCH_NAME": "PR-7", "GIT_BRANCH": "PR-7",
                        "CHANGE_ID": "7", "CHANGE_TARGET": "main", "CHANGE_BRANCH": "faster",
                        "CHANGE_URL": "https://github.com/octo-org/octo-repo/pull/7", **over})


def request(**kw: str) -> PublishRequest:
    fields = dict(comment_markdown="<!-- dtf-report -->\n## dtf\nall unchanged\n",
                  summary_markdown="# dtf\n", state="success", description="dtf: 3 unchanged",
                  overall="unchanged", report_dir="dtf-report")
    fields.update(kw)
    return PublishRequest(**fields)


# --- context -------------------------------------------------------------------------------


def test_jenkins_is_detected_and_registered() -> None:
    assert detect_ci_provider(build_env()) is CIProvider.jenkins
    assert get_provider("jenkins") is provider


def test_context_of_a_branch_build_on_the_default_branch() -> None:
    ctx = provider.context(build_env())
    assert ctx.provider == "jenkins" and ctx.repo == "octo-org/octo-repo"
    assert ctx.sha == SHA and ctx.branch == "main" and ctx.ref == "refs/heads/main"
    assert ctx.default_branch == "main" and ctx.event == "push" and ctx.pr_number is None
    assert ctx.run_id == "12" and ctx.run_url == "https://ci.example.com/job/octo/job/main/12/"
    assert ctx.api_url == "https://ci.example.com"
    assert ctx.on_main_line


def test_context_of_a_plain_pipeline_strips_origin_from_git_branch() -> None:
    ctx = provider.context(build_env(BRANCH_NAME="", GIT_BRANCH="origin/release/2.x",
                                     BUILD_ID="", BUILD_NUMBER="40",
                                     GIT_URL="git@gitlab.example.com:group/sub/proj.git",
                                     DTF_DEFAULT_BRANCH="release/2.x"))
    assert ctx.branch == "release/2.x" and ctx.ref == "refs/heads/release/2.x"
    assert ctx.run_id == "40" and ctx.repo == "group/sub/proj"
    assert ctx.default_branch == "release/2.x" and ctx.on_main_line


def test_the_default_branch_comes_from_dtf_default_branch() -> None:
    ctx = provider.context(build_env(DTF_DEFAULT_BRANCH="trunk"))
    assert ctx.default_branch == "trunk" and not ctx.on_main_line  # main is not trunk


def test_context_of_a_change_request_build() -> None:
    ctx = provider.context(pr_env())
    assert ctx.pr_number == 7 and ctx.event == "pull_request"
    assert ctx.branch == "faster"  # CHANGE_BRANCH, not BRANCH_NAME=PR-7
    assert ctx.base_ref == "main" and ctx.ref == "refs/pull/7/head"
    assert ctx.head_repo == "octo-org/octo-repo" and not ctx.is_fork_pr
    assert ctx.run_url == BUILD_URL and ctx.extra["change_url"].endswith("/pull/7")
    assert not ctx.on_main_line


@pytest.mark.parametrize(("fork", "head"), [("contributor", "contributor/octo-repo"),
                                            ("contributor/fork-name", "contributor/fork-name")])
def test_context_of_a_fork_change_request(fork: str, head: str) -> None:
    ctx = provider.context(pr_env(CHANGE_FORK=fork))
    assert ctx.head_repo == head and ctx.is_fork_pr


@pytest.mark.parametrize(("url", "repo"), [
    ("https://github.com/octo-org/octo-repo.git", "octo-org/octo-repo"),
    ("https://github.com/octo-org/octo-repo", "octo-org/octo-repo"),
    ("https://jenkins:ghp_secret@github.com/octo-org/octo-repo.git", "octo-org/octo-repo"),
    ("git@github.com:octo-org/octo-repo.git", "octo-org/octo-repo"),
    ("ssh://git@gitlab.example.com:2222/group/sub/proj.git", "group/sub/proj"),
    ("https://gitlab.example.com:8443/group/proj.git/", "group/proj"),
])
def test_the_repository_comes_from_git_url_in_every_form(url: str, repo: str) -> None:
    ctx = provider.context(build_env(GIT_URL=url))
    assert ctx.repo == repo
    assert "secret" not in ctx.extra["git_url"] and ctx.extra["git_url"].endswith(url.split("@")[-1])


def test_the_repository_falls_back_to_git_url_1_and_dtf_repository_wins() -> None:
    """A pipeline with two checkouts has GIT_URL_1, GIT_URL_2 and no GIT_URL."""
    env = build_env(GIT_URL="", GIT_URL_1="https://github.com/octo-org/first.git",
                    GIT_URL_2="https://github.com/octo-org/second.git")
    assert provider.context(env).repo == "octo-org/first"
    assert provider.context({**env, "DTF_REPOSITORY": "octo-org/chosen"}).repo == "octo-org/chosen"


@pytest.mark.parametrize("git_branch", ["origin/feature/x", "refs/remotes/origin/feature/x",
                                        "remotes/origin/feature/x", "refs/heads/feature/x",
                                        "feature/x"])
def test_git_branch_in_every_form_gives_the_branch(git_branch: str) -> None:
    ctx = provider.context(build_env(BRANCH_NAME="", GIT_BRANCH=git_branch))
    assert ctx.branch == "feature/x" and ctx.ref == "refs/heads/feature/x"
    assert not ctx.on_main_line and ctx.event == "push"


def test_a_change_request_with_a_non_numeric_id_has_no_number_but_is_not_main_line() -> None:
    """Some branch sources name change requests (``MR-7``): no number to comment on, but
    still a change request, never appended to history."""
    ctx = provider.context(pr_env(CHANGE_ID="MR-7", CHANGE_BRANCH="main"))
    assert ctx.pr_number is None and ctx.event == "pull_request" and not ctx.on_main_line


def test_dtf_sha_overrides_git_commit_for_merge_builds() -> None:
    head = "1f0a2b3c4d5e6f708192a3b4c5d6e7f801234567"
    assert provider.context(pr_env(DTF_SHA=head)).sha == head


def test_a_tag_build_is_not_on_the_main_line() -> None:
    ctx = provider.context(build_env(BRANCH_NAME="", GIT_BRANCH="", TAG_NAME="v1.0"))
    assert ctx.ref == "refs/tags/v1.0" and ctx.event == "tag" and not ctx.on_main_line


def test_context_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in pr_env().items():
        monkeypatch.setenv(key, value)
    assert provider.context().pr_number == 7


# --- runners -------------------------------------------------------------------------------


def test_agents_are_not_listed() -> None:
    with pytest.raises(ProviderError) as info:
        provider.list_runners(provider.context(build_env()), token="anything")
    assert info.value.status == 404  # the planner falls back to the suite's targets
    assert "--runners FILE" in info.value.message and "docs/jenkins.md" in info.value.message


def test_the_inventory_falls_back_to_the_suite_when_asked_for_jenkins_agents(
    write_suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dtf_ci.inventory import build_inventory, inventory_from_runners, load_runners_file
    from dtf_ci.suite import load_suite

    suite = load_suite(write_suite("""
        version: 1
        targets:
          gpu: {runs-on: [linux, gpu-a100]}
        tasks:
          - {id: t, run: "true"}
    """))
    assert list(build_inventory(suite, None).targets) == ["gpu"]
    agents = write_suite("runners:\n  - {name: agent-1, labels: [linux, gpu-a100]}\n",
                         name="agents.yml")
    inv = inventory_from_runners(load_runners_file(agents), suite, "file")
    assert inv.targets["gpu"].online == 1


# --- publish -------------------------------------------------------------------------------


def test_publish_posts_nothing_and_says_where_the_report_is(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DTF_GITHUB_REPOSITORY", raising=False)
    result = provider.publish(provider.context(pr_env()), request(), token=None)
    assert not result.comment_url and not result.status_posted
    (note,) = result.notes
    assert "dtf-report" in note and "archiveArtifacts" in note and "docs/jenkins.md" in note


def test_a_github_token_alone_is_not_enough_to_post(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DTF_GITHUB_REPOSITORY", raising=False)
    result = provider.publish(provider.context(pr_env()), request(), token="ghp_x")
    assert not result.status_posted and "nothing posted" in result.notes[0]


@pytest.fixture
def github_api() -> Iterator[object]:
    from integration.github_server import GitHubServer

    with GitHubServer() as server:
        yield server


@pytest.mark.integration
def test_a_build_of_a_github_repository_posts_through_the_github_provider(
    github_api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(github_http, "SLEEP", lambda s: None)
    monkeypatch.setattr(github_http, "POLICY", github_http.RetryPolicy(write_interval=0))
    monkeypatch.setenv("DTF_GITHUB_REPOSITORY", github_api.repo)
    monkeypatch.setenv("GITHUB_API_URL", github_api.url)
    monkeypatch.setenv("GITHUB_TOKEN", "jenkins-credential")
    ctx = provider.context(pr_env(CHANGE_FORK="contributor"))  # a fork: the token is ours
    result = provider.publish(ctx, request())
    (comment,) = github_api.comments(7)
    assert comment["body"].startswith("<!-- dtf-report -->") and result.comment_url
    (status,) = github_api.statuses(SHA)
    assert status["context"] == "dtf" and status["state"] == "success"
    assert status["target_url"] == BUILD_URL  # the status links to the Jenkins build
    assert {r.token for r in github_api.requests} == {"jenkins-credential"}


# --- the example Jenkinsfile ---------------------------------------------------------------


def test_the_example_jenkinsfile_has_the_documented_shape() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    code = "\n".join(line.split("//")[0] for line in text.splitlines())
    assert code.count("{") == code.count("}") and code.count("(") == code.count(")")
    for needle in ("pipeline {", "agent none", "stage('plan')", "readJSON file: 'plan.json'",
                   "runs-on", "join(' && ')", "parallel branches", "failFast: false",
                   "stash name: \"dtf-shard-", "unstash \"dtf-shard-", "stage('aggregate')",
                   "archiveArtifacts artifacts: 'dtf-report/**'", "dtf run --plan plan.json",
                   "dtf aggregate --shards dtf-shards --plan plan.json", "catchError"):
        assert needle in text, needle


def test_the_example_jenkinsfile_commands_parse(tmp_path: Path) -> None:
    """Every dtf command line in the example is one the CLI accepts."""
    import shlex

    from dtf_ci.cli import build_parser

    text = EXAMPLE.read_text(encoding="utf-8").replace("\\\\\n", " ")
    lines = [ln.strip().strip("')") for ln in text.splitlines() if ln.strip().lstrip("'").startswith("dtf ")]
    assert len(lines) == 3
    for line in lines:
        argv = shlex.split(line.replace("${shard.id}", "cpu-w1-1").replace("$DTF_SHARD", "cpu-w1-1"))[1:]
        build_parser().parse_args(argv)


# --- detection without JENKINS_URL (a controller whose root URL is not configured) ---------


@pytest.mark.parametrize("present", [
    {"JENKINS_HOME": "/var/jenkins_home"},
    {"BUILD_ID": "17", "JOB_NAME": "bench/PR-7"},
    {"CHANGE_ID": "7", "BUILD_NUMBER": "17"},
    {"HUDSON_URL": "http://ci:8080/"},
])
def test_jenkins_is_detected_without_jenkins_url(present: dict[str, str]) -> None:
    assert detect_ci_provider(present) is CIProvider.jenkins


@pytest.mark.parametrize("alone", [{"BUILD_ID": "17"}, {"CHANGE_ID": "7"}, {"JOB_NAME": "x"}])
def test_one_common_name_alone_is_not_jenkins(alone: dict[str, str]) -> None:
    assert detect_ci_provider(alone) is CIProvider.local


def test_a_change_request_build_without_jenkins_url_is_not_appended_to_history() -> None:
    """Without JENKINS_URL such a build was taken for a local run: on the main line, appended."""
    env = {k: v for k, v in build_env(CHANGE_ID="7", CHANGE_BRANCH="feature",
                                      CHANGE_TARGET="main").items() if k != "JENKINS_URL"}
    env["JENKINS_HOME"] = "/var/jenkins_home"
    assert detect_ci_provider(env) is CIProvider.jenkins
    ctx = provider.context(env)
    assert ctx.pr_number == 7 and not ctx.on_main_line


def test_the_run_id_is_the_build_tag_without_jenkins_url() -> None:
    from dtf_ci.plan import default_run_id

    assert default_run_id({"BUILD_TAG": "jenkins-bench-PR-7-17", "BUILD_ID": "17",
                           "JOB_NAME": "bench/PR-7"}) == "jenkins-bench-PR-7-17"


def test_the_example_jenkinsfile_keeps_going_and_keeps_tokens_in_aggregate() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    run_stage = text[text.index("stage('run')"):text.index("stage('aggregate')")]
    aggregate = text[text.index("stage('aggregate')"):]
    # checkout, unstash and the agent wait are inside catchError, the wait also in a timeout
    body = run_stage[run_stage.index("def body = {"):]
    assert body.index("catchError") < body.index("checkout scm") < body.index("unstash 'dtf-plan'")
    assert body.index("catchError", body.index("dtf run")) < body.index('stash name: "dtf-shard-')
    wait = body[body.index("// the agent wait counts"):]
    assert wait.index("catchError") < wait.index("timeout(time: DTF_SHARD_TIMEOUT_MINUTES")
    assert wait.index("timeout(") < wait.index("node(shard.label, body)")
    # tokens: bound in the aggregate stage only, never pipeline-wide
    assert "withCredentials" not in text[:text.index("stage('aggregate')")]
    assert "credentials(" not in text.split("stages {")[0]
    assert "variable: 'GITHUB_TOKEN'" in aggregate and "gitUsernamePassword(" in aggregate
    assert "pip install --quiet dtf-ci'" not in text and "DTF_SOURCE" in text
