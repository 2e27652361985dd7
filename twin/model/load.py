"""Load and validate hall files; expand rows into racks.

Validation happens in one place: the schema (types, ranges, unknown keys) and then the cross checks
(objects inside the room, no overlaps, references to files and to the raised floor). Every problem
becomes a :class:`HallError` whose text is one line: ``FILE: KEY.PATH: what is wrong (what is allowed)``.
"""

from __future__ import annotations

import os
import tomllib
import types
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ValidationError

from twin.model.schema import Hall

__all__ = [
    "describe_validation_error",
    "facing_axis_sign",
    "ASSETS_DIR",
    "CrahSpec",
    "HallError",
    "HallModel",
    "ObstacleSpec",
    "PduSpec",
    "RackSpec",
    "bundled_hall",
    "bundled_hall_names",
    "hall_path",
    "load_hall",
    "parse_hall",
    "read_toml",
]



def _assets_dir() -> Path:
    """The bundled halls, meshes and scenarios: ``twin/_assets`` in an installed wheel (setup.py maps
    the repository's ``assets/`` there), else the checkout's ``assets/`` (editable installs, PYTHONPATH)."""
    installed = resources.files("twin") / "_assets"
    if installed.is_dir():
        return Path(str(installed))
    return Path(__file__).resolve().parents[2] / "assets"


ASSETS_DIR = _assets_dir()
_MAX_CELLS = 20_000_000
_EPS_M = 1e-6


class HallError(ValueError):
    """A user error in a hall file: its message is one line naming the file, the key path and the rule."""


@dataclass(frozen=True)
class Box:
    """An axis-aligned box, metres."""

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]

    def inside(self, lo: tuple[float, float, float], hi: tuple[float, float, float]) -> bool:
        return all(self.lo[i] >= lo[i] - _EPS_M and self.hi[i] <= hi[i] + _EPS_M for i in range(3))


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
    rated_w: float  # rated apparent power, VA
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


def bundled_hall_names() -> list[str]:
    """The halls shipped in assets/halls/, by name (``reference``, ``tiny``, …)."""
    return sorted(p.stem for p in (ASSETS_DIR / "halls").glob("*.toml"))


def hall_path(text: str | Path) -> Path:
    """The hall file a user means: a bare name (a string without a folder or ``.toml``: ``reference``) is
    a bundled hall unless a file of that name exists here; anything else (a Path too) is taken as given.

    Raises HallError (one line listing the bundled names) for a bare name that is neither.
    """
    path = Path(text)
    if isinstance(text, Path) or path.exists() or path.suffix == ".toml" or "/" in text or os.sep in text:
        return path
    return _bundled_path(text)


def _bundled_path(name: str) -> Path:
    path = ASSETS_DIR / "halls" / f"{name}.toml"
    if not path.is_file():
        raise HallError(f"{name}: no such hall file, and no bundled hall of that name; bundled halls: "
                        f"{', '.join(bundled_hall_names())} (or give the path of a .toml file)")
    return path


def bundled_hall(name: str) -> HallModel:
    """Load a hall shipped in assets/halls/, e.g. ``bundled_hall("tiny")``."""
    return load_hall(_bundled_path(name))


def read_toml(path: Path, error: type[HallError] = HallError) -> dict:
    """A TOML file as a dict; any problem reading it raises ``error`` with one line naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not a UTF-8 text file (byte {exc.start}); expected TOML text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None


def load_hall(path: str | Path) -> HallModel:
    """Read, validate and expand a hall file; raise :class:`HallError` with a one-line message."""
    path = Path(path)
    return parse_hall(read_toml(path), source=path)


def parse_hall(data: dict, *, source: Path | None = None) -> HallModel:
    """Validate a hall given as a dict (the parsed TOML)."""
    where = str(source) if source else "<hall>"
    try:
        spec = Hall.model_validate(data)
    except ValidationError as exc:
        raise HallError(describe_validation_error(where, exc)) from None
    return _cross_check(spec, source, where)


# --- schema errors -> one line ------------------------------------------------------------------

def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _is_model(x: typing.Any) -> bool:
    return isinstance(x, type) and issubclass(x, BaseModel)


def _union_members(x: typing.Any) -> list[type[BaseModel]]:
    """The models of a union of models (a tagged union of events, say); [] otherwise."""
    if typing.get_origin(x) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(x) if a is not type(None)]
        if members and all(_is_model(m) for m in members):
            return members
    return []


def _step(model: typing.Any, part: str) -> tuple[bool, typing.Any]:
    """Walk one string of a pydantic error location: (is it a key of the file?, the model below it)."""
    if _is_model(model):
        field = model.model_fields.get(part)
        return True, (_unwrap(field.annotation) if field is not None else None)
    for member in _union_members(model):
        kind = member.model_fields.get("kind")
        if kind is not None and part in typing.get_args(kind.annotation):
            return False, member  # the tag pydantic adds for the member of a tagged union
    # inside a non-model value, a string names the member of a union that failed, not a key
    return False, model


def _clean_loc(loc: tuple, root: type[BaseModel] = Hall) -> tuple:
    """Keep the keys and indices of ``loc``; drop pydantic's union-member tags ('float', 'list[float]')."""
    out: list = []
    model: typing.Any = root
    for part in loc:
        if isinstance(part, int):
            out.append(part)
            continue
        is_key, model = _step(model, part)
        if is_key:
            out.append(part)
    return tuple(out)


