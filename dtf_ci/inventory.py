"""The runner inventory: which targets exist, how many runners each has online, and notes.

The planner needs to know, per target, its labels and facts (to match requirements) and how
many shards may run at once (to choose shard counts). Runners come from this machine
(``--runners local``), a runners file, or the provider's API (``--runners github``); with no
listing, the suite's own targets are used. Everything the planner could not see or had to
assume is written as a note, because a silent assumption about hardware is a wrong answer
that looks right.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dtf_ci.errors import ProviderError, UsageError
from dtf_ci.model import Suite, TargetSpec
from dtf_ci.providers import Runner

UNKNOWN_RUNNERS_SLOTS = 20
"""Shards of one target that may run at once when nobody can count its runners (GitHub-hosted
runners, or a suite target planned without a listing): GitHub's free-plan job concurrency."""

LOCAL_JOB_OVERHEAD_S = 0.2
"""Start-up cost of one shard under ``dtf local``: a process, not a CI job."""

_GENERIC_LABELS = frozenset({
    "self-hosted", "linux", "macos", "windows", "x64", "x86_64", "amd64", "arm64", "aarch64",
    "arm", "gpu", "cpu", "nvidia", "amd", "intel", "apple",
})
_HOSTED_RE = re.compile(r"^(ubuntu|windows|macos)-(latest|\d[\w.\-]*)$", re.IGNORECASE)


@dataclass
class TargetInfo:
    """One target as the planner sees it: spec, runner counts, and shards allowed at once."""

    spec: TargetSpec
    online: int = 0
    offline: int = 0
    slots: int = 1  # shards that may run at once
    job_overhead_s: float | None = None  # None: the plan's job overhead

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class Inventory:
    """The targets to plan on, where they came from, and what the planner should be told."""

    source: str  # runners-source in plan.json: local, suite, github, file:PATH
    targets: dict[str, TargetInfo] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def specs(self) -> dict[str, TargetSpec]:
        return {name: info.spec for name, info in self.targets.items()}


def is_hosted_label(label: str) -> bool:
    """GitHub-hosted runner labels (``ubuntu-latest``, ``macos-14``): elastic, never listed."""
    return bool(_HOSTED_RE.match(label))


def local_inventory(workers: int | None = None) -> Inventory:
    """This machine as one target ``local``: its probe labels and facts, ``cpu-count`` slots."""
    from dtf_ci.hardware import probe

    host = probe()
    slots = max(1, workers if workers else host.cpu_count)
    spec = TargetSpec(name="local", runs_on=tuple(host.labels), facts=dict(host.facts))
    info = TargetInfo(spec=spec, online=1, offline=0, slots=slots, job_overhead_s=LOCAL_JOB_OVERHEAD_S)
    return Inventory(source="local", targets={"local": info})


def suite_inventory(suite: Suite, notes: Iterable[str] = ()) -> Inventory:
    """The suite's own targets, with no runner counts: slots from ``max-runners`` or a default."""
    inv = Inventory(source="suite", notes=list(notes))
    for name, spec in suite.targets.items():
        slots = spec.max_runners or UNKNOWN_RUNNERS_SLOTS
        inv.targets[name] = TargetInfo(spec=spec, online=0, offline=0, slots=max(1, slots))
    return inv


