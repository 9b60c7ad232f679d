"""Names render inert everywhere: no live mention, reference or link in the comment, no rich
markup in the terminal, only valid XML in badges, bounded file names."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from dtf_ci.aggregate import aggregate, print_summary
from dtf_ci.providers import RunContext
from dtf_ci.report import render_badge, safe_name
from dtf_ci.report_format import md
from tests.helpers import make_plan
from tests.security.shards import make_shard

CTX = RunContext(provider="local", sha="abc123", branch="main", default_branch="main", event="local")
LIVE_MENTION = re.compile(r"(?<![\w`])@[A-Za-z0-9]")
BARE_URL = re.compile(r"https?://|www\.", re.IGNORECASE)


def _report(tmp_path, task, metric="m", target="local", reason=""):
    out = tmp_path / "shards"
    make_shard(out, "local-w1-1", task=task, metric=metric, target=target, reason=reason)
    plan = make_plan(tmp_path, {task: {"run": "true"}}, target=target, run_id="r1")
    return aggregate(out, tmp_path / "report", plan=plan, context=CTX)


def test_mentions_and_links_in_names_are_not_live(tmp_path):
    task = "ping @octo-org/security-team see https://evil.example/x"
    _report(tmp_path, task, metric="leak @admin www.evil.example #1", reason="cc @someone http://evil.example")
    for name in ("report.md", "summary.md"):
        text = (tmp_path / "report" / name).read_text()
        prose = re.sub(r"`[^`]*`", "", text)  # code spans are never live
        assert not LIVE_MENTION.search(prose), name
        assert not BARE_URL.search(prose), name
        assert "octo-org/security-team" in text  # still readable


def test_md_breaks_every_live_pattern():
    for text, live in [("@org/team", "@o"), ("https://x.y", "https://"), ("www.x.y", "www."),
                       ("fixes #12", "#1"), ("see !3", "!3"), ("&epic", "&e")]:
        assert live not in md(text).replace("\\", "")


def test_rich_markup_in_names_is_printed_as_text(tmp_path, capsys):
    result = _report(tmp_path, "test_open[/dev/null]", metric="[bold red]x[/]", reason="[link=http://e]y[/link] [/]")
    print_summary(result.verdicts, tmp_path / "report")
    err = capsys.readouterr().err
    assert "test_open[/dev/null]" in err and "[bold red]x[/]" in err and "[/]" in err


def test_control_characters_make_valid_svg(tmp_path):
    svg = render_badge("dtf \x00\x1b[31m target", "1 regression\x08\ufffe", "#e05d44")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    _report(tmp_path, "a", target="t\x01\x02x")
    for badge in (tmp_path / "report" / "badges").glob("*.svg"):
        ET.fromstring(badge.read_text())


def test_long_names_give_bounded_badges_and_files(tmp_path):
    target = "t" * 115
    assert len(safe_name("x" * 300)) <= 80 and safe_name("x" * 300) != safe_name("x" * 299 + "y")
    _report(tmp_path, "a" * 115, target=target)
    names = [p.name for p in (tmp_path / "report" / "badges").iterdir()]
    assert names and all(len(n) < 120 for n in names)
    (badge,) = (tmp_path / "report" / "badges").glob("target-*.svg")
    text = badge.read_text()
    assert "t" * 40 in text and "t" * 60 not in text


def test_extreme_values_render(tmp_path):
    """Values from 1e-300 to 1e300 (and past float range) leave a readable report."""
    from dtf_ci.report_format import fmt_ci, fmt_pct, fmt_value, sig

    for x in (1e300, 1e-300, 5e-324, float("inf"), float("-inf"), float("nan"), -1e308):
        for text in (sig(x), fmt_value(x, "s"), fmt_value(x, "B"), fmt_pct(x), fmt_ci(x, x)):
            assert len(text) < 40
    out = tmp_path / "shards"
    make_shard(out, "local-w1-1", values=(1e300, 1e-300, 1e300, 1e-300, 1.0))
    plan = make_plan(tmp_path, {"a": {"run": "true"}}, run_id="r1")
    aggregate(out, tmp_path / "report", plan=plan, context=CTX)
    assert "### " in (tmp_path / "report" / "report.md").read_text()
