"""CI-aware output: folds and annotations on GitHub Actions, plain headings elsewhere.

Commands never print CI syntax themselves; they call these functions, so the same command
reads well in a terminal, in a GitHub log and in a GitLab log.

Every line printed here may carry names from hostile data (a JUnit case named
``x&#10;::add-mask::regression``), so nothing printed through this module can become a CI
command: control characters (ESC, which starts GitLab's section markers and Jenkins' console
notes, CR, NUL) are shown as escapes, and a line that would start with a GitHub workflow
command (``::`` or ``##[`` after leading blanks, what the runner parses) gets a backslash in
front. Annotation texts are percent-encoded as GitHub asks. :func:`inert` makes one name
a single safe line for any other printer.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

from dtf_ci.ci import CIProvider, detect_ci_provider

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_COMMAND_START = re.compile(r"^(\s*)(::|##\[)", re.MULTILINE)


def _show(ch: re.Match[str]) -> str:
    code = ord(ch.group())
    return {9: "\\t", 10: "\\n", 13: "\\r", 27: "\\e"}.get(code, f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}")


def guard(text: str) -> str:
    """``text`` safe to print to any CI log: no control characters, no line starting a command."""
    return _COMMAND_START.sub(r"\1\\\2", _CONTROL.sub(_show, text))


def inert(name: object, limit: int = 200) -> str:
    """One name from data as one safe line: newlines and control characters shown, bounded."""
    text = str(name)
    if len(text) > limit:
        text = text[:limit] + "…"
    return guard(re.sub(r"[\n\t]", _show, text))


def _err(text: str) -> None:
    _raw(guard(text))


def _raw(line: str) -> None:
    """Print a line dtf built itself (a workflow command whose data parts are escaped)."""
    print(line, file=sys.stderr, flush=True)


def info(text: str) -> None:
    _err(text)


def _annotation(kind: str, text: str, file: str | None) -> str:
    """``::kind file=F::TEXT`` with every data part encoded (CR and LF as GitHub's %0D/%0A)."""
    where = f" file={_escape_property(_CONTROL.sub(_show, file))}" if file else ""
    body = _escape(_CONTROL.sub(lambda m: "\r" if m.group() == "\r" else _show(m), text))
    return f"::{kind}{where}::{body}"


def warning(text: str, *, file: str | None = None) -> None:
    if detect_ci_provider() is CIProvider.github:
        _raw(_annotation("warning", text, file))
    else:
        _err(f"warning: {text}")


def error(text: str, *, file: str | None = None) -> None:
    if detect_ci_provider() is CIProvider.github:
        _raw(_annotation("error", text, file))
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


def _escape_property(text: str) -> str:
    return _escape(text).replace(":", "%3A").replace(",", "%2C")


@contextlib.contextmanager
def group(title: str) -> Iterator[None]:
    """A collapsible section in CI logs; a heading elsewhere."""
    provider = detect_ci_provider()
    shown = inert(title)
    section = "dtf_" + hashlib.sha1(title.encode("utf-8", "replace")).hexdigest()[:12]
    if provider is CIProvider.github:
        _raw(f"::group::{_escape(shown)}")
    elif provider is CIProvider.gitlab:
        _raw(f"\x1b[0Ksection_start:0:{section}\r\x1b[0K{shown}")
    else:
        _err(f"== {shown}")
    try:
        yield
    finally:
        if provider is CIProvider.github:
            _raw("::endgroup::")
        elif provider is CIProvider.gitlab:
            _raw(f"\x1b[0Ksection_end:0:{section}\r\x1b[0K")


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
