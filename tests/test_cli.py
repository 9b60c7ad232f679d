from __future__ import annotations

import subprocess
import sys

import pytest

from dtf_ci.cli import build_parser, main

COMMANDS = ["validate", "hw", "plan", "run", "aggregate", "local"]


def test_help_lists_every_command_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out
    assert "exit codes: 0 fine, 1 the policy failed" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_complete_help(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert out.startswith(f"usage: dtf {command}")
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    for action in sub._actions:
        if action.dest != "help":
            assert action.help, f"dtf {command} {action.option_strings}: no help text"


def test_help_imports_no_heavy_library():
    code = ("import sys, contextlib, io\nfrom dtf_ci.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try: main(['--help'])\n    except SystemExit: pass\n"
            "heavy = [m for m in ('duckdb', 'numpy', 'scipy', 'sklearn', 'github', 'jinja2', 'rich', 'psutil', 'yaml') if m in sys.modules]\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_usage_error_exit_code(tmp_path, capsys):
    assert main(["validate", "--suite", str(tmp_path / "missing.yml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: dtf" in capsys.readouterr().out
