"""The typed objects that pass between dtf's steps.

These dataclasses are the in-memory form of the design's words. They are deliberately plain
(no behaviour beyond small helpers) so that every module can import them without pulling in
heavy libraries, and so the JSON files (``plan.json``, ``verdicts.json``) map onto them
field for field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Direction = Literal["lower", "higher"]
"""Which way is better for a metric: ``lower`` (times) or ``higher`` (throughput)."""

Baseline = Literal["history", "interleaved"]
"""What a series is compared with: past runs (``history``) or the base revision run
alternately with the head in the same job (``interleaved``)."""
BASELINES = ("history", "interleaved")

VERDICTS = ("regression", "improvement", "unchanged", "inconclusive", "new", "missing", "failed")
UNIT_STATUSES = ("passed", "failed", "skipped", "missing")
ERROR_CATEGORIES = ("", "test", "timeout", "infrastructure", "dependency", "parse", "command")


@dataclass(frozen=True)
class TargetSpec:
    """A class of equivalent runners: same labels, same hardware facts."""

    name: str
    runs_on: tuple[str, ...]
    facts: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    autoscaled: bool = False
    max_runners: int | None = None

    @property
    def labels(self) -> frozenset[str]:
        return frozenset(self.runs_on)


@dataclass(frozen=True)
class Defaults:
    repeat: int = 5
    timeout_s: float = 900.0
    retries: int = 1
    threshold: float = 0.03
    max_repeat: int | None = None
    baseline: Baseline = "history"
    threshold_auto: bool = False


@dataclass(frozen=True)
class Task:
    """One entry of the suite, with the defaults already applied."""

    id: str
    run: str
    format: str | None = None
    requires: tuple[str, ...] = ()
    across: Literal["all", "one"] = "all"
    depends_on: tuple[str, ...] = ()  # task ids and ``group:NAME`` entries, as written
    group: str | None = None
    repeat: int = 5
    max_repeat: int | None = None
    timeout_s: float = 900.0
    retries: int = 1
    threshold: float = 0.03
    produces: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    # May a unit of this task share the machine's cores with other units (dtf local)?
    # None: the default, no for benchmarks (a ``format``), yes for everything else.
    parallel: bool | None = None
    baseline: Baseline = "history"
    threshold_auto: bool = False  # `threshold: auto`: the calibrated noise decides (dtf calibrate)

    @property
    def runs_in_parallel(self) -> bool:
        return self.format is None if self.parallel is None else self.parallel


@dataclass(frozen=True)
class Suite:
    """A validated ``dtf.yml``."""

    path: str  # as the user gave it
    root: str  # absolute folder of the suite file: tasks run here
    version: int
    targets: dict[str, TargetSpec]
    defaults: Defaults
    tasks: dict[str, Task]  # in file order

    def resolved_dependencies(self, task_id: str) -> tuple[str, ...]:
        """Task ids this task depends on, with ``group:NAME`` expanded, in file order."""
        deps: list[str] = []
        for dep in self.tasks[task_id].depends_on:
            if dep.startswith("group:"):
                name = dep[len("group:") :]
                deps.extend(t.id for t in self.tasks.values() if t.group == name and t.id != task_id)
            else:
                deps.append(dep)
        return tuple(dict.fromkeys(deps))


PARSE_NOTES = "parse notes: "
"""How a passed unit's ``reason`` starts when it carries what the format parser noted (a
duplicate name kept apart, a value replaced): the shard's ``units.reason`` column is free for
a passed unit, so notes travel from ``dtf run`` to the aggregate report without a schema change."""


class Measurement(NamedTuple):
    """One value of one metric read from one results file (one repetition).

    A named tuple rather than a frozen dataclass: a large results file makes hundreds of
    thousands of these, and a frozen dataclass's ``__init__`` (four ``object.__setattr__``
    calls) was a third of the time of parsing a 100,000-line go log (issue 11's < 1 s goal).
    """

    metric: str
    value: float
    unit: str = ""
    direction: Direction = "lower"


@dataclass
class ParseResult:
    """What a format parser found in a results file.

    ``failures`` names test cases that failed (junit): the unit is then ``failed`` with
    error category ``test`` even when the command exited 0. Several measurements with one
    metric name are several samples of that series (raw rounds, ``go test -count``).
    ``notes`` are things a person should know about the file (a duplicate name kept apart,
    a value the tool wrote that dtf replaced), shown by ``dtf parse``.
    """

    measurements: list[Measurement] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    tests: int = 0
    notes: list[str] = field(default_factory=list)
