"""Pipeline names: what a workflow's `name` becomes before it keys a comment and a status.

The name comes from a workflow input or a plan file and lands in a commit status context,
an HTML comment marker and artifact names, so it is bounded and cut to ``[a-z0-9-]``; the
default pipeline keeps the marker and the context dtf always used.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from dtf_ci.limits import PIPELINE_NAME_MAX, pipeline_name
from dtf_ci.providers import (
    COMMENT_MARKER,
    comment_marker,
    has_marker,
    marked_body,
    status_context,
)

NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@given(st.text(max_size=300))
def test_any_text_becomes_a_bounded_slug_or_the_default(raw: str) -> None:
    name = pipeline_name(raw)
    assert name == "" or (NAME.match(name) and len(name) <= PIPELINE_NAME_MAX)
    assert pipeline_name(name) == name  # sanitising twice changes nothing
    assert name != "dtf"


@given(st.text(max_size=300))
def test_a_marker_and_a_context_hold_nothing_but_the_slug(raw: str) -> None:
    marker = comment_marker(raw)
    assert re.fullmatch(r"<!-- dtf-report(:[a-z0-9-]{1,40})? -->", marker)
    assert re.fullmatch(r"dtf( / [a-z0-9-]{1,40})?", status_context(raw))
    body = marked_body(f"{COMMENT_MARKER}\nreport", raw)
    assert has_marker(body, raw) and body.count("<!-- dtf-report") == 1


def test_the_rule_the_docs_state() -> None:
    assert pipeline_name("Nightly GPU!") == "nightly-gpu"
    assert pipeline_name("bench/dtf") == "bench-dtf"
    for default in ("", None, "dtf", "DTF", "--", "é", " dtf "):
        assert pipeline_name(default) == ""
        assert status_context(default) == "dtf" and comment_marker(default) == COMMENT_MARKER
    assert status_context("gpu") == "dtf / gpu" and comment_marker("gpu") == "<!-- dtf-report:gpu -->"
    assert len(pipeline_name("x" * 100_000)) == PIPELINE_NAME_MAX
    assert pipeline_name("a" * 39 + "-b") == "a" * 39  # no trailing '-' after the cut


def test_each_pipeline_finds_only_its_own_comment() -> None:
    default = marked_body(f"{COMMENT_MARKER}\n## dtf\nall unchanged\n")
    gpu = marked_body(f"{COMMENT_MARKER}\n## dtf\nall unchanged\n", "gpu")
    assert default.startswith(f"{COMMENT_MARKER}\n## dtf")
    assert gpu.startswith("<!-- dtf-report:gpu -->\n## dtf") and COMMENT_MARKER not in gpu
    assert has_marker(default) and not has_marker(default, "gpu")
    assert has_marker(gpu, "gpu") and not has_marker(gpu) and not has_marker(gpu, "gp")
    # a comment from before pipeline names (CRLF from an API too) is the default's
    assert has_marker(f"{COMMENT_MARKER}\r\nold report")
    # the marker somewhere else than the first line is a quote, not dtf's comment
    assert not has_marker(f"> quoting\n{COMMENT_MARKER}") and not has_marker(None)
    assert marked_body("no marker", "gpu") == "<!-- dtf-report:gpu -->\nno marker"
