"""The runner side needs only the core install: PyYAML, DuckDB, psutil and the stdlib.

Every shard job installs dtf, so every dependency the runner does not use costs install time
on every job (and on GPU runners without internet, a wheel someone must carry). These tests
run `dtf plan` and `dtf run` in a fresh interpreter where importing any optional extra's
module raises, so a stray top-level `import numpy` on the run path fails here first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO

# Top-level modules of the `providers` and `aggregate` extras (pyproject.toml).
EXTRA_MODULES = ["numpy", "scipy", "sklearn", "jinja2", "rich", "requests", "github", "gitlab",
                 "pandas", "playwright"]
CORE_DISTRIBUTIONS = {"pyyaml", "duckdb", "psutil"}

# the suites below use POSIX shell commands (cp, true)
pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX shell commands in the suite")

_BLOCKER = textwrap.dedent("""
    import importlib.abc, sys
    BLOCKED = set(sys.argv[1].split(","))

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    for mod in list(sys.modules):  # nothing may be pre-imported by site hooks either
        if mod.split(".")[0] in BLOCKED:
            del sys.modules[mod]
    from dtf_ci.cli import main
    code = main(sys.argv[2:])
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not leaked, leaked
    sys.exit(code)
""")

SUITE = """\
version: 1
targets:
  box:
    runs-on: [self-hosted, linux]
defaults: {repeat: 2, timeout: 1m, retries: 0}
tasks:
  - id: prepare
    run: python3 -c "import os; os.makedirs('data', exist_ok=True); open('data/x', 'w').write('1')"
    produces: [data/]
  - id: custom
    run: cp fixtures/custom_smaller.json {results}
    format: custom-smaller-is-better
    depends-on: [prepare]
  - id: gbench
    run: cp fixtures/google_benchmark.json {results}
    format: google-benchmark
  - id: pytestbench
    run: cp fixtures/pytest_benchmark.json {results}
    format: pytest-benchmark
  - id: hyper
    run: cp fixtures/hyperfine.json {results}
    format: hyperfine
  - id: junit
    run: cp fixtures/junit_pytest.xml {results}
    format: junit
  - id: plain
    run: "true"
  - id: broken
    run: exit 3
"""


def _dtf_blocked(args: list[str], cwd: Path, env_extra: dict[str, str] | None = None,
                 blocked: list[str] = EXTRA_MODULES) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "GITLAB_", "CI_", "RUNNER_"))}
    env["PYTHONPATH"] = str(REPO)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", _BLOCKER, ",".join(blocked), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    (tmp_path / "dtf.yml").write_text(SUITE, encoding="utf-8")
    shutil.copytree(REPO / "tests" / "data" / "formats", tmp_path / "fixtures")
    return tmp_path


def test_plan_and_run_a_shard_without_any_extra(suite_dir: Path) -> None:
    gh_out = suite_dir / "gh_output"
    gh_env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(gh_out),
              "GITHUB_STEP_SUMMARY": str(suite_dir / "summary"), "GITHUB_RUN_ID": "77",
              "GITHUB_RUN_ATTEMPT": "1", "GITHUB_REPOSITORY": "o/r", "GITHUB_SHA": "a" * 40}
    plan = _dtf_blocked(["plan", "--suite", "dtf.yml", "--out", "plan.json",
                         "--runners", "github"], suite_dir, gh_env)
    assert plan.returncode == 0, plan.stderr
    assert "matrix-1<<" in gh_out.read_text()
    shards = [s["id"] for s in json.loads((suite_dir / "plan.json").read_text())["shards"]]
    assert shards

    for sid in shards:
        run = _dtf_blocked(["run", "--plan", "plan.json", "--shard", sid, "--out", "out"],
                           suite_dir, gh_env)
        # exit 1: the `broken` task failed as the suite says; the shard is still written
        assert run.returncode in (0, 1), run.stderr
        assert (suite_dir / "out" / f"{sid}.duckdb").is_file()
        assert (suite_dir / "out" / f"{sid}.manifest.json").is_file()

    import duckdb

    statuses = {}
    for db in (suite_dir / "out").glob("*.duckdb"):
        with duckdb.connect(str(db), read_only=True) as con:
            statuses.update(dict(con.execute("SELECT task, status FROM units").fetchall()))
    # the google-benchmark and JUnit fixtures hold failing cases: parsed, hence `failed`
    assert statuses == {"prepare": "passed", "custom": "passed", "gbench": "failed",
                        "pytestbench": "passed", "hyper": "passed", "junit": "failed",
                        "plain": "passed", "broken": "failed"}


def test_aggregate_without_its_extra_names_the_extra(suite_dir: Path) -> None:
    assert _dtf_blocked(["plan", "--suite", "dtf.yml", "--out", "plan.json"], suite_dir).returncode == 0
    _dtf_blocked(["run", "--plan", "plan.json", "--shard", "box-w1-1", "--out", "shards"], suite_dir)
    proc = _dtf_blocked(["aggregate", "--shards", "shards", "--plan", "plan.json",
                         "--report-dir", "rep"], suite_dir)
    assert proc.returncode == 2
    assert "'aggregate' extra" in proc.stderr and "dtf-ci[aggregate]" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_listing_runners_without_the_providers_extra_names_it(suite_dir: Path) -> None:
    proc = _dtf_blocked(["plan", "--suite", "dtf.yml", "--runners", "github"], suite_dir,
                        {"DTF_RUNNERS_TOKEN": "t", "GITHUB_API_URL": "http://127.0.0.1:9",
                         "GITHUB_REPOSITORY": "o/r"})
    assert proc.returncode == 2, proc.stderr
    assert "'providers' extra" in proc.stderr


def test_core_dependencies_are_only_what_the_runner_uses() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    assert names == CORE_DISTRIBUTIONS
    extras = project["optional-dependencies"]
    assert {"providers", "aggregate"} <= set(extras)
