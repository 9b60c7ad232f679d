"""``dtf.yml`` -> a validated ``Suite``, checked once, with every mistake reported together.

Nothing downstream re-checks the suite: the planner and the runner trust these objects. So
this module is strict: unknown keys are errors (with a did-you-mean), every message names the
file, the line, the place and the fix, and all problems of a file are collected before
raising, so a user fixes a suite in one pass rather than one error per run.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
from pathlib import Path
from typing import Any

import yaml

from dtf_ci.errors import RequirementError, SuiteError
from dtf_ci.model import BASELINES, Defaults, Suite, TargetSpec, Task
from dtf_ci.units import parse_duration, parse_threshold
from dtf_ci.yaml_load import LineMap, load_yaml

TOP_KEYS = ("version", "targets", "defaults", "tasks")
TARGET_KEYS = ("runs-on", "facts", "autoscaled", "max-runners")
DEFAULT_KEYS = ("repeat", "max-repeat", "timeout", "retries", "threshold", "baseline")
TASK_KEYS = (
    "id", "run", "format", "requires", "across", "depends-on", "group", "repeat",
    "max-repeat", "timeout", "retries", "threshold", "produces", "paths", "env", "parallel", "baseline",
)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


_Map = LineMap  # a mapping that remembers its line and each key's line (see yaml_load)


def check_bounds(suite: Suite, problems: _Problems) -> None:
    """Names that travel into file names, badges, logs and comments are bounded (dtf_ci.limits);
    ``produces`` paths stay inside the suite folder."""
    from dtf_ci import limits
    from dtf_ci.paths import PathRefused, relative_inside

    for name in suite.targets:
        if len(name) > limits.NAME_MAX:
            problems.add(f"targets.{name[:40]}…", f"a target name is at most {limits.NAME_MAX} characters")
        for label in suite.targets[name].runs_on:
            if len(label) > limits.NAME_MAX or not label.isprintable():
                problems.add(f"targets.{name[:40]}.runs-on", f"a label is printable text of at most {limits.NAME_MAX} characters")
    for tid, task in suite.tasks.items():
        place = f"tasks.{tid[:40]}" + ("…" if len(tid) > 40 else "")
        if len(tid) > limits.NAME_MAX:
            problems.add(place, f"a task id is at most {limits.NAME_MAX} characters")
        for rel in task.produces:
            try:
                relative_inside(rel)
            except PathRefused as exc:
                problems.add(f"{place}.produces", f"{exc} (list paths relative to the suite folder)")


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


class _Problems:
    """Collects ``FILE:LINE: PLACE: message`` lines."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, place: str, message: str, line: int | None = None) -> None:
        where = f"{self.path}:{line}" if line else self.path
        self.items.append(f"{where}: {place}: {message}" if place else f"{where}: {message}")


def _line(mapping: Any, key: str | None = None) -> int | None:
    if isinstance(mapping, _Map):
        if key is not None and key in mapping.key_lines:
            return mapping.key_lines[key]
        return mapping.line
    return None


def _check_keys(m: dict[Any, Any], allowed: tuple[str, ...], place: str, problems: _Problems) -> None:
    for key in m:
        if str(key) not in allowed:
            hint = did_you_mean(str(key), allowed) or f" (known keys: {', '.join(allowed)})"
            problems.add(f"{place}.{key}" if place else str(key), f"unknown key{hint}", _line(m, str(key)))


