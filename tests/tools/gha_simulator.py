"""A simulated GitHub Actions runner for composite actions, for tests.

Runs an ``action.yml``'s steps in order the way the Actions runner does: ``if:`` evaluated
(with ``success()``/``always()`` and the job status), ``${{ }}`` filled in for ``with:`` and
``env:``, ``run:`` steps through ``bash --noprofile --norc -eo pipefail`` with
``$GITHUB_OUTPUT``/``$GITHUB_ENV``/``$GITHUB_PATH`` as fresh files per step, and local
stand-ins for the actions dtf's action uses: setup-python (this interpreter; ``-m venv``
makes an environment that sees this interpreter's packages, whose ``pip`` is only
recorded), cache (a folder per key, restored at the step, saved when the job ends well),
upload-artifact and download-artifact (a folder per artifact, immutable as in v4 unless
``overwrite``). Each ``run()`` is one job: a fresh copy of the checkout and its own
``RUNNER_TEMP``; the artifact store and the cache are shared, as within one workflow run.

The expression language is the part action.yml uses, not all of GitHub's.
"""

from __future__ import annotations

import fnmatch
import glob
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent.parent
ACTION = REPO / "action.yml"


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: ``on``/``yes``/``no`` are strings, as GitHub reads them."""


Yaml12Loader.yaml_implicit_resolvers = {
    key: [r for r in resolvers if r[0] != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=Yaml12Loader)


_TOKEN = re.compile(r"""\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)
    |(?P<op>==|!=|<=|>=|&&|\|\||[!()<>,])|(?P<fn>[A-Za-z_][\w-]*)\(|(?P<name>[A-Za-z_][\w.\-]*))""",
                    re.X)


def evaluate(expr: str, contexts: dict[str, Any], status: str) -> Any:
    """A GitHub expression, enough of the language for action.yml's ``if:`` and ``${{ }}``."""
    out: list[str] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        assert m and m.end() > pos, f"cannot read expression at {expr[pos:]!r}"
        pos = m.end()
        if m["str"] is not None:
            out.append(repr(m["str"][1:-1].replace("''", "'")))
        elif m["num"] is not None:
            out.append(m["num"])
        elif m["op"] is not None:
            out.append({"&&": " and ", "||": " or ", "!": " not "}.get(m["op"], m["op"]))
        elif m["fn"] is not None:
            out.append(f"_fn_{m['fn'].lower()}(")
        else:
            name = m["name"]
            literal = {"true": "True", "false": "False", "null": "None"}.get(name)
            out.append(literal or f"_get({name!r})")

    def get(name: str) -> Any:
        value: Any = contexts
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return "" if value is None else value

    namespace = {
        "_get": get,
        "_fn_always": lambda: True,
        "_fn_success": lambda: status == "success",
        "_fn_failure": lambda: status == "failure",
        "_fn_cancelled": lambda: False,
        "_fn_fromjson": json.loads,
    }
    return eval("".join(out), namespace)  # noqa: S307 - test-only, our own action.yml


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def substitute(text: Any, contexts: dict[str, Any], status: str) -> str:
    """A ``with:``/``env:`` value as the runner passes it: a string, expressions filled in."""
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: as_text(evaluate(m[1], contexts, status)),
                  as_text(text), flags=re.S)


def read_output_file(path: Path) -> dict[str, str]:
    """``$GITHUB_OUTPUT``: ``name=value`` lines and ``name<<DELIM`` blocks."""
    values: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            end = lines.index(delim, i + 1)
            values[name] = "\n".join(lines[i + 1:end])
            i = end + 1
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        i += 1
    return values


@dataclass
class StepResult:
    name: str
    outcome: str  # success | failure | skipped
    outputs: dict[str, str] = field(default_factory=dict)
    log: str = ""


@dataclass
class ActionResult:
    status: str
    outputs: dict[str, str]
    steps: list[StepResult]
    summary: str

    def step(self, name: str) -> list[StepResult]:
        return [s for s in self.steps if s.name == name]


