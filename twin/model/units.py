"""Durations written the way people write them: 600, 90s, 10min, 1.5h, 2d.

The one grammar of durations in the project: command-line options (``--duration 1h``), scenario
files (``at = "10min"``) and the console's shelve dialog all read durations with
:func:`parse_duration_s`.

Grammar: a non-negative decimal number (``600``, ``1.5``, ``.5``, ``1e3``), optional blanks, then an
optional unit, case-insensitive: none or ``s``/``sec`` (seconds), ``m``/``min`` (minutes),
``h``/``hr`` (hours), ``d`` (days). Nothing else: no signs, no compound forms (``1h30``), no
sub-second units (``500ms``), no ``inf``/``nan``; the value must be finite and positive (or zero
where ``allow_zero``).
"""

from __future__ import annotations

import math
import re

__all__ = ["DURATION_PATTERN", "DURATION_UNITS_S", "parse_duration_s"]

#: Units a duration may carry, and their length in seconds ("" is a bare number of seconds).
DURATION_UNITS_S = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hr": 3600.0,
                    "d": 86400.0}

_DURATION_RE = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*")


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" for c in word)


#: The duration grammar as a JSON Schema ``pattern`` (ECMA-262 has no inline case-insensitive flag, so
#: each unit letter is a class of both cases); what editors check a duration string against.
DURATION_PATTERN = (r"^\s*[0-9]*\.?[0-9]+([eE][+-]?[0-9]+)?\s*("
                    + "|".join(_any_case(u) for u in sorted(DURATION_UNITS_S, key=len, reverse=True) if u)
                    + r")?\s*$")
_NOT_A_DURATION = ("{text!r} is not a duration: write seconds, or a number with a unit s, min, h or d "
                   "(e.g. 600, 90s, 10min, 1.5h, 2d)")


def parse_duration_s(text: str | float | int, *, allow_zero: bool = False) -> float:
    """'600' → 600, '10min' → 600, '1h' → 3600, '1.5h' → 5400; numbers are seconds.

    Raises ValueError with a message that says what is allowed ("… is not a duration: …" for text
    outside the grammar, "… must be positive …" for zero or out-of-range values).
    """
    if isinstance(text, bool):
        raise ValueError(_NOT_A_DURATION.format(text=text))
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = _DURATION_RE.fullmatch(text)
        if not m or m.group(2).lower() not in DURATION_UNITS_S:
            raise ValueError(_NOT_A_DURATION.format(text=text))
        value = float(m.group(1)) * DURATION_UNITS_S[m.group(2).lower()]
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        need = "finite and ≥ 0" if allow_zero else "positive and finite"
        raise ValueError(f"{text!r}: a duration must be {need}")
    return value
