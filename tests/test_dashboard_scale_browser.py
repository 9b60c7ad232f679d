"""The dashboard of a 20,000-series monorepo in real headless Chromium, opened from disk.

Above INLINE_SERIES_MAX series the page holds only the index and histories load on demand
from ``data/history-N.js`` script files (``fetch`` is refused on ``file://``). Checked here:
the first view's size and requests, paging, search, filters, grouping, the per-series chart
loaded on click, the across-targets comparison, no console errors, and a screenshot.
Speed is measured by benchmarks/bench_dashboard.py, not asserted here.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dtf_ci.report import HISTORY_CHUNK, write_report

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
TARGETS = ["cpu", "a100", "h100", "mac"]
N_TASKS = 5000  # x 4 targets = 20,000 series


STEP_RUN = 22  # series with a step in their history move to a new level at this run


def run_id(k: int) -> str:
    return f"2026-{k:03d}"


def monorepo(n_tasks: int = N_TASKS, runs: int = 30) -> dict[str, Any]:
    """verdicts.json of a 20,000-series run: 40 name prefixes, 25 suite groups, 4 targets,
    500 regressions; every 50th task's history steps up 20 % at run 22 (a change point that
    starts its baseline window), the others' window is their last 10 runs."""
    import hashlib

    rng = random.Random(13)
    shas = {run_id(k): hashlib.sha1(str(k).encode()).hexdigest() for k in range(runs)}
    series = []
    for i in range(n_tasks):
        step = i % 50 == 3
        for target in TARGETS:
            base = 1e-3 * (1 + (i % 97))
            regression = i % 40 == 7
            ratio = 1.25 if regression else 1.0 + rng.uniform(-0.01, 0.01)
            level = [base * (1.2 if step and k >= STEP_RUN else 1.0) for k in range(runs)]
            window = (STEP_RUN if step else runs - 10, runs - 1)
            series.append({
                "task": f"g{i % 40:02d}.bench_{i:05d}", "metric": "real_time", "target": target,
                "group": f"team-{i % 25:02d}",
                "unit": "s", "direction": "lower", "verdict": "regression" if regression else "unchanged",
                "ratio": ratio, "ci_low": ratio - 0.01, "ci_high": ratio + 0.01,
                "p_value": 1e-5 if regression else 0.4, "baseline_median": level[-1],
                "current_median": level[-1] * ratio, "baseline_n": 20, "current_n": 5,
                "current_values": [level[-1] * ratio * rng.uniform(0.99, 1.01) for _ in range(5)],
                "history": [{"run-id": run_id(k), "median": level[k] * rng.uniform(0.98, 1.02)}
                            for k in range(runs)],
                "baseline_window": {"from-run": run_id(window[0]), "to-run": run_id(window[1]),
                                    "runs": window[1] - window[0] + 1},
                "change_points": [{
                    "run-id": run_id(STEP_RUN), "sha": shas[run_id(STEP_RUN)], "runs-ago": runs - STEP_RUN,
                    "commit-range": {"from": shas[run_id(STEP_RUN - 1)], "to": shas[run_id(STEP_RUN)],
                                     "from-run": run_id(STEP_RUN - 1), "to-run": run_id(STEP_RUN)},
                    "kind": "regression", "index": STEP_RUN, "before": base, "after": base * 1.2,
                    "relative": 0.2, "sigmas": 14.0, "p-value": 1e-9, "confidence": 1 - 1e-9, "trend": False,
                }] if step else [],
            })
    return {"schema": "dtf.verdicts/1", "run-id": "r-big", "sha": hashlib.sha1(b"head").hexdigest(),
            "series": series, "units": [], "shards": [],
            "history-runs": {r: {"sha": s, "created-at": ""} for r, s in shas.items()},
            "repository": {"provider": "github", "server-url": "https://github.com", "repo": "big/monorepo"}}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("monorepo")
    write_report(monorepo(), folder)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium package")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install playwright")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, report: Path) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.errors, pg.requests = [], []  # type: ignore[attr-defined]
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.goto((report / "index.html").as_uri())
    yield pg
    context.close()


def expect(locator: Any) -> Any:
    """playwright's expect (polls from Python: the page's CSP forbids evaluated strings)."""
    from playwright.sync_api import expect as _expect

    return _expect(locator)


def rows(pg: Any) -> int:
    return pg.locator("#series tbody tr:not(.group)").count()


def test_first_view_is_small_and_fetches_nothing_else(page: Any, report: Path) -> None:
    assert (report / "index.html").stat().st_size < 5_000_000
    chunks = sorted(report.glob("data/history-*.js"))
    assert len(chunks) == 20_000 // HISTORY_CHUNK
    assert page.requests == [(report / "index.html").as_uri()]
    assert rows(page) == 500
    assert "500 shown, 20000 of 20000 series" in page.locator("#shown").inner_text()
    first = page.locator("#series tbody tr").first.inner_text()
    assert "regression" in first  # worst first
    assert page.errors == []


