"""CI-aware output: folds and annotations on GitHub Actions, plain headings elsewhere.

Commands never print CI syntax themselves; they call these functions, so the same command
reads well in a terminal, in a GitHub log and in a GitLab log.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

from dtf_ci.ci import CIProvider, detect_ci_provider


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def info(text: str) -> None:
    _err(text)


def warning(text: str, *, file: str | None = None) -> None:
    if detect_ci_provider() is CIProvider.github:
        where = f" file={file}" if file else ""
        _err(f"::warning{where}::{_escape(text)}")
    else:
        _err(f"warning: {text}")


def error(text: str, *, file: str | None = None) -> None:
    if detect_ci_provider() is CIProvider.github:
        where = f" file={file}" if file else ""
        _err(f"::error{where}::{_escape(text)}")
    else:
        _err(f"error: {text}")


def redact(text: str, *secrets: str) -> str:
    """``text`` with every secret (of 8 characters or more) replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


@contextlib.contextmanager
def group(title: str) -> Iterator[None]:
    """A collapsible section in CI logs; a heading elsewhere."""
    provider = detect_ci_provider()
    if provider is CIProvider.github:
        _err(f"::group::{title}")
    elif provider is CIProvider.gitlab:
        _err(f"\x1b[0Ksection_start:0:dtf_{abs(hash(title))}\r\x1b[0K{title}")
    else:
        _err(f"== {title}")
    try:
        yield
    finally:
        if provider is CIProvider.github:
            _err("::endgroup::")
        elif provider is CIProvider.gitlab:
            _err(f"\x1b[0Ksection_end:0:dtf_{abs(hash(title))}\r\x1b[0K")


def set_output(name: str, value: str, *, path: str | None = None) -> bool:
    """Append ``name`` to ``$GITHUB_OUTPUT`` with GitHub's multiline syntax.

    A random delimiter is used every time so that no value can end the block early (the
    injection GitHub warns about). Returns False when there is no output file.
    """
    path = path or os.environ.get("GITHUB_OUTPUT")
    if not path:
        return False
    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    while delimiter in value:
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return True


STEP_SUMMARY_LIMIT = 1024 * 1024  # bytes, GitHub's limit for one step's summary


def append_step_summary(markdown: str, *, path: str | None = None, limit: int = STEP_SUMMARY_LIMIT) -> bool:
    """Append to ``$GITHUB_STEP_SUMMARY``, trimmed under GitHub's 1 MiB with a note; never fails."""
    path = path or os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    existing = Path(path).stat().st_size if Path(path).exists() else 0
    budget = max(0, limit - existing - 1024)
    data = markdown.encode("utf-8")
    if len(data) > budget:
        note = "\n\n> The summary was trimmed to fit GitHub's 1 MiB limit; the full report is in the `dtf-report` artifact.\n"
        cut = data[: max(0, budget - len(note.encode()))].decode("utf-8", errors="ignore")
        markdown = cut.rsplit("\n", 1)[0] + note
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown)
            if not markdown.endswith("\n"):
                fh.write("\n")
    except OSError as exc:
        warning(f"could not write the job summary to {path}: {exc}")
        return False
    return True
