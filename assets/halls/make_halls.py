"""Write the bundled halls reference.toml and large.toml (run: ``.venv/bin/python assets/halls/make_halls.py``).

Both halls follow one recipe, a raised-floor hall with hot and cold aisles:

- rows of 20 racks (0.6 m wide, 1.2 m deep, 2.2 m tall) run along y; two rows face each other across a
  1.25 m cold aisle paved with perforated tiles; pairs of rows stand 1.1 m apart (hot aisles), so the
  pair pitch is 4.75 m, a whole number of 0.25 m cells;
- downflow CRAHs (return from the top, supply into the raised floor) stand in lines along x, their
  fronts 3.1 m beyond the ends of the rows, so that every row has CRAHs at both ends: against the two
  long walls (y = 0 and y = size_y) and, in large.toml, back to back along the cross aisle between its
  two blocks of rows (a potential flow has no jets: supply reaches the racks only through the plenum
  and the tiles, so a row end far from any CRAH starves and breathes its own exhaust);
- IT loads vary per rack from 3 to 15 kW in a fixed pattern, with one high-density row in every fourth
  pair; CRAH airflow and capacity are sized from the total IT load (see ``_crah_rating``);
- tiles more open where the aisle's racks draw more air; in large.toml also more open in the middle of
  each aisle, farthest from the CRAHs (``tile_end_m``, ``tile_middle_boost``);
- cold-aisle containment (roof at rack height, doors at both ends) on the eastern cold aisles only, so
  that contained and open aisles can be compared in one run;
- building columns from the floor of the plenum to the ceiling; the round ones use column-round.glb.

The output is deterministic: plain string formatting, no random numbers, no third-party packages. Run
the script after changing it and commit its outputs with it (a test checks they are up to date).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HallLayout", "LAYOUTS", "hall_toml", "main"]

HERE = Path(__file__).resolve().parent

# Geometry shared by both halls, m.
CELL_M = 0.25
PLENUM_M = 0.5
HEIGHT_M = 4.0
RACK_W_M, RACK_D_M, RACK_H_M = 0.6, 1.2, 2.2
RACKS_PER_ROW = 20
COLD_AISLE_M = 1.25
HOT_AISLE_M = 1.1
PAIR_DEPTH_M = 2 * RACK_D_M + COLD_AISLE_M  # 3.65
PAIR_PITCH_M = PAIR_DEPTH_M + HOT_AISLE_M  # 4.75 = 19 cells
CRAH_SIZE_M = (2.5, 0.9, 1.9)
ROW_LENGTH_M = RACKS_PER_ROW * RACK_W_M  # 12.0

# Sizing rules (DESIGN.md reference values).
AIRFLOW_M3S_PER_KW = 0.0755  # servers: 160 CFM/kW at ΔT ≈ 11 K
CRAH_FAN_SPEED = 0.85
CRAH_FLOW_MARGIN = 1.2  # CRAH air at CRAH_FAN_SPEED ÷ server air: a little bypass keeps recirculation down
CRAH_CAPACITY_MARGIN = 1.4  # installed coil capacity ÷ IT load: N+ redundancy for one or two units down
CRAH_SETPOINT_C = 19.0
CRAH_INLET_SETPOINT_C = 24.0  # fans slow down until the hottest served inlet reaches this
CRAH_FAN_KW_PER_M3S = 0.7  # EC fans at full speed against ≈ 400 Pa
COLD_AISLE_CONTAINMENT_LEAKAGE = 0.03

# IT load per rack, kW. A mixed row: mostly 4–9 kW general-purpose racks, a storage rack at 3 kW, a few
# dense racks at 10–15 kW. Each row starts the pattern at a different place and adds its own offset.
MIXED_KW = (5.5, 6.0, 4.0, 8.0, 7.5, 5.0, 11.0, 6.5, 3.0, 8.0, 6.0, 5.0, 15.0, 7.0, 4.5, 7.5, 6.0, 9.5, 5.0, 7.0)
ROW_OFFSET_KW = (0.0, -0.5, 0.5, -1.0, 0.0, -1.0, 0.5, -0.5)
# A high-density row (GPU servers): 11–15 kW, with two half-populated racks.
DENSE_KW = (14.0, 12.5, 15.0, 13.0, 11.0, 14.5, 12.0, 7.5, 15.0, 13.5, 12.0, 14.0, 11.5, 15.0, 13.0, 6.0, 14.5,
            12.5, 13.0, 15.0)


@dataclass(frozen=True)
class PowerLayout:
    """The 2N power chain of a generated hall: MV/LV transformers, generator, UPS systems, plant."""

    transformers: int  # 1: [power.transformer]; more: [[power.transformers]] in parallel (N+1)
    transformer_kva: float
    generator_kva: float
    ups_y_m: dict  # UPS name → y where its cables enter the hall (UPS rooms west of the hall)
    ups_kva: float
    battery_kwh: float
    charge_kw: float
    ups_cable: str  # cable_r_ohm_per_km line, with its comment
    mechanical_cable: str
    chillers: int
    chiller_kw: float
    pump_kw: float
    loop_water_m3: float | None = None  # None: the schema's default
    comment: tuple[str, ...] = ()


REFERENCE_POWER = PowerLayout(
    transformers=1, transformer_kva=2500.0, generator_kva=2500.0, ups_y_m={"UPS-A": 15.0, "UPS-B": 5.0},
    ups_kva=2000.0, battery_kwh=300.0, charge_kw=200.0,  # 11 min at 1.6 MW (the whole hall on one UPS)
    ups_cable="cable_r_ohm_per_km = 0.008  # 8 x 300 mm² Cu in parallel", mechanical_cable="cable_r_ohm_per_km = 0.025",
    chillers=3, chiller_kw=800.0, pump_kw=45.0,
    comment=("# --- Power chain (2N): utility 11 kV ─ 2500 kVA dry-type transformer ─ LV switchboard (generator",
             "# behind the ATS) ─ UPS-A and UPS-B, each rated for the whole IT load, in two UPS rooms west of the",
             "# hall ─ a 300 kVA PDU with isolation transformer at each end of each row: A (UPS-A) at the north",
             "# end, B (UPS-B) at the south end. The mechanical panel (CRAH fans, chillers, pumps) hangs on the",
             "# switchboard, not on a UPS."),
)
# The large hall draws ≈ 8.5 MVA at full load (6.35 MW IT, the chain's losses, chillers, fans, pumps): five
# 2500 kVA units in parallel, N+1 (four carry it: 10 MVA), and a 2N pair of UPS systems per block.
LARGE_POWER = PowerLayout(
    transformers=5, transformer_kva=2500.0, generator_kva=10000.0,
    ups_y_m={"UPS-SA": 15.0, "UPS-SB": 5.0, "UPS-NA": 35.0, "UPS-NB": 25.0},
    ups_kva=4000.0, battery_kwh=600.0, charge_kw=400.0,  # 11 min at 3.2 MW (a whole block on one UPS)
    ups_cable="cable_r_ohm_per_km = 0.004  # 16 x 300 mm² Cu in parallel",
    mechanical_cable="cable_r_ohm_per_km = 0.006  # 4 x 4 x 300 mm² Cu in parallel",
    chillers=6, chiller_kw=1800.0, pump_kw=180.0, loop_water_m3=160.0,
    comment=("# --- Power chain (2N per block): utility 11 kV ─ five 2500 kVA dry-type transformers in parallel",
             "# (N+1: any four carry the hall) ─ LV switchboard (a 10 MVA generator behind the ATS) ─ two UPS",
             "# systems per block, UPS-SA/SB for the south block and UPS-NA/NB for the north one, each rated for",
             "# its block's whole IT load, in UPS rooms west of the hall ─ a 300 kVA PDU with isolation",
             "# transformer at each end of each row: A at the north end, B at the south end. The mechanical panel",
             "# (CRAH fans, chillers, pumps) hangs on the switchboard, not on a UPS."),
)


@dataclass(frozen=True)
class HallLayout:
    """Parameters of one generated hall."""

    file: str
    name: str
    size_x_m: float
    size_y_m: float
    pairs: int  # pairs of rows (cold aisles) per block, along x
    first_pair_x_m: float  # x of the back of the first row
    block_y_m: tuple[float, ...]  # y of the row starts, one per block of rows
    crahs_per_line: int
    first_crah_x_m: float
    crah_pitch_m: float
    contained_from_pair: int  # cold aisles of pairs with index >= this get containment
    columns: tuple[tuple[str, float, float, bool], ...]  # name, x, y of the minimum corner, round (GLB)?
    column_m: float = 0.75
    intro: str = ""
    # Lines of CRAHs: (label, y of the units' minimum corner, facing), each of crahs_per_line units at
    # x = first_crah_x_m + i * crah_pitch_m. Empty: one line against each long wall, facing the room.
    crah_lines: tuple[tuple[str, float, str], ...] = ()
    crah_comment: str = ""  # what the CRAH section of the file says about the lines (empty: the wall lines)
    # Balancing along the aisle: > 0 splits each aisle's tiles into the tile_end_m at each end, nearest the
    # CRAHs, and the middle, which is tile_middle_boost more open (still at most 40 %).
    tile_end_m: float = 0.0
    tile_middle_boost: float = 0.0
    power_chain: PowerLayout | None = None  # write a [power] section (2N chain, see _power_toml)


LAYOUTS = (
    HallLayout(
        file="reference.toml",
        name="Reference hall (30 x 20 m, 200 racks)",
        size_x_m=30.0, size_y_m=20.0,
        pairs=5, first_pair_x_m=3.75, block_y_m=(4.0,),
        crahs_per_line=5, first_crah_x_m=1.75, crah_pitch_m=6.0,
        contained_from_pair=2,
        columns=(("column-W", 1.5, 9.5, True), ("column-E", 27.75, 9.5, False)),
        power_chain=REFERENCE_POWER,
        intro="""\