class SimulatedRunner:
    """Runs action.yml's steps as the Actions runner would, on this machine.

    ``artifacts`` is the workflow run's artifact store, shared by every simulated job;
    each job gets its own ``RUNNER_TEMP`` and step files, as on GitHub.
    """

    def __init__(self, tmp: Path, checkout: Path) -> None:
        self.tmp = tmp
        self.checkout = checkout  # each job starts from a fresh copy, as actions/checkout gives
        self.workspace = checkout
        self.artifacts = tmp / "artifact-store"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.pip_calls: list[str] = []
        self.jobs = 0
        self.shim = tmp / "hostedtoolcache" / "python"
        self.shim.parent.mkdir(parents=True, exist_ok=True)
        self.pip_log = tmp / "pip.log"
        self.caches = tmp / "cache-store"
        self.venvs_made = 0
        # setup-python's stand-in: this interpreter. `-m venv DIR` makes a real environment
        # that sees this interpreter's packages (no network here), whose python records
        # `-m pip` calls instead of running them.
        self.shim.write_text(
            "#!/usr/bin/env bash\n"
            'if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "$*" >> "$DTF_TEST_PIP_LOG"; '
            "exit 0; fi\n"
            'if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then\n'
            f'  "{sys.executable}" -m venv --system-site-packages --without-pip "$3" || exit $?\n'
            '  mv "$3/bin/python" "$3/bin/python-real"\n'
            '  cp "$0" "$3/bin/python"\n'
            '  echo "$3" >> "$DTF_TEST_PIP_LOG.venvs"\n'
            "  exit 0\n"
            "fi\n"
            'real="$(dirname "$0")/python-real"\n'
            f'[ -x "$real" ] || real="{sys.executable}"\n'
            'exec "$real" "$@"\n')
        self.shim.chmod(0o755)

    def run(self, inputs: dict[str, str], env: dict[str, str] | None = None) -> ActionResult:
        self.jobs += 1
        job = self.tmp / f"job-{self.jobs}"
        runner_temp = job / "temp"
        runner_temp.mkdir(parents=True)
        self.workspace = job / "workspace"
        shutil.copytree(self.checkout, self.workspace)
        summary = job / "step-summary.md"
        action = load_yaml(ACTION)
        base_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("GITHUB_", "RUNNER_", "DTF_", "GH_"))}
        base_env.update({
            "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_ACTION_PATH": str(REPO),
            "GITHUB_WORKSPACE": str(self.workspace), "RUNNER_TEMP": str(runner_temp),
            "GITHUB_REPOSITORY": "octo-org/octo-repo", "GITHUB_RUN_ID": "4242",
            "GITHUB_RUN_ATTEMPT": "1", "RUNNER_OS": "Linux",
            "GITHUB_SERVER_URL": "https://github.com", "GITHUB_EVENT_NAME": "push",
            "GITHUB_STEP_SUMMARY": str(summary), "PYTHONPATH": str(REPO),
            "DTF_TEST_PIP_LOG": str(self.pip_log),
        })
        base_env.update(env or {})
        contexts: dict[str, Any] = {
            "github": {"action_path": str(REPO), "token": "ghs_simulated",
                       "workspace": str(self.workspace)},
            "runner": {"temp": str(runner_temp), "os": "Linux"},
            "steps": {},
        }
        given = dict(inputs)
        resolved: dict[str, str] = {}
        for name, spec in action["inputs"].items():
            default = as_text(spec.get("default", ""))
            resolved[name] = given.pop(name) if name in given else substitute(
                default, contexts, "success")
        assert not given, f"inputs action.yml does not declare: {sorted(given)}"
        contexts["inputs"] = resolved

        status = "success"
        self._pending_saves: list[tuple[str, Path]] = []
        results: list[StepResult] = []
        for n, step in enumerate(action["runs"]["steps"]):
            name = step.get("name") or step.get("uses") or f"step {n}"
            condition = str(step.get("if", "success()"))
            condition = condition.strip().removeprefix("${{").removesuffix("}}")
            if not re.search(r"\b(always|success|failure|cancelled)\(\)", condition):
                condition = f"success() && ({condition})"
            if not evaluate(condition, contexts, status):
                results.append(StepResult(name, "skipped"))
                contexts["steps"][step.get("id", f"_{n}")] = {"outputs": {}, "outcome": "skipped"}
                continue
            step_env = {**base_env, **{k: substitute(v, contexts, status)
                                       for k, v in (step.get("env") or {}).items()}}
            with_ = {k: substitute(v, contexts, status) for k, v in (step.get("with") or {}).items()}
            if "uses" in step:
                outcome, outputs, log = self._uses(step["uses"], with_)
            else:
                outcome, outputs, log = self._run(step, step_env, job, n, base_env)
            results.append(StepResult(name, outcome, outputs, log))
            contexts["steps"][step.get("id", f"_{n}")] = {"outputs": outputs, "outcome": outcome}
            keep_going = step.get("continue-on-error", False)
            if isinstance(keep_going, str):
                keep_going = substitute(keep_going, contexts, status) == "true"
            if outcome == "failure" and not keep_going:
                status = "failure"
        outputs = {name: substitute(spec["value"], contexts, status)
                   for name, spec in action["outputs"].items()}
        if status == "success":  # actions/cache saves in its post step, when the job went well
            for key, path in self._pending_saves:
                if path.is_dir() and not (self.caches / key).exists():
                    shutil.copytree(path, self.caches / key, symlinks=True)
        self.pip_calls = self.pip_log.read_text().splitlines() if self.pip_log.exists() else []
        venvs = Path(f"{self.pip_log}.venvs")
        self.venvs_made = len(venvs.read_text().splitlines()) if venvs.exists() else 0
        return ActionResult(status, outputs, results,
                            summary.read_text() if summary.exists() else "")

    def _run(self, step: dict, env: dict[str, str], job: Path, n: int,
             base_env: dict[str, str]) -> tuple[str, dict[str, str], str]:
        assert step.get("shell") == "bash", "composite run steps must name their shell"
        files = {key: job / f"{key.lower()}-{n}" for key in ("GITHUB_OUTPUT", "GITHUB_ENV",
                                                               "GITHUB_PATH")}
        for key, path in files.items():
            path.touch()
            env[key] = str(path)
        script = job / f"step-{n}.sh"
        script.write_text(step["run"])
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                              cwd=self.workspace, env=env, capture_output=True, text=True,
                              timeout=300, check=False)
        base_env.update(read_output_file(files["GITHUB_ENV"]))
        for extra in files["GITHUB_PATH"].read_text().splitlines():
            base_env["PATH"] = f"{extra}{os.pathsep}{base_env['PATH']}"
        outcome = "success" if proc.returncode == 0 else "failure"
        return outcome, read_output_file(files["GITHUB_OUTPUT"]), proc.stdout + proc.stderr

    def _uses(self, uses: str, with_: dict[str, str]) -> tuple[str, dict[str, str], str]:
        if uses.startswith("actions/setup-python@"):
            return "success", {"python-path": str(self.shim),
                               "python-version": with_.get("python-version", "")}, ""
        if uses.startswith("actions/cache@"):
            return self._cache(with_)
        if uses.startswith("actions/upload-artifact@"):
            return self._upload(with_)
        if uses.startswith("actions/download-artifact@"):
            return self._download(with_)
        raise AssertionError(f"no local stand-in for {uses}")

    def _cache(self, with_: dict[str, str]) -> tuple[str, dict[str, str], str]:
        key, path = with_["key"], Path(with_["path"])
        assert key and "\n" not in with_["path"], "one path, one key"
        if (self.caches / key).is_dir():
            shutil.copytree(self.caches / key, path, symlinks=True, dirs_exist_ok=True)
            return "success", {"cache-hit": "true"}, f"Cache restored from key: {key}"
        self._pending_saves.append((key, path))
        return "success", {"cache-hit": "false"}, f"Cache not found for input keys: {key}"

    def _upload(self, with_: dict[str, str]) -> tuple[str, dict[str, str], str]:
        name = with_["name"]
        store = self.artifacts / name
        if store.exists():  # v4 artifacts are immutable: one upload per name per run
            if with_.get("overwrite") != "true":
                return "failure", {}, f"an artifact named {name} already exists"
            shutil.rmtree(store)
        searches = [line.strip() for line in with_["path"].splitlines() if line.strip()]
        files: list[Path] = []
        roots: list[str] = []
        for search in searches:
            search = str(Path(self.workspace, search))
            if any(ch in search for ch in "*?["):
                roots.append(str(Path(search.split("*")[0].split("?")[0]).parent)
                             if not search.split("*")[0].endswith("/")
                             else search.split("*")[0].rstrip("/"))
                files += [Path(p) for p in glob.glob(search, recursive=True) if Path(p).is_file()]
            elif Path(search).is_dir():
                roots.append(search.rstrip("/"))
                files += [p for p in Path(search).rglob("*") if p.is_file()]
            elif Path(search).is_file():
                roots.append(str(Path(search).parent))
                files.append(Path(search))
        files = [f for f in files if not any(part.startswith(".") for part in f.parts[-2:])]
        if not files:
            mode = with_.get("if-no-files-found", "warn")
            return ("failure" if mode == "error" else "success"), {}, f"no files for {name}"
        root = Path(os.path.commonpath(roots))
        for f in files:
            dest = store / f.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
        return "success", {"artifact-id": str(len(list(self.artifacts.iterdir())))}, ""

    def _download(self, with_: dict[str, str]) -> tuple[str, dict[str, str], str]:
        dest = Path(self.workspace, with_.get("path") or ".")
        if with_.get("name"):
            names = [with_["name"]] if (self.artifacts / with_["name"]).is_dir() else []
            if not names:
                return "failure", {}, f"Artifact not found for name: {with_['name']}"
            into = {with_["name"]: dest}
        else:
            pattern = with_.get("pattern") or "*"
            names = sorted(p.name for p in self.artifacts.iterdir()
                           if fnmatch.fnmatch(p.name, pattern))
            merge = with_.get("merge-multiple") == "true"
            into = {n: dest if merge else dest / n for n in names}
        for name, target in into.items():
            shutil.copytree(self.artifacts / name, target, dirs_exist_ok=True)
        return "success", {"download-path": str(dest)}, ""
