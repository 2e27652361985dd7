"""The live twin's clock: simulated time paced to wall time, paused or running.

``speed`` simulated seconds pass per wall second (``math.inf``: as fast as the solver goes). The clock
is anchored at a wall instant and a simulated time; a step is due when the anchored target has reached
the end of the next step. A solver that cannot keep the pace is re-anchored rather than left to build
up a backlog that it would later race through.
"""

from __future__ import annotations

import math
from typing import Any

from twin.bus.protocol import SPEED_MAX, SPEED_MIN

__all__ = ["PacedClock"]


class PacedClock:
    """When the next step is due.

    Args:
        speed: simulated seconds per wall second; ``math.inf`` runs as fast as it can.
        dt_s: the twin's time step, s.
        max_lag_s: a paced run that falls this far behind its target (wall seconds at the current
            speed, at least one) stops trying to catch up and re-anchors.
    """

    def __init__(self, speed: float, dt_s: float, *, max_lag_s: float = 2.0) -> None:
        self.speed = float(speed)
        self.dt_s = float(dt_s)
        self.max_lag_s = max_lag_s
        self.paused = False
        self._wall_anchor = 0.0
        self._sim_anchor = 0.0

    def anchor(self, now: float, sim_time_s: float) -> None:
        """Count from here: wall instant ``now`` is simulated time ``sim_time_s``."""
        self._wall_anchor, self._sim_anchor = now, sim_time_s

    def target_s(self, now: float) -> float:
        """The simulated time the pace asks for at wall instant ``now``."""
        if math.isinf(self.speed):
            return math.inf
        return self._sim_anchor + (now - self._wall_anchor) * self.speed

    def step_due(self, now: float, sim_time_s: float) -> bool:
        return not self.paused and self.target_s(now) >= sim_time_s + self.dt_s - 1e-9

    def next_step_wall(self, now: float, sim_time_s: float) -> float:
        """The wall instant at which the next step is due (paused: look again in 0.1 s)."""
        if self.paused:
            return now + 0.1
        if math.isinf(self.speed):
            return now
        return self._wall_anchor + (sim_time_s + self.dt_s - self._sim_anchor) / self.speed

    def after_step(self, now: float, sim_time_s: float) -> None:
        """Re-anchor when the solver has fallen too far behind the pace (never at max speed)."""
        if not math.isinf(self.speed) and self.target_s(now) - sim_time_s > self.max_lag_s * max(self.speed, 1.0):
            self.anchor(now, sim_time_s)

    def set_running(self, running: bool, now: float, sim_time_s: float) -> None:
        self.paused = not running
        self.anchor(now, sim_time_s)

    def set_speed(self, speed: float, now: float, sim_time_s: float) -> None:
        """A new pace from now on (the caller has checked it against SPEED_MIN … SPEED_MAX or inf)."""
        self.speed = float(speed)
        self.anchor(now, sim_time_s)

    def settings(self) -> dict[str, Any]:
        """What a checkpoint keeps of the clock, so that a resumed twin runs (or waits) as it did."""
        return {"paused": self.paused, "speed": "max" if math.isinf(self.speed) else self.speed}

    def restore(self, settings: dict[str, Any]) -> None:
        """Take back :meth:`settings` (from a checkpoint's meta); unknown or bad values are ignored."""
        speed = settings.get("speed")
        if speed == "max":
            self.speed = math.inf
        elif isinstance(speed, (int, float)) and not isinstance(speed, bool) and SPEED_MIN <= speed <= SPEED_MAX:
            self.speed = float(speed)
        if isinstance(settings.get("paused"), bool):
            self.paused = settings["paused"]

    def as_dict(self) -> dict[str, Any]:
        """The clock's part of a summary: speed (None at max), max_speed, paused, dt_s."""
        return {"speed": None if math.isinf(self.speed) else self.speed, "max_speed": math.isinf(self.speed),
                "paused": self.paused, "dt_s": self.dt_s}
