"""Numbers as an operator reads them: units always shown, fixed decimals, "—" for what is unknown.

Pure functions (no textual): the views and the tests share them, and a change of format shows in one
place. Values arrive from the bus as JSON, so any number may be ``None`` (NaN and ±inf travel as null).
"""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text

from tui.palette import ALARM, DIM, NORMAL, WARNING
from twin.model.schema import ASHRAE_ALLOWABLE_C, ASHRAE_RECOMMENDED_C

__all__ = [
    "MISSING",
    "fmt_clock",
    "fmt_duration",
    "fmt_num",
    "fmt_pct",
    "fmt_power",
    "fmt_speed",
    "fmt_value",
    "inlet_state",
    "inlet_style",
    "num",
]

MISSING = "—"


def num(v: Any) -> float | None:
    """A finite float, or None for anything else (null, NaN, strings, booleans)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def fmt_num(v: Any, decimals: int = 1) -> str:
    f = num(v)
    return MISSING if f is None else f"{f:.{decimals}f}"


def fmt_pct(fraction: Any, decimals: int = 0) -> str:
    """A fraction 0–1 as a percentage, ``"42 %"``."""
    f = num(fraction)
    return MISSING if f is None else f"{100.0 * f:.{decimals}f} %"


def fmt_power(w: Any) -> str:
    """Watts in the unit an operator expects at that size: W, kW or MW."""
    f = num(w)
    if f is None:
        return MISSING
    a = abs(f)
    if a >= 1e6:
        return f"{f / 1e6:.2f} MW"
    if a >= 1e3:
        return f"{f / 1e3:.1f} kW"
    return f"{f:.0f} W"


def fmt_clock(time_s: Any) -> str:
    """Simulated time as ``hh:mm:ss`` (``2d 01:02:03`` past a day): the clock a control room shows."""
    f = num(time_s)
    if f is None:
        return "--:--:--"
    s = int(math.floor(f))
    days, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    clock = f"{h:02d}:{m:02d}:{s:02d}"
    return f"{days}d {clock}" if days else clock


def fmt_duration(seconds: Any) -> str:
    """A span as ``45 s``, ``12 min``, ``1.5 h``: for shelve times and ages."""
    f = num(seconds)
    if f is None:
        return MISSING
    if f < 120:
        return f"{f:.0f} s"
    if f < 7200:
        return f"{f / 60:.0f} min"
    return f"{f / 3600:.1f} h"


def fmt_speed(clock: dict | None) -> str:
    """The run's pace from a summary's clock: ``×10``, ``max``, with ``PAUSED`` shown by the caller."""
    if not clock:
        return MISSING
    if clock.get("max_speed"):
        return "max"
    s = num(clock.get("speed"))
    return MISSING if s is None else f"×{s:g}"


def fmt_value(v: Any, unit: str = "", *, integer: bool = False) -> str:
    """A setpoint's value with its unit ("1" is the registry's unit of fractions and flags: no label)."""
    f = num(v)
    if f is None:
        return MISSING
    text = f"{f:.0f}" if integer else f"{f:.4g}" if abs(f) < 10 else f"{f:.3g}" if abs(f) < 100 else f"{f:.1f}"
    return f"{text} {unit}" if unit and unit != "1" else text


def inlet_state(t_c: Any, ashrae: dict | None) -> Text:
    """A rack inlet against the hall's ASHRAE TC9.9 band: plain inside the recommended range, amber
    outside it, red outside the allowable range of the hall's class."""
    f = num(t_c)
    if f is None:
        return Text(MISSING, style=DIM)
    rec = (ashrae or {}).get("recommended_c") or ASHRAE_RECOMMENDED_C  # a hall that sent no band: A1's
    allow = (ashrae or {}).get("allowable_c") or ASHRAE_ALLOWABLE_C["A1"]
    if f > allow[1]:
        return Text("above allowable", style=ALARM)
    if f < allow[0]:
        return Text("below allowable", style=ALARM)
    if f > rec[1]:
        return Text("above rec.", style=WARNING)
    if f < rec[0]:
        return Text("below rec.", style=WARNING)
    return Text("ok", style=NORMAL)


def inlet_style(t_c: Any, ashrae: dict | None) -> str:
    """The style of an inlet temperature (the same rule as :func:`inlet_state`)."""
    return inlet_state(t_c, ashrae).style if num(t_c) is not None else DIM
