"""What-if cases: one :class:`Case` per question, the N-1 sets, and the cases file (TOML) that asks for a
grid or a list of them.

A case is a small, picklable record of changes to a base state (a hall's initial state or a checkpoint):
CRAHs out of service, a UPS, PDU or rack feed lost, setpoints, loads, outdoor temperature, and changes
to the hall itself (tile open fractions, containment leakage: the worker builds and caches that hall),
run steady or in time (``duration_s``, with an optional scenario file).

Cases file::

    [sweep]
    name = "Setpoint and load study"
    mode = "steady"                 # or "transient" (then give duration)
    duration = "30min"

    [grid]                          # every combination of these lists (a Cartesian product)
    supply_setpoint_c = [18.0, 20.0, 22.0]
    load_scale = [{ target = "H", values = [1.0, 1.2] }]
    outdoor_temp_c = [25.0, 35.0]
    crahs_out = [[], ["CRAH-03"]]

    [[cases]]                       # and/or a list of cases, each with the same keys (one value each)
    name = "row H at 20 kW a rack"
    rack_load_kw = [{ target = "H", it_kw = 20.0 }]
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, WithJsonSchema, field_validator, model_validator

from twin.model.load import HallError, HallModel, describe_validation_error, read_toml
from twin.model.schemas import register_schema
from twin.model.strict import StrictModel
from twin.model.units import DURATION_PATTERN, parse_duration_s

__all__ = ["CASE_KINDS", "N1_SETS", "Case", "CasesError", "CasesFile", "load_cases", "n_minus_1", "parse_cases"]

#: The kinds of single failure ``--n-1`` enumerates.
CASE_KINDS = ("crah", "ups", "pdu", "feed")
#: What `twin sweep --n-1` and the bus's ``whatif`` accept: one kind of failure, or all of them.
N1_SETS = (*CASE_KINDS, "all")


class CasesError(HallError):
    """A user error in a cases file or a case set (one line: file, key path, what is allowed)."""


@dataclass(frozen=True)
class Case:
    """One what-if: changes applied to the base state, then a steady solve or a run of ``duration_s``.

    Loads are ``(target, value)`` pairs where target is a rack, a row or ``"*"``; feeds lost are
    ``(rack, side)`` with side ``"a"`` or ``"b"``.
    """

    name: str
    kind: str = "base"  # base, crah, ups, pdu, feed (the N-1 sets), grid, list
    crahs_out: tuple[str, ...] = ()
    ups_out: tuple[str, ...] = ()
    pdus_out: tuple[str, ...] = ()
    feeds_out: tuple[tuple[str, str], ...] = ()
    supply_setpoint_c: float | None = None
    rack_load_kw: tuple[tuple[str, float], ...] = ()  # IT kW of every rack the target names
    load_scale: tuple[tuple[str, float], ...] = ()  # factor on the IT load of every rack the target names
    outdoor_temp_c: float | None = None
    tile_open_fraction: tuple[tuple[str, float], ...] = ()  # tile group name (or "*") -> open fraction
    containment_leakage: float | None = None
    scenario: str | None = None  # a scenario file played during a transient case
    duration_s: float | None = None  # None: steady
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def steady(self) -> bool:
        return self.duration_s is None

    def hall_changes(self) -> tuple:
        """What of the hall itself this case changes (the worker caches one built hall per value)."""
        return (self.tile_open_fraction, self.containment_leakage)

    def inputs(self) -> dict:
        """The case's inputs as flat columns (for the results table)."""
        return {
            "case": self.name, "kind": self.kind,
            "crahs_out": ",".join(self.crahs_out), "ups_out": ",".join(self.ups_out),
            "pdus_out": ",".join(self.pdus_out), "feeds_out": ",".join(f"{r}:{s}" for r, s in self.feeds_out),
            "supply_setpoint_c": _nan(self.supply_setpoint_c),
            "rack_load_kw": ";".join(f"{t}={v:g}" for t, v in self.rack_load_kw),
            "load_scale": ";".join(f"{t}={v:g}" for t, v in self.load_scale),
            "outdoor_temp_c": _nan(self.outdoor_temp_c),
            "tile_open_fraction": ";".join(f"{t}={v:g}" for t, v in self.tile_open_fraction),
            "containment_leakage": _nan(self.containment_leakage),
            "scenario": self.scenario or "", "duration_s": _nan(self.duration_s),
        }


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)


