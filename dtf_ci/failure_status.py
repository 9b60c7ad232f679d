"""A status on every path a token allows: commands that end before any report still post one.

A required ``dtf`` check that never arrives leaves a pull request waiting with no reason, or,
worse, a workflow whose later jobs were skipped looks finished. So when ``dtf plan`` fails
(a suite mistake, a target no runner can serve) or ``dtf aggregate --post`` fails before its
report exists (no usable shard), dtf posts the ``dtf`` commit status itself, ``failure`` for bad
input and ``error`` for infrastructure, with the reason, plus the sticky comment and the job
summary where the provider has them. Paths no token reaches (a fork's read-only token, a job
that died before dtf ran) are documented in docs/github-actions.md ("Required checks").
"""

from __future__ import annotations

import os

from dtf_ci import log
from dtf_ci.errors import FatalError
from dtf_ci.providers import PublishRequest


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no reason given")


def failure_request(command: str, error: FatalError, pipeline: str = "") -> PublishRequest:
    """The PublishRequest for a command that failed before writing a report, posted under
    the pipeline's own comment marker and status context."""
    from dtf_ci.report import COMMENT_MARKER
    from dtf_ci.report_format import md

    state = "error" if error.return_code == 3 else "failure"
    why = "an infrastructure failure" if state == "error" else "bad input"
    lines = [md(line, 500) for line in str(error).splitlines() if line.strip()][:40]
    body = (f"### 🔴 dtf {command} failed: {why}, so there is no report for this commit\n\n"
            + "\n".join(f"> {line}  " for line in lines)
            + "\n\nFix the cause and re-run the workflow; the `dtf` status is updated by the next run.\n")
    description = f"dtf {command} failed: {_first_line(str(error))}"
    if len(description) > 140:
        description = description[:139] + "…"
    return PublishRequest(comment_markdown=f"{COMMENT_MARKER}\n{body}", summary_markdown=body,
                          state=state, description=description, overall="failed",
                          pipeline=pipeline)


def publish_failure(command: str, error: FatalError, pipeline: str = "") -> list[str]:
    """Post the failure status (and comment, summary) in CI; the notes say what happened.

    Outside CI it does nothing. Never raises: the command's own error is what the user must
    see, and a failure to post is one more line under it.
    """
    from dtf_ci.ci import CIProvider, detect_ci_provider

    ci = detect_ci_provider()
    if ci is CIProvider.local:
        return []
    try:
        from dtf_ci.providers import get_provider

        provider = get_provider(ci)
        ctx = provider.context()
        token = None
        if ctx.provider in ("github", "jenkins"):
            token = os.environ.get("DTF_GITHUB_TOKEN") or os.environ.get("GITHUB_TOKEN")
        request = failure_request(command, error, pipeline)
        result = provider.publish(ctx, request, token=token)
    except FatalError as exc:
        notes = [f"could not post the failure status: {exc}"]
    except Exception as exc:  # noqa: BLE001 - the command's own error must still be printed
        notes = [f"could not post the failure status: {type(exc).__name__}: {exc}"]
    else:
        from dtf_ci.providers import status_context

        notes = ([f"posted the {status_context(pipeline)} status '{request.state}'"]
                 if result.status_posted else [])
        notes += result.notes
    for note in notes:
        log.warning(note)
    return notes
