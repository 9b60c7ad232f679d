"""Requirement expressions: what a task needs from a target, and whether a target has it.

A requirement is a bare word (``gpu``, ``linux``, ``nvidia``), a negated word (``!windows``)
or a comparison on a fact (``cuda>=12``, ``gpu-memory-gb>=40``, ``memory>=64g``,
``arch==x86_64``). It is checked against a target's labels and facts; the facts a target has
come from the suite, from what ``dtf run`` detected before, and from label conventions
(:func:`facts_from_labels`), so ``gpu-a100`` alone is enough to satisfy ``gpu``.

Versions compare as versions (``12.10 > 12.9``) and sizes with units (``64g``, ``512m``), so
the suite author writes what they mean and never pads numbers. Parsing is cached: the planner
checks every task against every target, and a suite repeats the same few requirements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

OPERATORS = (">=", "<=", "==", "!=", ">", "<")
FALSY = frozenset({"", "false", "0", "no", "off", "none"})

_NAME = r"[A-Za-z0-9][A-Za-z0-9_.+-]*"
_WORD_RE = re.compile(rf"^(!?)({_NAME})$")
_COMPARE_RE = re.compile(rf"^(!?)((?:{_NAME})?)\s*(>=|<=|==|!=|>|<|=)\s*(\S*)$")
_VALUE_RE = re.compile(r"^[A-Za-z0-9_.+\-]+$")
_VERSION_RE = re.compile(r"^v?\d+(?:[.\-+_][A-Za-z0-9]+)*$")
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$", re.IGNORECASE)
_SIZE_FACTOR = {"": 1.0, "k": 2.0**10, "m": 2.0**20, "g": 2.0**30, "t": 2.0**40, "p": 2.0**50}

EXPECTED = (
    "expected a word (gpu, linux), a negated word (!windows) or a comparison on a fact "
    "(cuda>=12, gpu-memory-gb>=40, memory>=64g, arch==x86_64)"
)

# Key spellings people write for the facts dtf detects; the value is (fact key, unit of a
# plain number in that fact). ``memory>=64g`` reads the ``memory-gb`` fact as gigabytes.
_KEY_ALIASES: dict[str, tuple[str, str]] = {
    "memory": ("memory-gb", "g"),
    "mem": ("memory-gb", "g"),
    "ram": ("memory-gb", "g"),
    "gpu-memory": ("gpu-memory-gb", "g"),
    "gpu-mem": ("gpu-memory-gb", "g"),
    "vram": ("gpu-memory-gb", "g"),
    "cores": ("cpu-count", ""),
    "cpus": ("cpu-count", ""),
    "gpus": ("gpu-count", ""),
}
_UNIT_SUFFIX = {"-gb": "g", "-mb": "m", "-kb": "k", "-tb": "t"}
_VALUE_ALIASES = {
    "arch": {"x64": "x86_64", "amd64": "x86_64", "x86-64": "x86_64", "aarch64": "arm64"},
    "os": {"darwin": "macos", "mac": "macos", "osx": "macos", "win": "windows", "win32": "windows"},
}
_NEGATE = {">=": "<", "<=": ">", ">": "<=", "<": ">=", "==": "!=", "!=": "=="}


@dataclass(frozen=True)
class Requirement:
    """One parsed requirement; ``check`` says why a target does not satisfy it."""

    text: str
    key: str  # normalised word or fact key
    op: str | None = None  # None for a bare word
    value: str = ""
    negated: bool = False

    def __str__(self) -> str:
        return self.text

    def check(self, labels: frozenset[str], facts: dict[str, str]) -> str | None:
        """None when the target satisfies this requirement, else a short reason."""
        reason = self._check_positive(labels, facts)
        if not self.negated:
            return reason
        if reason is None:
            return f"has {self.text[1:]!r}"
        return None

    def _check_positive(self, labels: frozenset[str], facts: dict[str, str]) -> str | None:
        low_labels = _lower_labels(labels)
        if self.op is None:
            return None if _has_word(self.key, low_labels, facts) else f"no label or fact {self.key!r}"
        key, unit = _resolve_key(self.key, facts, low_labels)
        actual = _lookup(key, facts, low_labels)
        if actual is None:
            return f"no fact {self.key!r}"
        if _compare(key, unit, actual, self.op, self.value):
            return None
        shown = f"{actual}{unit}" if unit and _SIZE_RE.match(actual) and actual[-1:].isdigit() else actual
        return f"{self.key} {shown} {_NEGATE[self.op]} {self.value}"


def parse_requirement(text: str) -> Requirement:
    """Parse one requirement; raise RequirementError naming it and the expected form."""
    return _parse(text if isinstance(text, str) else str(text))


@lru_cache(maxsize=4096)
def _parse(text: str) -> Requirement:
    from dtf_ci.errors import RequirementError

    raw = text.strip()
    if not raw:
        raise RequirementError(f"requirement {text!r} is empty: {EXPECTED}")
    match = _WORD_RE.match(raw)
    if match:
        return Requirement(text=raw, key=_norm_key(match.group(2)), negated=bool(match.group(1)))
    match = _COMPARE_RE.match(raw)
    if not match:
        raise RequirementError(f"requirement {raw!r} cannot be read: {EXPECTED}")
    neg, key, op, value = match.groups()
    if not key:
        raise RequirementError(f"requirement {raw!r} has no fact name before {op!r}: {EXPECTED}")
    if op == "=":
        raise RequirementError(f"requirement {raw!r} uses '=': write '==' ({key}=={value}); {EXPECTED}")
    if not value:
        raise RequirementError(f"requirement {raw!r} has no value after {op!r}: {EXPECTED}")
    if not _VALUE_RE.match(value):
        raise RequirementError(f"requirement {raw!r} has a value {value!r} that cannot be read: {EXPECTED}")
    return Requirement(text=raw, key=_norm_key(key), op=op, value=value, negated=bool(neg))


def _norm_key(key: str) -> str:
    return key.strip().lower().replace("_", "-")


@lru_cache(maxsize=1024)
def _lower_labels(labels: frozenset[str]) -> frozenset[str]:
    return frozenset(label.lower() for label in labels)


def _truthy(value: str) -> bool:
    return value.strip().lower() not in FALSY


def _lookup(key: str, facts: dict[str, str], low_labels: frozenset[str]) -> str | None:
    if key in facts:
        return str(facts[key])
    conv = facts_from_labels(low_labels)
    return conv.get(key)


def _resolve_key(key: str, facts: dict[str, str], low_labels: frozenset[str]) -> tuple[str, str]:
    """The fact key to read and the unit a plain number in it has (``memory`` -> memory-gb, g)."""
    if key in facts or key in facts_from_labels(low_labels):
        unit = next((u for suffix, u in _UNIT_SUFFIX.items() if key.endswith(suffix)), "")
        return key, unit
    if key in _KEY_ALIASES:
        return _KEY_ALIASES[key]
    for suffix, unit in _UNIT_SUFFIX.items():
        if key.endswith(suffix):
            return key, unit
    if key + "-gb" in facts or key + "-gb" in facts_from_labels(low_labels):
        return key + "-gb", "g"
    return key, ""


def _has_word(word: str, low_labels: frozenset[str], facts: dict[str, str]) -> bool:
    if word in low_labels:
        return True
    conv = facts_from_labels(low_labels)
    for source in (facts, conv):
        value = source.get(word)
        if value is not None:
            return _truthy(str(value))
    for source in (facts, conv):
        for key, value in source.items():
            text = str(value).lower()
            if text == word and _truthy(text) and not key.endswith(("-name", "-model-full", "-vendor")):
                return True
    from dtf_ci.hardware import derive_labels

    return word in {label.lower() for label in derive_labels({**conv, **facts})}


def _compare(key: str, unit: str, actual: str, op: str, wanted: str) -> bool:
    a, w = actual.strip(), wanted.strip()
    aliases = _VALUE_ALIASES.get(key)
    if aliases:
        a, w = aliases.get(a.lower(), a.lower()), aliases.get(w.lower(), w.lower())
    sizes = _size_pair(a, w, unit)
    if sizes is not None:
        cmp = (sizes[0] > sizes[1]) - (sizes[0] < sizes[1])
    elif _VERSION_RE.match(a) and _VERSION_RE.match(w):
        cmp = compare_versions(a, w)
    else:
        al, wl = a.lower(), w.lower()
        if op in ("==", "!="):
            return (al == wl) == (op == "==")
        return False  # an order between words means nothing: not satisfied
    return {
        ">=": cmp >= 0, "<=": cmp <= 0, ">": cmp > 0, "<": cmp < 0, "==": cmp == 0, "!=": cmp != 0,
    }[op]


def _size_pair(a: str, w: str, unit: str) -> tuple[float, float] | None:
    """Both sides as bytes when either names a unit (``64g``) or the fact has one (``-gb``)."""
    ma, mw = _SIZE_RE.match(a), _SIZE_RE.match(w)
    if not (ma and mw):
        return None
    if not (unit or ma.group(2) or mw.group(2)):
        return None
    if not unit and "." in a and a.count(".") > 1:
        return None
    return parse_size(a, default_unit=unit), parse_size(w, default_unit=unit)


def parse_size(text: str, default_unit: str = "") -> float:
    """``64g``/``64GiB``/``64GB`` -> bytes (binary units); a plain number takes ``default_unit``."""
    match = _SIZE_RE.match(str(text).strip())
    if not match:
        raise ValueError(f"not a size: {text!r} (expected a number with an optional k/m/g/t unit)")
    number, unit = float(match.group(1)), (match.group(2) or default_unit).lower()
    return number * _SIZE_FACTOR[unit]


def _version_key(text: str) -> list[tuple[int, int | str]]:
    parts = [p for p in re.split(r"[.\-+_]", text.strip().lower().lstrip("v")) if p]
    key: list[tuple[int, int | str]] = []
    for part in parts:
        m = re.match(r"^(\d+)(.*)$", part)
        if m:
            key.append((1, int(m.group(1))))
            if m.group(2):
                key.append((0, m.group(2)))  # 12.4rc1 sorts before 12.4.0
        else:
            key.append((0, part))
    return key


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` is older, equal or newer: ``12.10 > 12.9``, ``12 == 12.0``."""
    ka, kb = _version_key(a), _version_key(b)
    n = max(len(ka), len(kb))
    ka += [(1, 0)] * (n - len(ka))
    kb += [(1, 0)] * (n - len(kb))
    for x, y in zip(ka, kb, strict=True):
        if x == y:
            continue
        if x[0] != y[0]:
            return 1 if x[0] > y[0] else -1
        return 1 if x[1] > y[1] else -1  # type: ignore[operator]
    return 0


