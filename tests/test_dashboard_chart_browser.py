"""The per-series history chart and task groups, end to end, in real headless Chromium.

A real history is built by real ``aggregate`` runs on the main line of a GitHub repository
(shards written by dtf, a plan whose tasks carry suite groups): one series steps from 1.0 s to
1.3 s half-way. The dashboard of the last run must mark that change point, shade the baseline
window the comparison used, link every history point to its commit, and group and filter by
the suite's task group. A second report made of hostile names must stay inert. Screenshots
land in the test's folder (and in ``DTF_SCREENSHOT_DIR`` when set).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dtf_ci.aggregate import aggregate
from dtf_ci.providers import RunContext
from dtf_ci.report import write_report
from tests.helpers import make_plan
from tests.test_aggregate import noisy, shard

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
REPO = "octo/bench"
STEP_AT = 6  # runs 0..5 at 1.0 s, runs 6.. at 1.3 s
RUNS = 12  # the report of run 12 has runs 0..11 in its history


def sha(i: int) -> str:
    return hashlib.sha1(f"commit {i}".encode()).hexdigest()


def keep(shot: Path) -> None:
    target = os.environ.get("DTF_SCREENSHOT_DIR")
    if target:  # a copy for a person to look at
        Path(target).mkdir(parents=True, exist_ok=True)
        Path(target, shot.name).write_bytes(shot.read_bytes())


@pytest.fixture(scope="module")
def stepped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The report folder of run 12 and its verdicts: history of 12 main-line runs."""
    root = tmp_path_factory.mktemp("stepped")
    history = root / "history"
    result = None
    for i in range(RUNS + 1):
        run_id = f"r{i:02d}"
        out = root / f"shards-{i}"
        level = 1.0 if i < STEP_AT else 1.3
        shard(out, "local-w1-1", run_id, {("sort", "real_time"): noisy(level, seed=100 + i),
                                          ("matmul", "real_time"): noisy(2.0, seed=300 + i),
                                          ("plain", "real_time"): noisy(3.0, seed=500 + i)})
        plan = make_plan(root, {t: {"run": "true"} for t in ("sort", "matmul", "plain")}, run_id=run_id)
        plan["tasks"]["sort"]["group"] = "cpu-bench"
        plan["tasks"]["matmul"]["group"] = "gpu"
        ctx = RunContext(provider="github", repo=REPO, sha=sha(i), branch="main", default_branch="main",
                         event="push", extra={"server_url": "https://github.com"})
        result = aggregate(out, root / f"report-{i}", plan=plan, history_spec=str(history), context=ctx,
                           append="always")
    assert result is not None
    return root / f"report-{RUNS}", result.verdicts


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


def open_page(browser: Any, folder: Path) -> Any:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = context.new_page()
    pg.errors, pg.requests = [], []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.goto((folder / "index.html").as_uri())
    return pg


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as _expect

    return _expect(locator)


def test_aggregate_records_change_points_window_commits_and_groups(stepped: tuple[Path, dict[str, Any]]) -> None:
    _, verdicts = stepped
    rows = {r["task"]: r for r in verdicts["series"]}
    sort = rows["sort"]
    (cp,) = sort["change_points"]
    assert cp["run-id"] == f"r{STEP_AT:02d}" and cp["sha"] == sha(STEP_AT) and cp["kind"] == "regression"
    assert cp["commit-range"]["to"] == sha(STEP_AT)
    assert sort["baseline_window"] == {"from-run": f"r{STEP_AT:02d}", "to-run": f"r{RUNS - 1:02d}",
                                       "runs": RUNS - STEP_AT}
    assert rows["matmul"]["change_points"] == [] and rows["plain"]["change_points"] == []
    assert (sort.get("group"), rows["matmul"].get("group"), rows["plain"].get("group")) == ("cpu-bench", "gpu", None)
    assert verdicts["history-runs"][f"r{STEP_AT:02d}"]["sha"] == sha(STEP_AT)
    assert len(verdicts["history-runs"]) == RUNS
    assert verdicts["repository"] == {"provider": "github", "server-url": "https://github.com", "repo": REPO}


