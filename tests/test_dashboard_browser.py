"""The dashboard in a real headless Chromium, opened from disk as a user opens an artifact.

It must work from ``file://`` with no network: filters, sorting and the detail chart are
plain JS over the embedded data, and any request the page makes is a bug (a CDN, a font).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dtf_ci.report import write_report

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SAMPLE = Path(__file__).parent / "data" / "verdicts_sample.json"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium package")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install playwright")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


@pytest.fixture
def page(browser: Any, sample: dict[str, Any], tmp_path: Path) -> Iterator[Any]:
    write_report(sample, tmp_path, run_url="https://ci.example/run/7")
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("request", lambda r: requests.append(r.url))
    index = (tmp_path / "index.html").as_uri()
    pg.goto(index)
    pg.errors, pg.requests, pg.index = errors, requests, index  # type: ignore[attr-defined]
    yield pg
    context.close()


def visible_rows(pg: Any) -> int:
    return pg.locator("#series tbody tr:visible").count()


def test_table_lists_every_series_and_filters_hide_rows(page: Any, sample: dict[str, Any]) -> None:
    total = len(sample["series"])
    assert page.locator("#series tbody tr").count() == total
    assert visible_rows(page) == total
    assert page.locator("#shown").inner_text() == f"{total} of {total} series"

    page.select_option("#f-verdict", "regression")
    assert visible_rows(page) == sample["counts"]["regression"] == 2
    page.select_option("#f-verdict", "")

    page.fill("#f-search", "matmul")
    expected = sum(1 for s in sample["series"] if "matmul" in s["task"] + " " + s["metric"])
    assert 0 < visible_rows(page) == expected < total
    page.select_option("#f-target", "a100")
    both = sum(1 for s in sample["series"] if s["task"] == "matmul" and s["target"] == "a100")
    assert visible_rows(page) == both
    page.fill("#f-search", "no-such-series")
    assert visible_rows(page) == 0
    assert page.locator("#empty").is_visible()


def test_verdict_chip_filters_like_the_select(page: Any) -> None:
    page.click('.chip[data-verdict="improvement"]')
    assert visible_rows(page) == 2
    assert page.input_value("#f-verdict") == "improvement"
    page.click('.chip[data-verdict="improvement"]')
    assert visible_rows(page) == page.locator("#series tbody tr").count()


def first_column(pg: Any, column: int) -> list[str]:
    return pg.locator(f"#series tbody tr:visible td:nth-child({column})").all_inner_texts()


def test_sorting_changes_the_order(page: Any) -> None:
    before = first_column(page, 2)
    assert first_column(page, 1)[0] == "failed"  # worst verdict first by default
    page.click('#series th[data-key="task"]')
    ascending = first_column(page, 2)
    assert ascending != before
    assert ascending == sorted(ascending, key=str.lower)
    assert page.get_attribute('#series th[data-key="task"]', "aria-sort") == "ascending"
    page.click('#series th[data-key="task"]')
    descending = first_column(page, 2)
    assert descending == sorted(ascending, key=str.lower, reverse=True) != ascending


def test_clicking_a_series_draws_its_history(page: Any, sample: dict[str, Any]) -> None:
    assert page.locator("#detail").is_hidden()
    regression = next(
        s for s in sample["series"] if s["verdict"] == "regression" and s["target"] == "cpu"
    )
    page.fill("#f-search", regression["metric"])
    page.select_option("#f-target", regression["target"])
    page.locator("#series tbody tr:visible").first.click()
    detail = page.locator("#detail")
    assert detail.is_visible()
    assert regression["metric"] in detail.locator("h2").inner_text()
    chart = detail.locator("svg.chart")
    assert chart.count() == 1
    points = chart.locator("polyline.history").get_attribute("points") or ""
    assert len(points.split()) == len(regression["history"]) == 15
    assert chart.locator("circle.cur").count() == len(regression["current_values"])
    page.keyboard.press("Escape")
    assert detail.is_hidden()


def test_sections_for_units_and_shards(page: Any) -> None:
    units = page.locator("#units").inner_text()
    assert "llm-decode@a100" in units and "timeout" in units
    shards = page.locator("#shards").inner_text()
    assert "a100-w1-2" in shards and "sha256 differs" in shards


def test_no_console_errors_and_no_network(page: Any, tmp_path: Path) -> None:
    page.click('#series th[data-key="change"]')
    page.locator("#series tbody tr").nth(3).click()
    page.set_viewport_size({"width": 420, "height": 900})
    page.locator("#series tbody tr").nth(5).click()
    page.screenshot(path=str(tmp_path / "dashboard-narrow.png"), full_page=True)
    assert page.errors == []
    assert page.requests == [page.index]


def test_odd_reports_still_work(browser: Any, tmp_path: Path) -> None:
    new = {
        "task": "t",
        "metric": "first",
        "target": "cpu",
        "unit": "s",
        "verdict": "new",
        "current_median": 0.5,
        "current_values": [0.4, 0.5, 0.6],
        "history": [],
    }
    for name, doc in (("empty", {}), ("new", {"series": [new]})):
        write_report(doc, tmp_path / name)
        pg = browser.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        pg.goto((tmp_path / name / "index.html").as_uri())
        rows = pg.locator("#series tbody tr")
        assert rows.count() == len(doc.get("series", []))
        if rows.count():
            rows.first.click()
            assert pg.locator("#detail svg.chart circle.cur").count() == 3
            assert pg.locator("#detail svg.chart polyline").count() == 0
        else:
            assert pg.locator("#empty").is_visible()
        assert errors == []
        pg.close()


def test_screenshot_for_review(page: Any, tmp_path: Path) -> None:
    page.locator("#series tbody tr").nth(4).click()
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    target = os.environ.get("DTF_SCREENSHOT")
    if target:  # keep a copy for a person to look at: DTF_SCREENSHOT=/tmp/dash.png
        Path(target).write_bytes(shot.read_bytes())


def test_long_names_keep_the_detail_panel_on_screen_at_1400px(browser: Any, sample: dict[str, Any],
                                                              tmp_path: Path) -> None:
    # pytest ids without spaces used to widen the table and push the panel off the right edge.
    data = json.loads(json.dumps(sample))
    for i, s in enumerate(data["series"]):
        s["task"] = "attrs_nested_" + "t" * 60
        s["metric"] = f"bench/test_attrs_nested.py::test_unstructure_attrs_nested[{'x' * 150}-{i}]"
    write_report(data, tmp_path)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    try:
        pg.goto((tmp_path / "index.html").as_uri())
        pg.locator("#series tbody tr").first.click()
        detail = pg.locator("#detail")
        assert detail.is_visible()
        box = detail.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1400
        assert pg.evaluate("document.documentElement.scrollWidth") <= 1400
        assert "hodges–lehmann" in detail.inner_text().lower()
        pg.screenshot(path=str(tmp_path / "long-names-1400.png"))
    finally:
        context.close()
