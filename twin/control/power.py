"""Power-side controllers: the generator + automatic transfer switch, and the UPS battery charger.

Both are sampled :class:`~twin.control.base.Controller` subclasses: the simulation calls
``step(time_s, inputs)`` every time step; the logic runs at their sample instants. Events are
timed from the sample at which the controller saw them, in simulated seconds, so with a period
that divides the delays (the default 1 s with whole-second delays) the generator comes online
exactly ``start_delay_s`` after the sample that saw the utility fail.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from twin.control.base import Controller, StateDict

__all__ = ["ATS_STATES", "BatteryChargeController", "GeneratorATSController", "charge_power_w"]

ATS_STATES = ("utility", "starting", "on_generator", "retransfer_wait", "cooldown", "failed")


class GeneratorATSController(Controller):
    """Generator start and automatic transfer on utility loss; retransfer when utility returns.

    States (attribute ``state``):

    - ``utility``: load on utility, generator stopped.
    - ``starting``: utility lost at ``loss_s``; the generator cranks and is online at
      ``loss_s + start_delay_s``, when the ATS transfers to it (→ ``on_generator``). If
      ``fail_to_start`` is set, it never comes online: at that instant it is flagged failed and
      stops (→ ``failed``). The failure latches (no further start attempts) until
      :meth:`reset_failure`.
    - ``on_generator``: load on the generator.
    - ``retransfer_wait``: utility back; when it has stayed good for ``retransfer_delay_s`` the
      ATS retransfers to utility (→ ``cooldown``); a new loss returns to ``on_generator``.
    - ``cooldown``: load on utility, the generator runs unloaded for ``cooldown_s`` then stops
      (→ ``utility``); a new loss transfers back at once if it is online.
    - ``failed``: utility lost and no generator; the UPS batteries carry the load.

    Utility returning while ``starting`` aborts the start (→ ``cooldown``: an engine that cranked
    runs its cool-down). Inputs of :meth:`sample`: ``utility_ok`` (bool). Outputs:
    ``generator_running``, ``generator_online``, ``ats_on_generator``, ``generator_failed`` (bools)
    and ``state_code`` (index into :data:`ATS_STATES`).

    Args:
        name: e.g. ``"gen-1"``.
        start_delay_s: from the sample that sees the loss to the generator online, s (10–20 s).
        retransfer_delay_s: utility must stay good this long before retransfer, s.
        cooldown_s: unloaded run after retransfer, s.
        fail_to_start: the generator will not start (attribute; a scenario may set it).
        period_s, phase_s: sampling, s.
    """

    def __init__(self, name: str, *, start_delay_s: float = 15.0, retransfer_delay_s: float = 300.0,
                 cooldown_s: float = 300.0, fail_to_start: bool = False, period_s: float = 1.0,
                 phase_s: float = 0.0) -> None:
        super().__init__(name, period_s=period_s, phase_s=phase_s)
        self.start_delay_s = float(start_delay_s)
        self.retransfer_delay_s = float(retransfer_delay_s)
        self.cooldown_s = float(cooldown_s)
        self.fail_to_start = bool(fail_to_start)
        self.state = "utility"
        self.failed = False
        self.running = False
        self.loss_s = math.nan  # sample that saw the latest loss
        self.online_at_s = math.nan  # when the running generator is (or was) online
        self.utility_good_since_s = math.nan
        self.cooldown_end_s = math.nan
        self.outputs = self._outputs(0.0)

    def reset_failure(self) -> None:
        """Operator reset of a latched fail-to-start (the next loss tries to start again)."""
        self.failed = False

    @property
    def generator_online(self) -> bool:
        """True when the generator runs at rated voltage and frequency (as of the last sample)."""
        return bool(self.outputs.get("generator_online", False))

    def _online(self, time_s: float) -> bool:
        return self.running and not math.isnan(self.online_at_s) and time_s >= self.online_at_s - 1e-9

    def _start(self, time_s: float) -> None:
        self.loss_s = float(time_s)
        if self.failed:
            self.state = "failed"
            return
        self.state = "starting"
        self.running = True
        self.online_at_s = self.loss_s + self.start_delay_s

    def sample(self, time_s: float, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """At each sample: advance the state machine with ``utility_ok``; return the outputs."""
        ok = bool(inputs["utility_ok"])
        st = self.state
        if st == "utility":
            if not ok:
                self._start(time_s)
        elif st == "failed":
            if ok:
                self.state = "utility"
        if self.state == "starting":
            if time_s >= self.online_at_s - 1e-9:
                if self.fail_to_start:
                    self.failed, self.running, self.online_at_s = True, False, math.nan
                    self.state = "utility" if ok else "failed"
                elif not ok:
                    self.state = "on_generator"
            if self.state == "starting" and ok:
                self.state, self.cooldown_end_s = "cooldown", time_s + self.cooldown_s
        elif st == "on_generator":
            if ok:
                self.state, self.utility_good_since_s = "retransfer_wait", float(time_s)
        elif st == "retransfer_wait":
            if not ok:
                self.state = "on_generator"
            elif time_s - self.utility_good_since_s >= self.retransfer_delay_s - 1e-9:
                self.state, self.cooldown_end_s = "cooldown", time_s + self.cooldown_s
        elif st == "cooldown":
            if not ok:
                self.state = "on_generator" if self._online(time_s) else "starting"
                self.loss_s = float(time_s)
            elif time_s >= self.cooldown_end_s - 1e-9:
                self.state, self.running, self.online_at_s = "utility", False, math.nan
        return self._outputs(time_s)

    def _outputs(self, time_s: float) -> dict[str, Any]:
        return {"generator_running": self.running, "generator_online": self._online(time_s),
                "ats_on_generator": self.state in ("on_generator", "retransfer_wait"),
                "generator_failed": self.failed, "state_code": ATS_STATES.index(self.state)}

    def state_dict(self) -> StateDict:
        """State machine, timers, latches (numbers only)."""
        return {**super().state_dict(), "state": ATS_STATES.index(self.state), "failed": int(self.failed),
                "running": int(self.running), "fail_to_start": int(self.fail_to_start), "loss_s": self.loss_s,
                "online_at_s": self.online_at_s, "utility_good_since_s": self.utility_good_since_s,
                "cooldown_end_s": self.cooldown_end_s}

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`."""
        super().load_state_dict(d)
        self.state = ATS_STATES[int(d["state"])]
        self.failed, self.running = bool(d["failed"]), bool(d["running"])
        self.fail_to_start = bool(d["fail_to_start"])
        for k in ("loss_s", "online_at_s", "utility_good_since_s", "cooldown_end_s"):
            setattr(self, k, float(d[k]))


