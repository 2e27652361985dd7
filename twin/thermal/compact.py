"""Compact models of racks and CRAH units, one array per quantity (no object per rack in the loop).

Rack (lumped heat capacity C, IT power P, server airflow ṁ = ρ q):

    C dT_r/dt = P − ṁ c_p (T_r − T_intake)        T_exhaust = T_r;  steady: T_exhaust = T_intake + P/(ṁ c_p)

The server airflow follows the servers' own fan law (never the CRAH's flow): q = q_per_W · P · f(T_intake),
f = 1 up to the ramp start, rising linearly above it, capped at the maximum factor.

CRAH: airflow ∝ fan speed, fan power ∝ speed³ (affinity laws); the coil cools the return air to the
supply setpoint unless that needs more than the coil's capacity, and never heats:

    T_supply = min(T_return, max(T_set, T_return − Q_max/(ṁ c_p)))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.model.load import HallModel

__all__ = ["RackArrays", "CrahArrays", "server_airflow_m3s", "coil_supply_c", "coil_regime", "coil_affine",
           "fan_power_w", "COIL_AT_SETPOINT", "COIL_AT_CAPACITY", "COIL_NOT_COOLING"]

#: Regimes of a CRAH coil (see :func:`coil_regime`).
COIL_AT_SETPOINT, COIL_AT_CAPACITY, COIL_NOT_COOLING = 0, 1, 2


@dataclass
class RackArrays:
    names: list[str]
    it_w: np.ndarray
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
    names: list[str]
    rated_flow_m3s: np.ndarray
    rated_cooling_w: np.ndarray
    supply_setpoint_c: np.ndarray
    fan_speed: np.ndarray
    rated_fan_w: np.ndarray
    running: np.ndarray

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
            running=np.ones(len(c), dtype=bool),
        )

    def flow_m3s(self) -> np.ndarray:
        """Airflow of each unit: rated flow × fan speed (0 when stopped)."""
        return np.where(self.running, self.rated_flow_m3s * self.fan_speed, 0.0)

    def fan_power_w(self) -> np.ndarray:
        return np.where(self.running, fan_power_w(self.fan_speed, self.rated_fan_w), 0.0)

    def capacity_w(self) -> np.ndarray:
        return np.where(self.running, self.rated_cooling_w, 0.0)


def server_airflow_m3s(racks: RackArrays, t_intake_c: np.ndarray) -> np.ndarray:
    """Server airflow of each rack at the given intake temperatures, m³/s."""
    factor = 1.0 + racks.fan_ramp_per_k * np.maximum(t_intake_c - racks.fan_ramp_start_c, 0.0)
    return racks.airflow_m3s_per_w * racks.it_w * np.minimum(factor, racks.fan_max_factor)


def coil_supply_c(t_return_c: np.ndarray, setpoint_c: np.ndarray, capacity_w: np.ndarray,
                  mdot_cp_w_per_k: np.ndarray) -> np.ndarray:
    """Air temperature leaving the coil: setpoint, unless capacity-limited; a coil never heats."""
    with np.errstate(divide="ignore", invalid="ignore"):
        limited = np.where(mdot_cp_w_per_k > 0, t_return_c - capacity_w / mdot_cp_w_per_k, t_return_c)
    return np.minimum(t_return_c, np.maximum(setpoint_c, limited))


def fan_power_w(speed: np.ndarray, rated_w: np.ndarray) -> np.ndarray:
    """Fan affinity law: power ∝ speed³."""
    return rated_w * np.asarray(speed) ** 3


def coil_regime(t_return_c: np.ndarray, setpoint_c: np.ndarray, capacity_w: np.ndarray,
                mdot_cp_w_per_k: np.ndarray) -> np.ndarray:
    """Which branch of :func:`coil_supply_c` applies to each unit (COIL_* codes)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        limited = np.where(mdot_cp_w_per_k > 0, t_return_c - capacity_w / mdot_cp_w_per_k, t_return_c)
    return np.where(t_return_c <= setpoint_c, COIL_NOT_COOLING,
                    np.where(limited > setpoint_c, COIL_AT_CAPACITY, COIL_AT_SETPOINT))


def coil_affine(regime: np.ndarray, setpoint_c: np.ndarray, capacity_w: np.ndarray,
                mdot_cp_w_per_k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coil outlet as α · T_return + β in each regime: (α, β)."""
    alpha = np.where(regime == COIL_AT_SETPOINT, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        drop_k = np.where(mdot_cp_w_per_k > 0, capacity_w / mdot_cp_w_per_k, 0.0)
    beta = np.select([regime == COIL_AT_SETPOINT, regime == COIL_AT_CAPACITY], [setpoint_c, -drop_k], 0.0)
    return alpha, beta
