"""What each CI job kind must install: the requirement lines of pyproject.toml, per job kind.

The action installs dtf's dependencies into its own virtual environment per job kind, then
points that environment at the action's checkout (a ``.pth`` file) instead of building dtf:
no build backend to fetch, so a wheelhouse of the listed wheels is all an offline runner
needs. This module runs before anything is installed, on any Python >= 3.10, so it uses
the stdlib only and reads pyproject.toml itself where ``tomllib`` (3.11+) is absent.

    python -m dtf_ci.install_deps run        # one requirement per line
    python -m dtf_ci.install_deps aggregate
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"

# Job kind -> the extras it installs on top of the core dependencies.
JOB_KINDS: dict[str, tuple[str, ...]] = {
    "run": (),
    "run-nvidia": ("nvidia",),  # a run job on a runner with nvidia-smi: NVML bindings
    "plan": (),
    "plan-providers": ("providers",),  # dtf plan listing registered runners with a token
    "aggregate": ("aggregate",),
}

_SELF = "dtf-ci"


def read_project(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """(dependencies, optional-dependencies) of a pyproject.toml's ``[project]`` table."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: our own file's arrays of strings are all we read
        return _read_project_fallback(text)
    project = tomllib.loads(text).get("project", {})
    return list(project.get("dependencies", [])), {
        k: list(v) for k, v in project.get("optional-dependencies", {}).items()}


def _read_project_fallback(text: str) -> tuple[list[str], dict[str, list[str]]]:
    deps: list[str] = []
    extras: dict[str, list[str]] = {}
    table = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = _uncomment(lines[i]).strip()
        i += 1
        if line.startswith("["):
            table = line.strip("[] ")
            continue
        m = re.match(r'^"?([A-Za-z0-9_.-]+)"?\s*=\s*\[(.*)$', line)
        if not m or table not in ("project", "project.optional-dependencies"):
            continue
        body = m[2]
        while "]" not in _STRING.sub("", body) and i < len(lines):
            body += " " + _uncomment(lines[i])
            i += 1
        items = [s[1:-1] for s in _STRING.findall(body)]
        if table == "project" and m[1] == "dependencies":
            deps = items
        elif table == "project.optional-dependencies":
            extras[m[1]] = items
    return deps, extras


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _uncomment(line: str) -> str:
    """The line without a trailing ``# comment`` (a ``#`` inside a string stays)."""
    out, pos = [], 0
    for m in _STRING.finditer(line):
        out.append(line[pos:m.start()].split("#", 1)[0])
        if "#" in line[pos:m.start()]:
            return "".join(out)
        out.append(m[0])
        pos = m.end()
    out.append(line[pos:].split("#", 1)[0])
    return "".join(out)


def requirements(kind: str, pyproject: Path = PYPROJECT) -> list[str]:
    """The requirement lines job ``kind`` installs, self-references (dtf-ci[x]) expanded."""
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}: one of {', '.join(JOB_KINDS)}")
    deps, extras = read_project(pyproject.read_text(encoding="utf-8"))
    out = list(deps)
    todo, seen = list(JOB_KINDS[kind]), set()
    while todo:
        extra = todo.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        if extra not in extras:
            raise ValueError(f"{pyproject}: no optional-dependencies extra {extra!r}")
        for req in extras[extra]:
            m = re.match(rf"^{re.escape(_SELF)}\[([^\]]+)\]$", req.replace(" ", ""))
            if m:
                todo.extend(e.strip() for e in m[1].split(","))
            elif req not in out:
                out.append(req)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in JOB_KINDS:
        print(f"usage: python -m dtf_ci.install_deps {{{'|'.join(JOB_KINDS)}}}", file=sys.stderr)
        return 2
    print("\n".join(requirements(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