def _model_at(raw_loc: tuple, root: type[BaseModel] = Hall) -> type[BaseModel] | None:
    """The pydantic model that holds the last key of pydantic's ``raw_loc`` (to list the allowed keys)."""
    model: typing.Any = root
    for part in raw_loc[:-1]:
        if not isinstance(part, int):
            model = _step(model, part)[1]
    return model if _is_model(model) else None


def _field_at(loc: tuple, root: type[BaseModel] = Hall) -> typing.Any:
    """The schema field (FieldInfo) of the deepest key in ``loc``: its description says what is allowed."""
    return _walk(loc, root)[0]


def _walk(loc: tuple, root: type[BaseModel]) -> tuple[typing.Any, typing.Any]:
    """(FieldInfo of the last key, model or annotation below it) along a cleaned location."""
    model: typing.Any = root
    field = None
    for part in loc:
        if isinstance(part, int):
            continue
        members = _union_members(model)
        if members:
            holders = [m for m in members if part in m.model_fields]
            model = holders[0] if len(holders) == 1 else model
        if not _is_model(model) or part not in model.model_fields:
            return None, None
        field = model.model_fields[part]
        model = _unwrap(field.annotation)
    return field, model


def _unwrap(annotation: typing.Any) -> typing.Any:
    """list[X] -> X, X | None -> X, Annotated[X, ...] -> X."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        origin = typing.get_origin(annotation)
        if origin in (list, tuple) and args:
            annotation = args[0]
        elif origin in (typing.Union, types.UnionType) and len(args) == 1:
            annotation = args[0]
        else:
            return annotation


def describe_validation_error(where: str, exc: ValidationError, root: type[BaseModel] = Hall) -> str:
    """One line for the first schema error: ``FILE: KEY.PATH: what is wrong (what is allowed)``."""
    # A misspelt key shows up twice (unknown key + required key missing): name the misspelling first.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = _clean_loc(err["loc"], root)
    n_more = len(errors) - 1
    if len(loc) < len(err["loc"]):
        # A union (e.g. it_kw: number or list): every member reports; the deepest error is the specific one.
        siblings = [e for e in errors if _clean_loc(e["loc"], root)[:len(loc)] == loc]
        err = max(siblings, key=lambda e: len(_clean_loc(e["loc"], root)))
        loc = _clean_loc(err["loc"], root)
        n_more = len(errors) - len(siblings)
    if err["type"] == "missing" and loc and isinstance(loc[-1], int):
        loc = loc[:-1]  # a tuple given too few values: name the tuple, not the absent item
    key = _key_path(loc) or "(top level)"
    holder = _model_at(tuple(err["loc"]), root) if loc else root
    field = _field_at(loc, root)
    described = f" ({field.description})" if field is not None and field.description else ""
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(holder.model_fields) if holder else "see the schema"
        msg = f"unknown key; allowed keys here: {allowed}"
    elif err["type"] == "missing":
        msg = ("too few values" if isinstance(err["loc"][-1], int) else "required key is missing") + described
    else:
        msg = err["msg"].removeprefix("Value error, ") + described
    more = f" [+{n_more} more]" if n_more > 0 else ""
    return f"{where}: {key}: {msg}{more}"


# --- cross checks and expansion -----------------------------------------------------------------

def facing_axis_sign(facing: str) -> tuple[int, int]:
    """"+x" → (0, +1), "-y" → (1, -1): the axis a facing direction lies along, and its sign."""
    return "xyz".index(facing[1]), (1 if facing[0] == "+" else -1)


def _mesh_path(where: str, key: str, name: str | None) -> Path | None:
    if name is None:
        return None
    path = ASSETS_DIR / "meshes" / name
    if not path.is_file():
        raise HallError(f"{where}: {key}: mesh file {name!r} not found in {ASSETS_DIR / 'meshes'}")
    return path


def _check_multiple(where: str, key: str, value: float, cell_m: float) -> None:
    n = value / cell_m
    if abs(n - round(n)) > 1e-6 * max(1.0, n):
        raise HallError(f"{where}: {key}: {value} m is not a whole number of cells of {cell_m} m")


def _cross_check(spec: Hall, source: Path | None, where: str) -> HallModel:
    info = spec.hall
    sx, sy, sz = info.size_m
    depth = spec.raised_floor.depth_m if spec.raised_floor else 0.0
    for axis, value in zip("xyz", info.size_m):
        _check_multiple(where, f"hall.size_m ({axis})", value, info.cell_m)
    if spec.raised_floor:
        _check_multiple(where, "raised_floor.depth_m", depth, info.cell_m)
    cells = np.prod([round(v / info.cell_m) for v in (sx, sy, sz + depth)])
    if cells > _MAX_CELLS:
        raise HallError(f"{where}: hall.cell_m: {cells} cells is too many (at most {_MAX_CELLS}); use larger cells")
    room_lo, room_hi = (0.0, 0.0, 0.0), (sx, sy, sz)

    def in_range(key: str, rng: tuple[float, float], hi: float) -> None:
        if not (rng[0] < rng[1]):
            raise HallError(f"{where}: {key}: range must be [min, max] with min < max, got {list(rng)}")
        if rng[0] < -_EPS_M or rng[1] > hi + _EPS_M:
            raise HallError(f"{where}: {key}: {list(rng)} lies outside the room (allowed 0–{hi} m)")

    for i, tile in enumerate(spec.tiles):
        if spec.raised_floor is None:
            raise HallError(f"{where}: tiles[{i}]: perforated tiles need a [raised_floor] section")
        in_range(f"tiles[{i}].x_m", tile.x_m, sx)
        in_range(f"tiles[{i}].y_m", tile.y_m, sy)

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
        if h > sz + _EPS_M:
            raise HallError(f"{where}: {key}.rack_size_m: rack height {h} m exceeds the room height {sz} m")
        mesh = _mesh_path(where, f"{key}.mesh", row.mesh)
        for n, kw in enumerate(loads):
            x0, y0 = row.start_m
            if axis_along == 0:
                lo = (x0 + n * w, y0, 0.0)
                hi = (x0 + (n + 1) * w, y0 + d, h)
            else:
                lo = (x0, y0 + n * w, 0.0)
                hi = (x0 + d, y0 + (n + 1) * w, h)
            box = Box(lo, hi)
            rkey = f"{key} (rack {n + 1})"
            if not box.inside(room_lo, room_hi):
                raise HallError(f"{where}: {rkey}: rack spans {_fmt_box(box)}, outside the room 0–{sx} × 0–{sy} m")
            racks.append(RackSpec(
                name=f"{row.name}{n + 1:02d}", key=rkey, box=box, facing=row.facing, it_w=kw * 1e3,
                airflow_m3s_per_w=row.airflow_m3s_per_kw / 1e3, fan_ramp_start_c=row.fan_ramp_start_c,
                fan_ramp_per_k=row.fan_ramp_per_k, fan_max_factor=row.fan_max_factor,
                heat_capacity_j_per_k=row.thermal_mass_kj_per_k * 1e3, mesh=mesh, row=row.name,
            ))

    crahs: list[CrahSpec] = []
    for i, c in enumerate(spec.crahs):
        key = f"crahs[{i}]"
        box = Box((c.position_m[0], c.position_m[1], 0.0),
                  (c.position_m[0] + c.size_m[0], c.position_m[1] + c.size_m[1], c.size_m[2]))
        if not box.inside(room_lo, room_hi):
            raise HallError(f"{where}: {key}.position_m: CRAH {c.name!r} spans {_fmt_box(box)}, "
                            f"outside the room 0–{sx} × 0–{sy} × 0–{sz} m")
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

    obstacles: list[ObstacleSpec] = []
    for i, o in enumerate(spec.obstacles):
        key = f"obstacles[{i}]"
        box = Box(o.position_m, tuple(p + s for p, s in zip(o.position_m, o.size_m)))
        if any(s <= 0 for s in o.size_m):
            raise HallError(f"{where}: {key}.size_m: sizes must be > 0 m, got {list(o.size_m)}")
        if not box.inside((0.0, 0.0, -depth), room_hi):
            raise HallError(f"{where}: {key}: obstacle spans {_fmt_box(box)}, outside the room")
        obstacles.append(ObstacleSpec(o.name, key, box, _mesh_path(where, f"{key}.mesh", o.mesh)))

    for i, c in enumerate(spec.containment):
        key = f"containment[{i}]"
        in_range(f"{key}.x_m", c.x_m, sx)
        in_range(f"{key}.y_m", c.y_m, sy)
        if c.height_m > sz + _EPS_M:
            raise HallError(f"{where}: {key}.height_m: {c.height_m} m exceeds the room height {sz} m")

    pdus = _pdus(spec, where, room_hi)

    # Names are how results, commands and alarms refer to equipment: they must be unique.
    seen: dict[str, str] = {}
    for obj in [*racks, *crahs, *obstacles, *pdus]:
        if obj.name in seen:
            raise HallError(f"{where}: {obj.key}: name {obj.name!r} is already used by {seen[obj.name]}")
        seen[obj.name] = obj.key

    solids = [*racks, *crahs, *obstacles, *pdus]
    _check_overlaps(where, solids)
    _check_power(spec, where)
    return HallModel(source, spec, tuple(racks), tuple(crahs), tuple(obstacles), tuple(pdus))


def _check_overlaps(where: str, solids: list) -> None:
    if len(solids) < 2:
        return
    lo = np.array([s.box.lo for s in solids])
    hi = np.array([s.box.hi for s in solids])
    # Sweep along x: sort by lower x and compare each box only with those that start before it ends.
    order = np.argsort(lo[:, 0], kind="stable")
    for a_pos, a in enumerate(order):
        for b in order[a_pos + 1:]:
            if lo[b, 0] >= hi[a, 0] - _EPS_M:
                break
            if np.all(lo[a] < hi[b] - _EPS_M) and np.all(lo[b] < hi[a] - _EPS_M):
                first, second = sorted((a, b))
                raise HallError(f"{where}: {solids[second].key}: {solids[second].name!r} overlaps "
                                f"{solids[first].name!r} ({solids[first].key}); objects may touch but not overlap")


def _fmt_box(box: Box) -> str:
    return " × ".join(f"{lo:g}–{hi:g}" for lo, hi in zip(box.lo, box.hi)) + " m"


# --- power chain ---------------------------------------------------------------------------------

def _pdus(spec: Hall, where: str, room_hi: tuple[float, float, float]) -> list[PduSpec]:
    """PDU cabinets of the [power] section, checked to stand inside the room."""
    if spec.power is None:
        return []
    pdus = []
    for i, p in enumerate(spec.power.pdus):
        key = f"power.pdus[{i}]"
        box = Box((p.position_m[0], p.position_m[1], 0.0),
                  (p.position_m[0] + p.size_m[0], p.position_m[1] + p.size_m[1], p.size_m[2]))
        if not box.inside((0.0, 0.0, 0.0), room_hi):
            raise HallError(f"{where}: {key}.position_m: PDU {p.name!r} spans {_fmt_box(box)}, "
                            f"outside the room 0–{room_hi[0]} × 0–{room_hi[1]} × 0–{room_hi[2]} m")
        pdus.append(PduSpec(p.name, key, box, p.ups, p.rated_kva * 1e3))
    return pdus


def _check_power(spec: Hall, where: str) -> None:
    """References between UPSs, PDUs and rows; every row fed once; voltages that match."""
    power = spec.power
    if power is None:
        return
    if abs(power.transformer.mv_kv - power.utility.mv_kv) > 1e-9 * power.utility.mv_kv:
        raise HallError(f"{where}: power.transformer.mv_kv: {power.transformer.mv_kv} kV differs from "
                        f"power.utility.mv_kv ({power.utility.mv_kv} kV); they must be equal")
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
