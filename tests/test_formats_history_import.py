"""``dtf history import --from gab|asv``: one run per commit, oldest first, idempotent, and a
malformed file appends nothing. Real folder stores; the CLI through a real subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dtf_ci.errors import ResultsFormatError, UsageError
from dtf_ci.formats import parse_results
from dtf_ci.history import LocalStore, series_history
from dtf_ci.history_import import import_history

DATA = Path(__file__).parent / "data" / "formats"
GAB_DATA = DATA / "gab" / "data.js"
ASV = DATA / "asv_results"
SHAS = ["5b9d391540071a6949a17630f6e53713d0f91329", "92cdc99c6c6ed652322e0bd18c34a2d201641a81",
        "0889c8d45172e1db2ccc41310690ff47a4cffa0b"]


def samples(store: LocalStore) -> list[tuple[str, str, str, str, str, int, float]]:
    files = [str(p) for p in store.parquet_files("samples")]
    if not files:
        return []
    con = duckdb.connect()
    try:
        return [tuple(r) for r in con.execute(  # type: ignore[misc]
            "SELECT run_id, task, target, metric, direction, repetition, value FROM read_parquet(?) "
            "ORDER BY run_id, task, metric, repetition, value", [files]).fetchall()]
    finally:
        con.close()


def test_gab_data_js_becomes_one_run_per_commit_oldest_first(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "history")
    result = import_history("gab", GAB_DATA, store, target="cpu",
                            tasks=["Go Benchmark=go", "Python Benchmark with pytest-benchmark=py"],
                            branch="main")
    runs = store.runs()
    assert [r.sha for r in runs] == SHAS  # oldest first
    assert [r.run_id for r in runs] == [f"imported-gab-{s}" for s in SHAS] == result.appended
    assert {r.event for r in runs} == {"import"} and {r.branch for r in runs} == {"main"}
    assert runs[0].meta["imported-from"] == "gab" and runs[0].created_at == "2023-06-01T01:46:40Z"
    rows = samples(store)
    second = [r for r in rows if r[0] == runs[1].run_id]
    # The re-run of the second commit is a second repetition of the same series.
    assert [(r[3], r[5], r[6]) for r in second] == [
        ("BenchmarkFib10", 0, 405.0), ("BenchmarkFib10", 1, 399.0),
        ("BenchmarkFib10 - MB/s", 0, 119.0), ("BenchmarkFib10 - MB/s", 1, 121.0)]
    directions = {(r[3], r[4]) for r in rows}
    assert directions == {("BenchmarkFib10", "lower"), ("BenchmarkFib10 - MB/s", "higher"),
                          ("bench.py::test_fib_10", "higher")}
    history = series_history(store, branch="main")
    assert [v for _, v, _ in history[("go", "BenchmarkFib10", "cpu")]] == [401.0, 402.0, 398.0]
    assert len(history[("py", "bench.py::test_fib_10", "cpu")]) == 2


def test_imported_series_are_the_series_the_gab_alias_parses(tmp_path: Path) -> None:
    """A team keeps `format: go`: its new runs continue the imported series by name."""
    store = LocalStore(tmp_path / "history")
    import_history("gab", GAB_DATA, store, target="cpu", tasks=["Go Benchmark=go"], branch="main")
    out = tmp_path / "out.txt"
    out.write_text("goos: linux\nBenchmarkFib10-2   \t 3000000\t       402 ns/op\t 120.0 MB/s\n")
    parsed = {(m.metric, m.direction) for m in parse_results("go", out).measurements}
    imported = {(r[3], r[4]) for r in samples(store) if r[1] == "go"}
    assert parsed == imported


def test_importing_twice_adds_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "history")
    import_history("gab", GAB_DATA, store, target="cpu", tasks=[], branch="main")
    before = samples(store)
    again = import_history("gab", GAB_DATA, store, target="cpu", tasks=[], branch="main")
    assert again.appended == [] and len(again.skipped) == 3
    assert samples(store) == before
    assert {r[1] for r in before} == {"Go-Benchmark", "Python-Benchmark-with-pytest-benchmark"}


@pytest.mark.parametrize(("mutate", "place"), [
    (lambda d: d["entries"]["Go Benchmark"][2]["benches"][0].update(value=float("nan")),
     "entries['Go Benchmark'][2].benches[0].value"),
    (lambda d: d["entries"]["Go Benchmark"][3]["commit"].update(id="not a sha"),
     "entries['Go Benchmark'][3].commit.id"),
    (lambda d: d["entries"]["Python Benchmark with pytest-benchmark"][1].pop("benches"),
     "entries['Python Benchmark with pytest-benchmark'][1].benches"),
    (lambda d: d["entries"]["Go Benchmark"][0].update(date="yesterday"),
     "entries['Go Benchmark'][0].date"),
])
def test_a_malformed_data_js_names_the_place_and_appends_nothing(tmp_path: Path, mutate, place: str) -> None:
    text = GAB_DATA.read_text()
    doc = json.loads(text.split("=", 1)[1].rstrip().rstrip(";"))
    mutate(doc)
    bad = tmp_path / "data.js"
    bad.write_text("window.BENCHMARK_DATA = " + json.dumps(doc) + ";\n")
    store = LocalStore(tmp_path / "history")
    with pytest.raises(ResultsFormatError) as info:
        import_history("gab", bad, store, target="cpu", tasks=[], branch="main")
    assert info.value.place == place
    assert store.runs() == [] and not (tmp_path / "history").exists()


def test_a_truncated_data_js_is_an_error_with_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "data.js"
    bad.write_text(GAB_DATA.read_text()[:900])
    with pytest.raises(ResultsFormatError) as info:
        import_history("gab", bad, LocalStore(tmp_path / "h"), target="cpu", tasks=[], branch="main")
    assert info.value.place.startswith("line ") and "invalid JSON" in info.value.problem


def test_gab_folder_is_searched_for_data_js_and_needs_a_target(tmp_path: Path) -> None:
    pages = tmp_path / "gh-pages" / "dev" / "bench"
    pages.mkdir(parents=True)
    shutil.copy(GAB_DATA, pages / "data.js")
    store = LocalStore(tmp_path / "history")
    assert len(import_history("gab", tmp_path / "gh-pages", store, target="cpu", tasks=[],
                              branch="main").appended) == 3
    with pytest.raises(UsageError, match="--target is required"):
        import_history("gab", GAB_DATA, store, target=None, tasks=[], branch="main")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no data.js"):
        import_history("gab", tmp_path / "empty", store, target="cpu", tasks=[], branch="main")


def test_asv_results_folder_becomes_runs_per_commit_on_the_machine_target(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "history")
    result = import_history("asv", ASV, store, target=None, tasks=[], branch="main")
    runs = store.runs()
    docs = [json.loads(p.read_text()) for p in sorted((ASV / "vm").glob("*-existing-*.json"))]
    expected = sorted(docs, key=lambda d: d["date"])
    assert [r.sha for r in runs] == [d["commit_hash"] for d in expected]
    assert result.appended == [f"imported-asv-{d['commit_hash']}" for d in expected]
    rows = samples(store)
    assert {(r[1], r[2]) for r in rows} == {("asv", "vm")}
    assert "bench.ParamSuite.time_build(10, 'list')" in {r[3] for r in rows}
    assert import_history("asv", ASV, store, target=None, tasks=[], branch="main").appended == []


def test_asv_malformed_results_file_appends_nothing(tmp_path: Path) -> None:
    root = tmp_path / "results"
    shutil.copytree(ASV, root)
    victim = sorted((root / "vm").glob("*-existing-*.json"))[1]
    victim.write_text(victim.read_text()[:500])
    store = LocalStore(tmp_path / "history")
    with pytest.raises(ResultsFormatError) as info:
        import_history("asv", root, store, target="cpu", tasks=["bench"], branch="main")
    assert info.value.path == str(victim) and info.value.place.startswith("line")
    assert store.runs() == []


def _dtf(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dtf_ci", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=180)


def test_cli_history_import_and_its_errors(tmp_path: Path) -> None:
    hist = str(tmp_path / "history")
    out = _dtf("history", "import", "--from", "gab", str(GAB_DATA), "--history", hist,
               "--target", "cpu", "--task", "bench", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "appended 3 runs" in out.stdout and "0 already there" in out.stdout
    again = _dtf("history", "import", "--from", "gab", str(GAB_DATA), "--history", hist,
                 "--target", "cpu", "--task", "bench", cwd=tmp_path)
    assert again.returncode == 0 and "appended 0 runs" in again.stdout and "3 already there" in again.stdout
    bad = tmp_path / "bad.js"
    bad.write_text("window.BENCHMARK_DATA = {\"entries\": {\"x\": [{\"commit\": 1}]}};")
    err = _dtf("history", "import", "--from", "gab", str(bad), "--history", str(tmp_path / "h2"),
               "--target", "cpu", cwd=tmp_path)
    assert err.returncode == 2 and "nothing imported" in err.stderr and "entries['x'][0].commit" in err.stderr
    assert "Traceback" not in err.stderr and not (tmp_path / "h2").exists()
