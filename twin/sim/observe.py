"""What a run reports: per-rack, per-CRAH and hall-wide figures from a state (named, with units)."""

from __future__ import annotations

from typing import TypedDict

import numpy as np

from twin.model.schema import ASHRAE_ALLOWABLE_C, ASHRAE_RECOMMENDED_C
from twin.sim.twin import HallTwin, TwinState

__all__ = ["observe", "observe_names", "Observation", "PowerObservation", "UNITS"]

#: Unit of each reported quantity, by the suffix of its name.
UNITS = {"_c": "degC", "_w": "W", "_m3s": "m3/s", "_s": "s", "_j": "J", "_kw": "kW", "_kwh": "kWh",
         "soc": "1", "_fraction": "1"}


# The reported quantities by name, "<kind>.<quantity>"; the order of the keys is the order of the
# time series' columns. Arrays are per rack or per CRAH (per UPS, PDU for "ups." and "pdu.").
_HallObservation = TypedDict("_HallObservation", {
    "rack.t_inlet_c": np.ndarray,
    "rack.t_exhaust_c": np.ndarray,
    "rack.it_load_w": np.ndarray,
    "rack.heat_w": np.ndarray,
    "rack.flow_m3s": np.ndarray,
    "rack.powered": np.ndarray,
    "crah.t_return_c": np.ndarray,
    "crah.t_supply_c": np.ndarray,
    "crah.flow_m3s": np.ndarray,
    "crah.heat_removed_w": np.ndarray,
    "crah.fan_power_w": np.ndarray,
    "crah.fan_speed": np.ndarray,
    "crah.valve": np.ndarray,
    "crah.supply_setpoint_c": np.ndarray,
    "crah.running": np.ndarray,
    "crah.tripped": np.ndarray,
    "crah.powered": np.ndarray,
    "hall.time_s": float,
    "hall.it_load_w": float,
    "hall.fan_power_w": float,
    "hall.heat_released_w": float,
    "hall.heat_removed_w": float,
    "hall.max_inlet_c": float,
    "hall.mean_inlet_c": float,
    "hall.racks_outside_recommended": int,
    "hall.racks_outside_allowable": int,
    "hall.t_air_mean_c": float,
    "hall.heat_in_j": float,
    "hall.heat_removed_j": float,
    "hall.energy_balance_error": float,
})

#: The power chain and plant: all of them in a hall with a [power] section once the load flow ran, none else.
PowerObservation = TypedDict("PowerObservation", {
    "ups.soc": np.ndarray,
    "ups.battery_w": np.ndarray,
    "ups.output_w": np.ndarray,
    "ups.loss_w": np.ndarray,
    "ups.load_fraction": np.ndarray,
    "pdu.loss_w": np.ndarray,
    "pdu.load_fraction": np.ndarray,
    "power.utility_w": float,
    "power.generator_w": float,
    "power.facility_w": float,
    "power.rack_input_w": float,
    "power.cooling_w": float,
    "power.losses_w": float,
    "power.pue": float,
    "power.utility_ok": bool,
    "power.on_generator": bool,
    "plant.t_chw_c": float,
    "plant.chillers_running": bool,
    "plant.outdoor_temp_c": float,
}, total=False)


class Observation(_HallObservation, PowerObservation):
    """What :func:`observe` reports: the hall's quantities, and the power chain's where there is one."""


def unit_of(name: str) -> str:
    for suffix, unit in UNITS.items():
        if name.endswith(suffix):
            return unit
    return "1"