def _str_list(value: Any, place: str, problems: _Problems, line: int | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return tuple(str(v) for v in value)
    problems.add(place, f"expected a list of strings, got {type(value).__name__}", line)
    return ()


def _int(value: Any, place: str, problems: _Problems, line: int | None, minimum: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(place, f"expected a whole number >= {minimum}, got {value!r}", line)
        return None
    if value < minimum:
        problems.add(place, f"must be >= {minimum}, got {value}", line)
        return None
    return value


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file; raise SuiteError listing every problem in it."""
    path_text = str(path)
    file = Path(path)
    problems = _Problems(path_text)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError([f"{path_text}: no such file (create one, see docs/suite.md, or pass --suite FILE)"]) from None
    except OSError as exc:
        raise SuiteError([f"{path_text}: cannot read: {exc.strerror}"]) from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path_text}:{mark.line + 1}:{mark.column + 1}" if mark else path_text
        reason = getattr(exc, "problem", None) or str(exc)
        hint = yaml_hint(text, mark.line + 1 if mark else None, str(reason))
        raise SuiteError([f"{where}: not valid YAML: {reason}{hint}"]) from None
    return parse_suite(data, path_text, root=file.resolve().parent, problems=problems)


def parse_suite(data: Any, path: str, *, root: Path, problems: _Problems | None = None) -> Suite:
    """Validate an already-loaded suite document (``load_suite`` without the file)."""
    problems = problems or _Problems(path)
    if data is None:
        raise SuiteError([f"{path}: the file is empty: a suite needs at least `version: 1` and a "
                          "`tasks:` list (see docs/suite.md, or copy examples/quickstart/dtf.yml)"])
    if not isinstance(data, dict):
        raise SuiteError([f"{path}: expected a mapping with version, targets, defaults, tasks; got {_kind(data)}"])
    data = data if isinstance(data, _Map) else _Map(data)
    if not hasattr(data, "key_lines"):
        data.key_lines = {}
    _check_keys(data, TOP_KEYS, "", problems)
    version = data.get("version")
    if version != 1:
        problems.add("version", f"expected 1, got {version!r} (add `version: 1` at the top)", _line(data, "version"))
    targets = _parse_targets(data.get("targets"), problems, _line(data, "targets"))
    defaults = _parse_defaults(data.get("defaults"), problems, _line(data, "defaults"))
    tasks = _parse_tasks(data.get("tasks"), defaults, problems, _line(data, "tasks"))
    suite = Suite(path=path, root=str(root), version=1, targets=targets, defaults=defaults, tasks=tasks)
    _check_graph(suite, data.get("tasks") or [], problems)
    check_bounds(suite, problems)
    if problems.items:
        raise SuiteError(problems.items)
    return suite


def _parse_targets(raw: Any, problems: _Problems, line: int | None) -> dict[str, TargetSpec]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.add("targets", "expected a mapping of target name -> {runs-on, facts}", line)
        return {}
    targets: dict[str, TargetSpec] = {}
    for name, spec in raw.items():
        place = f"targets.{name}"
        tline = _line(raw, str(name))
        if not _ID.match(str(name)):
            problems.add(place, "a target name may hold letters, digits, '-', '_' and '.'", tline)
        if not isinstance(spec, dict):
            problems.add(place, "expected a mapping with runs-on (and optionally facts)", tline)
            continue
        _check_keys(spec, TARGET_KEYS, place, problems)
        runs_on = _str_list(spec.get("runs-on"), f"{place}.runs-on", problems, _line(spec, "runs-on"))
        if not runs_on:
            problems.add(f"{place}.runs-on", "required: the runner labels of this target, e.g. [self-hosted, linux, gpu-a100]", tline)
        facts_raw = spec.get("facts") or {}
        facts: dict[str, str] = {}
        if not isinstance(facts_raw, dict):
            problems.add(f"{place}.facts", "expected a mapping of fact -> value, e.g. {gpu: nvidia, cuda: '12.4'}", _line(spec, "facts"))
        else:
            facts = {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in facts_raw.items()}
        autoscaled = spec.get("autoscaled", False)
        if not isinstance(autoscaled, bool):
            problems.add(f"{place}.autoscaled", "expected true or false", _line(spec, "autoscaled"))
            autoscaled = False
        max_runners = None
        if "max-runners" in spec:
            max_runners = _int(spec["max-runners"], f"{place}.max-runners", problems, _line(spec, "max-runners"), 1)
        if autoscaled and max_runners is None:
            problems.add(f"{place}.max-runners", "an autoscaled target needs max-runners (the scale set's maximum)", tline)
        targets[str(name)] = TargetSpec(str(name), runs_on, facts, autoscaled, max_runners)
    return targets


def _parse_common(raw: dict[Any, Any], place: str, problems: _Problems, base: Defaults) -> Defaults:
    """The settings shared by ``defaults`` and each task, layered over ``base``."""
    values = {
        "repeat": base.repeat, "timeout_s": base.timeout_s, "retries": base.retries,
        "threshold": base.threshold, "max_repeat": base.max_repeat,
        "baseline": base.baseline, "threshold_auto": base.threshold_auto,
    }
    if "repeat" in raw:
        values["repeat"] = _int(raw["repeat"], f"{place}.repeat", problems, _line(raw, "repeat"), 1) or base.repeat
    if "max-repeat" in raw:
        values["max_repeat"] = _int(raw["max-repeat"], f"{place}.max-repeat", problems, _line(raw, "max-repeat"), 1)
    if "retries" in raw:
        r = _int(raw["retries"], f"{place}.retries", problems, _line(raw, "retries"), 0)
        values["retries"] = base.retries if r is None else r
    if "baseline" in raw:
        if raw["baseline"] in BASELINES:
            values["baseline"] = raw["baseline"]
        else:
            problems.add(f"{place}.baseline", f"expected history or interleaved, got {raw['baseline']!r}"
                         f"{did_you_mean(str(raw['baseline']), BASELINES)}", _line(raw, "baseline"))
    if str(raw.get("threshold", "")).strip().lower() == "auto":
        # The calibrated noise of each series decides (dtf calibrate); 3% until one exists.
        values["threshold_auto"], values["threshold"] = True, Defaults().threshold
    elif "threshold" in raw:
        values["threshold_auto"] = False
    for key, attr, parser in (("timeout", "timeout_s", parse_duration), ("threshold", "threshold", parse_threshold)):
        if key == "threshold" and values["threshold_auto"] and key in raw:
            continue
        if key in raw:
            try:
                values[attr] = parser(raw[key])
            except ValueError as exc:
                problems.add(f"{place}.{key}", str(exc), _line(raw, key))
    max_repeat, repeat = values["max_repeat"], values["repeat"]
    if isinstance(max_repeat, int) and isinstance(repeat, int) and max_repeat < repeat:
        problems.add(f"{place}.max-repeat", f"must be at least repeat ({values['repeat']}), got {values['max_repeat']}",
                     _line(raw, "max-repeat"))
        values["max_repeat"] = None
    return Defaults(**values)  # type: ignore[arg-type]


def _parse_defaults(raw: Any, problems: _Problems, line: int | None) -> Defaults:
    if raw is None:
        return Defaults()
    if not isinstance(raw, dict):
        problems.add("defaults", "expected a mapping (repeat, timeout, retries, threshold)", line)
        return Defaults()
    _check_keys(raw, DEFAULT_KEYS, "defaults", problems)
    return _parse_common(raw, "defaults", problems, Defaults())


def _known_formats() -> list[str]:
    try:
        from dtf_ci.formats import known_formats
    except ImportError:
        return []
    return list(known_formats())


def _accepted_formats() -> list[str]:
    """dtf's format names plus the aliases (github-action-benchmark, Bencher) and `auto`."""
    try:
        from dtf_ci.formats import accepted_names
    except ImportError:
        return []
    return accepted_names()


def _parse_tasks(raw: Any, defaults: Defaults, problems: _Problems, line: int | None) -> dict[str, Task]:
    if not isinstance(raw, list) or not raw:
        problems.add("tasks", "expected a non-empty list of tasks, each with at least id and run", line)
        return {}
    formats = _known_formats()
    accepted = _accepted_formats()
    tasks: dict[str, Task] = {}
    for index, entry in enumerate(raw):
        place = f"tasks[{index}]"
        if not isinstance(entry, dict):
            problems.add(place, "expected a mapping with id and run", line)
            continue
        _check_keys(entry, TASK_KEYS, place, problems)
        tid = entry.get("id")
        if not isinstance(tid, str) or not _ID.match(tid):
            problems.add(f"{place}.id", "required: a name of letters, digits, '-', '_' and '.'", _line(entry))
            continue
        if tid in tasks:
            problems.add(f"{place}.id", f"task '{tid}' is defined twice (ids must be unique)", _line(entry, "id"))
            continue
        run = _run_command(entry, place, problems)
        fmt = entry.get("format")
        if fmt is not None and formats and fmt not in accepted:
            problems.add(f"{place}.format", f"unknown format {fmt!r}{did_you_mean(str(fmt), formats)} (known: {', '.join(formats)})", _line(entry, "format"))
        if fmt is not None and "{results}" not in run:
            problems.add(f"{place}.run", f"format {fmt!r} reads a results file: put {{results}} in the command where the tool writes it", _line(entry, "run"))
        requires = _str_list(entry.get("requires"), f"{place}.requires", problems, _line(entry, "requires"))
        _check_requirements(requires, f"{place}.requires", problems, _line(entry, "requires"))
        across = entry.get("across", "all")
        if across not in ("all", "one"):
            problems.add(f"{place}.across", f"expected 'all' or 'one', got {across!r}", _line(entry, "across"))
            across = "all"
        group = entry.get("group")
        if group is not None and not (isinstance(group, str) and _ID.match(group)):
            problems.add(f"{place}.group", "expected a group name of letters, digits, '-', '_'", _line(entry, "group"))
            group = None
        env_raw = entry.get("env") or {}
        if not isinstance(env_raw, dict):
            problems.add(f"{place}.env", "expected a mapping of variable -> value", _line(entry, "env"))
            env_raw = {}
        common = _once_without_format(entry, fmt, _parse_common(entry, place, problems, defaults))
        tasks[tid] = Task(
            id=tid, run=run, format=fmt, requires=requires, across=across,
            depends_on=_str_list(entry.get("depends-on"), f"{place}.depends-on", problems, _line(entry, "depends-on")),
            group=group, repeat=common.repeat, max_repeat=common.max_repeat, timeout_s=common.timeout_s,
            retries=common.retries, threshold=common.threshold,
            produces=_str_list(entry.get("produces"), f"{place}.produces", problems, _line(entry, "produces")),
            paths=_str_list(entry.get("paths"), f"{place}.paths", problems, _line(entry, "paths")),
            env={str(k): str(v) for k, v in env_raw.items()},
            parallel=_parallel(entry, place, problems),
            baseline=common.baseline, threshold_auto=common.threshold_auto,
        )
    return tasks


def _run_command(entry: dict[Any, Any], place: str, problems: _Problems) -> str:
    """A task's ``run``: one shell command as a string. Missing, wrong type and empty differ."""
    line = _line(entry, "run") or _line(entry)
    if "run" not in entry:
        problems.add(f"{place}.run", "required: the shell command to run", line)
        return ""
    run = entry["run"]
    if isinstance(run, str) and run.strip():
        return run
    if isinstance(run, str) or run is None:
        problems.add(f"{place}.run", "is empty: give the shell command to run", line)
    elif isinstance(run, list):
        problems.add(f"{place}.run", "is a list, expected one shell command as a string: join the "
                     "commands with && on one line, or write a block (run: |) with one per line", line)
    else:
        problems.add(f"{place}.run", f"expected the shell command as a string, got {_kind(run)} "
                     f"({run!r}): quote it", line)
    return ""


def _kind(value: Any) -> str:
    """How a YAML user would name a value's type: 'a list', 'a number', not 'NoneType'."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def yaml_hint(text: str, line: int | None, reason: str) -> str:
    """A fix for the YAML mistakes people make in suites, or "" when there is no good guess.

    The common trap is a command with ``: `` in it (``run: echo a: b``, ``run: python -c
    "d = {'a': 1}"`` spelled without quotes): YAML reads a second mapping there.
    """
    lines = text.splitlines()
    src = lines[line - 1] if line and 0 < line <= len(lines) else ""
    if "mapping values are not allowed" in reason:
        key, sep, value = src.strip().lstrip("- ").partition(": ")
        if sep and ": " in value and not value.lstrip().startswith(("'", '"')):
            quoted = "'" + value.strip().replace("'", "''") + "'"
            return f"; a value containing ': ' must be quoted, e.g. {key}: {quoted}"
        return "; a value containing ': ' must be quoted (wrap it in single quotes)"
    if "'\\t'" in reason or "\t" in reason or ("cannot start any token" in reason and "\t" in src):
        return "; YAML indents with spaces, not tabs"
    if "found unexpected end of stream" in reason or "found unexpected ':'" in reason:
        return "; check the quotes on this line: a quoted value must be closed on the same line"
    return ""


def _parallel(entry: dict[Any, Any], place: str, problems: _Problems) -> bool | None:
    """``parallel: true|false``; absent: None (benchmarks alone, other tasks in parallel)."""
    value = entry.get("parallel")
    if value is None or isinstance(value, bool):
        return value
    problems.add(f"{place}.parallel", f"expected true or false, got {value!r}", _line(entry, "parallel"))
    return None


def _once_without_format(entry: dict[Any, Any], fmt: Any, common: Defaults) -> Defaults:
    """A task without a format (a build, a data step) runs once unless the task asks for more.

    ``defaults.repeat`` is the number of samples per benchmark metric; a build repeated five
    times only to time it wastes the run. The task's own ``repeat``/``max-repeat`` still count.
    """
    if fmt is not None or "repeat" in entry:
        return common
    max_repeat = common.max_repeat if "max-repeat" in entry else None
    return dataclasses.replace(common, repeat=1, max_repeat=max_repeat)


def _check_requirements(requires: tuple[str, ...], place: str, problems: _Problems, line: int | None) -> None:
    for i, text in enumerate(requires):
        error = _requirement_error(text)
        if error:
            problems.add(f"{place}[{i}]", error, line)


@functools.lru_cache(maxsize=4096)
def _requirement_error(text: str) -> str | None:
    """Why a requirement does not parse, or None; cached: 20,000 tasks share a few dozen texts."""
    try:
        from dtf_ci.requirements import parse_requirement
    except ImportError:
        return None
    try:
        parse_requirement(text)
    except RequirementError as exc:
        return str(exc)
    return None


def _check_graph(suite: Suite, raw_tasks: list[Any], problems: _Problems) -> None:
    """Unknown dependencies (with did-you-mean) and cycles (written out)."""
    before = len(problems.items)
    ids = list(suite.tasks)
    groups = sorted({t.group for t in suite.tasks.values() if t.group})
    index_of = {e.get("id"): i for i, e in enumerate(raw_tasks) if isinstance(e, dict)}
    for task in suite.tasks.values():
        index = index_of.get(task.id, 0)
        entry = raw_tasks[index] if index < len(raw_tasks) else None
        line = _line(entry, "depends-on")
        for dep in task.depends_on:
            if dep.startswith("group:"):
                name = dep[len("group:"):]
                if name not in groups:
                    problems.add(f"tasks[{index}].depends-on", f"no group '{name}'{did_you_mean(name, groups)}", line)
            elif dep == task.id:
                problems.add(f"tasks[{index}].depends-on", f"task '{dep}' depends on itself", line)
            elif dep not in suite.tasks:
                problems.add(f"tasks[{index}].depends-on", f"no task '{dep}'{did_you_mean(dep, ids)}", line)
    if len(problems.items) > before:
        return
    cycle = find_cycle({t: list(suite.resolved_dependencies(t)) for t in ids})
    if cycle:
        problems.add("tasks", "dependency cycle: " + " -> ".join(cycle) + " (remove one of these depends-on entries)")


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One cycle of the graph written as a closed path (``a, b, c, a``), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []
    for start in graph:
        if state.get(start):
            continue
        work: list[tuple[str, int]] = [(start, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                state[node] = 1
                stack.append(node)
            deps = graph.get(node, [])
            if i < len(deps):
                work.append((node, i + 1))
                nxt = deps[i]
                if state.get(nxt) == 1:
                    return stack[stack.index(nxt):] + [nxt]
                if not state.get(nxt):
                    work.append((nxt, 0))
            else:
                state[node] = 2
                stack.pop()
    return None
