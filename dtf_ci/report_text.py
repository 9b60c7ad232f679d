"""Number formatting shared by the terminal summary: values with units, signed changes."""

from __future__ import annotations

import math
from typing import Any

_TIME_STEPS = ((1e-6, "ns", 1e9), (1e-3, "µs", 1e6), (1.0, "ms", 1e3))


def format_value(value: float | None, unit: str) -> str:
    """``0.00123, "s"`` -> ``1.23 ms``; other units keep three significant digits."""
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "—"
    if unit == "s":
        for limit, name, factor in _TIME_STEPS:
            if abs(value) < limit:
                return f"{value * factor:.3g} {name}"
        return f"{value:.3g} s"
    return f"{value:.4g} {unit}".strip()


def change_text(row: dict[str, Any]) -> str:
    """``+31.2% [+27.0, +35.1]``: the change of the metric with its confidence interval."""
    ratio = row.get("ratio")
    if not isinstance(ratio, (int, float)):
        return ""
    text = f"{(ratio - 1) * 100:+.1f}%"
    lo, hi = row.get("ci_low"), row.get("ci_high")
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
        text += f" [{(lo - 1) * 100:+.1f}, {(hi - 1) * 100:+.1f}]"
    return text
