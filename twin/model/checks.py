"""The cross checks of a schema-valid hall, one per section, and its expansion into racks and solids.

The schema (:mod:`twin.model.schema`) has checked types, ranges and unknown keys; what is left needs
more than one field: the grid (sizes in whole cells, not too many cells), tiles, rows (expanded into
racks), CRAHs, obstacles, containment and PDUs inside the room, unique names, no overlapping solids,
and the references of the power chain. They run in that order, so a file's first problem is the one
reported, as one :class:`HallError` line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twin.model.assets import ASSETS_DIR
from twin.model.errors import HallError
from twin.model.power import PowerChain
from twin.model.schema import Hall
from twin.model.spec import EPS_M, Box, CrahSpec, HallModel, ObstacleSpec, PduSpec, RackSpec

__all__ = ["MAX_CELLS", "check_hall", "facing_axis_sign"]

MAX_CELLS = 20_000_000

Solid = RackSpec | CrahSpec | ObstacleSpec | PduSpec


def check_hall(spec: Hall, source: Path | None, where: str) -> HallModel:
    """Check a schema-valid hall section by section and expand it; ``where`` names the file in messages."""
    room = _room(spec, where)
    _check_tiles(spec, room, where)
    racks = _racks(spec, room, where)
    crahs = _crahs(spec, room, where)
    obstacles = _obstacles(spec, room, where)
    _check_containment(spec, room, where)
    pdus = _pdus(spec, room, where)
    solids: list[Solid] = [*racks, *crahs, *obstacles, *pdus]
    _check_names(solids, where)
    _check_overlaps(solids, where)
    _check_power(spec, where)
    return HallModel(source, spec, tuple(racks), tuple(crahs), tuple(obstacles), tuple(pdus))


def facing_axis_sign(facing: str) -> tuple[int, int]:
    """"+x" → (0, +1), "-y" → (1, -1): the axis a facing direction lies along, and its sign."""
    return "xyz".index(facing[1]), (1 if facing[0] == "+" else -1)


# --- the room and its grid ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Room:
    size_m: tuple[float, float, float]
    plenum_depth_m: float

    @property
    def hi(self) -> tuple[float, float, float]:
        return self.size_m

    def extent(self) -> str:
        sx, sy, sz = self.size_m
        return f"0–{sx} × 0–{sy} × 0–{sz} m"


def _room(spec: Hall, where: str) -> _Room:
    """[hall] and [raised_floor]: sizes in whole cells, and not more cells than a run can hold."""
    info = spec.hall
    depth = spec.raised_floor.depth_m if spec.raised_floor else 0.0
    for axis, value in zip("xyz", info.size_m):
        _check_multiple(where, f"hall.size_m ({axis})", value, info.cell_m)
    if spec.raised_floor:
        _check_multiple(where, "raised_floor.depth_m", depth, info.cell_m)
    sx, sy, sz = info.size_m
    cells = np.prod([round(v / info.cell_m) for v in (sx, sy, sz + depth)])
    if cells > MAX_CELLS:
        raise HallError(f"{where}: hall.cell_m: {cells} cells is too many (at most {MAX_CELLS}); use larger cells")
    return _Room((sx, sy, sz), depth)


def _check_multiple(where: str, key: str, value: float, cell_m: float) -> None:
    n = value / cell_m
    if abs(n - round(n)) > 1e-6 * max(1.0, n):
        raise HallError(f"{where}: {key}: {value} m is not a whole number of cells of {cell_m} m")


def _check_range(where: str, key: str, rng: tuple[float, float], hi: float) -> None:
    """A [min, max] range on the floor, inside 0–hi."""
    if not (rng[0] < rng[1]):
        raise HallError(f"{where}: {key}: range must be [min, max] with min < max, got {list(rng)}")
    if rng[0] < -EPS_M or rng[1] > hi + EPS_M:
        raise HallError(f"{where}: {key}: {list(rng)} lies outside the room (allowed 0–{hi} m)")


# --- sections -------------------------------------------------------------------------------------

def _check_tiles(spec: Hall, room: _Room, where: str) -> None:
    """[[tiles]]: only over a raised floor, inside the room."""
    sx, sy, _ = room.size_m
    for i, tile in enumerate(spec.tiles):
        if spec.raised_floor is None:
            raise HallError(f"{where}: tiles[{i}]: perforated tiles need a [raised_floor] section")
        _check_range(where, f"tiles[{i}].x_m", tile.x_m, sx)
        _check_range(where, f"tiles[{i}].y_m", tile.y_m, sy)


def _racks(spec: Hall, room: _Room, where: str) -> list[RackSpec]:
    """[[rows]] expanded into racks: loads per rack, facing across the row, inside the room."""
    sx, sy, sz = room.size_m
    racks: list[RackSpec] = []
    for i, row in enumerate(spec.rows):
        key = f"rows[{i}]"
        loads = row.it_kw if isinstance(row.it_kw, list) else [row.it_kw] * row.count
        if len(loads) != row.count:
            raise HallError(f"{where}: {key}.it_kw: {len(loads)} values for {row.count} racks "
                            f"(give one or {row.count})")
        axis_along = 0 if row.along == "x" else 1
        if facing_axis_sign(row.facing)[0] == axis_along:
            raise HallError(f"{where}: {key}.facing: {row.facing} is along the row; racks must face across it "
                            f"({'+y or -y' if row.along == 'x' else '+x or -x'})")
        w, d, h = row.rack_size_m
        if h > sz + EPS_M:
            raise HallError(f"{where}: {key}.rack_size_m: rack height {h} m exceeds the room height {sz} m")
        mesh = _mesh_path(where, f"{key}.mesh", row.mesh)
        for n, kw in enumerate(loads):
            x0, y0 = row.start_m
            if axis_along == 0:
                box = Box((x0 + n * w, y0, 0.0), (x0 + (n + 1) * w, y0 + d, h))
            else:
                box = Box((x0, y0 + n * w, 0.0), (x0 + d, y0 + (n + 1) * w, h))
            rkey = f"{key} (rack {n + 1})"
            if not box.inside((0.0, 0.0, 0.0), room.hi):
                raise HallError(f"{where}: {rkey}: rack spans {_fmt_box(box)}, outside the room 0–{sx} × 0–{sy} m")
            racks.append(RackSpec(
                name=f"{row.name}{n + 1:02d}", key=rkey, box=box, facing=row.facing, it_w=kw * 1e3,
                airflow_m3s_per_w=row.airflow_m3s_per_kw / 1e3, fan_ramp_start_c=row.fan_ramp_start_c,
                fan_ramp_per_k=row.fan_ramp_per_k, fan_max_factor=row.fan_max_factor,
                heat_capacity_j_per_k=row.thermal_mass_kj_per_k * 1e3, mesh=mesh, row=row.name,
            ))
    return racks


def _floor_box(kind: str, name: str, position_m: Sequence[float], size_m: Sequence[float], room: _Room,
               where: str) -> Box:
    """The box of a unit standing on the floor at ``position_m`` (x, y) with ``size_m`` (dx, dy, height);
    HallError naming ``where``'s position_m when it is not inside the room."""
    box = Box((position_m[0], position_m[1], 0.0), (position_m[0] + size_m[0], position_m[1] + size_m[1], size_m[2]))
    if not box.inside((0.0, 0.0, 0.0), room.hi):
        raise HallError(f"{where}.position_m: {kind} {name!r} spans {_fmt_box(box)}, outside the room {room.extent()}")
    return box


