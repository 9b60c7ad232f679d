"""The local provider: ``dtf local`` and any run outside a recognised CI system."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Mapping

from dtf_ci.providers import PublishRequest, PublishResult, RunContext, Runner


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def context(env: Mapping[str, str] | None = None) -> RunContext:
    """Context from the git checkout in the current folder, when there is one."""
    env = os.environ if env is None else env
    branch = _git("rev-parse", "--abbrev-ref", "HEAD")
    return RunContext(
        provider="local",
        sha=_git("rev-parse", "HEAD"),
        ref=f"refs/heads/{branch}" if branch and branch != "HEAD" else "",
        branch=branch if branch != "HEAD" else "",
        default_branch=branch if branch != "HEAD" else "",
        event="local",
    )


def list_runners(
    ctx: RunContext, *, token: str | None = None, org: str | None = None
) -> list[Runner]:
    """This machine, as one online runner whose labels come from the hardware probe."""
    from dtf_ci.hardware import probe

    host = probe()
    return [Runner(name=socket.gethostname(), labels=tuple(host.labels), status="online")]


def publish(
    ctx: RunContext, request: PublishRequest, *, token: str | None = None
) -> PublishResult:
    """Nothing to post locally: the report folder is the result."""
    return PublishResult(notes=["local run: the report is in the report folder, nothing posted"])
