"""The ``dtf hw --json`` document: versioned, and comparable between two machines.

The document's keys are a contract: ``schema`` names its version (``dtf.hw/1``); a later
version only adds keys. ``facts`` and ``labels`` are what requirements see; the sections
(``cpu``, ``memory``, ``system``, ``gpus``, ``accelerators``, ``browsers``) keep typed details.
``dtf hw --diff A.json B.json`` compares two documents fact by fact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = "dtf.hw/1"

#: Facts that change from one moment to the next on the same machine: a diff lists them apart.
VOLATILE = frozenset({"python", "kernel", "gpu-sm-clock-mhz", "gpu-throttle-reasons", "memory-gb",
                      "memory-limit-gb", "cpu-count"})


@dataclass(frozen=True)
class FactChange:
    name: str
    a: str | None  # None: only the other machine has it
    b: str | None

    @property
    def volatile(self) -> bool:
        return self.name in VOLATILE

    def text(self) -> str:
        if self.a is None:
            return f"{self.name}: only B ({self.b})"
        if self.b is None:
            return f"{self.name}: only A ({self.a})"
        return f"{self.name}: {self.a} -> {self.b}"


def load_document(path: str | Path) -> dict[str, Any]:
    """Read a ``dtf hw --json`` file; UsageError naming the file when it is not one."""
    from dtf_ci.errors import UsageError

    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{p}: cannot read ({exc.strerror or exc}); write one with `dtf hw --json > {p.name}`") from None
    except ValueError as exc:
        raise UsageError(f"{p}: not JSON ({exc}); write one with `dtf hw --json > {p.name}`") from None
    if not isinstance(data, dict) or not isinstance(data.get("facts"), dict):
        raise UsageError(f"{p}: not a `dtf hw --json` document (no \"facts\" object)")
    schema = str(data.get("schema", "dtf.hw/0"))  # documents from before the schema key
    if not schema.startswith("dtf.hw/"):
        raise UsageError(f"{p}: schema {schema!r} is not a dtf hardware document (expected {SCHEMA})")
    return data


def diff_facts(a: dict[str, Any], b: dict[str, Any]) -> list[FactChange]:
    """Facts that differ between two documents (or two fact dicts), sorted by name."""
    fa = {str(k): str(v) for k, v in (a.get("facts", a) if "facts" in a else a).items()}
    fb = {str(k): str(v) for k, v in (b.get("facts", b) if "facts" in b else b).items()}
    return [FactChange(k, fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]


def diff_text(a: dict[str, Any], b: dict[str, Any], name_a: str = "A", name_b: str = "B") -> list[str]:
    """The diff as lines for a terminal: hardware first, then what varies from run to run."""
    changes = diff_facts(a, b)
    host_a, host_b = a.get("hostname", name_a), b.get("hostname", name_b)
    lines = [f"A = {name_a} ({host_a}), B = {name_b} ({host_b})"]
    hard = [c for c in changes if not c.volatile]
    soft = [c for c in changes if c.volatile]
    if not changes:
        lines.append("same hardware facts")
        return lines
    if hard:
        lines.append(f"{len(hard)} hardware fact{'s differ' if len(hard) != 1 else ' differs'}:")
        lines += [f"  {c.text()}" for c in hard]
    else:
        lines.append("same hardware; only facts that vary between runs differ:")
    if soft:
        if hard:
            lines.append("varying between runs:")
        lines += [f"  {c.text()}" for c in soft]
    return lines
