"""Cooling plant electrical power: chillers (COP from temperatures) and pumps."""

from __future__ import annotations

import numpy as np

from twin.model.power import CoolingPlant

__all__ = ["chiller_cop", "chiller_power_w", "pump_power_w"]

_KELVIN = 273.15


def chiller_cop(plant: CoolingPlant, *, chw_supply_c: float | None = None,
                outdoor_c: float | None = None) -> float:
    """COP = f · T_ev / (T_cond − T_ev), T_ev = supply − evaporator approach, T_cond = outdoor + condenser
    approach (K), capped at ``cop_max``. Defaults: the plant's chilled-water supply and outdoor temperature."""
    supply = plant.chw_supply_c if chw_supply_c is None else chw_supply_c
    outdoor = plant.outdoor_temp_c if outdoor_c is None else outdoor_c
    t_ev = supply - plant.evaporator_approach_k + _KELVIN
    lift = outdoor + plant.condenser_approach_k + _KELVIN - t_ev
    if lift <= 0.0:
        return plant.cop_max
    return float(min(plant.carnot_fraction * t_ev / lift, plant.cop_max))


def chiller_power_w(plant: CoolingPlant, heat_w: float, **temps: float) -> float:
    """Electrical power of the chillers removing ``heat_w`` from the chilled water, W."""
    return float(max(heat_w, 0.0) / chiller_cop(plant, **temps))


def pump_power_w(plant: CoolingPlant, flow_fraction: float | np.ndarray = 1.0) -> float | np.ndarray:
    """Chilled-water pump power at a fraction of design flow (affinity law: ∝ flow³), W."""
    return plant.pump_kw * 1e3 * np.clip(flow_fraction, 0.0, None) ** 3
