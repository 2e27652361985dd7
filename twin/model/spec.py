"""The validated hall as plain objects: racks expanded from rows, CRAHs, obstacles and PDUs with their boxes.

The hall file's own shape (every key with its unit and range) is the pydantic schema in
:mod:`twin.model.schema`; the checks in :mod:`twin.model.checks` turn a schema-valid file into these.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from twin.model.schema import Hall

__all__ = ["EPS_M", "Box", "CrahSpec", "HallModel", "ObstacleSpec", "PduSpec", "RackSpec"]

#: Tolerance of geometric comparisons (touching boxes, objects at the room's walls), m.
EPS_M = 1e-6


@dataclass(frozen=True)
class Box:
    """An axis-aligned box, metres."""

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]

    def inside(self, lo: tuple[float, float, float], hi: tuple[float, float, float]) -> bool:
        return all(self.lo[i] >= lo[i] - EPS_M and self.hi[i] <= hi[i] + EPS_M for i in range(3))


@dataclass(frozen=True)
class RackSpec:
    name: str
    key: str  # key path in the hall file, for messages
    box: Box
    facing: str
    it_w: float
    airflow_m3s_per_w: float
    fan_ramp_start_c: float
    fan_ramp_per_k: float
    fan_max_factor: float
    heat_capacity_j_per_k: float
    mesh: Path | None
    row: str = ""  # the name of the row it stands in (racks are expanded from rows)


@dataclass(frozen=True)
class CrahSpec:
    name: str
    key: str
    box: Box
    facing: str
    return_from: str
    supply_to: str
    rated_flow_m3s: float
    rated_cooling_w: float
    supply_setpoint_c: float
    fan_speed: float
    rated_fan_w: float
    coil_effectiveness: float
    fan_control: str
    fan_min_speed: float
    inlet_temp_setpoint_c: float
    return_temp_setpoint_c: float
    mesh: Path | None


@dataclass(frozen=True)
class ObstacleSpec:
    name: str
    key: str
    box: Box
    mesh: Path | None


@dataclass(frozen=True)
class PduSpec:
    """A PDU cabinet standing in the hall (a solid, like a rack without airflow)."""

    name: str
    key: str
    box: Box
    ups: str
    rated_va: float  # rated apparent power
    mesh: Path | None = None  # drawn and voxelized as its box


@dataclass(frozen=True)
class HallModel:
    """A validated hall: the file's content plus racks expanded from rows, in file order."""

    path: Path | None
    spec: Hall
    racks: tuple[RackSpec, ...]
    crahs: tuple[CrahSpec, ...]
    obstacles: tuple[ObstacleSpec, ...]
    pdus: tuple[PduSpec, ...] = ()  # from [power]; solids in the hall like racks and CRAHs

    @property
    def name(self) -> str:
        return self.spec.hall.name

    @property
    def plenum_depth_m(self) -> float:
        return self.spec.raised_floor.depth_m if self.spec.raised_floor else 0.0

    @property
    def it_w(self) -> float:
        return float(sum(r.it_w for r in self.racks))