# --- label conventions -----------------------------------------------------------------------

_NVIDIA_MODELS = re.compile(r"^(a\d+g?|h\d+|v100|p100|t4|l4|l40s?|b\d+|gh\d+|rtx.*|gtx.*|quadro.*|tesla.*|titan.*)$")
_AMD_MODELS = re.compile(r"^(mi\d+\w*|rx.*|radeon.*)$")
_OS_WORDS = {"linux": "linux", "macos": "macos", "macosx": "macos", "osx": "macos", "darwin": "macos",
             "windows": "windows", "win": "windows"}
_ARCH_WORDS = {"x64": "x86_64", "x86_64": "x86_64", "amd64": "x86_64", "x86-64": "x86_64",
               "arm64": "arm64", "aarch64": "arm64"}
_VENDORS = ("nvidia", "amd", "intel", "apple")


def facts_from_labels(labels: frozenset[str] | tuple[str, ...] | list[str]) -> dict[str, str]:
    """Facts implied by runner labels (the conventions in docs/planner.md).

    ``gpu-a100`` -> gpu=nvidia, gpu-model=a100; ``cuda-12.4`` -> cuda=12.4; ``mem-64g`` ->
    memory-gb=64; ``linux`` -> os=linux; ``x64`` -> arch=x86_64; ``4gpu``/``gpu-count-4`` ->
    gpu-count=4; ``ubuntu-latest`` -> os=linux, arch=x86_64. They are the weakest source:
    suite and detected facts override them.
    """
    return dict(_facts_from_labels(frozenset(label.lower() for label in labels)))


