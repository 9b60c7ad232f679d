"""The example Jenkinsfile under npm-groovy-lint (CodeNarc, with Groovy's own parser).

No Jenkins runs offline, so this is the closest to running it: the file must parse as
Groovy and hold no error-level finding. A deliberately broken copy is linted in the same
call, so a linter that silently checks nothing fails this test instead of passing it.
Style findings (indentation, `def` without a type, nesting depth) are CodeNarc's taste for
Groovy classes, not Jenkins' declarative pipelines, and are not asserted.

Needs npm-groovy-lint and Node >= 22 under .ci/node, and Java (``.ci/run`` installs them);
skips, saying which is missing, without them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.node_tools import NODE_MODULES, node22

# one JVM start for both files: a minute or two on a busy machine
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

LINTER = NODE_MODULES / "npm-groovy-lint" / "lib" / "index.js"
EXAMPLE = REPO / "examples" / "jenkins" / "Jenkinsfile"


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """npm-groovy-lint's findings for the example and for a broken copy, by file."""
    if not LINTER.exists():
        pytest.skip("npm-groovy-lint is not installed: .ci/run installs it under .ci/node")
    if shutil.which("java") is None:
        pytest.skip("java is not installed (npm-groovy-lint runs CodeNarc on it): .ci/run "
                    "installs default-jre-headless")
    node = node22("npm-groovy-lint")
    root = tmp_path_factory.mktemp("lint")
    (root / "example").mkdir()
    (root / "broken").mkdir()
    text = EXAMPLE.read_text(encoding="utf-8")
    (root / "example" / "Jenkinsfile").write_text(text, encoding="utf-8")
    assert "\n  stages {\n" in text
    (root / "broken" / "Jenkinsfile").write_text(text.replace("\n  stages {\n", "\n  stages {{\n", 1),
                                                 encoding="utf-8")
    # --noserver: no CodeNarc server left listening on a port after the test
    proc = subprocess.run([node, str(LINTER), "--noserver", "--output", "json", "--failon", "none",
                           "example/Jenkinsfile", "broken/Jenkinsfile"],
                          cwd=root, capture_output=True, text=True, timeout=840, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    by_file = {Path(name).parent.name: found["errors"] for name, found in report["files"].items()}
    assert set(by_file) == {"example", "broken"}, report["files"].keys()
    return by_file


def test_the_example_jenkinsfile_has_no_lint_errors(findings: dict[str, list[dict]]) -> None:
    errors = [f for f in findings["example"] if f["severity"] == "error"]
    assert errors == [], errors


def test_the_linter_finds_a_parse_error(findings: dict[str, list[dict]]) -> None:
    errors = [f for f in findings["broken"] if f["severity"] == "error"]
    assert [f["rule"] for f in errors] == ["NglParseError"], errors


def test_no_empty_or_untyped_catch_in_the_example(findings: dict[str, list[dict]]) -> None:
    """`catch (e)` in a pipeline also swallows an abort or a timeout (FlowInterruptedException):
    the example catches only what unstash throws for a missing stash."""
    assert not [f for f in findings["example"] if f["rule"] == "EmptyCatchBlock"]
    catches = re.findall(r"\}\s*catch \(([^)]*)\)", EXAMPLE.read_text(encoding="utf-8"))
    assert catches and all(c == "hudson.AbortException e" for c in catches), catches
