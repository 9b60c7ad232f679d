"""The wheel carries every package: a subpackage missing from pyproject's list installs fine in
editable mode (the tests pass) but is absent from the wheel the action installs."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def listed_packages() -> set[str]:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r"^packages\s*=\s*\[(.*?)\]", text, re.M | re.S)
    assert match, "pyproject.toml: [tool.setuptools] packages list not found"
    return set(re.findall(r'"([^"]+)"', match.group(1)))


def test_every_subpackage_is_in_the_wheel():
    found = {".".join(init.parent.relative_to(REPO).parts)
             for init in (REPO / "dtf_ci").rglob("__init__.py")
             if "__pycache__" not in init.parts}
    missing = found - listed_packages()
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"
