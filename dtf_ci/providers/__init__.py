"""CI providers as plug-in modules behind one Protocol.

A provider module knows three things about its CI system: the context of this run (repo,
commit, pull request), the registered runners and their labels, and how to publish a report
(PR comment, commit status, job summary). Adding a provider is one module and one entry in
``PROVIDERS``; nothing else in dtf changes.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from dtf_ci.ci import CIProvider, detect_ci_provider
from dtf_ci.errors import ProviderError
from dtf_ci.limits import pipeline_name

T = TypeVar("T")


def bounded_listing(items: Iterable[T], what: str, *, api: str, max_items: int,
                    deadline: float) -> Iterator[T]:
    """A provider listing cut off at ``max_items`` items or ``deadline`` seconds, with a clear
    error: a server sending endless ``next`` links cannot hold aggregate (or its history append)."""
    started = time.monotonic()
    for count, item in enumerate(items, start=1):
        if count > max_items:
            raise ProviderError(f"{api} API: more than {max_items} {what}; "
                                "stopped reading (endless next links?)")
        if time.monotonic() - started > deadline:
            raise ProviderError(f"{api} API: listing the {what} took more than "
                                f"{deadline:.0f} s; stopped")
        yield item


@dataclass(frozen=True)
class Runner:
    """One registered runner as the provider lists it."""

    name: str
    labels: tuple[str, ...]
    status: str = "online"  # online | offline
    busy: bool = False
    os: str = ""


CHANGE_REQUEST_EVENTS = frozenset({"pull_request", "pull_request_target", "merge_request_event"})
"""Events of a proposed change: never appended to history, whatever its branch is called."""


@dataclass(frozen=True)
class RunContext:
    """Where and why this run happens. Every field may be empty outside CI."""

    provider: str = "local"
    repo: str = ""  # owner/name
    sha: str = ""
    ref: str = ""  # refs/heads/main, refs/pull/7/merge
    branch: str = ""  # the branch the run is on (head branch for a PR)
    default_branch: str = ""
    event: str = ""  # push, pull_request, workflow_dispatch, local
    pr_number: int | None = None
    base_ref: str = ""
    head_repo: str = ""  # owner/name of a PR's head; differs from repo for forks
    run_id: str = ""
    run_url: str = ""
    api_url: str = ""
    extra: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def is_fork_pr(self) -> bool:
        return bool(self.pr_number and self.head_repo and self.head_repo != self.repo)

    @property
    def on_main_line(self) -> bool:
        """True when this run may append to history: a push to the default branch, or local."""
        if self.provider == "local":
            return True
        if self.head_repo and self.repo and self.head_repo != self.repo:
            return False  # a fork's branch named like the default branch is still a fork's
        if self.event in CHANGE_REQUEST_EVENTS:
            return False  # a change request without a number (Jenkins: CHANGE_ID=MR-7) is one too
        return self.pr_number is None and bool(self.branch) and self.branch == self.default_branch


@dataclass
class PublishRequest:
    """What ``dtf aggregate --post`` hands to a provider."""

    comment_markdown: str  # starts with COMMENT_MARKER (replaced by the pipeline's marker)
    summary_markdown: str
    state: str  # success | failure | error | pending
    description: str  # one line, <= 140 characters
    overall: str  # the overall verdict
    report_dir: str = ""
    pipeline: str = ""  # the pipeline's name (limits.pipeline_name); "" is the default `dtf`


COMMENT_MARKER = "<!-- dtf-report -->"
"""The default pipeline's sticky-comment marker (the report's first line; dtf_ci.report's too)."""
STATUS_CONTEXT = "dtf"


def comment_marker(pipeline: str = "") -> str:
    """The hidden first line that finds one pipeline's sticky comment again.

    The default pipeline keeps the marker dtf always wrote, so a comment from before pipeline
    names is still found and edited; a named one gets ``<!-- dtf-report:NAME -->``.
    """
    name = pipeline_name(pipeline)
    return f"<!-- dtf-report:{name} -->" if name else COMMENT_MARKER


def status_context(pipeline: str = "") -> str:
    """The commit status context (GitHub) / name (GitLab): ``dtf``, or ``dtf / NAME``.

    Branch protection requires checks by this text, so the default pipeline keeps ``dtf``.
    """
    name = pipeline_name(pipeline)
    return f"{STATUS_CONTEXT} / {name}" if name else STATUS_CONTEXT


def marked_body(markdown: str, pipeline: str = "") -> str:
    """``markdown`` with the pipeline's marker as its first line (any other dtf marker line the
    report started with is replaced: one comment carries exactly one pipeline's marker)."""
    first, sep, rest = markdown.partition("\n")
    if _is_marker_line(first):
        markdown = rest if sep else ""
    return f"{comment_marker(pipeline)}\n{markdown}"


def has_marker(body: str | None, pipeline: str = "") -> bool:
    """True when ``body`` is this pipeline's sticky comment: its first line is the marker."""
    return (body or "").partition("\n")[0].strip() == comment_marker(pipeline)


def _is_marker_line(line: str) -> bool:
    line = line.strip()
    return line == COMMENT_MARKER or (line.startswith("<!-- dtf-report:") and line.endswith(" -->"))


@dataclass
class PublishResult:
    """What was published, and what could not be, in words for the report and the log."""

    comment_url: str = ""
    status_posted: bool = False
    summary_written: bool = False
    notes: list[str] = field(default_factory=list)


class Provider(Protocol):
    """What a provider module offers (module-level functions)."""

    def context(self, env: Mapping[str, str] | None = None) -> RunContext: ...

    def list_runners(
        self, ctx: RunContext, *, token: str | None = None, org: str | None = None
    ) -> list[Runner]: ...

    def publish(
        self, ctx: RunContext, request: PublishRequest, *, token: str | None = None
    ) -> PublishResult: ...


_MODULES: dict[str, str] = {
    "github": "dtf_ci.providers.github",
    "gitlab": "dtf_ci.providers.gitlab",
    "jenkins": "dtf_ci.providers.jenkins",
    "local": "dtf_ci.providers.local",
}


def get_provider(name: str | CIProvider | None = None) -> Provider:
    """The provider module by name, or the one this environment runs in."""
    if name is None:
        name = detect_ci_provider()
    key = name.value if isinstance(name, CIProvider) else name
    if key not in _MODULES:
        from dtf_ci.errors import UsageError

        raise UsageError(f"unknown provider {key!r}; known: {', '.join(sorted(_MODULES))}")
    module = importlib.import_module(_MODULES[key])
    return module  # type: ignore[return-value]