def _crahs(spec: Hall, room: _Room, where: str) -> list[CrahSpec]:
    """[[crahs]]: inside the room; floor supply only over a raised floor; supply and return apart."""
    crahs: list[CrahSpec] = []
    for i, c in enumerate(spec.crahs):
        key = f"crahs[{i}]"
        box = _floor_box("CRAH", c.name, c.position_m, c.size_m, room, f"{where}: {key}")
        if c.supply_to == "floor" and spec.raised_floor is None:
            raise HallError(f"{where}: {key}.supply_to: 'floor' needs a [raised_floor] section "
                            f"(or supply to front, back or top)")
        if c.return_from == c.supply_to:
            raise HallError(f"{where}: {key}.supply_to: supply and return on the same side ({c.supply_to})")
        crahs.append(CrahSpec(
            name=c.name, key=key, box=box, facing=c.facing, return_from=c.return_from, supply_to=c.supply_to,
            rated_flow_m3s=c.rated_flow_m3s, rated_cooling_w=c.rated_cooling_kw * 1e3,
            supply_setpoint_c=c.supply_setpoint_c, fan_speed=c.fan_speed, rated_fan_w=c.rated_fan_kw * 1e3,
            coil_effectiveness=c.coil_effectiveness, fan_control=c.fan_control, fan_min_speed=c.fan_min_speed,
            inlet_temp_setpoint_c=c.inlet_temp_setpoint_c, return_temp_setpoint_c=c.return_temp_setpoint_c,
            mesh=_mesh_path(where, f"{key}.mesh", c.mesh),
        ))
    return crahs


