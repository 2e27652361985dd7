"""What the console knows about the twin, as plain data (no textual, no sockets).

The bus worker builds a :class:`TwinData` from its client after every change and hands it to the UI;
the UI never touches the client. Everything here is immutable or copied, so the worker can go on
receiving while the UI draws the last picture it was given.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tui.format import fmt_duration, fmt_value, num

__all__ = [
    "CommandRecord",
    "RACK_KW_MAX",
    "SENSOR_MODES",
    "SPEEDS",
    "TrendPoint",
    "Trends",
    "TwinData",
    "WHATIF_MODES",
    "WHATIF_SETS",
    "command_label",
    "find_setpoint",
    "file_load_kw",
    "injectable_events",
    "is_clearing",
    "next_speed",
    "rows",
    "stepped_racks",
    "unacknowledged",
    "whatif_mode",
    "whatif_sets",
]

#: Speed presets for + and - (simulated seconds per wall second); "max" runs as fast as it can.
SPEEDS: tuple[float | str, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0, 120.0, 600.0, "max")


@dataclass(frozen=True)
class TrendPoint:
    """One sample of the hall's headline figures, at simulated time ``time_s``."""

    time_s: float
    pue: float | None
    max_inlet_c: float | None
    cooling_power_w: float | None
    it_load_w: float | None  # the servers' draw (after their PSUs), the hall file's IT load


class Trends:
    """The last ``window_s`` of simulated time of headline figures, one point per new summary.

    Kept by the bus worker, which samples the client's newest summary after every poll (20 times a
    second or more, against 10 summaries a second from the server), rather than by the UI, which
    redraws at its own slower pace. A clock that goes backwards (a restarted or resumed server)
    starts a new history.
    """

    def __init__(self, window_s: float = 600.0, max_points: int = 4000) -> None:
        self.window_s = float(window_s)
        self.points: deque[TrendPoint] = deque(maxlen=max_points)

    def add(self, summary: dict | None) -> bool:
        """Record a summary; False when it adds nothing (no clock, or the same instant as the last)."""
        if not summary:
            return False
        t = num((summary.get("clock") or {}).get("time_s"))
        if t is None:
            return False
        if self.points and t <= self.points[-1].time_s:
            if t == self.points[-1].time_s:
                return False
            self.points.clear()
        hall = summary.get("hall") or {}
        self.points.append(TrendPoint(t, num(hall.get("pue")), num(hall.get("max_inlet_c")),
                                      num(hall.get("cooling_power_w")), num(hall.get("it_load_w"))))
        while self.points and self.points[0].time_s < t - self.window_s:
            self.points.popleft()
        return True

    def snapshot(self) -> tuple[TrendPoint, ...]:
        return tuple(self.points)


@dataclass(frozen=True)
class TwinData:
    """The picture the UI draws: connection status and the latest state the client holds.

    Attributes:
        status: the client's ``connecting``, ``live`` or ``stale``.
        summary: the latest summary body (views.summary_body on the server), None before the first.
        hall: the hall's static description from the snapshot (names, ASHRAE band, power topology).
        events: audit records of commands (oldest first), as the snapshot and events gave them.
        trends: headline figures over the trend window.
        summary_seq: sequence number of the summary (a new number means a new state).
        whatifs: the what-ifs the client knows (the latest event body of each), oldest first.
    """

    status: str = "connecting"
    summary: dict | None = None
    hall: dict | None = None
    events: tuple[dict, ...] = ()
    trends: tuple[TrendPoint, ...] = ()
    summary_seq: int | None = None
    whatifs: tuple[dict, ...] = ()

    @property
    def clock(self) -> dict:
        return (self.summary or {}).get("clock") or {}

    @property
    def time_s(self) -> float | None:
        return num(self.clock.get("time_s"))

    @property
    def training(self) -> bool:
        return bool(self.clock.get("training"))

    @property
    def paused(self) -> bool:
        return bool(self.clock.get("paused"))

    @property
    def whatif_running(self) -> dict | None:
        """The what-if that runs now, if one does."""
        return next((w for w in reversed(self.whatifs) if w.get("state") == "running"), None)

    @property
    def whatifs_finished(self) -> tuple[dict, ...]:
        """The what-ifs that ended (done or failed), oldest first."""
        return tuple(w for w in self.whatifs if w.get("state") in ("done", "failed"))


