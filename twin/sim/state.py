"""Everything that evolves in a twin, in one object: fields, equipment, controllers, the power chain's
memory, the clock and the scenario position.

:class:`TwinState` is the whole truth of a run at one instant: :meth:`TwinState.copy` forks it (a what-if
from a live twin), a checkpoint saves and loads it, and :class:`~twin.sim.twin.HallTwin` holds only what
the hall fixes (grid, networks, solvers' set-up and caches that are rebuilt from the state).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from twin.control.alarms import AlarmSystem

if TYPE_CHECKING:
    from twin.sim.controls import HallControls
    from twin.sim.power import PowerMemory

__all__ = ["PEAKS", "TwinState"]


#: Peaks tracked over a run (rack inlet, CRAH return, UPS load), each as value / index of the unit /
#: simulated time (None until seen).
PEAKS = ("inlet", "return", "ups_load")
_NO_PEAKS = {f"peak_{k}{suffix}": None for k in PEAKS for suffix in ("", "_index", "_time_s")}




@dataclass
class TwinState:
    """Everything that evolves. Temperatures °C, flows m³/s, powers W, energies J (cumulative since t = 0)."""

    time_s: float
    steps: int
    t_air_c: np.ndarray  # per fluid cell
    t_air_prev_c: np.ndarray | None  # the field one step earlier (to extrapolate the solver's guess)
    t_rack_c: np.ndarray  # lumped rack temperature = exhaust temperature
    t_intake_c: np.ndarray  # mixed intake temperature of each rack, last step
    rack_flow_m3s: np.ndarray  # server airflow applied to the flow field
    rack_it_w: np.ndarray  # live IT load of each rack (scenarios change it)
    rack_powered: np.ndarray  # bool: at least one of its feeds is live (dark racks neither heat nor blow)
    rack_heat_w: np.ndarray  # heat released in each rack: IT load + its PSUs' losses
    t_return_c: np.ndarray  # mixed return temperature of each CRAH, last step
    t_coil_c: np.ndarray  # air leaving each CRAH coil during the last step
    crah_heat_removed_w: np.ndarray  # coil duty, last step
    pdu_heat_w: np.ndarray  # losses of the PDU cabinets, released into the air around them
    crah_running: np.ndarray  # bool: fans turning (tripped, unpowered or switched-off units stop)
    crah_tripped: np.ndarray  # bool: tripped (by a scenario) until restarted
    crah_powered: np.ndarray  # bool: its panel has power
    crah_fan_speed: np.ndarray  # actual fan speed, fraction of full speed
    crah_flow_m3s: np.ndarray  # CRAH airflow applied to the flow field (follows the fans within a tolerance)
    crah_valve: np.ndarray  # actual chilled-water valve opening, 0–1
    crah_setpoint_c: np.ndarray  # supply-air setpoint in force
    t_chw_c: float  # chilled-water supply temperature reaching the coils
    utility_ok: bool = True  # the utility feed is there (scenarios take it away)
    ups_soc: np.ndarray | None = None  # state of charge of each UPS battery, 0–1 (halls with [power])
    chillers_running: bool = True
    chiller_restart_due_s: float = math.inf  # when chillers whose power came back will cool again
    outdoor_temp_c: float = 25.0
    energy_j: dict = field(default_factory=dict)  # integrated energies by kind (see twin.sim.power)
    # First simulated time a rack inlet passed 27 °C / 32 °C (None: not yet); lowest battery charge; and
    # the peaks over the run (value, which unit by index, when): rack inlet, CRAH return, UPS load.
    metrics: dict = field(default_factory=lambda: {"t_inlet_27c_s": None, "t_inlet_32c_s": None,
                                                   "min_battery_soc": None, **_NO_PEAKS})
    fan_update_due_s: float = 0.0  # next time the servers' airflow law is evaluated
    last_reflow_s: float = 0.0  # when the servers' applied airflow last changed
    # The airflow field the temperatures move on (see HallTwin.operator): the flow through every open
    # face; the potential of the last potential-flow solve (it orders the transport sweeps and starts the
    # next solve); the mover flows the field was solved for (None: not solved yet) and when; and, with the
    # momentum model, its own fields (face velocities and pressure: where its next solve starts) and the
    # eddy diffusivity of heat on every open face that its turbulence gives the transport (None: the
    # hall's constant diffusivity, as with the potential flow).
    face_flow_m3s: np.ndarray | None = None
    flow_phi: np.ndarray | None = None
    flow_movers_m3s: np.ndarray | None = None
    flow_solved_s: float = -math.inf
    momentum: dict | None = None
    face_diffusivity_m2s: np.ndarray | None = None
    # Heat each mover blew into the air in the last steps (W, latest first; TransportOperator.inject_w): the
    # transport's first guess foresees from it what the coil outlets' step-to-step jumps do to the field.
    inject_history_w: np.ndarray | None = None
    heat_in_j: float = 0.0  # heat released into the hall: racks (IT + PSU losses), CRAH fans, PDUs
    heat_removed_j: float = 0.0  # heat taken out by the coils
    stored_initial_j: float = 0.0  # heat stored in air and racks at t = 0 (relative to 0 °C)
    extra: dict = field(default_factory=dict)
    # The memory of the parts, as the microcontrollers and the chain hold it between steps: the alarms
    # (ISA-18.2 states), the embedded controllers with their setpoint registry (None under ideal
    # control), the power chain's controllers, sources and last load flow (None without [power]), and
    # how far a scenario has played (the index of its next event and the log of what it applied).
    alarms: AlarmSystem = field(default_factory=AlarmSystem)
    controls: HallControls | None = None
    power: PowerMemory | None = None
    scenario_next: int = 0
    scenario_log: list = field(default_factory=list)

    def copy(self) -> TwinState:
        """A fork: stepping it and this state with the same inputs gives the same bits. One deep copy of
        everything, so that what the parts share (the alarms the controllers and the power chain raise)
        stays shared within each copy."""
        return copy.deepcopy(self)