def _obstacles(spec: Hall, room: _Room, where: str) -> list[ObstacleSpec]:
    """[[obstacles]]: positive sizes, inside the room or its plenum."""
    obstacles: list[ObstacleSpec] = []
    for i, o in enumerate(spec.obstacles):
        key = f"obstacles[{i}]"
        lo = o.position_m
        hi = (lo[0] + o.size_m[0], lo[1] + o.size_m[1], lo[2] + o.size_m[2])
        box = Box(lo, hi)
        if any(s <= 0 for s in o.size_m):
            raise HallError(f"{where}: {key}.size_m: sizes must be > 0 m, got {list(o.size_m)}")
        if not box.inside((0.0, 0.0, -room.plenum_depth_m), room.hi):
            raise HallError(f"{where}: {key}: obstacle spans {_fmt_box(box)}, outside the room")
        obstacles.append(ObstacleSpec(o.name, key, box, _mesh_path(where, f"{key}.mesh", o.mesh)))
    return obstacles


def _check_containment(spec: Hall, room: _Room, where: str) -> None:
    """[[containment]]: its floor ranges inside the room, no taller than the room."""
    sx, sy, sz = room.size_m
    for i, c in enumerate(spec.containment):
        key = f"containment[{i}]"
        _check_range(where, f"{key}.x_m", c.x_m, sx)
        _check_range(where, f"{key}.y_m", c.y_m, sy)
        if c.height_m > sz + EPS_M:
            raise HallError(f"{where}: {key}.height_m: {c.height_m} m exceeds the room height {sz} m")


def _pdus(spec: Hall, room: _Room, where: str) -> list[PduSpec]:
    """PDU cabinets of the [power] section, checked to stand inside the room."""
    if spec.power is None:
        return []
    pdus = []
    for i, p in enumerate(spec.power.pdus):
        key = f"power.pdus[{i}]"
        box = _floor_box("PDU", p.name, p.position_m, p.size_m, room, f"{where}: {key}")
        pdus.append(PduSpec(p.name, key, box, p.ups, rated_va=p.rated_kva * 1e3))
    return pdus


def _check_names(solids: list[Solid], where: str) -> None:
    """Names are how results, commands and alarms refer to equipment: they must be unique."""
    seen: dict[str, str] = {}
    for obj in solids:
        if obj.name in seen:
            raise HallError(f"{where}: {obj.key}: name {obj.name!r} is already used by {seen[obj.name]}")
        seen[obj.name] = obj.key


def _check_overlaps(solids: list[Solid], where: str) -> None:
    """Solids may touch but not overlap (a voxel belongs to one of them)."""
    if len(solids) < 2:
        return
    lo = np.array([s.box.lo for s in solids])
    hi = np.array([s.box.hi for s in solids])
    # Sweep along x: sort by lower x and compare each box only with those that start before it ends.
    order = np.argsort(lo[:, 0], kind="stable")
    for a_pos, a in enumerate(order):
        for b in order[a_pos + 1:]:
            if lo[b, 0] >= hi[a, 0] - EPS_M:
                break
            if np.all(lo[a] < hi[b] - EPS_M) and np.all(lo[b] < hi[a] - EPS_M):
                first, second = sorted((a, b))
                raise HallError(f"{where}: {solids[second].key}: {solids[second].name!r} overlaps "
                                f"{solids[first].name!r} ({solids[first].key}); objects may touch but not overlap")


