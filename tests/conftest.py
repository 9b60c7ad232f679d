"""Shared fixtures: suites written to tmp folders, and a clean environment for CI detection."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import settings

# Shared CI machines are noisy: a per-example deadline would turn load into failures.
settings.register_profile("dtf", deadline=None, print_blob=True)
settings.load_profile("dtf")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_ci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run the same inside GitHub Actions as on a laptop: hide the CI's variables."""
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "GITLAB_", "CI_", "RUNNER_")) or name in (
                "JENKINS_URL", "JENKINS_HOME", "HUDSON_URL", "BUILD_ID", "BUILD_NUMBER",
                "JOB_NAME", "CHANGE_ID", "CI"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def write_suite(tmp_path: Path):
    """Write a suite file from dedented YAML text; return its path."""

    def _write(text: str, name: str = "dtf.yml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return _write
