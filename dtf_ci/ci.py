"""Which CI system is this process running in? Everything else asks this one function."""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping


class CIProvider(enum.Enum):
    github = "github"
    gitlab = "gitlab"
    jenkins = "jenkins"
    local = "local"


def detect_ci_provider(env: Mapping[str, str] | None = None) -> CIProvider:
    """Read the provider from the environment, in a fixed order (GitHub, GitLab, Jenkins)."""
    env = os.environ if env is None else env
    if env.get("GITHUB_ACTIONS") == "true":
        return CIProvider.github
    if env.get("GITLAB_CI") == "true" or env.get("CI_API_V4_URL"):
        return CIProvider.gitlab
    if is_jenkins(env):
        return CIProvider.jenkins
    return CIProvider.local


def is_jenkins(env: Mapping[str, str]) -> bool:
    """A Jenkins build, even where the controller has no root URL configured.

    ``JENKINS_URL`` is empty until an administrator sets the root URL, and a pull request
    build taken for a local run would be appended to history. Jenkins always sets
    ``JENKINS_HOME`` on the controller's builds and ``BUILD_ID`` with ``JOB_NAME`` on every
    build (agents included); a multibranch change request has ``CHANGE_ID`` with
    ``BUILD_NUMBER``. One of ``BUILD_ID``/``CHANGE_ID`` alone is too common a name to count.
    """
    if env.get("JENKINS_URL") or env.get("JENKINS_HOME") or env.get("HUDSON_URL"):
        return True
    if env.get("BUILD_ID") and env.get("JOB_NAME"):
        return True
    return bool(env.get("CHANGE_ID") and env.get("BUILD_NUMBER"))