def load_runners_file(path: str | Path) -> list[Runner]:
    """Read ``runners: [{name, labels, status}]`` from YAML or JSON; errors name the file."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the runners file ({exc.strerror or exc})") from exc
    try:
        from dtf_ci.yaml_load import load_yaml  # bounded: no alias bombs, no deep nesting

        data = json.loads(text) if p.suffix == ".json" else load_yaml(text)
    except RecursionError:
        raise UsageError(f"{path}: nested too deeply to read") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: not valid YAML or JSON ({exc})") from exc
    if isinstance(data, list):
        data = {"runners": data}
    if not isinstance(data, dict) or not isinstance(data.get("runners"), list):
        raise UsageError(f"{path}: expected `runners: [{{name, labels, status}}]` at the top")
    runners: list[Runner] = []
    for i, entry in enumerate(data["runners"]):
        where = f"{path}: runners[{i}]"
        if not isinstance(entry, dict):
            raise UsageError(f"{where}: expected a mapping with name, labels and status")
        labels = entry.get("labels", [])
        if isinstance(labels, str):
            labels = [labels]
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
            raise UsageError(f"{where}: labels must be a non-empty list of strings")
        status = str(entry.get("status", "online")).lower()
        if status not in ("online", "offline"):
            raise UsageError(f"{where}: status must be online or offline, not {status!r}")
        name = str(entry.get("name") or f"runner-{i + 1}")
        runners.append(Runner(name=name, labels=tuple(labels), status=status, busy=bool(entry.get("busy", False))))
    return runners


def inventory_from_runners(runners: list[Runner], suite: Suite, source: str) -> Inventory:
    """Targets from listed runners: the suite's targets if it names any, else distinct label sets."""
    inv = Inventory(source=source)
    offline_names = sorted(r.name for r in runners if r.status != "online")
    if offline_names:
        shown = ", ".join(offline_names[:10]) + (" ..." if len(offline_names) > 10 else "")
        inv.notes.append(f"{len(offline_names)} runner(s) offline, not planned on: {shown}")
    if suite.targets:
        for name, spec in suite.targets.items():
            want = {label.lower() for label in spec.runs_on}
            matching = [r for r in runners if want <= {label.lower() for label in r.labels}]
            online = sum(1 for r in matching if r.status == "online")
            offline = len(matching) - online
            hosted = any(is_hosted_label(label) for label in spec.runs_on)
            if spec.autoscaled:
                slots = spec.max_runners or max(online, UNKNOWN_RUNNERS_SLOTS)
            elif hosted and not online:
                slots = UNKNOWN_RUNNERS_SLOTS
            else:
                slots = max(1, online)
                if not online:
                    inv.notes.append(
                        f"warning: target {name!r} ({', '.join(spec.runs_on)}) has no online runner"
                        f" ({offline} offline); its shards will wait until one comes online"
                    )
            inv.targets[name] = TargetInfo(spec=spec, online=online, offline=offline, slots=slots)
        return inv
    groups: dict[frozenset[str], list[Runner]] = {}
    spelling: dict[frozenset[str], tuple[str, ...]] = {}
    for r in runners:
        key = frozenset(label.lower() for label in r.labels)
        groups.setdefault(key, []).append(r)
        spelling.setdefault(key, tuple(dict.fromkeys(r.labels)))
    live = [key for key, rs in groups.items() if any(r.status == "online" for r in rs)]
    for key in sorted(set(groups) - set(live), key=sorted):
        inv.notes.append(f"labels [{', '.join(sorted(key))}]: every runner offline, no target planned")
    names = name_targets(live)
    for key in sorted(live, key=lambda k: names[k]):
        rs = groups[key]
        online = sum(1 for r in rs if r.status == "online")
        spec = TargetSpec(name=names[key], runs_on=spelling[key])
        inv.targets[names[key]] = TargetInfo(spec=spec, online=online, offline=len(rs) - online, slots=online)
    return inv


def name_targets(label_sets: list[frozenset[str]]) -> dict[frozenset[str], str]:
    """A unique, deterministic name per label set: its most specific label.

    Most specific = a GPU model label (``gpu-a100``), else a custom label, else a version or
    size label (``cuda-12.4``), else a generic word (``linux``); among equals the one found
    in the fewest sets, then by spelling. A clash gets ``-2``, ``-3``.
    """
    counts: dict[str, int] = {}
    for labels in label_sets:
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
    names: dict[frozenset[str], str] = {}
    used: set[str] = set()
    for labels in sorted(label_sets, key=lambda s: (len(s), sorted(s))):
        candidates = sorted(labels, key=lambda x: (_label_rank(x), counts[x], x))
        base = _slug(candidates[0]) if candidates else "runner"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        names[labels] = name
    return names


def _label_rank(label: str) -> int:
    """How much a label says about the hardware: a GPU model most, generic words least."""
    low = label.lower()
    if low in _GENERIC_LABELS:
        return 4
    if re.match(r"^gpu-(?!count|mem|x?\d)", low):
        return 0
    if re.match(r"^(cuda|rocm|mem|memory|ram|cpu|cores|gpus?)[-\d]", low) or is_hosted_label(low):
        return 2
    return 1


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "target"