# Plan (x to the right, y up; not to scale):
#
#   y=20 +--[CRAH-06]---[CRAH-07]---[CRAH-08]---[CRAH-09]---[CRAH-10]--+   CRAH fronts at y = 19.1
#        |                                                             |
#   y=16 |      A : B     C : D     E |:| F     G |:| H     I |:| J    |   rows end at y = 16
#        | (o)  A : B     C : D     E |:| F     G |:| H     I |:| J [#]|   (o) round column (GLB), [#] square one
#    y=4 |      A : B     C : D     E |:| F     G |:| H     I |:| J    |   rows start at y = 4
#        |                                                             |
#    y=0 +--[CRAH-01]---[CRAH-02]---[CRAH-03]---[CRAH-04]---[CRAH-05]--+   CRAH backs on the wall
#        x=0                                                        x=30
#
#   ":"   cold aisle with perforated tiles; "|:|" the same, contained (roof at 2.2 m, doors at the ends)
#   Rows A, C, E, G, I face +x, rows B, D, F, H, J face -x: every cold aisle has fronts on both sides,
#   every hot aisle (between pairs, and between the outer rows and the walls) has backs on both sides.
""",
    ),
    HallLayout(
        file="large.toml",
        name="Large hall (60 x 40 m, 880 racks)",
        size_x_m=60.0, size_y_m=40.0,
        pairs=11, first_pair_x_m=4.5, block_y_m=(4.0, 24.0),
        crahs_per_line=10, first_crah_x_m=4.0, crah_pitch_m=5.5,
        crah_lines=(
            ("south wall", 0.0, "+y"),
            ("cross aisle, facing the south block", 20.0 - CRAH_SIZE_M[1], "-y"),
            ("cross aisle, facing the north block", 20.0, "+y"),
            ("north wall", 40.0 - CRAH_SIZE_M[1], "-y"),
        ),
        crah_comment="""\