def _check_transformers(power: PowerChain, where: str) -> None:
    """The MV/LV transformers: on the utility's voltage; in parallel, the same LV voltage (units of
    different ratios would drive a circulating current between them), unique names, one in service."""
    units = power.transformer_units
    keys = ([f"power.transformers[{i}]" for i in range(len(units))] if power.transformers is not None
            else ["power.transformer"])
    names: dict[str, str] = {}
    for key, tr in zip(keys, units):
        if abs(tr.mv_kv - power.utility.mv_kv) > 1e-9 * power.utility.mv_kv:
            raise HallError(f"{where}: {key}.mv_kv: {tr.mv_kv} kV differs from "
                            f"power.utility.mv_kv ({power.utility.mv_kv} kV); they must be equal")
        if abs(tr.lv_v - units[0].lv_v) > 1e-9 * units[0].lv_v:
            raise HallError(f"{where}: {key}.lv_v: {tr.lv_v} V differs from {keys[0]}.lv_v ({units[0].lv_v} V); "
                            f"transformers in parallel must have the same ratio")
        if tr.name in names:
            raise HallError(f"{where}: {key}.name: {tr.name!r} is already used by {names[tr.name]}")
        names[tr.name] = key
    if not any(tr.in_service for tr in units):
        raise HallError(f"{where}: {keys[0].split('[')[0]}: every transformer is out of service "
                        f"(in_service = false); at least one must carry the hall")


def _check_power(spec: Hall, where: str) -> None:
    """[power]: references between UPSs, PDUs and rows; every row fed once; voltages that match."""
    power = spec.power
    if power is None:
        return
    _check_transformers(power, where)
    ups_names: dict[str, int] = {}
    for i, u in enumerate(power.ups):
        if u.name in ups_names:
            raise HallError(f"{where}: power.ups[{i}].name: {u.name!r} is already used by "
                            f"power.ups[{ups_names[u.name]}]")
        ups_names[u.name] = i
    if not ups_names:
        raise HallError(f"{where}: power.ups: at least one UPS is needed")
    pdu_names = {p.name for p in power.pdus}
    for i, p in enumerate(power.pdus):
        if p.ups not in ups_names:
            raise HallError(f"{where}: power.pdus[{i}].ups: no UPS named {p.ups!r}; allowed: {', '.join(ups_names)}")
    row_names = [r.name for r in spec.rows]
    fed: dict[str, int] = {}
    for i, f in enumerate(power.rack_feeds):
        key = f"power.rack_feeds[{i}]"
        if f.row not in row_names:
            allowed = ", ".join(row_names) or "none (the file has no rows)"
            raise HallError(f"{where}: {key}.row: no row named {f.row!r}; allowed: {allowed}")
        if f.row in fed:
            raise HallError(f"{where}: {key}.row: row {f.row!r} is already fed by power.rack_feeds[{fed[f.row]}]")
        fed[f.row] = i
        for side in ("feed_a", "feed_b"):
            pdu = getattr(f, side)
            if pdu not in pdu_names:
                raise HallError(f"{where}: {key}.{side}: no PDU named {pdu!r}; allowed: {', '.join(sorted(pdu_names))}")
        if f.feed_a == f.feed_b:
            raise HallError(f"{where}: {key}.feed_b: A and B feeds come from the same PDU {f.feed_a!r}; "
                            f"use two PDUs")
    for i, name in enumerate(row_names):
        if name not in fed:
            raise HallError(f"{where}: rows[{i}]: row {name!r} has no entry in power.rack_feeds "
                            f"(every row needs feed_a and feed_b)")


# --- helpers --------------------------------------------------------------------------------------

def _mesh_path(where: str, key: str, name: str | None) -> Path | None:
    if name is None:
        return None
    path = ASSETS_DIR / "meshes" / name
    if not path.is_file():
        raise HallError(f"{where}: {key}: mesh file {name!r} not found in {ASSETS_DIR / 'meshes'}")
    return path


def _fmt_box(box: Box) -> str:
    return " × ".join(f"{lo:g}–{hi:g}" for lo, hi in zip(box.lo, box.hi)) + " m"
