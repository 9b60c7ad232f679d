"""What the history chart marks: change points, the baseline window, commit links, task groups."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtf_ci.changepoints import baseline_change, detect_changes
from dtf_ci.history_marks import (
    annotate_groups,
    changes_and_window,
    commit_links,
    history_runs,
    is_sha,
    repository_of,
)
from dtf_ci.providers import RunContext
from dtf_ci.report_format import build_view


def _series(draw: Any) -> list[float]:
    n = draw(st.integers(0, 70))
    level = draw(st.floats(0.5, 100))
    steps = draw(st.lists(st.tuples(st.integers(0, 70), st.floats(-0.5, 1.0)), max_size=3))
    noise = draw(st.floats(0.0, 0.05))
    rng = random.Random(draw(st.integers(0, 2**32)))
    out = []
    for i in range(n):
        shift = sum(s for at, s in steps if i >= at)
        out.append(level * (1 + shift) * (1 + rng.gauss(0, noise)))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_one_detector_call_gives_baseline_changes_own_answer(data: Any) -> None:
    medians = _series(data.draw)
    min_runs = data.draw(st.integers(1, 5))
    max_runs = data.draw(st.integers(min_runs, 25))
    changes, start, moved = changes_and_window(medians, min_runs=min_runs, max_runs=max_runs)
    assert (start, moved) == baseline_change(medians, min_runs=min_runs, max_runs=max_runs)
    assert changes == (detect_changes(medians, min_size=min_runs) if len(medians) >= 2 * min_runs else [])


def test_a_known_step_is_a_change_and_starts_the_window() -> None:
    rng = random.Random(3)
    medians = [1.0 * (1 + rng.gauss(0, 0.005)) for _ in range(15)] + [1.3 * (1 + rng.gauss(0, 0.005)) for _ in range(10)]
    changes, start, moved = changes_and_window(medians)
    assert [c.index for c in changes] == [15]
    assert start == 15 and moved is not None and moved.index == 15


def test_commit_links_for_github_and_gitlab_only_from_plain_names() -> None:
    gh = commit_links({"provider": "github", "server-url": "https://github.com/", "repo": "octo/bench"})
    assert gh == {"commit": "https://github.com/octo/bench/commit/", "compare": "https://github.com/octo/bench/compare/"}
    gl = commit_links({"provider": "gitlab", "server-url": "https://gitlab.example:8443/git", "repo": "grp/sub/proj"})
    assert gl["commit"] == "https://gitlab.example:8443/git/grp/sub/proj/-/commit/"
    for hostile in (
        {"provider": "github", "server-url": "javascript:alert(1)//", "repo": "a/b"},
        {"provider": "github", "server-url": "https://github.com", "repo": "a/b\" onmouseover=\"x"},
        {"provider": "github", "server-url": "https://github.com", "repo": "../../evil/x"},
        {"provider": "github", "server-url": "https://github.com", "repo": "a/b/../c"},
        {"provider": "github", "server-url": "https://github.com", "repo": "single"},
        {"provider": "github", "server-url": "//evil.example", "repo": "a/b"},
        {"provider": "github", "server-url": "https://evil.example/x?y=1", "repo": "a/b"},
        {"provider": "bitbucket", "server-url": "https://bitbucket.org", "repo": "a/b"},
        {"provider": "github", "server-url": "https://github.com", "repo": ["a", "b"]},
        "https://github.com/a/b", None,
    ):
        assert commit_links(hostile) == {}, hostile


@pytest.mark.parametrize("text, ok", [("0123abc", True), ("a" * 40, True), ("A1B2C3D4", True), ("abc", False),
                                      ("javascript:alert(1)", False), ("g" * 40, False), ("a" * 65, False),
                                      (None, False), (1234567, False)])
def test_is_sha(text: Any, ok: bool) -> None:
    assert is_sha(text) is ok


def test_repository_of_each_provider() -> None:
    gh = RunContext(provider="github", repo="o/r", extra={"server_url": "https://ghe.example"})
    assert repository_of(gh) == {"provider": "github", "server-url": "https://ghe.example", "repo": "o/r"}
    assert repository_of(RunContext(provider="github", repo="o/r"))["server-url"] == "https://github.com"  # type: ignore[index]
    gl = RunContext(provider="gitlab", repo="g/p", api_url="https://gitlab.example/api/v4")
    assert repository_of(gl) == {"provider": "gitlab", "server-url": "https://gitlab.example", "repo": "g/p"}
    jk = RunContext(provider="jenkins", repo="o/r", extra={"git_url": "git@github.com:o/r.git"})
    assert repository_of(jk) == {"provider": "github", "server-url": "https://github.com", "repo": "o/r"}
    assert repository_of(RunContext(provider="jenkins", repo="o/r", extra={"git_url": "https://git.corp/o/r"})) is None
    assert repository_of(RunContext(provider="local")) is None


def test_history_runs_once_per_run_and_groups_from_the_plan() -> None:
    rows: list[dict[str, Any]] = [
        {"task": "a", "history": [{"run-id": "r1", "median": 1}, {"run-id": "r2", "median": 1}]},
        {"task": "b", "history": [{"run-id": "r2", "median": 1}, "junk"]},
        {"task": "c", "history": []},
    ]
    assert history_runs(rows, {"r1": "s1"}, {"r2": "2026-01-02T00:00:00Z"}) == {
        "r1": {"sha": "s1", "created-at": ""}, "r2": {"sha": "", "created-at": "2026-01-02T00:00:00Z"}}
    annotate_groups(rows, {"tasks": {"a": {"group": "gpu"}, "b": {"group": None}, "c": "junk"}})
    assert [r.get("group") for r in rows] == ["gpu", None, None]
    annotate_groups(rows, None)  # no plan: nothing to say, nothing raised


def test_view_carries_changes_window_links_and_groups() -> None:
    sha = "ab" * 20
    verdicts = {
        "sha": sha, "repository": {"provider": "github", "server-url": "https://github.com", "repo": "o/r"},
        "history-runs": {"r1": {"sha": "1" * 40}, "r2": {"sha": "2" * 40}, 5: "junk"},
        "series": [
            {"task": "t", "metric": "m", "target": "cpu", "group": "gpu", "verdict": "unchanged",
             "history": [{"run-id": f"r{i}", "median": 1.0} for i in range(1, 5)],
             "baseline_window": {"from-run": "r3", "to-run": "r4", "runs": 2},
             "change_points": [{"run-id": "r3", "before": 1.0, "after": 1.3, "relative": 0.3, "sigmas": 9.0,
                                "confidence": 0.999, "kind": "regression",
                                "commit-range": {"from": "2" * 40, "to": "3" * 40, "from-run": "r2", "to-run": "r3"}},
                               "junk", {"run-id": 7}]},
            {"task": "old", "metric": "m", "target": "cpu", "verdict": "unchanged", "baseline_runs": 2,
             "history": [{"run-id": f"r{i}", "median": 1.0} for i in range(1, 5)]},
            {"task": "ab", "metric": "m", "target": "cpu", "verdict": "unchanged", "baseline": "interleaved",
             "baseline_runs": 2, "history": [{"run-id": "r1", "median": 1.0}]},
        ],
    }
    view = build_view(verdicts)
    rows = {r["task"]: r for r in view["rows"]}
    assert rows["t"]["window"] == ["r3", "r4"] and rows["old"]["window"] == ["r3", "r4"]
    assert rows["ab"]["window"] is None
    assert rows["old"]["changes"] is None  # not looked for: not "no change"
    (c,) = rows["t"]["changes"]
    assert c["run"] == "r3" and c["from_sha"] == "2" * 40 and c["kind"] == "regression"
    assert rows["t"]["group"] == "gpu" and rows["old"]["group"] == "" and view["groups"] == ["gpu"]
    assert view["history_runs"] == {"r1": "1" * 40, "r2": "2" * 40}
    assert view["commit_url"] == f"https://github.com/o/r/commit/{sha}"
    hostile = build_view({**verdicts, "sha": "javascript:alert(1)"})
    assert hostile["commit_url"] == ""
