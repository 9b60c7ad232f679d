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
    if env.get("JENKINS_URL"):
        return CIProvider.jenkins
    return CIProvider.local
