"""Parsing of the human-written quantities in a suite: durations and thresholds."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$")
_FACTORS = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float:
    """``90s``, ``15m``, ``1.5h``, ``250ms`` or a bare number of seconds -> seconds.

    Raises ValueError with the accepted forms, for the suite loader to place in its message.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 90s, 15m or 1h, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"expected a duration like 90s, 15m or 1h, got {value!r}")
        seconds = float(match.group(1)) * _FACTORS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


def parse_threshold(value: object) -> float:
    """``3%`` or ``0.03`` -> 0.03.

    A bare number must be a fraction below 1: ``threshold: 5`` is an error, not 5 % (and not
    500 %). Reading 5 as 5 % while 1 meant 100 % made the same key mean two scales; writing
    the percent sign, or the fraction, leaves no doubt.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a threshold like 3% or 0.03, got {value!r}")
    text = str(value).strip()
    try:
        if text.endswith("%"):
            fraction = float(text[:-1]) / 100.0
        else:
            fraction = float(text)
            if fraction >= 1:
                raise ValueError(
                    f"a bare number is a fraction below 1 (0.05 = 5%), got {value!r}: write "
                    f"{_pct(fraction)}% for {_pct(fraction)} percent, or {fraction / 100:g} as a fraction")
    except ValueError as exc:
        if "fraction below 1" in str(exc):
            raise
        raise ValueError(f"expected a threshold like 3% or 0.03, got {value!r}") from None
    if not 0 <= fraction < 10 or fraction != fraction:
        raise ValueError(f"a threshold must be between 0% and 1000%, got {value!r}")
    return fraction


def _pct(x: float) -> str:
    return f"{x:g}"