# --- N-1 ------------------------------------------------------------------------------------------

def n_minus_1(hall: HallModel, kinds: str | list[str], *, duration_s: float | None = None) -> list[Case]:
    """Every single failure of these kinds ("crah", "ups", "pdu", "feed" or "all"), after the base case.

    A CRAH failure is the unit out of service; a power failure loses one UPS, one PDU or one rack's A or
    B feed (the other side then carries the rack). Power kinds need a hall with a ``[power]`` section.
    """
    where = hall.path or "<hall>"
    wanted = list(CASE_KINDS) if kinds == "all" else ([kinds] if isinstance(kinds, str) else list(kinds))
    for k in wanted:
        if k not in CASE_KINDS:
            raise CasesError(f"--n-1 {k!r}: choose crah, ups, pdu, feed or all")
    power = hall.spec.power
    if power is None and any(k != "crah" for k in wanted):
        if kinds != "all":
            raise CasesError(f"{where}: --n-1 {','.join(wanted)}: the hall has no [power] section, so no UPS, "
                             f"PDU or feed to fail (only --n-1 crah)")
        wanted = ["crah"]
    cases = [Case("base", kind="base", duration_s=duration_s)]
    for k in wanted:
        if k == "crah":
            cases += [Case(f"without {c.name}", kind="crah", crahs_out=(c.name,), duration_s=duration_s)
                      for c in hall.crahs]
        elif power is None:  # excluded above: power kinds stay wanted only for a hall with a [power] section
            raise CasesError(f"{where}: --n-1 {k}: the hall has no [power] section")
        elif k == "ups":
            cases += [Case(f"without {u.name}", kind="ups", ups_out=(u.name,), duration_s=duration_s)
                      for u in power.ups]
        elif k == "pdu":
            cases += [Case(f"without {p.name}", kind="pdu", pdus_out=(p.name,), duration_s=duration_s)
                      for p in power.pdus]
        elif k == "feed":
            fed = {f.row for f in power.rack_feeds}
            cases += [Case(f"without {r.name} feed {side.upper()}", kind="feed", feeds_out=((r.name, side),),
                           duration_s=duration_s)
                      for r in hall.racks if r.row in fed for side in ("a", "b")]
    return cases


# --- the cases file -------------------------------------------------------------------------------

class _TargetKw(StrictModel):
    target: str = Field(description="A rack name, a row name, or '*' for every rack.")
    it_kw: float = Field(ge=0.0, le=200.0, description="IT load of each rack the target names, kW.")


class _TargetScale(StrictModel):
    target: str = Field(description="A rack name, a row name, or '*' for every rack.")
    factor: float = Field(ge=0.0, le=10.0, description="Factor on the IT load of each rack the target names.")


class _TileFraction(StrictModel):
    target: str = Field(description="A tile group's name ([[tiles]] name), or '*' for every group.")
    open_fraction: float = Field(gt=0.0, le=1.0, description="Open-area fraction of those tiles (0–1).")


class _CaseKeys(StrictModel):
    supply_setpoint_c: float | None = Field(default=None, ge=10.0, le=35.0,
                                            description="Supply-air setpoint of every CRAH, °C.")
    rack_load_kw: list[_TargetKw] = Field(default=[], description="IT loads set per rack, row or '*'.")
    load_scale: list[_TargetScale] = Field(default=[], description="Factors on the IT load per rack, row or '*'.")
    outdoor_temp_c: float | None = Field(default=None, ge=-40.0, le=55.0, description="Outdoor temperature, °C.")
    crahs_out: list[str] = Field(default=[], description="CRAHs out of service.")
    tile_open_fraction: list[_TileFraction] = Field(default=[], description="Open fractions of tile groups.")
    containment_leakage: float | None = Field(default=None, ge=0.0, le=1.0,
                                              description="Leakage of every containment (open fraction of its "
                                                          "panels, 0–1).")
    scenario: str | None = Field(default=None, description="A scenario file played during the case (transient).")


