"""How long a unit will take: history first, then scaled history, a durations file, a default.

Packing is only as good as its estimates, so every estimate says where it came from
(``history``, ``history-scaled``, ``durations-file``, ``default``) and plan.json records it:
a plan balanced on defaults is a guess, and the reader should see that.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtf_ci.errors import UsageError
from dtf_ci.model import Task

RECENT = 5  # durations per unit that count: the median of the last five runs
DEFAULT_CAP_S = 60.0


def default_estimate(task: Task) -> float:
    """With nothing measured: a tenth of the task's timeout, at most 60 s (docs/planner.md)."""
    return max(0.1, min(task.timeout_s / 10.0, DEFAULT_CAP_S))


@dataclass
class HistoryInputs:
    """What the planner reads from history: durations per (task, target) and detected facts."""

    durations: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    facts: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    job_overheads: dict[str, float] = field(default_factory=dict)  # target -> learned start-up seconds


def history_inputs(history: Any) -> HistoryInputs:
    """Read durations and facts from a history store, a store spec, or ready ``HistoryInputs``.

    ``dtf_ci.history`` is imported lazily and its absence or failure is tolerated: a plan
    without history is still a plan, only with weaker estimates (the reason goes in a note).
    """
    if history is None:
        return HistoryInputs()
    if isinstance(history, HistoryInputs):
        return history
    try:
        from dtf_ci import history as hist
    except ImportError:
        return HistoryInputs(notes=["history could not be read (dtf_ci.history unavailable); estimates without it"])
    try:
        store = hist.open_history(str(history)) if isinstance(history, (str, Path)) else history
        durations = dict(hist.unit_durations(store) or {})
        facts = dict(hist.target_facts(store) or {})
        overheads = learned_job_overheads([r.meta for r in store.runs()])
    except Exception as exc:  # a broken history must not stop the plan
        return HistoryInputs(notes=[f"history could not be read ({exc}); estimates without it"])
    return HistoryInputs(durations=durations, facts=facts, job_overheads=overheads)


LEARN_RUNS = 10


def learned_job_overheads(run_metas: list[dict[str, Any]]) -> dict[str, float]:
    """Per target, the median start-up cost the last runs measured (``job-overhead-s`` in run.json).

    ``dtf aggregate`` measures it as the time from the plan's creation to the first unit of
    each first-wave shard: queueing, runner start, checkout and installing dtf, which is
    exactly the cost one more shard adds.
    """
    seen: dict[str, list[float]] = {}
    for meta in run_metas:
        for target, seconds in (meta.get("job-overhead-s") or {}).items():
            if isinstance(seconds, (int, float)) and 0 <= seconds < 3600:
                seen.setdefault(str(target), []).append(float(seconds))
    return {t: round(statistics.median(v[-LEARN_RUNS:]), 1) for t, v in seen.items() if v}


def load_durations(path: str | Path) -> dict[str, float]:
    """A JSON object of task id (or ``task@target``) -> seconds; errors name the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the durations file ({exc.strerror or exc})") from exc
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object of task id -> seconds")
    out: dict[str, float] = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise UsageError(f"{path}: {key!r}: expected a number of seconds >= 0, got {value!r}")
        out[str(key)] = float(value)
    return out


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


class Estimator:
    """Estimates per (task, target), with the speed ratio between targets measured once."""

    def __init__(self, durations: dict[tuple[str, str], list[float]] | None = None,
                 file_durations: dict[str, float] | None = None) -> None:
        self.medians: dict[tuple[str, str], float] = {}
        self.by_task: dict[str, dict[str, float]] = {}
        for (task, target), values in (durations or {}).items():
            recent = [float(v) for v in list(values)[-RECENT:] if v is not None and v >= 0]
            if recent:
                med = _median(recent)
                self.medians[(task, target)] = med
                self.by_task.setdefault(task, {})[target] = med
        self.file = file_durations or {}
        self._ratios: dict[tuple[str, str], float | None] = {}
        self._cache: dict[tuple[str, str], tuple[float, str]] = {}

    def ratio(self, target: str, other: str) -> float | None:
        """How much longer ``target`` takes than ``other``: the median ratio over shared tasks."""
        if not self._ratios:
            self._measure_ratios()
        return self._ratios.get((target, other))

    def _measure_ratios(self) -> None:
        """Every pair of targets in one pass over the tasks measured on both."""
        pairs: dict[tuple[str, str], list[float]] = {}
        for meds in self.by_task.values():
            if len(meds) < 2:
                continue
            for a, ma in meds.items():
                for b, mb in meds.items():
                    if a != b and mb > 0:
                        pairs.setdefault((a, b), []).append(ma / mb)
        self._ratios = {key: _median(values) for key, values in pairs.items()}
        self._ratios[("", "")] = None  # marks "measured" even when no pair exists

    def estimate(self, task: Task, target: str) -> tuple[float, str]:
        """(seconds, source) for one unit."""
        key = (task.id, target)
        if key not in self._cache:
            self._cache[key] = self._estimate(task, target)
        return self._cache[key]

    def _estimate(self, task: Task, target: str) -> tuple[float, str]:
        own = self.medians.get((task.id, target))
        if own is not None:
            return own, "history"
        elsewhere = self.by_task.get(task.id)
        if elsewhere:
            scaled = []
            for other in sorted(elsewhere):
                r = self.ratio(target, other)
                if r is not None:
                    scaled.append(elsewhere[other] * r)
            if scaled:
                return _median(scaled), "history-scaled"
        for key in (f"{task.id}@{target}", task.id):
            if key in self.file:
                return self.file[key], "durations-file"
        if elsewhere:  # measured elsewhere, speed ratio unknown: same time as there
            return _median(list(elsewhere.values())), "history-scaled"
        return default_estimate(task), "default"
