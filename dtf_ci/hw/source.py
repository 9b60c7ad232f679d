"""Where probes read from: a root folder (``/`` or a fake tree in tests) and vendor tools.

Reading is forgiving on purpose: a file that is absent or unreadable is ``None``, a tool that
is missing, fails or hangs gives ``""``. A probe then leaves its fact out rather than guess,
and the caller notes why in the document's ``notes``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

TOOL_TIMEOUT_S = 5.0


@dataclass
class Source:
    """A machine to probe: ``root`` prefixes every absolute path; ``path`` is where tools are found."""

    root: Path = Path("/")
    path: str | None = None  # PATH for vendor tools; None: the process's PATH
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    notes: list[str] = field(default_factory=list)

    def file(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def read(self, path: str) -> str | None:
        """Text of a file under the root, stripped; None when it is absent or unreadable."""
        try:
            return self.file(path).read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return None

    def read_int(self, path: str) -> int | None:
        text = self.read(path)
        try:
            return int(text) if text is not None else None
        except ValueError:
            return None

    def exists(self, path: str) -> bool:
        return os.path.lexists(self.file(path))

    def glob(self, pattern: str) -> list[Path]:
        return sorted(self.root.glob(pattern.lstrip("/")))

    def which(self, tool: str) -> str | None:
        return shutil.which(tool, path=self.path if self.path is not None else self.env.get("PATH"))

    def run(self, cmd: list[str], timeout_s: float = TOOL_TIMEOUT_S) -> str:
        """Stdout of a vendor tool, or "" when it is absent, fails or runs past ``timeout_s``."""
        exe = self.which(cmd[0])
        if exe is None:
            return ""
        try:
            out = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, timeout=timeout_s,
                                 check=False, env=self.env)
        except subprocess.TimeoutExpired:
            self.notes.append(f"{cmd[0]} did not answer within {timeout_s:g}s")
            return ""
        except OSError as exc:
            self.notes.append(f"{cmd[0]} could not start: {exc.strerror or exc}")
            return ""
        if out.returncode != 0:
            first = (out.stderr or out.stdout).strip().splitlines()[:1]
            self.notes.append(f"{' '.join(cmd[:2])} exited {out.returncode}" + (f": {first[0]}" if first else ""))
            return ""
        return out.stdout