class CaseEntry(_CaseKeys):
    name: str | None = Field(default=None, description="Name of the case in reports (default: its changes).")


class _GridAxisKw(StrictModel):
    target: str = Field(description="A rack name, a row name, or '*'.")
    values: list[float] = Field(min_length=1, description="IT kW per rack, one grid value each.")

    @field_validator("values")
    @classmethod
    def _range(cls, v: list[float]) -> list[float]:
        if any(not 0.0 <= x <= 200.0 for x in v):
            raise ValueError("each value must be between 0 and 200 kW")
        return v


class _GridAxisScale(StrictModel):
    target: str = Field(description="A rack name, a row name, or '*'.")
    values: list[float] = Field(min_length=1, description="Factors on the IT load, one grid value each.")

    @field_validator("values")
    @classmethod
    def _range(cls, v: list[float]) -> list[float]:
        if any(not 0.0 <= x <= 10.0 for x in v):
            raise ValueError("each factor must be between 0 and 10")
        return v


def _items_between(lo: float, hi: float) -> dict:
    """The JSON Schema of a list's numeric range, for lists whose range a validator checks as a whole."""
    return {"items": {"type": "number", "minimum": lo, "maximum": hi}}


class Grid(StrictModel):
    """Lists of values; the grid is every combination (a Cartesian product)."""

    # The ranges are checked below (one message per list); the schema carries them too, for editors.
    supply_setpoint_c: list[float] = Field(default=[], description="Supply-air setpoints, °C (10–35).",
                                           json_schema_extra=_items_between(10.0, 35.0))
    rack_load_kw: list[_GridAxisKw] = Field(default=[], description="Per target, IT kW values per rack.")
    load_scale: list[_GridAxisScale] = Field(default=[], description="Per target, load factors.")
    outdoor_temp_c: list[float] = Field(default=[], description="Outdoor temperatures, °C (−40–55).",
                                        json_schema_extra=_items_between(-40.0, 55.0))
    crahs_out: list[list[str]] = Field(default=[], description="Sets of CRAHs out of service, e.g. [[], ['CRAH-03']].")
    containment_leakage: list[float] = Field(default=[], description="Containment leakages (0–1).",
                                             json_schema_extra=_items_between(0.0, 1.0))

    @field_validator("supply_setpoint_c")
    @classmethod
    def _sp(cls, v: list[float]) -> list[float]:
        if any(not 10.0 <= x <= 35.0 for x in v):
            raise ValueError("each setpoint must be between 10 and 35 °C")
        return v

    @field_validator("outdoor_temp_c")
    @classmethod
    def _out(cls, v: list[float]) -> list[float]:
        if any(not -40.0 <= x <= 55.0 for x in v):
            raise ValueError("each outdoor temperature must be between -40 and 55 °C")
        return v

    @field_validator("containment_leakage")
    @classmethod
    def _leak(cls, v: list[float]) -> list[float]:
        if any(not 0.0 <= x <= 1.0 for x in v):
            raise ValueError("each leakage must be between 0 and 1")
        return v


class SweepInfo(StrictModel):
    name: str = Field(default="sweep", description="Name of the study, shown in reports.")
    mode: str = Field(default="steady", pattern="^(steady|transient)$", description="'steady' or 'transient'.")
    # Parsed to seconds before validation; the schema says what the file may hold (a number or '30min').
    duration: Annotated[float | None, WithJsonSchema(
        {"anyOf": [{"type": "number"}, {"type": "string", "pattern": DURATION_PATTERN}, {"type": "null"}]})] = Field(
        default=None, description="Length of each transient case: seconds or e.g. '30min'.")

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, v):
        return None if v is None else parse_duration_s(v, allow_zero=False)

    @model_validator(mode="after")
    def _transient_needs_duration(self) -> SweepInfo:
        if self.mode == "transient" and self.duration is None:
            raise ValueError("mode 'transient' needs a duration, e.g. duration = '30min'")
        return self


