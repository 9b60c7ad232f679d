"""When to stop repeating a unit: the precision of the estimate, not the spread of the samples.

The spread of the samples (their MAD) does not shrink as more are taken, so a rule that waits
for spread < threshold/2 runs every noisy benchmark to its maximum and learns nothing more.
What does shrink is the uncertainty of the estimate the verdict is built on: the confidence
interval of a median narrows with √n. So a unit stops when, for every metric, either

* the estimate is **precise enough**: the 95 % interval of its median is at most ±threshold/2
  wide (then a change of ``threshold`` falls outside both sides' intervals), or
* more samples **cannot change the verdict**: even at ``max-repeat`` the interval would still
  be wider than that, so the series stays undecidable at this threshold whatever we do;
  taking the extra samples would only cost time.

The interval is the normal approximation of the median's standard error on the log scale
(1.2533 · σ / √n, with σ estimated robustly as 1.4826 · MAD), so "±2 %" means the same for a
1 ms and a 1 s benchmark, and one outlier does not widen it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: z for a two-sided 95 % interval, times the median's efficiency factor, times MAD -> sigma.
_HALF_WIDTH_PER_MAD = 1.959964 * 1.2533 * 1.4826
#: Fewer samples than this give no usable spread estimate: keep going up to ``repeat`` anyway.
MIN_SAMPLES = 3


@dataclass(frozen=True)
class StopDecision:
    """Whether to stop after ``n`` repetitions, and why (shown in logs and tests)."""

    stop: bool
    reason: str
    needed: int = 0  # repetitions the least precise metric would need (0: none more)


def half_width(values: Sequence[float]) -> float | None:
    """Relative half-width of the 95 % interval of the median (0.02 = ±2 %); None if unknown.

    Non-positive values cannot be put on the log scale; their metric is judged on the spread
    relative to the median instead, and a median of zero gives no relative precision at all.
    """
    finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if len(finite) < MIN_SAMPLES:
        return None
    if all(v > 0 for v in finite):
        logs = [math.log(v) for v in finite]
        med = statistics.median(logs)
        mad = statistics.median(abs(v - med) for v in logs)
    else:
        med_raw = statistics.median(finite)
        if med_raw == 0:
            return None
        mad = statistics.median(abs(v - med_raw) for v in finite) / abs(med_raw)
    return _HALF_WIDTH_PER_MAD * mad / math.sqrt(len(finite))


def needed_repetitions(values: Sequence[float], threshold: float) -> int | None:
    """Repetitions after which the median's interval would be ±threshold/2; None if unknown."""
    hw = half_width(values)
    if hw is None:
        return None
    target = max(threshold, 1e-6) / 2
    if hw <= target:
        return len(values)
    return math.ceil(len(values) * (hw / target) ** 2)


def should_stop(by_metric: Mapping[str, Sequence[float]], *, n: int, repeat: int, max_repeat: int,
                threshold: float) -> StopDecision:
    """The stop rule for adaptive repeats, given the samples so far (one list per metric).

    ``repeat`` repetitions are always taken; ``max_repeat`` is never exceeded; in between,
    stop as soon as every metric is either precise enough or cannot become so by max_repeat.
    """
    if n < repeat:
        return StopDecision(False, f"{n} of {repeat} repetitions")
    if n >= max_repeat:
        return StopDecision(True, f"reached max-repeat ({max_repeat})")
    most = 0
    for values in by_metric.values():
        needed = needed_repetitions(values, threshold)
        if needed is None or needed <= n:
            continue  # precise enough (or no relative precision to be had)
        if needed > max_repeat:
            continue  # max-repeat cannot make it precise: more samples cannot change the verdict
        most = max(most, needed)
    if most:
        return StopDecision(False, f"an estimate needs {most} repetitions to be precise to ±{threshold / 2:.1%}", most)
    return StopDecision(True, "every estimate is precise enough, or cannot become so by max-repeat")


def repeat_bounds(task: Mapping[str, object], unit: Mapping[str, object] | None = None) -> tuple[int, int]:
    """(repeat, max_repeat) of a plan task (and, optionally, its plan unit).

    A benchmark (a task with a ``format``) may take up to 3 × repeat samples when its
    estimates are not yet precise. A task without a format (a build, a data step) measures
    only its wall time: it takes exactly ``repeat`` samples unless ``max-repeat`` asks for more.

    A unit that has never run on its target (the plan's ``estimate-source`` is not
    ``history``) has no baseline: every series it yields is ``new`` however many samples it
    takes, so more samples cannot change its verdict and it stops at ``repeat``. Its samples
    then start a baseline that later runs add to.
    """
    repeat = max(1, int(str(task.get("repeat") or 1)))
    explicit = task.get("max-repeat")
    if explicit:
        max_repeat = max(repeat, int(str(explicit)))
    else:
        max_repeat = 3 * repeat if task.get("format") else repeat
    source = unit.get("estimate-source") if unit is not None else None
    if source is not None and source != "history":
        max_repeat = repeat
    return repeat, max_repeat