def charge_power_w(soc: float, *, rated_charge_w: float, taper_start_soc: float, max_charge_w: float) -> float:
    """Charger power at state of charge ``soc`` (0–1), W: constant up to the taper, linear to 0 at full.

    ``rated_charge_w`` below ``taper_start_soc``; ``rated_charge_w · (1 − soc)/(1 − taper_start_soc)``
    above it; never above ``max_charge_w``; 0 at or above full.
    """
    if soc >= 1.0:
        return 0.0
    frac = 1.0 if soc <= taper_start_soc else (1.0 - soc) / (1.0 - taper_start_soc)
    return max(0.0, min(max_charge_w, rated_charge_w * frac))


class BatteryChargeController(Controller):
    """UPS battery charger: charge power from state of charge, only while the UPS input is live.

    Constant-current phase (``rated_charge_w``) up to ``taper_start_soc``, then a linear taper to
    0 W at full charge (the constant-voltage phase, where current falls as the battery fills),
    limited by ``max_charge_w`` (attribute: e.g. an engineer's limit while on generator).
    Inputs of :meth:`sample`: ``soc`` (0–1), ``input_live`` (bool: utility or generator feeds the
    UPS). Outputs: ``charge_w`` (W drawn by the charger into the battery, held between samples),
    ``charging`` (bool).

    Args:
        name: e.g. ``"ups-a.charger"``.
        rated_charge_w: constant-current charge power, W (typically ≈ 10 % of the UPS rating).
        taper_start_soc: state of charge where the taper starts, 0–1.
        max_charge_w: limit, W (default: ``rated_charge_w``).
        period_s, phase_s: sampling, s.
    """

    def __init__(self, name: str, *, rated_charge_w: float, taper_start_soc: float = 0.9,
                 max_charge_w: float | None = None, period_s: float = 1.0, phase_s: float = 0.0) -> None:
        super().__init__(name, period_s=period_s, phase_s=phase_s)
        if not 0.0 <= taper_start_soc < 1.0:
            raise ValueError(f"{name}: taper_start_soc must lie in [0, 1), got {taper_start_soc}")
        self.rated_charge_w = float(rated_charge_w)
        self.taper_start_soc = float(taper_start_soc)
        self.max_charge_w = self.rated_charge_w if max_charge_w is None else float(max_charge_w)
        self.outputs = {"charge_w": 0.0, "charging": False}

    def sample(self, time_s: float, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """At each sample: the charge power for the measured ``soc`` if the input is live, else 0."""
        w = 0.0
        if inputs["input_live"]:
            w = charge_power_w(float(inputs["soc"]), rated_charge_w=self.rated_charge_w,
                               taper_start_soc=self.taper_start_soc, max_charge_w=self.max_charge_w)
        return {"charge_w": w, "charging": w > 0.0}

    def state_dict(self) -> StateDict:
        """Held outputs and the (writable) limit."""
        return {**super().state_dict(), "max_charge_w": self.max_charge_w}

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`."""
        super().load_state_dict(d)
        self.max_charge_w = float(d["max_charge_w"])
