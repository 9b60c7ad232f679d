"""The data of the dashboard (``index.html``) and its on-demand side files.

A year of history for 20,000 series is tens of megabytes: embedded, the page takes seconds
to parse before anything shows. Up to :data:`INLINE_SERIES_MAX` series everything is inline
(one file); above it the page keeps only the index (names, verdicts, figures, the task group)
and the heavy part of each series — its history, this run's samples, the change points found
in its history and its baseline window — lives in ``data/history-N.js``, a script that calls
``dtfHistory(N, {...})``. Script files, not ``fetch``: browsers refuse ``fetch`` of
``file://`` URLs, and the dashboard must work from a downloaded artifact as well as from
GitHub Pages.

Everything here is data from shards and history, hence hostile: it is serialized as JSON that
cannot close its ``<script>`` element, the page builds its DOM with ``textContent`` only, and
links carry only addresses :func:`dtf_ci.history_marks.commit_links` built.
"""

from __future__ import annotations

import json
from typing import Any

INLINE_SERIES_MAX = 2000
"""Up to this many series the dashboard is one file; above it, histories go to side files."""

HISTORY_CHUNK = 500
"""Series per history side file (``data/history-N.js``): a click loads one ~100-300 KB file."""

INDEX_KEYS = (
    "task", "metric", "target", "unit", "verdict", "direction", "change", "change_text",
    "ci_text", "p_text", "p_value", "baseline_text", "current_text", "baseline", "current",
    "baseline_n", "current_n", "reason", "scale",
)
"""What every series has in the first view: enough to list, sort, filter and compare it."""

HEAVY_KEYS = ("history", "current_values", "changes", "window")
"""What only the chart needs, loaded when a series is opened (above INLINE_SERIES_MAX)."""


def json_for_script(data: Any) -> str:
    """JSON that is safe inside ``<script>``: no ``</script>``, ``<!--`` or line separators."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, esc in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(ch, esc)
    return text


def page_data(view: dict[str, Any], inline_max: int | None = INLINE_SERIES_MAX) -> tuple[dict[str, Any], dict[str, str]]:
    """The page's embedded data, and the side files (relative path -> text).

    Series are columns, not objects (20,000 copies of 19 key names would be half of the
    page); a series' task group is a number into ``groups`` for the same reason.
    """
    rows = view["rows"]
    split = inline_max is not None and len(rows) > inline_max
    keys = INDEX_KEYS if split else INDEX_KEYS + HEAVY_KEYS
    groups: list[str] = view.get("groups") or sorted({r.get("group") or "" for r in rows} - {""})
    number = {g: i + 1 for i, g in enumerate(groups)}  # 0: no group
    series = [[r[k] for k in keys] + [number.get(r.get("group") or "", 0)] for r in rows]
    side: dict[str, str] = {}
    if split:
        for start in range(0, len(rows), HISTORY_CHUNK):
            chunk = start // HISTORY_CHUNK
            part = {str(i): {k: rows[i][k] for k in HEAVY_KEYS}
                    for i in range(start, min(start + HISTORY_CHUNK, len(rows)))}
            side[f"data/history-{chunk}.js"] = f"dtfHistory({chunk},{json_for_script(part)});\n"
    data = {
        "fields": [*keys, "gi"],
        "series": series,
        "groups": groups,
        "split": HISTORY_CHUNK if split else 0,
        # run id -> commit sha, for the chart's links (bounded by the runs history keeps: 30)
        "runs": view.get("history_runs") or {},
        "links": view.get("links") or {},
        "sha": view.get("sha") or "",
        "units": view["bad_units"],
        "rejected": view["rejected"],
        "absent": view["absent"],
        "drift": view["drift"],
        "counts": view["counts"],
        "overall": view["overall"],
    }
    return data, side


def render(view: dict[str, Any], env: Any, inline_max: int | None = INLINE_SERIES_MAX) -> tuple[str, dict[str, str]]:
    """``index.html`` and its side files, rendered with the report's Jinja2 environment."""
    from markupsafe import Markup

    data, side = page_data(view, inline_max)
    page = env.get_template("index.html.j2").render(v=view, data_json=Markup(json_for_script(data)))
    return page, side