@dataclass(frozen=True)
class CommandRecord:
    """A command the console sent and what became of it.

    ``status`` is ``sent`` until the twin replies; then the reply's status (ok, clamped, out_of_range,
    not_writable, denied, interlock, invalid), or the console's own ``unsent`` (no connection) or
    ``timeout`` (no reply in time).
    """

    id: str
    kind: str
    args: dict
    label: str
    status: str = "sent"
    reason: str = ""
    result: dict = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.status != "sent"

    @property
    def accepted(self) -> bool:
        return self.status in ("ok", "clamped")


def rows(block: dict | None) -> list[dict[str, Any]]:
    """A summary's columns (``{"name": [...], "t_inlet_c": [...]}``) as one dict per item."""
    if not block:
        return []
    names = block.get("name") or []
    out = []
    for i, name in enumerate(names):
        row = {"name": name}
        for key, col in block.items():
            if key != "name" and isinstance(col, list) and i < len(col):
                row[key] = col[i]
        out.append(row)
    return out


def unacknowledged(summary: dict | None) -> list[dict]:
    """Active alarms that still need an acknowledgement (UNACK, and RTNUN: cleared but not acked)."""
    alarms = ((summary or {}).get("alarms") or {}).get("active") or []
    return [a for a in alarms if a.get("state") in ("UNACK", "RTNUN")]


def find_setpoint(summary: dict | None, name: str) -> dict | None:
    """The registry's entry for setpoint ``name`` (unit, min, max, value, target, writable, write_role)."""
    for ctl in (summary or {}).get("controllers") or []:
        for sp in ctl.get("setpoints") or []:
            if sp.get("name") == name:
                return sp
    return None


def next_speed(clock: dict | None, step: int) -> float | str:
    """The speed preset ``step`` places above (+1) or below (-1) the current speed."""
    clock = clock or {}
    if clock.get("max_speed"):
        i = len(SPEEDS) - 1
    else:
        cur = num(clock.get("speed")) or 1.0
        finite = [s for s in SPEEDS if isinstance(s, float)]
        # The preset nearest the current speed (a speed set elsewhere need not be a preset).
        i = min(range(len(finite)), key=lambda k: abs(math.log(finite[k] / cur)))
    return SPEEDS[max(0, min(len(SPEEDS) - 1, i + step))]


#: Events that clear a training fault rather than inject one.
CLEARING_EVENTS = ("crah_restart", "utility_return", "sensor_repair")

#: What each way of failing a sensor does (twin/control/sensors.py), for the engineer choosing one.
SENSOR_MODES = {"stuck": "stuck: holds its last reading (plausible: no alarm)",
                "open": "open: dead, reads the bottom of its range",
                "noisy": "noisy: erratic readings around the true value"}

#: The widest load step the bus takes (the scenario schema's limit for rack_load.it_kw).
RACK_KW_MAX = 100.0


def file_load_kw(hall: dict | None, rack: str) -> float | None:
    """Rack ``rack``'s IT load in the hall file, kW (what a load step returns to); None if not sent."""
    names = (hall or {}).get("racks") or []
    loads = (hall or {}).get("rack_it_w") or []
    if rack not in names or names.index(rack) >= len(loads):
        return None
    w = num(loads[names.index(rack)])
    return None if w is None else w / 1e3


def stepped_racks(hall: dict | None, summary: dict | None) -> list[tuple[str, float, float]]:
    """Racks whose IT load is not the hall file's: (name, now kW, file kW)."""
    out = []
    for r in rows((summary or {}).get("racks")):
        now, base = num(r.get("it_load_w")), file_load_kw(hall, r["name"])
        if now is not None and base is not None and abs(now / 1e3 - base) > 1e-6:
            out.append((r["name"], now / 1e3, base))
    return out


def is_clearing(event: dict, hall: dict | None) -> bool:
    """Whether ``event`` undoes a drill (restart, return, repair, a rack's load set back to the file's)."""
    if event.get("kind") in CLEARING_EVENTS:
        return True
    if event.get("kind") == "rack_load" and event.get("it_kw") is not None:
        base = file_load_kw(hall, str(event.get("target")))
        return base is not None and abs(float(event["it_kw"]) - base) < 1e-6
    return False


