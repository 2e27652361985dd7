"""Schema of a hall file (TOML): every field with its unit, range and meaning.

Coordinates: x along the room's length, y across, z up; the room's floor is at z = 0 and a raised-floor
plenum, when present, lies below it (z < 0). Positions are the minimum corner of an object's box.
Directions are one of "+x", "-x", "+y", "-y".
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from twin.model.power import PowerChain
from twin.model.strict import StrictModel

__all__ = [
    "Air",
    "Airflow",
    "Containment",
    "Crah",
    "Hall",
    "HallInfo",
    "Obstacle",
    "RackRow",
    "RaisedFloor",
    "Tile",
    "Direction",
    "ASHRAE_ALLOWABLE_C",
    "ASHRAE_RECOMMENDED_C",
]

Direction = Literal["+x", "-x", "+y", "-y"]

#: ASHRAE TC9.9 (2021) inlet temperature ranges, °C.
ASHRAE_RECOMMENDED_C = (18.0, 27.0)
ASHRAE_ALLOWABLE_C = {
    "A1": (15.0, 32.0),
    "A2": (10.0, 35.0),
    "A3": (5.0, 40.0),
    "A4": (5.0, 45.0),
}


_Strict = StrictModel


class HallInfo(_Strict):
    name: str = Field(description="Name of the hall, shown in reports.")
    size_m: tuple[float, float, float] = Field(
        description="Room size x, y, z in m (z: floor to ceiling, above any raised floor)."
    )
    cell_m: float = Field(gt=0.02, le=2.0, description="Edge of a cubic solver cell, m.")
    ashrae_class: Literal["A1", "A2", "A3", "A4"] = Field(
        default="A1", description="ASHRAE TC9.9 allowable class for rack-inlet alarms."
    )
    initial_temp_c: float = Field(default=22.0, ge=-10.0, le=60.0, description="Initial air temperature, °C.")

    @field_validator("size_m")
    @classmethod
    def _positive_size(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(not (0.5 <= s <= 1000.0) for s in v):
            raise ValueError("each of x, y, z must be between 0.5 and 1000 m")
        return v


class Air(_Strict):
    density_kg_m3: float = Field(default=1.19, gt=0.5, lt=2.0, description="Air density, kg/m³.")
    cp_j_kgk: float = Field(default=1006.0, gt=900.0, lt=1100.0, description="Specific heat of air, J/(kg·K).")
    turbulent_diffusivity_m2s: float = Field(
        default=0.005, ge=0.0, le=1.0,
        description="Effective (turbulent) thermal diffusivity of the room air, m²/s.",
    )


class Airflow(_Strict):
    model: Literal["potential", "momentum"] = Field(
        default="potential",
        description="Airflow model: potential (fast, no momentum: paths set by containment and tiles) or "
                    "momentum (Navier–Stokes with buoyancy and Chen–Xu turbulence: jets, recirculation, rising "
                    "hot air; for open rooms, row ends and broken containment).",
    )
    buoyancy: bool = Field(default=True, description="Momentum model: Boussinesq buoyancy (hot air rises).")
    refresh_s: float = Field(
        default=30.0, ge=1.0, le=3600.0,
        description="Momentum model, time runs: the flow field is brought up to date at least this often "
                    "(simulated s), besides whenever a fan's flow changes, s.",
    )
    refresh_iterations: int = Field(
        default=10, ge=1, le=1000,
        description="Momentum model, time runs: warm-started iterations per refresh of the flow field.",
    )
    tolerance: float = Field(
        default=1e-4, gt=0.0, lt=0.1,
        description="Momentum model: tolerance of the flow solve's scaled continuity and momentum residuals.",
    )
    convection: Literal["upwind", "tvd"] = Field(
        default="upwind",
        description="Momentum model: convection scheme of the momentum equations. upwind: first order, "
                    "robust in every validation hall; tvd: van Leer-limited, second order where the flow is "
                    "smooth (jets keep their shape), at about twice the cost, and it may not settle to a steady "
                    "flow in open rooms with buoyant plumes (then the steady solve exits 3 and says so).",
    )
    turbulence: Literal["chen-xu", "k-epsilon"] = Field(
        default="chen-xu",
        description="Momentum model: turbulence closure. chen-xu: Chen & Xu's zero-equation model (ν_t from "
                    "the local speed and the wall distance; cheapest, made for indoor air); k-epsilon: the "
                    "standard k-ε model with log-law wall functions (transports turbulence from jets and "
                    "shear layers into recirculation zones; about 1.3-2x the cost per iteration).",
    )
    grid_sequencing: bool = Field(
        default=True,
        description="Momentum model, steady solves: solve the hall first on cells twice as large and start from "
                    "that answer (faster; skipped, with the reason in the log, where the hall's sizes or raised "
                    "floor are no whole number of the larger cells). false: start from still air.",
    )
    heat_mixing: Literal["eddy", "constant"] = Field(
        default="eddy",
        description="Momentum model: how the temperature transport mixes heat. eddy: the flow's own "
                    "turbulence, ν/Pr + ν_t/Pr_t on every face (Pr 0.71, Pr_t 0.9; strong in jets and at row "
                    "ends, weak in still corners); constant: [air] turbulent_diffusivity_m2s everywhere, as the "
                    "potential flow always does.",
    )


class RaisedFloor(_Strict):
    depth_m: float = Field(gt=0.0, le=3.0, description="Depth of the underfloor plenum, m.")


class Tile(_Strict):
    name: str = Field(description="Name of the tile group.")
    x_m: tuple[float, float] = Field(description="x range of the perforated tiles, m.")
    y_m: tuple[float, float] = Field(description="y range of the perforated tiles, m.")
    open_fraction: float = Field(gt=0.0, le=1.0, description="Open-area fraction of the tiles (0–1).")


class RackRow(_Strict):
    name: str = Field(description="Row name; racks are named <row><nn>, e.g. A01.")
    start_m: tuple[float, float] = Field(description="x, y of the minimum corner of the row's first rack, m.")
    along: Literal["x", "y"] = Field(description="Axis along which the racks stand side by side.")
    facing: Direction = Field(description="Direction the rack fronts (air intakes) face.")
    count: int = Field(ge=1, le=200, description="Number of racks in the row.")
    rack_size_m: tuple[float, float, float] = Field(
        default=(0.6, 1.2, 2.2), description="Rack width (along the row), depth, height, m."
    )
    it_kw: float | list[float] = Field(
        description="IT load per rack, kW: one value for all racks or one per rack."
    )
    airflow_m3s_per_kw: float = Field(
        default=0.0755, gt=0.01, le=0.5,
        description="Server airflow per kW at nominal fan speed, m³/s per kW (160 CFM/kW ≈ 0.0755).",
    )
    fan_ramp_start_c: float = Field(
        default=27.0, ge=10.0, le=45.0, description="Inlet temperature above which server fans speed up, °C."
    )
    fan_ramp_per_k: float = Field(
        default=0.04, ge=0.0, le=1.0, description="Server airflow increase per K above the ramp start (fraction)."
    )
    fan_max_factor: float = Field(
        default=1.6, ge=1.0, le=3.0, description="Maximum server airflow as a multiple of nominal."
    )
    thermal_mass_kj_per_k: float = Field(
        default=150.0, gt=0.0, le=1.0e5,
        description="Heat capacity of a rack and its servers, kJ/K (sets the exhaust lag of minutes).",
    )
    mesh: str | None = Field(default=None, description="GLB file in assets/meshes/ to draw and voxelize each rack.")

    @field_validator("it_kw")
    @classmethod
    def _loads_in_range(cls, v: float | list[float]) -> float | list[float]:
        values = v if isinstance(v, list) else [v]
        if any(not (0.0 <= x <= 100.0) for x in values):
            raise ValueError("rack IT load must be between 0 and 100 kW")
        return v

    @field_validator("rack_size_m")
    @classmethod
    def _size_in_range(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(not (0.1 <= s <= 5.0) for s in v):
            raise ValueError("rack width, depth and height must be between 0.1 and 5 m")
        return v


class Crah(_Strict):
    name: str = Field(description="Unit name, e.g. CRAH-01.")
    position_m: tuple[float, float] = Field(description="x, y of the cabinet's minimum corner, m.")
    size_m: tuple[float, float, float] = Field(default=(2.0, 0.9, 1.9), description="Cabinet size x, y, z, m.")
    facing: Direction = Field(description="Direction of the cabinet's front.")
    return_from: Literal["top", "front", "back"] = Field(
        default="top", description="Where the unit takes its return air."
    )
    supply_to: Literal["floor", "front", "back", "top"] = Field(
        default="floor", description="Where the unit supplies: down into the raised floor, or out of a face."
    )
    rated_flow_m3s: float = Field(gt=0.0, le=50.0, description="Airflow at 100 % fan speed, m³/s.")
    rated_cooling_kw: float = Field(gt=0.0, le=2000.0, description="Coil capacity at design chilled water, kW.")
    supply_setpoint_c: float = Field(default=18.0, ge=5.0, le=35.0, description="Supply-air setpoint, °C.")
    fan_speed: float = Field(default=1.0, ge=0.0, le=1.0, description="Fan speed as a fraction of full speed.")
    rated_fan_kw: float = Field(
        default=5.0, ge=0.0, le=100.0, description="Fan electrical power at full speed, kW (∝ speed³)."
    )
    fan_control: Literal["inlet", "return", "fixed"] = Field(
        default="fixed",
        description="What the fan-speed controller acts on: the inlets of the racks the unit serves, "
                    "its return air, or nothing (fixed speed).",
    )
    fan_min_speed: float = Field(default=0.3, ge=0.1, le=1.0,
                                 description="Lowest speed the fan controller may run the fan at (fraction).")
    inlet_temp_setpoint_c: float = Field(default=25.0, ge=15.0, le=35.0,
                                         description="Rack-inlet setpoint of the fan controller, °C.")
    return_temp_setpoint_c: float = Field(default=30.0, ge=18.0, le=50.0,
                                          description="Return-air setpoint of the fan controller, °C.")
    coil_effectiveness: float = Field(
        default=0.8, gt=0.0, le=1.0,
        description="Coil effectiveness at a full valve: share of (return − chilled water) the air can lose.",
    )
    mesh: str | None = Field(default=None, description="GLB file in assets/meshes/ for the cabinet.")


class Containment(_Strict):
    name: str = Field(description="Name of the contained aisle.")
    kind: Literal["cold-aisle", "hot-aisle"] = Field(description="Which aisle the panels contain.")
    x_m: tuple[float, float] = Field(description="x range of the contained aisle, m.")
    y_m: tuple[float, float] = Field(description="y range of the contained aisle, m.")
    height_m: float = Field(gt=0.0, description="Height of the panels and of the roof, m.")
    roof: bool = Field(default=True, description="Whether a roof closes the aisle at height_m.")
    doors: bool = Field(default=True, description="Whether (closed) doors close the aisle's ends.")
    leakage: float = Field(
        default=0.03, ge=0.0, le=1.0,
        description="Open-area fraction left by gaps in panels, doors and roof (0 = sealed, 1 = no panel); "
                    "like a perforated tile's, its conductance scales as the fraction squared.",
    )


class Obstacle(_Strict):
    name: str = Field(description="Name, e.g. column-1.")
    position_m: tuple[float, float, float] = Field(description="x, y, z of the minimum corner, m.")
    size_m: tuple[float, float, float] = Field(description="Size x, y, z, m.")
    mesh: str | None = Field(default=None, description="GLB file in assets/meshes/, scaled to the box.")


class Hall(_Strict):
    hall: HallInfo
    air: Air = Air()
    airflow: Airflow = Airflow()
    raised_floor: RaisedFloor | None = None
    tiles: list[Tile] = []
    rows: list[RackRow] = []
    crahs: list[Crah] = []
    containment: list[Containment] = []
    obstacles: list[Obstacle] = []
    power: PowerChain | None = None