def test_chart_marks_the_step_shades_the_window_and_links_commits(browser: Any, stepped: tuple[Path, dict[str, Any]],
                                                                   tmp_path: Path) -> None:
    folder, _ = stepped
    pg = open_page(browser, folder)
    try:
        pg.fill("#f-search", "sort")
        expect(pg.locator("#series tbody tr")).to_have_count(1)
        pg.locator("#series tbody tr").first.click()
        chart = pg.locator("#detail svg.chart")
        chart.wait_for()
        # The change point: one marker before the first run on the new level, a regression.
        marks = chart.locator("g.cpmark")
        assert marks.count() == 1
        assert marks.first.get_attribute("data-run") == f"r{STEP_AT:02d}"
        assert "k-regression" in (marks.first.get_attribute("class") or "")
        points = chart.locator("circle.hpt")
        assert points.count() == RUNS
        xs = [float(points.nth(i).get_attribute("cx") or 0) for i in range(RUNS)]
        line_x = float(marks.first.locator("line.cp").get_attribute("x1") or 0)
        assert xs[STEP_AT - 1] < line_x < xs[STEP_AT]
        # The baseline window: a band over exactly the runs after the change.
        band = chart.locator("rect.bwin")
        assert band.count() == 1
        x0 = float(band.get_attribute("x") or 0)
        x1 = x0 + float(band.get_attribute("width") or 0)
        inside = [i for i, x in enumerate(xs) if x0 <= x <= x1]
        assert inside == list(range(STEP_AT, RUNS))
        assert "Baseline window (shaded): 6 runs" in pg.locator("#detail .window").first.inner_text()
        # Every history point links to its commit on GitHub.
        links = chart.locator("a.hlink")
        assert links.count() == RUNS
        assert [links.nth(i).get_attribute("href") for i in range(RUNS)] == [
            f"https://github.com/{REPO}/commit/{sha(i)}" for i in range(RUNS)]
        # The change point's row: size, confidence and the commits it landed in.
        row = pg.locator("#detail .cps tr.cp-row")
        assert row.count() == 1
        text = row.inner_text()
        assert "regression" in text and "+3" in text  # about +30 %
        rng = row.locator("a.range")
        assert rng.get_attribute("href") == f"https://github.com/{REPO}/compare/{sha(STEP_AT - 1)}...{sha(STEP_AT)}"
        assert pg.locator("#detail a.head-commit").get_attribute("href") == f"https://github.com/{REPO}/commit/{sha(RUNS)}"
        assert pg.locator("#commit-link").get_attribute("href") == f"https://github.com/{REPO}/commit/{sha(RUNS)}"
        legend = pg.locator("#detail .legend").inner_text()
        assert "baseline window" in legend and "change point" in legend
        shot = tmp_path / "chart-change-point.png"
        pg.locator("#detail").screenshot(path=str(shot))
        assert shot.stat().st_size > 5_000
        keep(shot)
        # A flat series: no marker, said in words.
        pg.fill("#f-search", "matmul")
        expect(pg.locator("#series tbody tr")).to_have_count(1)
        pg.locator("#series tbody tr").first.click()
        expect(pg.locator("#detail h2")).to_contain_text("matmul")
        assert pg.locator("#detail svg.chart g.cpmark").count() == 0
        assert "No change of level in these 12 runs" in pg.locator("#detail").inner_text()
        assert pg.errors == []
        assert pg.requests == [(folder / "index.html").as_uri()]  # links are links, nothing fetched
    finally:
        pg.context.close()