def observe(twin: HallTwin, state: TwinState) -> Observation:
    """The reported quantities of a state: arrays per rack / CRAH, scalars for the hall."""
    nr = twin.n_racks
    crah_flow = state.crah_flow_m3s
    fan_w = twin.crah_fan_power_w(state)
    supply = twin.supply_air_c(state)
    inlet = state.t_intake_c
    lo, hi = ASHRAE_RECOMMENDED_C
    allow_lo, allow_hi = ASHRAE_ALLOWABLE_C[twin.hall.spec.hall.ashrae_class]
    return {
        "rack.t_inlet_c": inlet,
        "rack.t_exhaust_c": state.t_rack_c,
        "rack.it_load_w": state.rack_it_w,  # the servers' own draw, after their PSUs
        "rack.heat_w": state.rack_heat_w,
        "rack.flow_m3s": state.rack_flow_m3s,
        "rack.powered": state.rack_powered,
        "crah.t_return_c": state.t_return_c,
        "crah.t_supply_c": supply,
        "crah.flow_m3s": crah_flow,
        "crah.heat_removed_w": state.crah_heat_removed_w,
        "crah.fan_power_w": fan_w,
        "crah.fan_speed": state.crah_fan_speed,
        "crah.valve": state.crah_valve,
        "crah.supply_setpoint_c": state.crah_setpoint_c,
        # Flags stay booleans: a tripped unit is not the same as one switched off or without power.
        "crah.running": state.crah_running,
        "crah.tripped": state.crah_tripped,
        "crah.powered": state.crah_powered,
        "hall.time_s": state.time_s,
        "hall.it_load_w": float(state.rack_it_w.sum()),
        "hall.fan_power_w": float(fan_w.sum()),
        # Racks (IT with their PSUs' and feed cables' losses), CRAH fans and PDU losses.
        "hall.heat_released_w": float(state.rack_heat_w.sum() + twin.mover_heat_w(state).sum()),
        "hall.heat_removed_w": float(state.crah_heat_removed_w.sum()),
        "hall.max_inlet_c": float(inlet.max()) if nr else float("nan"),
        "hall.mean_inlet_c": float(inlet.mean()) if nr else float("nan"),
        "hall.racks_outside_recommended": int(np.count_nonzero((inlet < lo) | (inlet > hi))),
        "hall.racks_outside_allowable": int(np.count_nonzero((inlet < allow_lo) | (inlet > allow_hi))),
        "hall.t_air_mean_c": float(state.t_air_c.mean()),
        "hall.heat_in_j": state.heat_in_j,
        "hall.heat_removed_j": state.heat_removed_j,
        "hall.energy_balance_error": twin.energy_balance_error(state),
        **_power(twin, state),
    }


def observe_names(twin: HallTwin) -> dict[str, list[str]]:
    """Who the per-equipment arrays of :func:`observe` are about, by kind."""
    names = {"rack": twin.racks.names, "crah": twin.crahs.names}
    if twin.power is not None:
        names["ups"] = twin.power.ups_names
        names["pdu"] = list(twin.power.net.pdu_names)
    return names


def _power(twin: HallTwin, state: TwinState) -> PowerObservation:
    """The power chain and plant, once the load flow has run (halls with a [power] section)."""
    power, memory, soc = twin.power, state.power, state.ups_soc
    # The power chain's memory and the batteries' charge are set together with twin.power (initial_state).
    if power is None or memory is None or soc is None or memory.last is None:
        return {}
    res = memory.last
    rack_input_w = float(res.rack_feed_w.sum())
    losses = res.losses_w()
    return {
        "ups.soc": soc,
        "ups.battery_w": res.battery_w,
        "ups.output_w": res.ups_output_w,
        "ups.loss_w": res.ups_loss_w,
        "ups.load_fraction": res.ups_load_fraction,
        "pdu.loss_w": res.pdu_loss_w,
        "pdu.load_fraction": res.pdu_load_fraction,
        "power.utility_w": res.utility_w,
        "power.generator_w": res.generator_w,
        "power.facility_w": res.facility_w,
        "power.rack_input_w": rack_input_w,  # at the racks' inputs: IT load + PSU losses (PUE's IT)
        "power.cooling_w": res.mechanical_w,
        "power.losses_w": sum(v for k, v in losses.items() if k != "psu"),
        "power.pue": res.facility_w / rack_input_w if rack_input_w > 0 else float("nan"),
        "power.utility_ok": bool(state.utility_ok),
        "power.on_generator": bool(memory.ats.outputs.get("ats_on_generator", False)),
        "plant.t_chw_c": state.t_chw_c,
        "plant.chillers_running": bool(state.chillers_running),
        "plant.outdoor_temp_c": state.outdoor_temp_c,
    }