def injectable_events(hall: dict | None, summary: dict | None = None) -> list[tuple[str, dict]]:
    """The training faults an engineer may inject, as (label, scenario event) pairs.

    Two entries open a second dialog (their events have no target yet): failing a sensor, chosen from
    the sensors the hall view lists, and a rack load step. Faults that are active in ``summary`` (failed
    sensors, racks off their file load) are offered for clearing.
    """
    out: list[tuple[str, dict]] = []
    for crah in (hall or {}).get("crahs") or []:
        out.append((f"Trip {crah}", {"kind": "crah_trip", "target": crah}))
        out.append((f"Restart {crah}", {"kind": "crah_restart", "target": crah}))
    if (hall or {}).get("power"):
        out.append(("Fail the utility (outage)", {"kind": "utility_outage"}))
        out.append(("Return the utility", {"kind": "utility_return"}))
        if hall["power"].get("has_generator"):
            out.append(("Generator fails to start", {"kind": "generator_fail_to_start"}))
    if (hall or {}).get("sensors"):
        out.append(("Fail a sensor…", {"kind": "sensor_fail"}))
    failed = (summary or {}).get("sensors") or {}
    for name, mode in zip(failed.get("name") or [], failed.get("mode") or []):
        out.append((f"Repair {name} ({mode})", {"kind": "sensor_repair", "target": name}))
    if (hall or {}).get("racks"):
        out.append(("Step a rack's IT load…", {"kind": "rack_load"}))
    for name, now_kw, base_kw in stepped_racks(hall, summary):
        out.append((f"Return {name} to {base_kw:g} kW (now {now_kw:g} kW)",
                    {"kind": "rack_load", "target": name, "it_kw": base_kw}))
    return out


#: The N-1 sets of a what-if: (set, label); the power sets need a hall with a power chain.
WHATIF_SETS: tuple[tuple[str, str], ...] = (
    ("crah", "Cooling: every CRAH out, one at a time"),
    ("ups", "Power: every UPS lost, one at a time"),
    ("pdu", "Power: every PDU lost, one at a time"),
    ("feed", "Power: every rack feed lost, one at a time"),
    ("all", "All of these"),
)

#: Modes a what-if is offered in: steady (each case's steady state) or a run of this many seconds.
WHATIF_MODES: tuple[float | None, ...] = (None, 600.0, 1800.0, 3600.0)


def whatif_sets(hall: dict | None) -> list[tuple[str, str]]:
    """The N-1 sets this hall can answer, as (set, label)."""
    has_power = bool((hall or {}).get("power"))
    return [(k, label) for k, label in WHATIF_SETS if has_power or k == "crah"]


def whatif_mode(duration_s: float | None) -> str:
    return "steady" if duration_s is None else f"{fmt_duration(duration_s)} transient"


def command_label(kind: str, args: dict, *, setpoint: dict | None = None) -> str:
    """One line saying what a command asks, for the status line and the audit trail on screen."""
    if kind == "set_setpoint":
        unit = (setpoint or {}).get("unit", "")
        value = fmt_value(args.get("value"), unit, integer=bool((setpoint or {}).get("integer")))
        return f"set {args.get('target')} = {value}"
    if kind == "alarm_ack":
        return f"acknowledge {args.get('alarm')}"
    if kind == "alarm_shelve":
        return f"shelve {args.get('alarm')} for {fmt_duration(args.get('duration_s'))}"
    if kind == "alarm_unshelve":
        return f"unshelve {args.get('alarm')}"
    if kind == "set_speed":
        s = args.get("speed")
        return "speed max" if s == "max" else f"speed ×{s:g}" if isinstance(s, (int, float)) else f"speed {s}"
    if kind == "scenario_event":
        ev = args.get("event") or {}
        text = f"inject {ev.get('kind')}" + (f" {ev['target']}" if ev.get("target") else "")
        if ev.get("kind") == "sensor_fail":
            text += f" {ev.get('mode', 'stuck')}"
        if ev.get("it_kw") is not None:
            text += f" {fmt_value(ev['it_kw'], 'kW')}"
        return text
    if kind == "whatif":
        return f"what-if N-1 {args.get('set')} ({whatif_mode(num(args.get('duration_s')))})"
    return kind
