"""Compact models of racks and CRAH units, one array per quantity (no object per rack in the loop).

Rack (lumped heat capacity C, heat P released inside it, server airflow ṁ = ρ q):

    C dT_r/dt = P − ṁ c_p (T_r − T_intake)        T_exhaust = T_r;  steady: T_exhaust = T_intake + P/(ṁ c_p)

The server airflow follows the servers' own fan law (never the CRAH's flow): q = q_per_W · P_IT · f(T_intake),
f = 1 up to the ramp start, rising linearly above it, capped at the maximum factor.

CRAH: airflow ∝ fan speed, fan power ∝ speed³ (affinity laws). A chilled-water coil removes

    Q = min(v · ε · ṁ c_p · (T_return − T_chw), Q_rated)        v: valve opening 0–1, ε: coil effectiveness

and never heats. Its controller opens the valve until the air leaves at the supply setpoint; when even a
full valve cannot get there (warm chilled water, too much heat) the supply air floats above it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.model.load import HallModel

__all__ = [
    "COIL_AT_RATING",
    "COIL_AT_SETPOINT",
    "COIL_FULL_VALVE",
    "COIL_NOT_COOLING",
    "CrahArrays",
    "RackArrays",
    "coil_affine",
    "coil_outlet_c",
    "coil_regime",
    "coil_supply_c",
    "fan_power_w",
    "rack_temperature_c",
    "rack_time_constant_s",
    "server_airflow_m3s",
    "valve_for_setpoint",
]

#: Regimes of a CRAH coil under ideal control (see :func:`coil_regime`).
COIL_AT_SETPOINT, COIL_FULL_VALVE, COIL_AT_RATING, COIL_NOT_COOLING = 0, 1, 2, 3


@dataclass
class RackArrays:
    """Ratings and laws of the racks as the hall file gives them; live loads live in the sim state."""

    names: list[str]
    it_w: np.ndarray  # IT load in the hall file
    airflow_m3s_per_w: np.ndarray
    fan_ramp_start_c: np.ndarray
    fan_ramp_per_k: np.ndarray
    fan_max_factor: np.ndarray
    heat_capacity_j_per_k: np.ndarray

    @classmethod
    def from_hall(cls, hall: HallModel) -> RackArrays:
        r = hall.racks
        return cls(
            names=[x.name for x in r],
            it_w=np.array([x.it_w for x in r], dtype=float),
            airflow_m3s_per_w=np.array([x.airflow_m3s_per_w for x in r], dtype=float),
            fan_ramp_start_c=np.array([x.fan_ramp_start_c for x in r], dtype=float),
            fan_ramp_per_k=np.array([x.fan_ramp_per_k for x in r], dtype=float),
            fan_max_factor=np.array([x.fan_max_factor for x in r], dtype=float),
            heat_capacity_j_per_k=np.array([x.heat_capacity_j_per_k for x in r], dtype=float),
        )


@dataclass
class CrahArrays:
    """Ratings of the CRAH units (what they are); their live settings live in the sim state."""

    names: list[str]
    rated_flow_m3s: np.ndarray
    rated_cooling_w: np.ndarray
    supply_setpoint_c: np.ndarray  # as given in the hall file
    fan_speed: np.ndarray  # as given in the hall file
    rated_fan_w: np.ndarray
    coil_effectiveness: np.ndarray

    @classmethod
    def from_hall(cls, hall: HallModel) -> CrahArrays:
        c = hall.crahs
        return cls(
            names=[x.name for x in c],
            rated_flow_m3s=np.array([x.rated_flow_m3s for x in c], dtype=float),
            rated_cooling_w=np.array([x.rated_cooling_w for x in c], dtype=float),
            supply_setpoint_c=np.array([x.supply_setpoint_c for x in c], dtype=float),
            fan_speed=np.array([x.fan_speed for x in c], dtype=float),
            rated_fan_w=np.array([x.rated_fan_w for x in c], dtype=float),
            coil_effectiveness=np.array([x.coil_effectiveness for x in c], dtype=float),
        )

    def flow_m3s(self, speed: np.ndarray, running: np.ndarray) -> np.ndarray:
        """Airflow of each unit: rated flow × fan speed (0 when stopped)."""
        return np.where(running, self.rated_flow_m3s * speed, 0.0)

    def fan_power_w(self, speed: np.ndarray, running: np.ndarray) -> np.ndarray:
        """Fan electrical power (all of it ends up as heat in the supply air), W."""
        return np.where(running, fan_power_w(speed, self.rated_fan_w), 0.0)


def server_airflow_m3s(racks: RackArrays, t_intake_c: np.ndarray, it_w: np.ndarray) -> np.ndarray:
    """Server airflow of each rack at the given intake temperatures and IT loads, m³/s."""
    factor = 1.0 + racks.fan_ramp_per_k * np.maximum(t_intake_c - racks.fan_ramp_start_c, 0.0)
    return racks.airflow_m3s_per_w * it_w * np.minimum(factor, racks.fan_max_factor)


def rack_temperature_c(t_rack_c: np.ndarray, heat_w: np.ndarray, to_air_w: np.ndarray,
                       heat_capacity_j_per_k: np.ndarray, dt_s: float) -> np.ndarray:
    """The lumped racks one step on: C ΔT = dt (P − what their exhaust gave the air).

    The caller passes the heat the exhaust actually carried into the air during the step, so the racks'
    store and the air exchange exactly the same energy (explicit in time: see rack_time_constant_s).
    """
    return t_rack_c + dt_s / heat_capacity_j_per_k * (heat_w - to_air_w)


def rack_time_constant_s(racks: RackArrays, rho_cp_j_m3k: float) -> np.ndarray:
    """C/(ṁ c_p) of each rack at its largest server airflow (∞ for racks without load), s.

    The explicit rack update is stable for time steps below it; real racks take minutes.
    """
    q_max = racks.airflow_m3s_per_w * racks.it_w * racks.fan_max_factor
    with np.errstate(divide="ignore"):
        return np.where(q_max > 0, racks.heat_capacity_j_per_k / (rho_cp_j_m3k * q_max), np.inf)


def fan_power_w(speed: np.ndarray, rated_w: np.ndarray) -> np.ndarray:
    """Fan affinity law: power ∝ speed³."""
    return rated_w * np.asarray(speed) ** 3


def coil_outlet_c(t_return_c: np.ndarray, valve: np.ndarray, t_chw_c: np.ndarray | float,
                  effectiveness: np.ndarray, rated_w: np.ndarray, mdot_cp_w_per_k: np.ndarray) -> np.ndarray:
    """Air leaving a chilled-water coil with the valve at ``valve`` (0–1), °C."""
    q_w = np.minimum(valve * effectiveness * mdot_cp_w_per_k * np.maximum(t_return_c - t_chw_c, 0.0), rated_w)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mdot_cp_w_per_k > 0, t_return_c - q_w / mdot_cp_w_per_k, t_return_c)


def valve_for_setpoint(t_return_c: np.ndarray, setpoint_c: np.ndarray, t_chw_c: np.ndarray | float,
                       effectiveness: np.ndarray) -> np.ndarray:
    """The valve opening (0–1) that brings the coil outlet to the setpoint (ideal control)."""
    span_k = effectiveness * (t_return_c - t_chw_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        valve = np.where(span_k > 0, (t_return_c - setpoint_c) / span_k, 1.0)
    return np.clip(valve, 0.0, 1.0)


def coil_supply_c(t_return_c: np.ndarray, setpoint_c: np.ndarray, t_chw_c: np.ndarray | float,
                  effectiveness: np.ndarray, rated_w: np.ndarray, mdot_cp_w_per_k: np.ndarray) -> np.ndarray:
    """Coil outlet under ideal control: the setpoint, unless the coil cannot reach it."""
    valve = valve_for_setpoint(t_return_c, setpoint_c, t_chw_c, effectiveness)
    return coil_outlet_c(t_return_c, valve, t_chw_c, effectiveness, rated_w, mdot_cp_w_per_k)


def coil_regime(t_return_c: np.ndarray, setpoint_c: np.ndarray, t_chw_c: np.ndarray | float,
                effectiveness: np.ndarray, rated_w: np.ndarray, mdot_cp_w_per_k: np.ndarray) -> np.ndarray:
    """Which branch of :func:`coil_supply_c` applies to each unit (COIL_* codes)."""
    needed_k = t_return_c - setpoint_c
    by_water_k = effectiveness * (t_return_c - t_chw_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        by_rating_k = np.where(mdot_cp_w_per_k > 0, rated_w / mdot_cp_w_per_k, np.inf)
    return np.select(
        [(needed_k <= 0) | (by_water_k <= 0) | (mdot_cp_w_per_k <= 0),
         np.minimum(by_water_k, by_rating_k) >= needed_k,
         by_water_k <= by_rating_k],
        [COIL_NOT_COOLING, COIL_AT_SETPOINT, COIL_FULL_VALVE],
        COIL_AT_RATING,
    )


def coil_affine(regime: np.ndarray, setpoint_c: np.ndarray, t_chw_c: np.ndarray | float,
                effectiveness: np.ndarray, rated_w: np.ndarray,
                mdot_cp_w_per_k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coil outlet as α · T_return + β in each regime: (α, β)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        drop_k = np.where(mdot_cp_w_per_k > 0, rated_w / mdot_cp_w_per_k, 0.0)
    t_chw = np.broadcast_to(t_chw_c, np.shape(regime))
    alpha = np.select([regime == COIL_AT_SETPOINT, regime == COIL_FULL_VALVE], [0.0, 1.0 - effectiveness], 1.0)
    beta = np.select([regime == COIL_AT_SETPOINT, regime == COIL_FULL_VALVE, regime == COIL_AT_RATING],
                     [setpoint_c, effectiveness * t_chw, -drop_k], 0.0)
    return alpha, beta