@lru_cache(maxsize=1024)
def _facts_from_labels(labels: frozenset[str]) -> tuple[tuple[str, str], ...]:
    facts: dict[str, str] = {}
    vendor = ""
    gpu_seen = False
    for label in sorted(labels):
        if label in _OS_WORDS:
            facts["os"] = _OS_WORDS[label]
        elif label in _ARCH_WORDS:
            facts["arch"] = _ARCH_WORDS[label]
        elif label in _VENDORS:
            vendor = label
        elif label == "gpu":
            gpu_seen = True
        elif m := re.match(r"^(ubuntu|windows|macos)-(.+)$", label):
            facts.setdefault("os", {"ubuntu": "linux"}.get(m.group(1), m.group(1)))
            if m.group(1) != "macos":
                facts.setdefault("arch", "arm64" if m.group(2).endswith("-arm") else "x86_64")
        elif m := re.match(r"^cuda-?(\d+(?:\.\d+)*)$", label):
            facts["cuda"] = m.group(1)
            vendor = vendor or "nvidia"
        elif m := re.match(r"^rocm-?(\d+(?:\.\d+)*)$", label):
            facts["rocm"] = m.group(1)
            vendor = vendor or "amd"
        elif m := re.match(r"^(?:gpu-?mem(?:ory)?|vram)-(\d+(?:\.\d+)?)(?:g|gb|gib)$", label):
            facts["gpu-memory-gb"] = m.group(1)
            gpu_seen = True
        elif m := re.match(r"^(?:mem|memory|ram)-(\d+(?:\.\d+)?)(?:g|gb|gib)$", label):
            facts["memory-gb"] = m.group(1)
        elif m := re.match(r"^(?:gpu-count-|gpus?-x?)(\d+)$|^(\d+)-?gpus?$|^gpu-x(\d+)$", label):
            facts["gpu-count"] = next(g for g in m.groups() if g)
            gpu_seen = True
        elif m := re.match(r"^(?:cpu-count-|cpus?-|cores-)(\d+)$|^(\d+)-?(?:cpus?|cores)$", label):
            facts["cpu-count"] = next(g for g in m.groups() if g)
        elif m := re.match(r"^gpu-([a-z0-9][a-z0-9-]*)$", label):
            model = m.group(1)
            facts["gpu-model"] = model
            gpu_seen = True
            if _NVIDIA_MODELS.match(model):
                vendor = vendor or "nvidia"
            elif _AMD_MODELS.match(model):
                vendor = vendor or "amd"
    if vendor and (gpu_seen or vendor in ("nvidia", "amd") or "cuda" in facts):
        facts["gpu"] = vendor
    elif gpu_seen:
        facts["gpu"] = "true"
    if facts.get("gpu") and "gpu-count" not in facts:
        pass  # unknown count: leave it out rather than guess 1
    return tuple(sorted(facts.items()))


def merge_facts(*sources: dict[str, str] | None) -> dict[str, str]:
    """Facts from several sources, the first having the last word (suite, history, labels)."""
    merged: dict[str, str] = {}
    for source in reversed(sources):
        if source:
            merged.update({_norm_key(k): str(v) for k, v in source.items()})
    return merged
