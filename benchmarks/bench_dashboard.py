"""The dashboard of 20,000 series in real Chromium: size of the first view and time to usable.

    python benchmarks/bench_dashboard.py            # 20,000 series, 3 page loads (goal < 2 s, < 5 MB)
    python benchmarks/bench_dashboard.py --quick    # 4,000 series, one load

Writes the report of a generated 20,000-series run (40 name prefixes, 25 suite task groups,
4 targets, 30 runs of history each, every 50th task with a change point and every series with
its baseline window and commit links) with dtf's own write_report, opens index.html from disk in headless Chromium
(/usr/bin/chromium through playwright) and times, per fresh page: navigation start -> the
first table rows in the DOM ("usable": filters and rows respond), and one click -> the
history chart drawn (its side file loaded, window and change points marked). Prints the bytes the first view reads, the
machine line and the load average: on a shared 2-core machine wall times are inflated.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import load, machine  # noqa: E402
from test_dashboard_scale_browser import monorepo  # noqa: E402

from dtf_ci.report import write_report  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4,000 series, one load")
    args = ap.parse_args()
    tasks, loads = (1000, 1) if args.quick else (5000, 3)
    for line in machine():
        print(line)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        write_report(monorepo(tasks), folder)
        written = time.perf_counter() - t0
        index = folder / "index.html"
        side = sorted(folder.glob("data/history-*.js"))
        print(f"series: {tasks * 4}; report written in {written:.1f} s; index.html {index.stat().st_size / 1e6:.2f} MB "
              f"(the whole first view); {len(side)} history side files, largest "
              f"{max((f.stat().st_size for f in side), default=0) / 1e6:.2f} MB, "
              f"{sum(f.stat().st_size for f in side) / 1e6:.1f} MB in all (loaded one per click)")
        usable, clicked = [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            for _ in range(loads):
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                t0 = time.perf_counter()
                page.goto(index.as_uri(), wait_until="commit")
                page.locator("#series tbody tr").first.wait_for()
                usable.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                page.locator("#series tbody tr").nth(3).click()
                page.locator("#detail svg.chart").wait_for()
                clicked.append(time.perf_counter() - t0)
                page.context.close()
            browser.close()
        print(f"first view usable (navigation -> rows in the table): median {statistics.median(usable):.2f} s of "
              f"{loads} (min {min(usable):.2f}); goal < 2 s; load now {load()}")
        print(f"click -> history chart drawn (side file loaded): median {statistics.median(clicked):.2f} s")
        print("(wall times are inflated whenever the load average exceeds the core count)")


if __name__ == "__main__":
    main()