class CasesFile(StrictModel):
    """A cases file for ``twin sweep --cases``: a grid, a list of cases, or both.

    Its JSON Schema is ``CasesFile.model_json_schema()`` (``twin schema cases``)."""

    sweep: SweepInfo = Field(default=SweepInfo(), description="Name and mode of the study.")
    grid: Grid | None = Field(default=None, description="Lists of values; every combination is a case.")
    cases: list[CaseEntry] = Field(default=[], description="Cases given one by one.")

    @model_validator(mode="after")
    def _something(self) -> CasesFile:
        if self.grid is None and not self.cases:
            raise ValueError("give a [grid] or at least one [[cases]] entry")
        return self



# `twin schema cases` prints this file kind's JSON Schema; assets/schemas/cases.schema.json is generated from it.
register_schema("cases", lambda: CasesFile,
                title="Cases file (twin sweep --cases): a grid and/or a list of what-if cases")


def load_cases(path: str | Path, hall: HallModel, *, duration_s: float | None = None,
               steady: bool | None = None) -> list[Case]:
    """Read and validate a cases file against the hall; ``duration_s``/``steady`` (the command line) win
    over the file's ``[sweep]``."""
    path = Path(path)
    return parse_cases(read_toml(path, CasesError), hall, source=path, duration_s=duration_s, steady=steady)


def parse_cases(data: dict, hall: HallModel, *, source: Path | None = None, duration_s: float | None = None,
                steady: bool | None = None) -> list[Case]:
    where = str(source) if source else "<cases>"
    try:
        spec = CasesFile.model_validate(data)
    except ValidationError as exc:
        raise CasesError(describe_validation_error(where, exc, CasesFile)) from None
    if steady:
        duration = None
    else:
        duration = duration_s if duration_s is not None else (spec.sweep.duration if spec.sweep.mode == "transient"
                                                              else None)
    names = _Names(hall)
    cases: list[Case] = []
    if spec.grid is not None:
        cases += _grid_cases(spec.grid, names, where, duration)
    for i, entry in enumerate(spec.cases):
        key = f"{where}: cases[{i}]"
        case = _entry_case(entry, names, key, duration, source)
        cases.append(replace(case, name=entry.name or case.name or f"case {i + 1}", kind="list"))
    seen: set[str] = set()
    for i, c in enumerate(cases):  # names are the table's key: make repeats unique
        if c.name in seen:
            cases[i] = replace(c, name=f"{c.name} #{i + 1}")
        seen.add(cases[i].name)
    return cases


class _Names:
    def __init__(self, hall: HallModel) -> None:
        self.racks = {r.name for r in hall.racks}
        self.rows = {r.name for r in hall.spec.rows}
        self.crahs = [c.name for c in hall.crahs]
        self.tiles = [t.name for t in (hall.spec.tiles or [])]
        self.has_containment = bool(getattr(hall.spec, "containment", None))

    def target(self, target: str, key: str) -> None:
        if target != "*" and target not in self.racks and target not in self.rows:
            raise CasesError(f"{key}.target: {target!r} is neither a rack nor a row; rows: "
                             f"{', '.join(sorted(self.rows))} (or a rack name, or '*')")

    def crah(self, name: str, key: str) -> None:
        if name not in self.crahs:
            raise CasesError(f"{key}: no CRAH named {name!r}; CRAHs: {', '.join(self.crahs)}")

    def tile(self, name: str, key: str) -> None:
        if name != "*" and name not in self.tiles:
            raise CasesError(f"{key}.target: no tile group {name!r}; tile groups: "
                             f"{', '.join(self.tiles) or 'none'} (or '*')")

    def leakage(self, key: str) -> None:
        if not self.has_containment:
            raise CasesError(f"{key}: the hall has no [[containment]] whose leakage could change")


