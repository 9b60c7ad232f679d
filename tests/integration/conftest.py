"""Fixtures for the provider tests: a local GitHub API and recorded (not slept) waits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from github_server import GitHubServer

from dtf_ci.providers import github_http


@pytest.fixture
def github_api() -> Iterator[GitHubServer]:
    """A started local GitHub API; point ``GITHUB_API_URL`` at ``.url``."""
    with GitHubServer() as server:
        yield server


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait the GitHub client asks for, recorded instead of slept.

    Write pacing is turned off so the list holds only retry waits, which is what the tests
    assert; the pacing itself has its own test.
    """
    asked: list[float] = []
    monkeypatch.setattr(github_http, "SLEEP", asked.append)
    monkeypatch.setattr(github_http, "POLICY", github_http.RetryPolicy(write_interval=0))
    return asked
