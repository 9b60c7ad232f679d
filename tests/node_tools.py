"""Node.js tools that .ci/run installs from npm under .ci/node (gitlab-ci-local,
npm-groovy-lint), and the Node >= 22 they need: the npm package node@22 puts one there,
beside the system's older node, which stays as it is."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

NODE_MODULES = REPO / ".ci" / "node" / "node_modules"


def node22(tool: str) -> str:
    """A Node.js >= 22 executable (.ci/node's first, else the system's), or skip saying why."""
    for node in (NODE_MODULES / ".bin" / "node", shutil.which("node")):
        if node is None or not Path(node).exists():
            continue
        out = subprocess.run([str(node), "--version"], capture_output=True, text=True, check=False)
        match = re.match(r"v(\d+)\.", out.stdout.strip())
        if match and int(match.group(1)) >= 22:
            return str(node)
    pytest.skip(f"no Node.js >= 22 ({tool} needs it): .ci/run installs node@22 from npm "
                "under .ci/node")
