"""Text of the viewer's heads-up display and of picked equipment: plain functions of the bus's summary.

Kept apart from the drawing so that what an operator reads is tested as text, and so that the live
window and the off-screen renders say the same thing.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["caption_text", "format_sim_time", "hud_text", "pick_text", "stale_text"]


def format_sim_time(time_s: float | None) -> str:
    """Simulated time as ``1 d 02:03:04`` (days only when there are any)."""
    if time_s is None or not math.isfinite(time_s):
        return "–"
    total = int(round(time_s))
    days, rest = divmod(total, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    clock = f"{h:02d}:{m:02d}:{s:02d}"
    return f"{days} d {clock}" if days else clock


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _kw(v: Any) -> str:
    x = _num(v)
    return "–" if x is None else f"{x / 1e3:,.1f} kW"


def _speed(clock: dict) -> str:
    if clock.get("max_speed"):
        speed = "max"
    elif _num(clock.get("speed")) is not None:
        speed = f"×{clock['speed']:g}"
    else:
        speed = "–"
    return f"{speed} (paused)" if clock.get("paused") else speed


def hud_text(summary: dict | None, *, hall_name: str, status: str, max_alarms: int = 4) -> str:
    """The HUD: hall, simulated time and speed, PUE, IT and cooling power, max rack inlet, alarms."""
    if not summary:
        return f"{hall_name}\nwaiting for the twin … ({status})"
    clock = summary.get("clock") or {}
    k = summary.get("hall") or {}
    when = f"t = {format_sim_time(_num(clock.get('time_s')))}"
    if status == "offline":  # a file's state: no server, no clock running
        lines = [hall_name, f"{when}   (from file)"]
    else:
        lines = [f"{hall_name}   [{status.upper()}]", f"{when}   speed {_speed(clock)}"]
    pue = _num(k.get("pue"))
    lines.append(f"PUE {pue:.3f}" if pue is not None else "PUE –")
    lines[-1] += f"   IT load {_kw(k.get('it_load_w'))}   cooling {_kw(k.get('cooling_power_w'))}"
    t_max = _num(k.get("max_inlet_c"))
    if t_max is not None:
        where = f" ({k['max_inlet_rack']})" if k.get("max_inlet_rack") else ""
        outside = k.get("racks_outside_recommended")
        tail = f"   {outside} outside 18–27 °C" if isinstance(outside, int) and outside else ""
        lines.append(f"max inlet {t_max:.1f} °C{where}{tail}")
    alarms = (summary.get("alarms") or {}).get("active") or []
    shelved = (summary.get("alarms") or {}).get("shelved") or []
    if not alarms:
        lines.append("alarms: none" + (f" ({len(shelved)} shelved)" if shelved else ""))
    else:
        lines.append(f"alarms: {len(alarms)} active" + (f", {len(shelved)} shelved" if shelved else ""))
        for a in alarms[:max_alarms]:
            name = a.get("name", "?")
            prio = a.get("priority", "")
            state = a.get("state", "")
            lines.append(f"  {prio.upper():<8} {name}" + (f" ({state})" if state else ""))
        if len(alarms) > max_alarms:
            lines.append(f"  … and {len(alarms) - max_alarms} more")
    if clock.get("training"):
        lines.append("TRAINING: a fault was injected over the bus")
    return "\n".join(lines)


def stale_text(status: str, quiet_s: float | None) -> str:
    """The STALE banner ('' when the bus is live): the picture is older than it looks."""
    if status == "stale":
        age = f" — no data for {quiet_s:.0f} s" if quiet_s is not None and math.isfinite(quiet_s) else ""
        return f"STALE{age}"
    if status == "connecting":
        return "CONNECTING …"
    return ""


def _col(table: dict, key: str, i: int) -> Any:
    v = table.get(key)
    return v[i] if isinstance(v, list) and i < len(v) else None


def _fmt(v: Any, fmt: str, unit: str = "") -> str:
    x = _num(v)
    return "–" if x is None else f"{x:{fmt}}{unit}"


def pick_text(kind: str, name: str, summary: dict | None) -> str:
    """The figures of a picked rack or CRAH, from the latest summary."""
    table = (summary or {}).get("racks" if kind == "rack" else "crahs") or {}
    names = table.get("name") or []
    if name not in names:
        return f"{kind} {name}: no figures yet"
    i = names.index(name)
    if kind == "rack":
        powered = _col(table, "powered", i)
        return (f"rack {name}{'' if powered in (None, True) else '  (NO POWER)'}\n"
                f"inlet {_fmt(_col(table, 't_inlet_c', i), '.1f', ' °C')}   "
                f"exhaust {_fmt(_col(table, 't_exhaust_c', i), '.1f', ' °C')}\n"
                f"IT load {_kw(_col(table, 'it_load_w', i))}   heat {_kw(_col(table, 'heat_w', i))}   "
                f"airflow {_fmt(_col(table, 'flow_m3s', i), '.3f', ' m³/s')}")
    from viewer.scene import crah_states

    state = crah_states(summary, len(names))[i]
    fan = _num(_col(table, "fan_speed", i))
    valve = _num(_col(table, "valve", i))
    used = _num(_col(table, "capacity_used", i))
    return (f"CRAH {name}: {state}\n"
            f"fan {'–' if fan is None else f'{100 * fan:.0f} %'}   "
            f"valve {'–' if valve is None else f'{100 * valve:.0f} %'}   "
            f"fan power {_kw(_col(table, 'fan_power_w', i))}\n"
            f"supply {_fmt(_col(table, 't_supply_c', i), '.1f', ' °C')} "
            f"(set {_fmt(_col(table, 'supply_setpoint_c', i), '.1f', ' °C')})   "
            f"return {_fmt(_col(table, 't_return_c', i), '.1f', ' °C')}\n"
            f"cooling {_kw(_col(table, 'heat_removed_w', i))}"
            + ("" if used is None else f" ({100 * used:.0f} % of rated)"))


def caption_text(view_name: str, options, aisles=(), *, air_scale: str = "neutral") -> str:
    """What the picture shows, in one line: the view, and each field layer with its height or value."""
    names = {a.name: a for a in aisles}
    if view_name in names:
        view = f"{view_name}: {names[view_name].label}"
    elif view_name == "walk":
        view = "guided walk"
    else:
        view = f"{view_name} view"
    parts = [view]
    if options.show_slice:
        parts.append(f"slice at {options.slice_height_m:.2f} m")
    if options.vslice_aisle is not None and aisles:
        a = list(aisles)[options.vslice_aisle % len(aisles)]
        axis = getattr(options, "vslice_axis", None)
        if axis is None or axis == a.axis:
            parts.append(f"section across {a.name}")
        else:  # the walk's legs between aisles: across the cross aisle, where it stands
            at = "" if options.vslice_at_m is None else f" at {'xy'[axis]} = {options.vslice_at_m:.1f} m"
            parts.append(f"section across the cross aisle{at}")
    if options.aisle_sections and aisles:
        parts.append("aisle sections (centre planes)")
    if options.iso_c is not None:
        parts.append(f"isosurface {options.iso_c:g} °C")
    if options.flow == "arrows":
        parts.append("arrows at the slice (length by speed)")
    elif options.flow == "streamlines":
        parts.append("streamlines")
    parts.append(f"air: {air_scale} scale")
    return "   ·   ".join(parts)