def _entry_case(e: _CaseKeys, names: _Names, key: str, duration: float | None, source: Path | None) -> Case:
    for i, kw in enumerate(e.rack_load_kw):
        names.target(kw.target, f"{key}.rack_load_kw[{i}]")
    for i, scale in enumerate(e.load_scale):
        names.target(scale.target, f"{key}.load_scale[{i}]")
    for i, c in enumerate(e.crahs_out):
        names.crah(c, f"{key}.crahs_out[{i}]")
    for i, tile in enumerate(e.tile_open_fraction):
        names.tile(tile.target, f"{key}.tile_open_fraction[{i}]")
    if e.containment_leakage is not None:
        names.leakage(f"{key}.containment_leakage")
    scenario = None
    if e.scenario is not None:
        path = Path(e.scenario)
        if not path.is_absolute() and source is not None:
            path = source.parent / path
        if not path.is_file():
            raise CasesError(f"{key}.scenario: no such file {str(path)!r}")
        if duration is None:
            raise CasesError(f"{key}.scenario: a scenario plays in time; set [sweep] mode = 'transient' with a "
                             f"duration (or --duration)")
        scenario = str(path)
    case = Case(name="", crahs_out=tuple(e.crahs_out), supply_setpoint_c=e.supply_setpoint_c,
                rack_load_kw=tuple((t.target, t.it_kw) for t in e.rack_load_kw),
                load_scale=tuple((t.target, t.factor) for t in e.load_scale), outdoor_temp_c=e.outdoor_temp_c,
                tile_open_fraction=tuple((t.target, t.open_fraction) for t in e.tile_open_fraction),
                containment_leakage=e.containment_leakage, scenario=scenario, duration_s=duration)
    return replace(case, name=_describe(case))


def _grid_cases(g: Grid, names: _Names, where: str, duration: float | None) -> list[Case]:
    for i, a in enumerate(g.rack_load_kw):
        names.target(a.target, f"{where}: grid.rack_load_kw[{i}]")
    for i, sa in enumerate(g.load_scale):
        names.target(sa.target, f"{where}: grid.load_scale[{i}]")
    for i, s in enumerate(g.crahs_out):
        for j, c in enumerate(s):
            names.crah(c, f"{where}: grid.crahs_out[{i}][{j}]")
    if g.containment_leakage:
        names.leakage(f"{where}: grid.containment_leakage")
    axes: list[tuple[str, list]] = []
    if g.supply_setpoint_c:
        axes.append(("supply_setpoint_c", g.supply_setpoint_c))
    for a in g.rack_load_kw:
        axes.append(("rack_load_kw", [(a.target, v) for v in a.values]))
    for sa in g.load_scale:
        axes.append(("load_scale", [(sa.target, v) for v in sa.values]))
    if g.outdoor_temp_c:
        axes.append(("outdoor_temp_c", g.outdoor_temp_c))
    if g.crahs_out:
        axes.append(("crahs_out", [tuple(s) for s in g.crahs_out]))
    if g.containment_leakage:
        axes.append(("containment_leakage", g.containment_leakage))
    if not axes:
        raise CasesError(f"{where}: grid: give at least one list of values")
    cases = []
    for combo in itertools.product(*(vals for _, vals in axes)):
        kw: dict = {"rack_load_kw": (), "load_scale": ()}
        for (key, _), v in zip(axes, combo):
            if key in ("rack_load_kw", "load_scale"):
                kw[key] = kw[key] + (v,)
            else:
                kw[key] = v
        case = Case(name="", kind="grid", duration_s=duration, **kw)
        cases.append(replace(case, name=_describe(case)))
    return cases


def _describe(c: Case) -> str:
    """A readable name from a case's changes, e.g. "setpoint 20 °C, H=1.2×, without CRAH-03"."""
    parts = []
    if c.supply_setpoint_c is not None:
        parts.append(f"setpoint {c.supply_setpoint_c:g} °C")
    parts += [f"{t} {v:g} kW" for t, v in c.rack_load_kw]
    parts += [f"{t} ×{v:g}" for t, v in c.load_scale]
    if c.outdoor_temp_c is not None:
        parts.append(f"outdoor {c.outdoor_temp_c:g} °C")
    if c.crahs_out:
        parts.append("without " + "+".join(c.crahs_out))
    parts += [f"tiles {t} {v:g}" for t, v in c.tile_open_fraction]
    if c.containment_leakage is not None:
        parts.append(f"leakage {c.containment_leakage:g}")
    if c.scenario:
        parts.append(Path(c.scenario).stem)
    return ", ".join(parts) or "base"
