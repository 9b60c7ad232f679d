"""Names printed to a CI log never become CI commands (GitHub workflow commands, GitLab
section markers, Jenkins console notes): every line is guarded in ``dtf_ci.log``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dtf_ci import log
from tests.helpers import make_plan
from tests.security.shards import make_shard

EVIL_TASK = "x\n::add-mask::regression\n##[add-mask]regression"
EVIL_METRIC = "case\r\n::error file=a.py::fake failure\x1b[0Ksection_end:0:dtf_x\r\x1b[0K"
EVIL_REASON = "boom\n::warning::injected\n  ::stop-commands::abc\n\x1b]8;;http://evil\x07link"
OURS = {"group", "endgroup", "warning", "error"}


def run_aggregate(tmp_path, env_extra):
    out = tmp_path / "shards"
    make_shard(out, "local-w1-1", task=EVIL_TASK, metric=EVIL_METRIC, reason=EVIL_REASON)
    make_shard(out, "local-w1-2", task="b", metric="m")
    (out / "local-w1-3.duckdb").write_bytes(b"stray\n::add-mask::x")  # rejected, named in the log
    plan = make_plan(tmp_path, {EVIL_TASK: {"run": "true"}, "b": {"run": "true"}, "gone\n::error::x": {"run": "true"}},
                     run_id="r1", shards={"local-w1-1": [EVIL_TASK], "local-w1-2": ["b"], "local-w1-9": ["gone\n::error::x"]})
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "CI", "JENKINS"))}
    env.update(PYTHONPATH=os.getcwd(), **env_extra)
    proc = subprocess.run([sys.executable, "-m", "dtf_ci", "aggregate", "--shards", str(out), "--plan", str(plan_path),
                           "--report-dir", str(tmp_path / "report"), "--fail-on", "never"],
                          capture_output=True, env=env, timeout=300)
    return proc.stdout.decode() + proc.stderr.decode()


def test_github_log_has_only_dtf_commands(tmp_path):
    text = run_aggregate(tmp_path, {"GITHUB_ACTIONS": "true"})
    assert "add-mask" in text and "::stop-commands::abc" in text  # the names were printed...
    for line in re.split(r"\r\n|\r|\n", text):
        stripped = line.lstrip()
        assert not stripped.startswith("##["), line
        if stripped.startswith("::"):  # ...but every command is dtf's own
            command = stripped[2:].split("::")[0].split(" ")[0]
            assert command in OURS, line
            assert "add-mask" not in stripped.split("::")[1], line


def test_gitlab_log_has_only_dtf_sections(tmp_path):
    text = run_aggregate(tmp_path, {"GITLAB_CI": "true"})
    assert "::stop-commands::abc" in text
    escapes = [m.start() for m in re.finditer("\x1b", text)]
    sections = re.findall(r"\x1b\[0Ksection_(start|end):0:dtf_[0-9a-f]{12}\r\x1b\[0K", text)
    assert len(escapes) == 2 * len(sections) and sections.count("start") == sections.count("end") >= 1


def test_jenkins_log_has_no_escape_sequences(tmp_path):
    text = run_aggregate(tmp_path, {"JENKINS_URL": "http://jenkins.example/", "BUILD_ID": "1"})
    assert "::stop-commands::abc" in text and "\x1b" not in text and "\x07" not in text


@given(st.text())
def test_guard_never_lets_a_line_start_a_command(text):
    out = log.guard(text)
    for line in out.split("\n"):
        assert not line.lstrip().startswith(("::", "##["))
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", out)


@given(st.text())
def test_inert_is_one_line(text):
    assert "\n" not in log.inert(text) and "\r" not in log.inert(text)


@pytest.mark.parametrize("kind", ["warning", "error"])
def test_annotations_encode_their_data(kind, monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    getattr(log, kind)("a\n::add-mask::b\r%", file="x,y:1\n::error::z")
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"::{kind} file=x%2Cy%3A1%0A%3A%3Aerror%3A%3Az::a%0A::add-mask::b%0D%25"


def test_group_title_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with log.group("dtf run x\n::add-mask::y"):
        pass
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["::group::dtf run x\\n::add-mask::y", "::endgroup::"]
