"""Durations written the way people write them: 600, 90s, 10min, 1.5h, 2d."""

from __future__ import annotations

import math
import re

__all__ = ["parse_duration_s"]

_UNITS_S = {"": 1.0, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "hr": 3600.0, "d": 86400.0}


def parse_duration_s(text: str | float | int, *, allow_zero: bool = False) -> float:
    """'600' → 600, '10min' → 600, '1h' → 3600, '1.5h' → 5400; numbers are seconds.

    Raises ValueError with a message that says what is allowed.
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration (examples: 600, 90s, 10min, 1h, 2d)")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
        if not m or m.group(2).lower() not in _UNITS_S:
            raise ValueError(f"{text!r} is not a duration (examples: 600, 90s, 10min, 1h, 2d)")
        value = float(m.group(1)) * _UNITS_S[m.group(2).lower()]
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{text!r}: a duration must be finite and {'≥ 0' if allow_zero else '> 0'}")
    return value
