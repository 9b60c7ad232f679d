"""Write the report a person reads from a ``verdicts.json``-shaped dict.

One verdict set, four views of it, each sized for where it is read:

- ``report.md`` — the sticky PR comment. It answers "did this change make anything slower,
  on which hardware, how sure are we" in its first line, lists what changed before what did
  not, and always fits GitHub's 65536-character comment limit (unchanged series go first,
  then table rows, each cut said out loud with a pointer to the full dashboard).
- ``summary.md`` — the job summary: the same content, trimmed only at GitHub's 1 MiB limit.
- ``index.html`` — one self-contained dashboard (inline CSS, JS and data): it works from an
  artifact opened with ``file://`` and never touches the network.
- ``badges/*.svg`` and ``badges/*.json`` — flat badges and shields.io endpoint files.

Rendering never raises for a well-formed dict and degrades to a plain message for a broken
one: a report that fails would hide the answer the whole run was for. Jinja2 is imported
inside functions so ``dtf --help`` stays fast.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dtf_ci import dashboard
from dtf_ci.dashboard import HISTORY_CHUNK, INLINE_SERIES_MAX
from dtf_ci.report_format import VERDICT_ORDER, build_view, md, plural

__all__ = ["COMMENT_MARKER", "HISTORY_CHUNK", "INLINE_SERIES_MAX", "render_comment", "render_dashboard",
           "render_summary", "write_report"]

COMMENT_MARKER = "<!-- dtf-report -->"
"""First line of ``report.md``: how the sticky PR comment is found again and updated."""

GITHUB_COMMENT_LIMIT = 65536
GITHUB_SUMMARY_LIMIT = 1024 * 1024

_DASHBOARD_HINT = "the dashboard (`index.html` in the dtf report artifact)"


def _templates_dir() -> Path:
    """``templates/`` at the repository root, or inside the package for wheel installs."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "templates", here / "templates"):
        if (candidate / "report.md.j2").is_file():
            return candidate
    return here.parent / "templates"