def github_inventory(suite: Suite, org: str | None = None) -> Inventory:
    """Self-hosted runners from the GitHub API; without a token that may list them, the suite."""
    token = os.environ.get("DTF_RUNNERS_TOKEN") or os.environ.get("GITHUB_TOKEN")
    fallback = "no token may list runners: planned from the suite's targets"
    if not token:
        return _fallback(suite, fallback, "github")
    from dtf_ci.providers import get_provider

    provider = get_provider("github")
    try:
        runners = provider.list_runners(provider.context(), token=token, org=org)
    except ProviderError as exc:
        if exc.status in (401, 403, 404):
            return _fallback(suite, fallback, "github")
        raise
    return inventory_from_runners(runners, suite, "github")


def _fallback(suite: Suite, note: str, source: str) -> Inventory:
    if suite.targets:
        inv = suite_inventory(suite, [note])
    else:
        spec = TargetSpec(name="ubuntu-latest", runs_on=("ubuntu-latest",))
        inv = Inventory(source=source, notes=[note.replace("the suite's targets", "ubuntu-latest (the suite names no targets)")])
        inv.targets["ubuntu-latest"] = TargetInfo(spec=spec, slots=UNKNOWN_RUNNERS_SLOTS)
    inv.source = source
    return inv


def check_servable_in_ci(inventory: Inventory, runners: str | None,
                         env: dict[str, str] | None = None) -> None:
    """In CI, refuse a plan whose targets no runner can serve: this machine's probe labels.

    ``--runners local`` (or no ``--runners`` and a suite without targets) describes the plan
    job's own machine by probed labels (``cpu``, ``mem-24g``); written as ``runs-on`` they
    match no registered runner, and the jobs wait until the CI gives up (24 h on GitHub).
    ``dtf local`` runs on this machine without ``runs-on`` and is not affected.
    """
    from dtf_ci.ci import CIProvider, detect_ci_provider
    from dtf_ci.errors import PlanError

    ci = detect_ci_provider(env)
    if ci is CIProvider.local or inventory.source != "local":
        return
    labels = sorted({lab for info in inventory.targets.values() for lab in info.spec.runs_on})
    how = ("--runners local" if runners == "local"
           else "no --runners and a suite without targets (so this machine was probed)")
    word = {"github": "runs-on", "gitlab": "tags", "jenkins": "agent labels"}.get(ci.value, "runs-on")
    raise PlanError(
        f"{how} inside {ci.value} CI: the plan would send its jobs to this machine's probe "
        f"labels ({', '.join(labels) or 'none'}) as {word}, which no runner serves, so they would "
        "wait until the CI gives up (24 h on GitHub). Fix: plan with --runners "
        f"{'github' if ci.value == 'github' else ci.value} (and a token that may list the "
        "runners), a runners FILE, or name targets with their runs-on in the suite "
        "(targets: {cpu: {runs-on: [ubuntu-latest]}}); to run everything on this machine, "
        "use `dtf local`.")


def build_inventory(suite: Suite, runners: str | None, *, org: str | None = None,
                    workers: int | None = None) -> Inventory:
    """Dispatch on ``--runners``: local, github, gitlab, a FILE, or none (suite, else local)."""
    if runners is None or runners == "":
        return suite_inventory(suite) if suite.targets else local_inventory(workers)
    if runners == "local":
        return local_inventory(workers)
    if runners == "github":
        return github_inventory(suite, org)
    if runners == "jenkins":
        return _fallback(suite, "Jenkins agents are not listed: planned from the suite's targets "
                                "(or pass --runners FILE with the agents' labels)", "jenkins")
    if runners == "gitlab":
        try:
            from dtf_ci.providers import get_provider

            provider = get_provider("gitlab")
            # the provider reads DTF_RUNNERS_TOKEN, else DTF_GITLAB_TOKEN, else GITLAB_TOKEN
            # (docs/gitlab.md#tokens), and raises a 401 ProviderError when none is set
            return inventory_from_runners(
                provider.list_runners(provider.context(), org=org), suite, "gitlab")
        except (UsageError, ProviderError) as exc:
            if isinstance(exc, ProviderError) and exc.status not in (401, 403, 404):
                raise
            return _fallback(suite, "no token may list runners: planned from the suite's targets", "gitlab")
    return inventory_from_runners(load_runners_file(runners), suite, f"file:{runners}")