# --- CRAHs: 10 downflow units in each of four lines, drawing hot air in at the top and blowing cold
# air down into the raised floor: against the south wall, back to back along the middle of the cross
# aisle (one line facing each block) and against the north wall. Every row thus has CRAHs 3.1 m beyond
# both of its ends, as in reference.toml. (With CRAHs on the outer walls only, the row ends at the cross
# aisle lay 15 m from the nearest CRAH, starved of tile air, and drew their own exhaust back in.)
""",
        contained_from_pair=3,
        # On an 11 m grid, the inner four in the gaps of the CRAH lines in the cross aisle.
        columns=(
            ("column-W", 2.5, 19.5, True),
            ("column-1", 13.5, 19.5, False),
            ("column-2", 24.5, 19.5, True),
            ("column-3", 35.5, 19.5, False),
            ("column-4", 46.5, 19.5, True),
            ("column-E", 57.5, 19.5, False),
        ),
        tile_end_m=3.0, tile_middle_boost=0.15,
        power_chain=LARGE_POWER,
        intro="""\
# A hall for scaling benchmarks, built like reference.toml and four times its floor area: two blocks
# of 22 rows, each laid out like reference.toml with CRAHs beyond both ends of its rows, and an 8 m
# cross aisle between the blocks where a double line of CRAHs (back to back) and the building columns
# stand. Plan (x to the right, y up; not to scale):
#
#   y=40   +--[CRAH-31]---[CRAH-32]--- .. ---[CRAH-40]--+   north wall: CRAH fronts at y = 39.1
#   y=36   |    NA : NB .. NE : NF   NG |:| NH .. NV    |   north block: rows NA..NV at y = 24..36
#   y=24   |                                            |
#   y=20.9 |     [CRAH-21]-[CRAH-22]- .. -[CRAH-30]     |   facing north: fronts at y = 20.9
#   y=19.1 | (o) [CRAH-11]-[CRAH-12]- .. -[CRAH-20] [#] |   facing south: fronts at y = 19.1
#   y=16   |    SA : SB .. SE : SF   SG |:| SH .. SV    |   south block: rows SA..SV at y = 4..16
#   y=4    |                                            |
#   y=0    +--[CRAH-01]---[CRAH-02]--- .. ---[CRAH-10]--+   south wall: CRAH fronts at y = 0.9
#          x=0                                         x=60
#
#   ":" cold aisle with perforated tiles; "|:|" the same, contained: the eight eastern cold aisles of
#   each block, which include both high-density (GPU) rows of the block (SH, SP, NH, NP); the three
#   western ones are open. (o), [#]: building columns, one round and one square shown of six; the inner
#   four stand in the gaps between the CRAHs of the cross aisle.
""",
    ),
)


def _num(value: float) -> str:
    """A float as TOML: always with a decimal point, no binary noise (3.65, not 3.6500000000000004)."""
    text = f"{round(value, 4):.4f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _vec(values: tuple[float, ...] | list[float]) -> str:
    return "[" + ", ".join(_num(v) for v in values) + "]"


def _letters(i: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA (row names)."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(ord("A") + r) + out
    return out


def _row_loads_kw(row_index: int, *, dense: bool) -> list[float]:
    if dense:
        shift = (3 * row_index) % RACKS_PER_ROW
        return [DENSE_KW[(n + shift) % RACKS_PER_ROW] for n in range(RACKS_PER_ROW)]
    shift = (7 * row_index) % RACKS_PER_ROW
    offset = ROW_OFFSET_KW[row_index % len(ROW_OFFSET_KW)]
    return [min(15.0, max(3.0, MIXED_KW[(n + shift) % RACKS_PER_ROW] + offset)) for n in range(RACKS_PER_ROW)]


@dataclass(frozen=True)
class _Row:
    name: str
    x_m: float
    y_m: float
    facing: str
    loads_kw: list[float]
    dense: bool = False


def _rows(layout: HallLayout) -> list[list[tuple[_Row, _Row]]]:
    """Rows grouped by block, then by pair (west row, east row)."""
    blocks = []
    row_index = 0
    for b, y0 in enumerate(layout.block_y_m):
        prefix = "" if len(layout.block_y_m) == 1 else "SN"[b]
        pairs = []
        for p in range(layout.pairs):
            x_back = layout.first_pair_x_m + p * PAIR_PITCH_M
            dense_pair = p % 4 == 3
            west = _Row(prefix + _letters(2 * p), x_back, y0, "+x", _row_loads_kw(row_index, dense=False))
            east = _Row(prefix + _letters(2 * p + 1), x_back + RACK_D_M + COLD_AISLE_M, y0, "-x",
                        _row_loads_kw(row_index + 1, dense=dense_pair), dense=dense_pair)
            pairs.append((west, east))
            row_index += 2
        blocks.append(pairs)
    return blocks


def _crah_rating(it_kw: float, n_crahs: int) -> tuple[float, float, float]:
    """Rated flow (m³/s, rounded up to 0.5), coil capacity (kW, to 5) and fan power (kW) of each CRAH."""
    server_flow_m3s = AIRFLOW_M3S_PER_KW * it_kw
    flow = math.ceil(CRAH_FLOW_MARGIN * server_flow_m3s / CRAH_FAN_SPEED / n_crahs * 2) / 2
    cooling = 5 * round(CRAH_CAPACITY_MARGIN * it_kw / n_crahs / 5)
    return flow, float(cooling), round(CRAH_FAN_KW_PER_M3S * flow, 1)


def _open_fraction(aisle_kw: float, lo_kw: float, hi_kw: float) -> float:
    """Tiles from 25 % open (lightest aisle) to 40 % (heaviest), in steps of 5 %."""
    share = 0.0 if hi_kw <= lo_kw else (aisle_kw - lo_kw) / (hi_kw - lo_kw)
    return round((0.25 + 0.15 * share) * 20) / 20


def _crahs(layout: HallLayout) -> list[tuple[str, float, float, str]]:
    """(label, x, y, facing) of every CRAH, line by line."""
    sy = CRAH_SIZE_M[1]
    lines = layout.crah_lines or (("south wall", 0.0, "+y"), ("north wall", layout.size_y_m - sy, "-y"))
    xs = [layout.first_crah_x_m + i * layout.crah_pitch_m for i in range(layout.crahs_per_line)]
    return [(label, x, y, facing) for label, y, facing in lines for x in xs]


def hall_toml(layout: HallLayout) -> str:
    """The text of one hall file."""
    blocks = _rows(layout)
    rows = [r for pairs in blocks for pair in pairs for r in pair]
    it_kw = sum(sum(r.loads_kw) for r in rows)
    crahs = _crahs(layout)
    n_crahs = len(crahs)
    flow, cooling, fan_kw = _crah_rating(it_kw, n_crahs)
    server_flow = AIRFLOW_M3S_PER_KW * it_kw
    nx, ny = round(layout.size_x_m / CELL_M), round(layout.size_y_m / CELL_M)
    nz_room, nz_plenum = round(HEIGHT_M / CELL_M), round(PLENUM_M / CELL_M)
    aisle_kw = [sum(west.loads_kw) + sum(east.loads_kw) for pairs in blocks for west, east in pairs]
    lo_kw, hi_kw = min(aisle_kw), max(aisle_kw)

    out: list[str] = []
    w = out.append
    # Taplo / Even Better TOML's header directive: editors complete and check keys against the schema.
    w("#:schema ../schemas/hall.schema.json")
    w("")
    w(f"# {layout.name}. Generated by assets/halls/make_halls.py: edit the generator, not this file.")
    w("#")
    w(layout.intro.rstrip("\n"))
    w("#")
    w(f"# Totals: {len(rows) * RACKS_PER_ROW} racks, IT load {it_kw:.1f} kW; server airflow "
      f"{server_flow:.1f} m³/s ({AIRFLOW_M3S_PER_KW} m³/s per kW).")
    w(f"# {n_crahs} CRAHs at {CRAH_FAN_SPEED:.0%} fan speed: {n_crahs * flow * CRAH_FAN_SPEED:.1f} m³/s "
      f"(x{n_crahs * flow * CRAH_FAN_SPEED / server_flow:.2f} the server airflow); coil capacity "
      f"{n_crahs * cooling:.0f} kW (x{n_crahs * cooling / it_kw:.2f} the IT load).")
    w(f"# Solver grid: {nx} x {ny} x ({nz_room} + {nz_plenum} plenum) = "
      f"{nx * ny * (nz_room + nz_plenum):,} cells of {CELL_M} m.")
    w("")
    w("[hall]")
    w(f'name = "{layout.name}"')
    w(f"size_m = {_vec((layout.size_x_m, layout.size_y_m, HEIGHT_M))}  # floor to ceiling; the plenum is below")
    w(f"cell_m = {_num(CELL_M)}")
    w('ashrae_class = "A1"')
    w("initial_temp_c = 22.0")
    w("")
    w("[raised_floor]")
    w(f"depth_m = {_num(PLENUM_M)}")

    w("")
    if layout.tile_end_m > 0:
        e = layout.tile_end_m
        w("# --- Perforated tiles over each cold aisle, front to front between the two rows, in three strips:")
        w(f"# {_num(e)} m at each end of the aisle and {_num(ROW_LENGTH_M - 2 * e)} m in the middle. Tiles are more "
          "open where the aisle's")
        w("# racks draw more air (25 % for the lightest aisle, 40 % for the heaviest), and in the middle, farthest")
        boost = round(100 * layout.tile_middle_boost)
        w(f"# from the CRAHs, {boost} % more (at most 40 %): the way a balancing survey would leave them.")
    else:
        w("# --- Perforated tiles: one strip over each cold aisle, front to front between the two rows. Tiles")
        w("# are more open where the aisle's racks draw more air (25 % for the lightest aisle, 40 % for the")
        w("# heaviest), the way a balancing survey would leave them.")
    k = 0
    for pairs in blocks:
        for west, east in pairs:
            x0, x1 = west.x_m + RACK_D_M, east.x_m
            y0, y1 = west.y_m, west.y_m + ROW_LENGTH_M
            open_fraction = _open_fraction(aisle_kw[k], lo_kw, hi_kw)
            if layout.tile_end_m > 0:
                e, middle = layout.tile_end_m, min(0.4, round((open_fraction + layout.tile_middle_boost) * 20) / 20)
                strips = [("-south", y0, y0 + e, open_fraction), ("-middle", y0 + e, y1 - e, middle),
                          ("-north", y1 - e, y1, open_fraction)]
            else:
                strips = [("", y0, y1, open_fraction)]
            for suffix, ya, yb, fraction in strips:
                w("")
                w(f"[[tiles]]  # cold aisle {west.name}|{east.name}: {aisle_kw[k]:.1f} kW of racks draw from it")
                w(f'name = "cold-aisle-{west.name}{east.name}{suffix}"')
                w(f"x_m = {_vec((x0, x1))}")
                w(f"y_m = {_vec((ya, yb))}")
                w(f"open_fraction = {_num(fraction)}")
            k += 1

    w("")
    w(f"# --- Rack rows: {RACKS_PER_ROW} racks each, along y from the row start, "
      f"{_num(RACK_W_M)} x {_num(RACK_D_M)} x {_num(RACK_H_M)} m.")
    w(f"# Pairs of rows face each other across a {_num(COLD_AISLE_M)} m cold aisle; a {_num(HOT_AISLE_M)} m "
      f"hot aisle separates the pairs (pitch {_num(PAIR_PITCH_M)} m).")
    w("# Racks draw air through their fronts (the facing side) and exhaust it from their backs.")
    for pairs in blocks:
        for p, (west, east) in enumerate(pairs):
            for row, side in ((west, "west"), (east, "east")):
                what = "high-density row (GPU servers)" if row.dense else "mixed row"
                w("")
                w(f"[[rows]]  # {what}, {side} side of cold aisle {west.name}|{east.name}: "
                  f"{sum(row.loads_kw):.1f} kW")
                w(f'name = "{row.name}"')
                w(f"start_m = {_vec((row.x_m, row.y_m))}")
                w('along = "y"')
                w(f'facing = "{row.facing}"')
                w(f"count = {RACKS_PER_ROW}")
                w(f"rack_size_m = {_vec((RACK_W_M, RACK_D_M, RACK_H_M))}")
                w(f"it_kw = {_vec(row.loads_kw)}")

    w("")
    if layout.crah_comment:
        w(layout.crah_comment.rstrip("\n"))
        w(f"# Sizing: rated flow x fan speed x units = {CRAH_FLOW_MARGIN} x server airflow, coil capacity x units")
        w(f"# ≈ {CRAH_CAPACITY_MARGIN} x IT load.")
    else:
        w(f"# --- CRAHs: {layout.crahs_per_line} downflow units against each long wall, drawing hot air in at the")
        w("# top and blowing cold air down into the raised floor. Sizing: rated flow x fan speed x units")
        w(f"# = {CRAH_FLOW_MARGIN} x server airflow, coil capacity x units ≈ {CRAH_CAPACITY_MARGIN} x IT load.")
    for i, (label, x, y, facing) in enumerate(crahs):
        w("")
        w(f"[[crahs]]  # {label}")
        w(f'name = "CRAH-{i + 1:02d}"')
        w(f"position_m = {_vec((x, y))}")
        w(f"size_m = {_vec(CRAH_SIZE_M)}")
        w(f'facing = "{facing}"')
        w('return_from = "top"')
        w('supply_to = "floor"')
        w(f"rated_flow_m3s = {_num(flow)}")
        w(f"rated_cooling_kw = {_num(cooling)}")
        w(f"supply_setpoint_c = {_num(CRAH_SETPOINT_C)}")
        w(f"fan_speed = {_num(CRAH_FAN_SPEED)}  # at start; then the fan controller sets it")
        w(f"rated_fan_kw = {_num(fan_kw)}")
        w('fan_control = "inlet"  # faster when the hottest inlet of the racks nearest this unit passes')
        w(f"fan_min_speed = {_num(CRAH_FAN_SPEED)}  # ... its setpoint; never below the design speed")
        w(f"inlet_temp_setpoint_c = {_num(CRAH_INLET_SETPOINT_C)}")

    w("")
    w("# --- Cold-aisle containment: doors across both ends of the aisle and a roof at rack height; the")
    w("# racks themselves close the long sides. Only the eastern aisles are contained.")
    for pairs in blocks:
        for west, east in pairs[layout.contained_from_pair:]:
            w("")
            w("[[containment]]")
            w(f'name = "cold-aisle-{west.name}{east.name}"')
            w('kind = "cold-aisle"')
            w(f"x_m = {_vec((west.x_m + RACK_D_M, east.x_m))}")
            w(f"y_m = {_vec((west.y_m, west.y_m + ROW_LENGTH_M))}")
            w(f"height_m = {_num(RACK_H_M)}")
            w("roof = true")
            w("doors = true")
            w(f"leakage = {_num(COLD_AISLE_CONTAINMENT_LEAKAGE)}")

    w("")
    w(f"# --- Building columns, {_num(layout.column_m)} m across, from the plenum floor "
      f"(z = -{_num(PLENUM_M)}) to the ceiling:")
    w("# they block air below the raised floor as well as above it.")
    for name, x, y, is_round in layout.columns:
        w("")
        w("[[obstacles]]" + ("  # round: the GLB cylinder is fitted into this box" if is_round else "  # square"))
        w(f'name = "{name}"')
        w(f"position_m = {_vec((x, y, -PLENUM_M))}")
        w(f"size_m = {_vec((layout.column_m, layout.column_m, HEIGHT_M + PLENUM_M))}")
        if is_round:
            w('mesh = "column-round.glb"')
    if layout.power_chain is not None:
        out += _power_toml(layout.power_chain, rows)
    return "\n".join(out) + "\n"


# Every row has its A PDU at its north end and its B PDU at its south end.
PDU_KVA = 300.0  # one row's full load (≤ 270 kVA) on one side
PDU_SIZE_M = (RACK_D_M, 0.8, 2.0)  # in line with the row, as deep as its racks
PDU_NO_LOAD_W, PDU_LOAD_LOSS_W = 600.0, 4700.0  # 300 kVA isolation transformer: 98.9 % at 35 % load
UPS_ROOM_M = 10.0  # cable run from the UPS rooms (west of the hall) to the hall's west wall
TRANSFORMER = ("mv_kv = 11.0", "lv_v = 400.0", "impedance_pct = 6.0", "load_loss_kw = 21.0", "no_load_loss_kw = 3.2")


def _power_toml(power: PowerLayout, rows: list[_Row]) -> list[str]:
    """The [power] section: utility, transformer(s), generator, the UPSs, one A and one B PDU per row."""
    out = ["", *power.comment, "", "[power.utility]", "mv_kv = 11.0", "sc_mva = 250.0"]
    if power.transformers == 1:
        out += ["", "[power.transformer]", f"rated_kva = {_num(power.transformer_kva)}", *TRANSFORMER]
    for k in range(power.transformers if power.transformers > 1 else 0):
        out += ["", "[[power.transformers]]", f'name = "TR-{k + 1}"', f"rated_kva = {_num(power.transformer_kva)}",
                *TRANSFORMER]
    out += ["", "[power.generator]", f"rated_kva = {_num(power.generator_kva)}", "start_delay_s = 12.0",
            "retransfer_delay_s = 300.0"]
    for name in power.ups_y_m:
        out += ["", "[[power.ups]]", f'name = "{name}"', f"rated_kva = {_num(power.ups_kva)}",
                'mode = "double-conversion"', f"battery_kwh = {_num(power.battery_kwh)}",
                f"battery_max_charge_kw = {_num(power.charge_kw)}", "cable_length_m = 25.0", power.ups_cable,
                "cable_x_ohm_per_km = 0.01"]
    feeds = []
    for k, row in enumerate(rows):
        x = row.x_m
        ends = (("A", row.y_m + ROW_LENGTH_M), ("B", row.y_m - PDU_SIZE_M[1]))
        names = []
        block = row.name[0] if len(power.ups_y_m) > 2 else ""  # S or N: the block's own UPS pair
        for side, y in ends:
            name = f"PDU-{side}{k + 1:02d}"
            names.append(name)
            ups = f"UPS-{block}{side}"
            length = UPS_ROOM_M + x + abs(y + PDU_SIZE_M[1] / 2 - power.ups_y_m[ups]) + 3.0  # + 3 m of risers
            out += ["", f"[[power.pdus]]  # {'north' if side == 'A' else 'south'} end of row {row.name}",
                    f'name = "{name}"', f'ups = "{ups}"', f"position_m = {_vec((x, y))}",
                    f"size_m = {_vec(PDU_SIZE_M)}",
                    f"rated_kva = {_num(PDU_KVA)}", 'kind = "transformer"', "impedance_pct = 4.5",
                    f"load_loss_w = {_num(PDU_LOAD_LOSS_W)}", f"no_load_loss_w = {_num(PDU_NO_LOAD_W)}",
                    f"cable_length_m = {_num(round(length, 1))}", "cable_r_ohm_per_km = 0.075  # 2 x 150 mm² Cu",
                    "cable_x_ohm_per_km = 0.04"]
        feeds.append((row.name, *names))
    for row_name, a, b in feeds:
        out += ["", "[[power.rack_feeds]]", f'row = "{row_name}"', f'feed_a = "{a}"', f'feed_b = "{b}"',
                "cable_r_ohm = 0.05  # 15 m of 6 mm² Cu", 'psu = "titanium"', "psu_rating_fraction = 2.0"]
    out += ["", "[power.mechanical]", "cable_length_m = 40.0", power.mechanical_cable, "power_factor = 0.95",
            "", "[power.cooling_plant]", f"chillers = {power.chillers}  # N+1",
            f"rated_cooling_kw = {_num(power.chiller_kw)}",
            "chw_supply_c = 12.0", "carnot_fraction = 0.5", "evaporator_approach_k = 3.0", "condenser_approach_k = 8.0",
            f"pump_kw = {_num(power.pump_kw)}", "outdoor_temp_c = 25.0", "restart_time_s = 600.0"]
    if power.loop_water_m3 is not None:
        out += [f"loop_water_m3 = {_num(power.loop_water_m3)}"]
    return out


def main(argv: list[str] | None = None) -> None:
    """Write the halls into the directory given as the only argument (default: next to this script)."""
    args = sys.argv[1:] if argv is None else argv
    out_dir = Path(args[0]) if args else HERE
    for layout in LAYOUTS:
        path = out_dir / layout.file
        path.write_text(hall_toml(layout), encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