def test_show_more_search_and_filters(page: Any) -> None:
    page.click("#more")
    assert rows(page) == 1000
    page.fill("#f-search", "bench_00042")
    expect(page.locator("#series tbody tr")).to_have_count(4)
    assert page.locator("#more").is_hidden()
    page.fill("#f-search", "")
    page.select_option("#f-target", "a100")
    page.select_option("#f-verdict", "regression")
    expect(page.locator("#shown")).to_have_text("125 of 20000 series")
    assert rows(page) == 125
    assert set(page.locator("#series tbody tr td:nth-child(4)").all_inner_texts()) == {"a100"}
    assert page.errors == []


def test_group_by_name_prefix_and_target(page: Any) -> None:
    page.select_option("#f-verdict", "regression")
    page.select_option("#f-group", "prefix")
    groups = page.locator("#series tbody tr.group")
    assert groups.count() == 1 and "g07" in groups.first.inner_text()
    assert "500 series · 500 regression" in groups.first.inner_text()
    groups.first.click()  # collapse
    assert rows(page) == 0
    page.select_option("#f-verdict", "")
    page.select_option("#f-group", "target")
    heads = page.locator("#series tbody tr.group").all_inner_texts()
    assert [h.split()[1] for h in heads] == ["a100"]  # one group fills the first page of 500
    assert "5000 series" in heads[0]
    assert page.errors == []


def test_a_click_loads_that_history_and_compares_targets(page: Any, report: Path, tmp_path: Path) -> None:
    page.fill("#f-search", "g07.bench_00047")
    expect(page.locator("#series tbody tr")).to_have_count(4)
    page.select_option("#f-target", "h100")
    page.locator("#series tbody tr").first.click()
    chart = page.locator("#detail svg.chart polyline.history")
    chart.wait_for()
    assert len((chart.get_attribute("points") or "").split()) == 30
    assert any(u.endswith(f"data/history-{(47 * 4 + 2) // HISTORY_CHUNK}.js") for u in page.requests)
    hw = page.locator("#detail .hw-table tr")
    assert hw.count() == 5  # header + cpu, a100, h100, mac
    assert "a100" in page.locator("#detail .hw-table").inner_text()
    hw.nth(1).click()  # a100: another target of the same task
    assert "on a100" in page.locator("#detail .where").inner_text()
    page.screenshot(path=str(tmp_path / "dashboard-20000.png"), full_page=False)
    assert (tmp_path / "dashboard-20000.png").stat().st_size > 10_000
    target = os.environ.get("DTF_SCREENSHOT_DIR")
    if target:  # keep a copy for a person to look at
        Path(target, "dashboard-20000.png").write_bytes((tmp_path / "dashboard-20000.png").read_bytes())
    assert page.errors == []


def test_a_missing_side_file_is_said_not_thrown(browser: Any, report: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(report, copy)
    (copy / "data" / "history-0.js").unlink()
    pg = browser.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto((copy / "index.html").as_uri())
    pg.fill("#f-search", "g00.bench_00000")
    expect(pg.locator("#series tbody tr")).to_have_count(4)
    pg.locator("#series tbody tr").first.click()
    pg.locator("#detail p.reason").wait_for()
    assert "could not be loaded" in pg.locator("#detail").inner_text()
    assert errors == []
    pg.close()


def test_task_groups_and_a_change_point_loaded_from_its_side_file(page: Any, report: Path, tmp_path: Path) -> None:
    assert page.locator("#f-taskgroup option").count() == 25 + 2  # all, 25 groups, (no group)
    page.select_option("#f-taskgroup", "team-03")
    expect(page.locator("#shown")).to_have_text("500 shown, 800 of 20000 series")
    page.select_option("#f-group", "group")
    heads = page.locator("#series tbody tr.group")
    assert heads.count() == 1 and heads.first.get_attribute("data-group") == "team-03"
    page.select_option("#f-taskgroup", "")
    page.select_option("#f-group", "")
    page.fill("#f-search", "g03.bench_00003")  # task 3 steps up 20 % at run 22
    expect(page.locator("#series tbody tr")).to_have_count(4)
    page.locator("#series tbody tr").first.click()
    chart = page.locator("#detail svg.chart")
    chart.locator("g.cpmark").wait_for()
    assert chart.locator("g.cpmark").get_attribute("data-run") == "2026-022"
    assert chart.locator("rect.bwin").count() == 1
    assert chart.locator("a.hlink").count() == 30
    href = chart.locator("a.hlink").nth(22).get_attribute("href") or ""
    assert href.startswith("https://github.com/big/monorepo/commit/") and len(href.rsplit("/", 1)[1]) == 40
    assert "+20.0% regression" in page.locator("#detail .cps").inner_text()
    page.screenshot(path=str(tmp_path / "dashboard-20000-change-point.png"))
    target = os.environ.get("DTF_SCREENSHOT_DIR")
    if target:
        Path(target, "dashboard-20000-change-point.png").write_bytes((tmp_path / "dashboard-20000-change-point.png").read_bytes())
    assert page.errors == []