def _code(text: Any) -> str:
    """An inline code span that survives backticks inside the text (CommonMark rules)."""
    s = " ".join(_NOT_XML.sub(" ", str(text)).split()) or " "
    runs = [len(m) for m in re.findall(r"`+", s)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or runs else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _code_block(text: Any, max_lines: int = 15, max_width: int = 300) -> str:
    """A fenced code block for a unit's output (hostile text): the fence is longer than any
    run of backticks inside, so nothing in the output can close it; lines are bounded."""
    lines = [line[:max_width] for line in str(text).splitlines()[-max_lines:]]
    body = "\n".join(lines)
    runs = [len(m) for m in re.findall(r"`+", body)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return f"{fence}text\n{body}\n{fence}"


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    """A Jinja2 environment: autoescape for HTML and SVG, markdown escaping by filter."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_templates_dir())),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2", "svg.j2", "html", "svg"), default=False
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.ChainableUndefined,
    )
    env.filters["md"] = md
    env.filters["code"] = _code
    env.filters["code_block"] = _code_block
    return env


def _fallback(verdicts: Any, error: Exception, marker: str) -> str:
    """The report when rendering itself broke: still says the overall verdict and why."""
    overall = verdicts.get("overall", "unknown") if isinstance(verdicts, dict) else "unknown"
    return (
        f"{marker}\n### dtf: overall verdict **{md(overall)}**\n\n"
        f"The full report could not be rendered ({md(type(error).__name__)}: {md(error)}). "
        f"See `verdicts.json` in the dtf report artifact.\n"
    ).lstrip("\n")


_MIN_ROW_CHARS = 24


def _fit(
    render: Callable[[dict[str, Any]], str], limit: int, measure: Callable[[str], int], hint: str
) -> str:
    """Render with less and less detail until ``measure(text) <= limit``.

    Order of sacrifice: the unchanged-series details, then rows of every table (the largest
    row count that fits, found by bisection), then a hard cut with a closing note. Each step
    leaves a line saying what was left out and where the rest is.
    """
    # Skip the full render when it cannot fit: 20,000 unchanged rows cost seconds to render
    # only to be thrown away. (No row of the tables is shorter than this many characters.)
    rows = int(render.__dict__.get("rows", 0))
    if rows * _MIN_ROW_CHARS <= limit:
        text = render({"show_unchanged": True, "row_limit": None})
        if measure(text) <= limit:
            return text

    def attempt(rows: int | None) -> str:
        return render({"show_unchanged": False, "row_limit": rows})

    text = attempt(None)
    if measure(text) <= limit:
        return text
    if measure(attempt(0)) <= limit:  # bisect the largest row count that fits
        lo, hi = 0, 1
        while hi < 1 << 20 and measure(attempt(hi)) <= limit:
            lo, hi = hi, hi * 2
        while lo + 1 < hi:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if measure(attempt(mid)) <= limit else (lo, mid)
        return attempt(lo)
    tail = f"\n\n*… the report was cut here to fit; the full report is in {hint}.*\n"
    text = attempt(0)
    budget = max(0, limit - measure(tail))
    cut = text
    while cut and measure(cut) > budget:  # a character is at most 4 bytes of UTF-8
        cut = cut[: len(cut) - max(1, (measure(cut) - budget) // 4)]
    if "\n" in cut:
        cut = cut[: cut.rindex("\n")]
    return cut + tail if measure(cut + tail) <= limit else cut


def dashboard_url(run_url: str | None) -> str | None:
    """Where the full dashboard is: ``DTF_DASHBOARD_URL`` (a GitHub Pages site), else the run page.

    Only http(s) addresses are linked: the value ends up in a comment that others read.
    """
    url = os.environ.get("DTF_DASHBOARD_URL", "").strip() or (run_url or "")
    if not re.match(r"^https?://[^\s()<>\[\]]+$", url):
        return None
    return url


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _markdown(
    verdicts: Any,
    view: dict[str, Any] | None,
    template: str,
    limit: int,
    measure: Callable[[str], int],
) -> str:
    """Render one markdown template within ``limit``; on any error, the fallback text."""
    try:
        if view is None:
            raise ValueError("the verdicts could not be read")
        run_url = view["run_url"]
        hint = _DASHBOARD_HINT + (f" of [this run]({run_url})" if run_url else "")
        tmpl = _environment().get_template(template)

        dash_url = dashboard_url(run_url)
        dash_link = f" ([open it]({dash_url}))" if dash_url else ""

        def render(opts: dict[str, Any]) -> str:
            return tmpl.render(v=view, marker=COMMENT_MARKER, hint=hint, dash_link=dash_link, **opts)

        series = verdicts.get("series") if isinstance(verdicts, dict) else None
        render.__dict__["rows"] = len(series) if isinstance(series, list) else 0

        return _fit(render, limit, measure, hint)
    except Exception as error:  # noqa: BLE001 - a report must never fail the run
        return _fallback(verdicts, error, COMMENT_MARKER if template == "report.md.j2" else "")


def _view(verdicts: Any, title: str, run_url: str | None) -> dict[str, Any] | None:
    try:
        return build_view(verdicts, title=title, run_url=run_url)
    except Exception:  # noqa: BLE001 - reported by the renderers' fallbacks
        return None


def render_comment(
    verdicts: dict[str, Any],
    *,
    title: str = "dtf",
    run_url: str | None = None,
    max_chars: int = 60000,
) -> str:
    """The PR comment, starting with ``COMMENT_MARKER`` and at most ``max_chars`` long.

    ``run_url`` defaults to the ``run-url`` of ``verdicts`` (the link in the footer).
    """
    return _markdown(verdicts, _view(verdicts, title, run_url), "report.md.j2", max_chars, len)


def render_summary(
    verdicts: dict[str, Any],
    *,
    title: str = "dtf",
    run_url: str | None = None,
    max_bytes: int = 1_000_000,
) -> str:
    """The job summary: the comment's content without the marker, at most ``max_bytes`` of UTF-8."""
    return _markdown(verdicts, _view(verdicts, title, run_url), "summary.md.j2", max_bytes, _bytes)


def render_dashboard(
    verdicts: dict[str, Any], *, title: str = "dtf", run_url: str | None = None
) -> str:
    """The self-contained ``index.html``: everything inline, nothing fetched."""
    page, _ = _dashboard(build_view(verdicts, title=title, run_url=run_url), inline_max=None)
    return page


def _dashboard(view: dict[str, Any], inline_max: int | None = INLINE_SERIES_MAX) -> tuple[str, dict[str, str]]:
    """``index.html`` and its side files (relative path -> text): see :mod:`dtf_ci.dashboard`."""
    return dashboard.render(view, _environment(), inline_max)


# Badge colours: hex for the SVG, a shields.io name for the endpoint JSON.
BADGE_COLOR = {
    "failed": ("#e05d44", "red"),
    "regression": ("#e05d44", "red"),
    "missing": ("#fe7d37", "orange"),
    "inconclusive": ("#dfb317", "yellow"),
    "improvement": ("#44cc11", "brightgreen"),
    "new": ("#44cc11", "brightgreen"),
    "unchanged": ("#44cc11", "brightgreen"),
    "none": ("#9f9f9f", "lightgrey"),
}


# Approximate advance widths of Verdana 11px (what shields.io measures), in pixels.
_NARROW = set("fijlrtI!.,:;'|()[]{} ")
_WIDE = set("mwMW@%")


def text_width(text: str) -> float:
    """Close enough to shields.io's measured widths that labels neither clip nor float."""
    w = 0.0
    for ch in text:
        if ch in _NARROW:
            w += 4.0
        elif ch in _WIDE:
            w += 10.5
        elif ch.isupper() or ch.isdigit() or ch in "#&+=<>~_-?/\\":
            w += 7.5 if ch.isupper() else 7.0
        elif ord(ch) > 0x2000:
            w += 11.0
        else:
            w += 6.5
    return w


def badge_for(rows: list[dict[str, Any]], failed_units: int) -> tuple[str, str]:
    """Verdict key and message of a badge over some series: worst verdict first."""
    n = {v: sum(1 for r in rows if r["verdict"] == v) for v in VERDICT_ORDER}
    if failed_units or n["failed"]:
        return "failed", f"{failed_units or n['failed']} failed"
    if n["regression"]:
        return "regression", plural(n["regression"], "regression")
    if n["missing"]:
        return "missing", f"{n['missing']} missing"
    if n["inconclusive"]:
        return "inconclusive", f"{n['inconclusive']} inconclusive"
    if not rows:
        return "none", "no data"
    if n["improvement"]:
        return "improvement", f"no regressions, {n['improvement']} improved"
    return "unchanged", "no regressions"


def safe_name(name: str, limit: int = 80) -> str:
    """A target name as a file name: letters, digits, ``.``, ``_``, ``-``; bounded, a long one
    cut and made unique by a hash of the whole (file systems refuse names over 255 bytes)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "unnamed"
    if len(safe) <= limit:
        return safe
    import hashlib

    return safe[: limit - 13].rstrip("-.") + "-" + hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()[:12]


BADGE_TEXT_MAX = 48  # characters of a badge's label or message; longer is cut with "…"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def badge_text(text: str) -> str:
    """Text an SVG can hold: no character XML forbids, one line, bounded."""
    text = " ".join(_NOT_XML.sub(" ", text).split())
    return text if len(text) <= BADGE_TEXT_MAX else text[: BADGE_TEXT_MAX - 1] + "…"


def render_badge(label: str, message: str, color: str) -> str:
    """A flat shields-style SVG; widths from approximate Verdana metrics."""
    label, message = badge_text(label), badge_text(message)
    env = _environment()
    lw, mw = int(text_width(label)) + 10, int(text_width(message)) + 10
    return env.get_template("badge.svg.j2").render(
        label=label, message=message, color=color, lw=lw, mw=mw, w=lw + mw
    )


def _badges(view: dict[str, Any], title: str) -> dict[str, tuple[str, str, str]]:
    """Badge name → (label, message, verdict key): one overall, one per target."""
    out = {}
    failed = [u for u in view["bad_units"] if u["status"] == "failed"]
    key, msg = badge_for(view["rows"], len(failed))
    out["dtf"] = (title, msg, key)
    for target in view["targets"]:
        rows = [r for r in view["rows"] if r["target"] == target]
        n_failed = sum(1 for u in failed if u["unit"].rpartition("@")[2] == target)
        key, msg = badge_for(rows, n_failed)
        out[f"target-{safe_name(target)}"] = (f"{title} {target}", msg, key)
    return out


def _write(path: Path, text: str) -> Path:
    """Write through a temporary file so a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_report(
    verdicts: dict[str, Any],
    report_dir: Path,
    *,
    title: str = "dtf",
    run_url: str | None = None,
    max_comment_chars: int = 60000,
    max_summary_bytes: int = 1_000_000,
) -> dict[str, Path]:
    """Write report.md, summary.md, index.html and badges; return them by relative path.

    Keys are POSIX paths relative to ``report_dir`` (``"report.md"``, ``"badges/dtf.svg"``).
    ``verdicts.json`` itself is written by the caller.
    """
    report_dir = Path(report_dir)
    written: dict[str, Path] = {}

    def put(rel: str, text: str) -> None:
        written[rel] = _write(report_dir / rel, text)

    view = _view(verdicts, title, run_url)
    put("report.md", _markdown(verdicts, view, "report.md.j2", max_comment_chars, len))
    put("summary.md", _markdown(verdicts, view, "summary.md.j2", max_summary_bytes, _bytes))
    side_files: dict[str, str] = {}
    try:
        if view is None:
            raise ValueError("the verdicts could not be read")
        page, side_files = _dashboard(view)
    except Exception as error:  # noqa: BLE001 - the markdown report is still worth having
        from html import escape

        page = (
            f"<!doctype html><meta charset=utf-8><title>{escape(title)}</title>"
            f"<p>dtf could not render the dashboard: {escape(repr(error))}</p>"
        )
    for stale in (report_dir / "data").glob("history-*.js"):  # an earlier, larger report's
        if f"data/{stale.name}" not in side_files:
            stale.unlink(missing_ok=True)
    for rel, text in side_files.items():
        put(rel, text)
    put("index.html", page)
    try:
        badges = _badges(view, title) if view is not None else {"dtf": (title, "unknown", "none")}
    except Exception:  # noqa: BLE001 - a grey badge beats a failed run
        badges = {"dtf": (title, "unknown", "none")}
    for name, (label, message, key) in badges.items():
        hex_color, named = BADGE_COLOR.get(key, BADGE_COLOR["none"])
        put(f"badges/{name}.svg", render_badge(label, message, hex_color))
        endpoint = {"schemaVersion": 1, "label": label, "message": message, "color": named}
        put(f"badges/{name}.json", json.dumps(endpoint, ensure_ascii=False) + "\n")
    return written