def test_group_by_and_filter_by_task_group(browser: Any, stepped: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    folder, _ = stepped
    pg = open_page(browser, folder)
    try:
        options = pg.locator("#f-taskgroup option").all_inner_texts()
        assert options == ["all groups", "cpu-bench", "gpu", "(no group)"]
        pg.select_option("#f-taskgroup", "gpu")
        expect(pg.locator("#shown")).to_have_text("1 of 3 series")
        assert pg.locator("#series tbody tr td:nth-child(2)").all_inner_texts() == ["matmul"]
        pg.select_option("#f-taskgroup", "(none)")
        assert pg.locator("#series tbody tr td:nth-child(2)").all_inner_texts() == ["plain"]
        pg.select_option("#f-taskgroup", "")
        pg.select_option("#f-group", "group")
        heads = pg.locator("#series tbody tr.group")
        expect(heads).to_have_count(3)
        names = [heads.nth(i).get_attribute("data-group") for i in range(3)]
        assert names == ["cpu-bench", "gpu", "(no group)"]  # worst first, then by name; ungrouped last
        gpu = pg.locator('#series tbody tr.group[data-group="gpu"]')
        assert "1 series" in gpu.inner_text()
        gpu.click()  # fold
        expect(pg.locator("#series tbody tr:not(.group)")).to_have_count(2)
        gpu.click()  # unfold
        expect(pg.locator("#series tbody tr:not(.group)")).to_have_count(3)
        shot = tmp_path / "group-by-task-group.png"
        pg.screenshot(path=str(shot))
        keep(shot)
        assert pg.errors == []
    finally:
        pg.context.close()


def test_hostile_names_and_addresses_stay_inert(browser: Any, tmp_path: Path) -> None:
    evil = '"><img src=x onerror=alert(1)>'
    runs = [f"r{i}" for i in range(8)] + ["__proto__", "javascript:alert(1)"]
    verdicts = {
        "schema": "dtf.verdicts/1", "run-id": "x", "sha": "javascript:alert(2)",
        "repository": {"provider": "github", "server-url": "https://github.com", "repo": "o/r"},
        "history-runs": {**{r: {"sha": "f" * 40} for r in runs[:7]}, "r7": {"sha": "javascript:alert(3)"},
                         "__proto__": {"sha": "e" * 40}, "javascript:alert(1)": {"sha": evil}},
        "series": [{
            "task": evil, "metric": "<script>alert(4)</script>", "target": "cpu", "group": evil,
            "unit": "s", "verdict": "regression", "ratio": 1.3, "baseline_median": 1.0, "current_median": 1.3,
            "current_values": [1.3, 1.31], "history": [{"run-id": r, "median": 1.0 + 0.3 * (i >= 5)} for i, r in enumerate(runs)],
            "baseline_window": {"from-run": "__proto__", "to-run": "javascript:alert(1)", "runs": 2},
            "change_points": [{"run-id": "r5", "before": 1.0, "after": 1.3, "relative": 0.3, "confidence": 0.99,
                               "kind": "regression", "commit-range": {"from": evil, "to": "javascript:alert(5)",
                                                                      "from-run": "r4", "to-run": "r5"}}],
        }],
    }
    write_report(verdicts, tmp_path)
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "<img src=x" not in html and "<script>alert" not in html
    pg = open_page(browser, tmp_path)
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        pg.locator("#series tbody tr").first.click()
        chart = pg.locator("#detail svg.chart")
        chart.wait_for()
        hrefs = [a.get_attribute("href") for a in chart.locator("a").all()]
        assert hrefs == [f"https://github.com/o/r/commit/{'f' * 40}"] * 7 + [f"https://github.com/o/r/commit/{'e' * 40}"]
        assert pg.locator("#detail a.range").count() == 0  # the range's shas are not shas
        assert pg.locator("#detail a.head-commit").count() == 0 and pg.locator("#commit-link").count() == 0
        assert pg.locator("img").count() == 0 and dialogs == []
        assert evil in pg.locator("#detail h2").inner_text()
        assert chart.locator("rect.bwin").count() == 1 and chart.locator("g.cpmark").count() == 1
        pg.select_option("#f-group", "group")
        assert evil in pg.locator("#series tbody tr.group").first.inner_text()
        assert pg.errors == []
    finally:
        pg.context.close()
    assert json.loads(json.dumps(verdicts)) == verdicts  # the report did not change its input


def test_a_history_nobody_examined_is_not_called_flat(browser: Any, tmp_path: Path) -> None:
    """A missing series (or an older verdicts.json) has history but no change_points."""
    verdicts = {"series": [{"task": "gone", "metric": "m", "target": "cpu", "verdict": "missing",
                            "reason": "shard absent", "history": [{"run-id": f"r{i}", "median": 1.0 + i % 2 * 0.01}
                                                                  for i in range(8)]}]}
    write_report(verdicts, tmp_path)
    pg = open_page(browser, tmp_path)
    try:
        pg.locator("#series tbody tr").first.click()
        pg.locator("#detail svg.chart").wait_for()
        assert pg.locator("#detail svg.chart circle.hpt").count() == 8
        assert "No change of level" not in pg.locator("#detail").inner_text()
        assert pg.locator("#detail svg.chart rect.bwin").count() == 0  # it was compared with nothing
        assert pg.errors == []
    finally:
        pg.context.close()
