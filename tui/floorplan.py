"""The hall in plan as a terminal can draw it: rows of racks as cells, aisles, CRAHs and PDUs.

Pure functions (no textual), fed by the hall view's ``plan`` (protocol 1.2) and a summary, so the
floor-map widget and the tests share them.

A map to scale does not fit a terminal: the reference hall's 10 rows of 20 racks at 0.6 m would need
25 lines. So the map is schematic but keeps the plan's order and orientation:

- racks in a row become cells of one text line (a *lane*); racks of different rows that stand in line
  (the same position across the rows) share a lane, and racks at the same position along the rows share
  a column (a *slot*), so a block of rows reads as the grid it is on the floor;
- rows run left to right: a hall whose rows run north–south is turned a quarter clockwise (north to the
  right, west at the top), a hall whose rows run east–west is drawn north up;
- between two lanes an aisle line: cold (``·``, fronts on both sides), contained (``═``), hot (blank,
  backs on both sides); hot aisles are left out first when lines are short;
- CRAHs and PDUs beyond the ends of the rows stand in columns at the side where they stand, on the
  line nearest to them; those beside the rows get a line of their own.

Each cell shows a figure of its rack (inlet, rise, IT power, feed load) on a sequential grey-blue scale,
or, in the ASHRAE mode, stays grey unless the rack is outside the band (ISA-101: colour only where
abnormal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rich.style import Style
from rich.text import Text

from tui.format import MISSING, num
from tui.model import rows
from tui.palette import ALARM, DIM
from twin.model.schema import ASHRAE_ALLOWABLE_C, ASHRAE_RECOMMENDED_C

__all__ = ["MODES", "Cell", "Drawing", "FloorLayout", "Line", "ashrae_style", "cell_value", "describe", "layout",
           "legend", "rack_cells", "rack_details", "render", "scale"]

#: Colour modes: (key, title, unit of the figure in a cell).
MODES: tuple[tuple[str, str, str], ...] = (
    ("ashrae", "ASHRAE band", "°C"), ("inlet", "inlet", "°C"), ("rise", "rise", "K"),
    ("power", "IT power", "kW"), ("feed", "feed load", "%"))

_SAME_M = 0.3  # racks whose centres lie closer than this (across or along the rows) share a lane or a slot
_CRAH = "crah"
_PDU = "pdu"

#: The sequential scale of the figure modes: dark grey-blue (low) to pale blue (high), one hue, so that
#: no value reads as an alarm colour; the ASHRAE mode keeps amber and red for racks outside the band.
_RAMP_LO = (0x33, 0x3b, 0x47)
_RAMP_HI = (0xa9, 0xc8, 0xe6)


@dataclass
class Line:
    """One text line of the map: a lane of racks, an aisle, or a line of equipment beside the rows."""

    kind: str  # "lane", "cold", "contained", "hot", "aisle" or "equipment"
    across_m: float  # where it lies across the rows (sorting key, top line first)
    slots: dict[int, int] = field(default_factory=dict)  # slot → rack index (lanes)
    rows: list[str] = field(default_factory=list)  # names of the rows in the lane
    inline: list[tuple[str, int, float]] = field(default_factory=list)  # (kind, index, along_m) beside the rows


@dataclass
class FloorLayout:
    """Where everything goes: lines top to bottom, slots left to right, equipment by column and line."""

    turned: bool  # rows run north–south: the plan is turned a quarter clockwise (north to the right)
    slots_m: list[float]  # along-the-row position of each slot, left to right
    lines: list[Line]
    # Equipment beyond or between the rows' slots, in bands (columns) left to right: (after this many
    # slots: 0 … n_slots, [(kind, index, line)]).
    bands: list[tuple[int, list[tuple[str, int, int]]]]
    rack_cell: dict[int, tuple[int, int]]  # rack → (line, slot)
    crah_names: list[str]
    pdu_names: list[str]

    def rack_at(self, line: int, slot: int) -> int | None:
        if 0 <= line < len(self.lines):
            return self.lines[line].slots.get(slot)
        return None

    @property
    def lanes(self) -> list[int]:
        """The line numbers of the lanes (lines with racks), top to bottom."""
        return [i for i, ln in enumerate(self.lines) if ln.kind == "lane"]


def _centre(box: list[float]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0


def _cluster(values: list[float], tol: float) -> list[float]:
    """Representative positions of ``values`` grouped within ``tol`` of the group's first value."""
    reps: list[float] = []
    for v in sorted(values):
        if not reps or v - reps[-1] > tol:
            reps.append(v)
    return reps


def _nearest(reps: list[float], v: float) -> int:
    return min(range(len(reps)), key=lambda i: abs(reps[i] - v))


def layout(hall: dict | None, *, max_lines: int | None = None) -> FloorLayout | None:
    """The schematic floor plan of a hall view, or None when it has no plan (a 1.1 server) or no racks.

    Args:
        hall: the hall view (``plan``, ``racks``, ``crahs``, ``power.pdus``).
        max_lines: lines available; hot aisles, then other aisles (not the cold ones), are left out to fit.
    """
    plan = (hall or {}).get("plan")
    names = (hall or {}).get("racks") or []
    if not plan or not plan.get("racks") or len(plan["racks"]) != len(names):
        return None
    along_axes = [r.get("along") for r in plan.get("rows") or []]
    turned = along_axes.count("y") > along_axes.count("x")

    def along_across(box: list[float]) -> tuple[float, float, float, float]:
        """(along centre, across key, along lo, along hi): across increases down the screen."""
        cx, cy = _centre(box)
        if turned:  # north to the right, east down
            return cy, cx, box[1], box[3]
        return cx, -cy, box[0], box[2]  # east to the right, north up

    racks = [along_across(b) for b in plan["racks"]]
    slots = _cluster([r[0] for r in racks], _SAME_M)
    lane_pos = _cluster([r[1] for r in racks], _SAME_M)
    rack_rows = plan.get("rack_rows") or [""] * len(names)
    lanes = [Line("lane", a) for a in lane_pos]
    rack_lane: list[int] = []
    for i, (a, c, _, _) in enumerate(racks):
        k = _nearest(lane_pos, c)
        s = _nearest(slots, a)
        lanes[k].slots.setdefault(s, i)  # two racks on one spot (a bad file) show the first
        if rack_rows[i] and rack_rows[i] not in lanes[k].rows:
            lanes[k].rows.append(rack_rows[i])
        rack_lane.append(k)

    # How each lane faces across the rows: +1 its fronts look down the screen, -1 up.
    facing = plan.get("rack_facing") or []

    def lane_faces(k: int) -> int:
        down = {"+x": 1, "-x": -1} if turned else {"-y": 1, "+y": -1}
        votes = [down.get(facing[i], 0) for i in range(len(racks)) if rack_lane[i] == k and i < len(facing)]
        total = sum(votes)
        return 1 if total > 0 else -1 if total < 0 else 0

    contained = [a["box"] for a in plan.get("aisles") or [] if a.get("kind") in ("cold-aisle", "hot-aisle")]
    lines: list[Line] = []
    half_depth = _half_depth(plan["racks"], turned)
    for k, lane in enumerate(lanes):
        lines.append(lane)
        if k + 1 == len(lanes):
            break
        gap_lo, gap_hi = lane.across_m + half_depth, lanes[k + 1].across_m - half_depth
        if gap_hi - gap_lo < _SAME_M:
            continue  # back to back: no aisle between
        mid = (gap_lo + gap_hi) / 2.0
        up, down = lane_faces(k), lane_faces(k + 1)
        kind = "cold" if (up, down) == (1, -1) else "hot" if (up, down) == (-1, 1) else "aisle"
        if any(_across_inside(box, mid, turned) for box in contained):
            kind = "contained"
        lines.append(Line(kind, mid))

    # Equipment: beyond the rows' ends (or in a gap between slots) → a band column; beside the rows → a line.
    crah_boxes = plan.get("crahs") or []
    pdu_boxes = plan.get("pdus") or []
    lo_end, hi_end = slots[0] - _SAME_M, slots[-1] + _SAME_M
    loose: list[tuple[str, int, float, float]] = []  # (kind, index, along, across) for bands
    for kind, boxes in ((_CRAH, crah_boxes), (_PDU, pdu_boxes)):
        for i, box in enumerate(boxes):
            a, c, a_lo, a_hi = along_across(box)
            inside_slot = any(a_lo < s < a_hi for s in slots) or lo_end < a < hi_end and _min_gap(slots, a) < _SAME_M
            if inside_slot:
                lines.append(Line("equipment", c, inline=[(kind, i, a)]))
            else:
                loose.append((kind, i, a, c))
    lines.sort(key=lambda ln: ln.across_m)
    # Merge equipment lines that lie at the same place across (a line of CRAHs along a wall).
    merged: list[Line] = []
    for ln in lines:
        if ln.kind == "equipment" and merged and merged[-1].kind == "equipment" and \
                abs(merged[-1].across_m - ln.across_m) < 1.0:
            merged[-1].inline.extend(ln.inline)
        else:
            merged.append(ln)
    lines = merged
    if max_lines is not None:
        # All aisles of a kind or none: a map with some hot aisles drawn and others not would mislead.
        for dropped in ("hot", "aisle", "contained", "cold"):
            if len(lines) > max_lines:
                lines = [ln for ln in lines if ln.kind != dropped]

    # Bands: equipment at one place along the rows (a wall of CRAHs, the PDUs at the rows' ends), in the
    # order they stand, so a CRAH on the wall is drawn outside the PDUs at the row ends.
    bands: list[tuple[int, list[tuple[str, int, int]]]] = []
    across = [ln.across_m for ln in lines]
    band_at = _cluster([e[2] for e in loose], 0.5)
    for a_band in band_at:
        members = sorted((e for e in loose if abs(e[2] - a_band) <= 0.5 + 1e-9 and
                          _nearest(band_at, e[2]) == band_at.index(a_band)), key=lambda e: e[3])
        used: set[int] = set()
        items = []
        for kind, i, _, c in members:
            want = _nearest(across, c)
            free = sorted(range(len(lines)), key=lambda j: (abs(j - want), j))
            line = next((j for j in free if j not in used), want)
            used.add(line)
            items.append((kind, i, line))
        bands.append((sum(1 for s in slots if s < a_band), items))
    rack_cell = {}
    for j, ln in enumerate(lines):
        for s, i in ln.slots.items():
            rack_cell[i] = (j, s)
    pdu_names = list(((hall or {}).get("power") or {}).get("pdus") or [])
    return FloorLayout(turned, slots, lines, bands, rack_cell, list((hall or {}).get("crahs") or []),
                       pdu_names + [f"PDU {k + 1}" for k in range(len(pdu_names), len(pdu_boxes))])


def _half_depth(boxes: list[list[float]], turned: bool) -> float:
    """Half a rack's depth across the rows (the smallest, so that no aisle is missed)."""
    depths = [(b[2] - b[0]) if turned else (b[3] - b[1]) for b in boxes]
    return min(depths) / 2.0 if depths else 0.0


def _across_inside(box: list[float], across: float, turned: bool) -> bool:
    if turned:
        return box[0] <= across <= box[2]
    return box[1] <= -across <= box[3]


def _min_gap(slots: list[float], a: float) -> float:
    return min(abs(s - a) for s in slots)


# --- figures ----------------------------------------------------------------------------------------

def _band(hall: dict | None) -> tuple[list[float], list[float]]:
    ashrae = (hall or {}).get("ashrae") or {}
    return (list(ashrae.get("recommended_c") or ASHRAE_RECOMMENDED_C),
            list(ashrae.get("allowable_c") or ASHRAE_ALLOWABLE_C["A1"]))


def _feed_loads(hall: dict | None, summary: dict | None) -> tuple[dict[str, float], list[list[str]]]:
    power = (hall or {}).get("power") or {}
    pdus = rows((summary or {}).get("pdus"))
    load = {p["name"]: num(p.get("load_fraction")) for p in pdus}
    return {k: v for k, v in load.items() if v is not None}, power.get("rack_pdus") or []


def cell_value(mode: str, rack: dict, *, feed_fraction: float | None = None) -> float | None:
    """The figure a cell shows in ``mode`` (°C, K, kW or %), None when unknown."""
    t_in, t_out = num(rack.get("t_inlet_c")), num(rack.get("t_exhaust_c"))
    if mode in ("ashrae", "inlet"):
        return t_in
    if mode == "rise":
        return None if t_in is None or t_out is None else t_out - t_in
    if mode == "power":
        p = num(rack.get("it_power_w"))
        return None if p is None else p / 1e3
    if mode == "feed":
        return None if feed_fraction is None else 100.0 * feed_fraction
    raise ValueError(f"unknown floor-map mode {mode!r}")


def scale(mode: str, hall: dict | None, racks: list[dict]) -> tuple[float, float]:
    """The range a figure mode's colours span: fixed where a standard gives one, else the hall's own."""
    rec, allow = _band(hall)
    if mode == "inlet":
        return rec[0], allow[1]  # from the recommended floor to the allowable ceiling
    if mode == "rise":
        return 0.0, 20.0  # servers run 10–15 K; 20 K is a rack starved of air
    if mode == "feed":
        return 0.0, 100.0
    peak = max((num(r.get("it_power_w")) or 0.0 for r in racks), default=0.0) / 1e3
    return 0.0, max(5.0, 5.0 * math.ceil(peak / 5.0))


def _ramp(fraction: float) -> str:
    f = min(max(fraction, 0.0), 1.0)
    r, g, b = (round(lo + f * (hi - lo)) for lo, hi in zip(_RAMP_LO, _RAMP_HI))
    fg = "#1c1c1c" if f > 0.55 else "#e4e4e4"  # dark figures on the pale end of the scale
    return f"{fg} on #{r:02x}{g:02x}{b:02x}"


def ashrae_style(t_c: float | None, hall: dict | None) -> tuple[str, str]:
    """(state, style) of a rack inlet against the hall's band: ``ok`` grey, amber outside the recommended
    band, red outside the allowable one (the racks view's rule, as cell colours)."""
    if t_c is None:
        return "unknown", DIM
    rec, allow = _band(hall)
    if t_c > allow[1] or t_c < allow[0]:
        return ("above allowable" if t_c > allow[1] else "below allowable"), "bold #ffffff on #c0392b"
    if t_c > rec[1] or t_c < rec[0]:
        return ("above rec." if t_c > rec[1] else "below rec."), "bold #1c1c1c on #e5a50a"
    return "ok", "#9e9e9e"


def _fmt_cell(v: float | None, width: int) -> str:
    if v is None:
        return MISSING.center(width)
    if width >= 4 and abs(v) < 100:
        return f"{v:{width}.1f}"
    if round(v) > 10 ** width - 1:
        return "+" * width  # too large for the cell (a feed at 100 % in two characters): the details say
    return f"{round(v):>{width}d}" if v > -(10 ** (width - 1)) else "-" * width


@dataclass
class Cell:
    """What one rack's cell shows."""

    text: str
    style: str
    abnormal: bool  # outside the recommended band (the ASHRAE mode's coloured cells)


def rack_cells(lay: FloorLayout, hall: dict | None, summary: dict | None, mode: str, width: int) -> dict[int, Cell]:
    """Every rack's cell in ``mode`` at ``width`` characters."""
    racks = rows((summary or {}).get("racks"))
    loads, rack_pdus = _feed_loads(hall, summary)
    lo, hi = scale(mode, hall, racks)
    out: dict[int, Cell] = {}
    for i in lay.rack_cell:
        rack = racks[i] if i < len(racks) else {}
        feed = None
        if i < len(rack_pdus):
            fr = [loads[p] for p in rack_pdus[i] if p in loads]
            feed = max(fr) if fr else None
        v = cell_value(mode, rack, feed_fraction=feed)
        t_in = num(rack.get("t_inlet_c"))
        state, a_style = ashrae_style(t_in, hall)
        abnormal = state not in ("ok", "unknown")
        if rack.get("powered") is False:
            out[i] = Cell("off".center(width)[:width], DIM, abnormal)
        elif mode == "ashrae":
            out[i] = Cell(_fmt_cell(t_in, width), a_style, abnormal)
        else:
            style = DIM if v is None else _ramp((v - lo) / (hi - lo) if hi > lo else 0.0)
            out[i] = Cell(_fmt_cell(v, width), style, abnormal)
    return out


def rack_details(hall: dict | None, summary: dict | None, rack: int) -> Text:
    """The cursor's rack: its figures, its feeds and its state against the band, on one or two lines."""
    names = (hall or {}).get("racks") or []
    racks = rows((summary or {}).get("racks"))
    r = racks[rack] if rack < len(racks) else {"name": names[rack] if rack < len(names) else "?"}
    t_in, t_out = num(r.get("t_inlet_c")), num(r.get("t_exhaust_c"))
    state, style = ashrae_style(t_in, hall)
    plan = (hall or {}).get("plan") or {}
    row = (plan.get("rack_rows") or [""] * (rack + 1))[rack]
    t = Text(no_wrap=False)
    t.append(str(r.get("name")), style="bold")
    if row:
        t.append(f" (row {row})", style=DIM)

    def fig(label: str, v: float | None, unit: str, decimals: int = 1) -> None:
        t.append(f"  {label} ", style=DIM)
        t.append(MISSING if v is None else f"{v:.{decimals}f} {unit}")

    fig("inlet", t_in, "°C")
    t.append(" ")
    t.append(state if state != "unknown" else MISSING, style=style if state != "ok" else DIM)
    fig("exhaust", t_out, "°C")
    fig("rise", None if t_in is None or t_out is None else t_out - t_in, "K")
    p = num(r.get("it_power_w"))
    fig("IT", None if p is None else p / 1e3, "kW")
    flow = num(r.get("flow_m3s"))
    fig("air", flow, "m³/s", 2)
    loads, rack_pdus = _feed_loads(hall, summary)
    if rack < len(rack_pdus):
        t.append("  feeds ", style=DIM)
        t.append(" / ".join(f"{p} {100 * loads[p]:.0f} %" if p in loads else f"{p} {MISSING}"
                            for p in rack_pdus[rack]))
    if r.get("powered") is False:
        t.append("  UNPOWERED", style=ALARM)
    return t


def legend(mode: str, hall: dict | None, summary: dict | None, lay: FloorLayout, *, crah_prefix: str = "") -> Text:
    """What the colours and marks mean, in one line."""
    racks = rows((summary or {}).get("racks"))
    t = Text(no_wrap=True, overflow="ellipsis")
    if mode == "ashrae":
        rec, allow = _band(hall)
        t.append(f"inlet {rec[0]:g}–{rec[1]:g} °C grey ", style=DIM)
        t.append(" rec. ", style="bold #1c1c1c on #e5a50a")
        t.append(" ")
        t.append(f" {allow[0]:g}–{allow[1]:g} ", style="bold #ffffff on #c0392b")
    else:
        lo, hi = scale(mode, hall, racks)
        unit = dict((k, u) for k, _, u in MODES)[mode]
        t.append(f"{lo:g} ", style=DIM)
        for k in range(6):
            t.append("  ", style=_ramp(k / 5.0))
        t.append(f" {hi:g} {unit}", style=DIM)
    t.append("  ·cold ═contained ▮PDU", style=DIM)
    t.append("  N→" if lay.turned else "  N↑", style=DIM)
    if crah_prefix:
        t.append(f"  01={crah_prefix}01", style=DIM)
    return t


# --- drawing ----------------------------------------------------------------------------------------

def _short_names(names: list[str]) -> list[str]:
    """Names without the prefix they all share (``CRAH-01`` … → ``01`` …), at least two characters."""
    if len(names) < 2:
        return names
    prefix = names[0]
    for n in names[1:]:
        while not n.startswith(prefix):
            prefix = prefix[:-1]
    keep = max(0, min(len(prefix), min(len(n) for n in names) - 2))
    return [n[keep:] for n in names]


@dataclass
class Drawing:
    """The map as text lines, with where each rack's cell is (for the cursor and for scrolling)."""

    lines: list[Text]
    rack_xy: dict[int, tuple[int, int]]  # rack → (column, line) of its cell's first character
    cell_width: int
    width: int
    crah_prefix: str = ""  # left off the CRAHs' names to fit ("CRAH-": "01" is CRAH-01)


def render(lay: FloorLayout, hall: dict | None, summary: dict | None, *, mode: str, cursor: int | None,
           width: int) -> Drawing:
    """Draw the map in ``mode`` at most ``width`` columns wide (wider cells and full names when there is
    room), with the rack ``cursor`` marked."""
    crah_full, pdu_glyph = lay.crah_names, "▮"
    loads, _ = _feed_loads(hall, summary)
    row_label = max((len("/".join(ln.rows)) for ln in lay.lines if ln.kind == "lane"), default=1)
    n = len(lay.slots_m)
    crah_short = _short_names(crah_full)
    for cell_w, labels in ((4, crah_full), (3, crah_full), (2, crah_full), (2, crah_short)):
        band_w = [max((len(labels[i]) if k == _CRAH else 1) for k, i, _ in items) for _, items in lay.bands]
        total = row_label + 1 + n * (cell_w + 1) - 1 + sum(w + 1 for w in band_w)
        if total <= width:
            break
    cells = rack_cells(lay, hall, summary, mode, cell_w)
    # Columns, left to right: the bands before the first slot, the row labels, then slots and the bands
    # between and after them.
    x = 0
    band_x: list[int] = []
    slot_x: dict[int, int] = {}
    label_x = 0
    b = 0
    for col in range(n + 1):
        while b < len(lay.bands) and lay.bands[b][0] == col:
            band_x.append(x)
            x += band_w[b] + 1
            b += 1
        if col == 0:
            label_x = x
            x += row_label + 1
        if col < n:
            slot_x[col] = x
            x += cell_w + 1
    total_w = x - 1
    inline = [len(crah_full[i]) if k == _CRAH else 2 + len(lay.pdu_names[i] if i < len(lay.pdu_names) else "PDU")
              for ln in lay.lines for k, i, _ in ln.inline]
    total_w = max(total_w, min(max(inline, default=0), width))  # a map narrower than a CRAH's name
    by_line: dict[int, list[tuple[int, str, str]]] = {}
    for b, (col, items) in enumerate(lay.bands):
        left = col == 0  # beyond the rows' start: right-aligned against them
        for kind, i, line in items:
            if kind == _CRAH:
                text, style = labels[i].rjust(band_w[b]) if left else labels[i].ljust(band_w[b]), "bold"
            else:
                load = loads.get(lay.pdu_names[i]) if i < len(lay.pdu_names) else None
                style = _ramp(load) if mode == "feed" and load is not None else DIM
                text = pdu_glyph.rjust(band_w[b]) if left else pdu_glyph.ljust(band_w[b])
            by_line.setdefault(line, []).append((band_x[b], text, style))
    out: list[Text] = []
    rack_xy: dict[int, tuple[int, int]] = {}
    for j, ln in enumerate(lay.lines):
        parts: list[tuple[int, str, str]] = list(by_line.get(j, []))
        if ln.kind == "lane":
            parts.append((label_x, "/".join(ln.rows).rjust(row_label), "bold"))
            for s, i in ln.slots.items():
                c = cells[i]
                style = c.style
                if i == cursor:
                    style = f"{style} reverse bold underline" if style else "reverse bold underline"
                parts.append((slot_x[s], c.text, style))
                rack_xy[i] = (slot_x[s], j)
        elif ln.kind in ("cold", "contained"):
            mark = "·" if ln.kind == "cold" else "═"
            lo_x = slot_x[0]
            span = slot_x[n - 1] + cell_w - lo_x
            text = (mark + " " * cell_w) * (span // (cell_w + 1) + 1) if ln.kind == "cold" else mark * span
            parts.append((lo_x, text[:span], DIM))
        elif ln.kind == "equipment":
            for kind, i, a in ln.inline:
                s = _nearest(lay.slots_m, a)
                if kind == _CRAH:
                    text, style = crah_full[i], "bold"
                else:
                    name = lay.pdu_names[i] if i < len(lay.pdu_names) else "PDU"
                    load = loads.get(name)
                    style = _ramp(load) if mode == "feed" and load is not None else DIM
                    text = f"{pdu_glyph} {name}"
                # Beside the rows, over the rack it stands nearest to; moved left if it would run off the map.
                parts.append((max(0, min(slot_x[s], total_w - len(text))), text, style))
        out.append(_compose(parts, total_w))
    prefix = crah_full[0][: len(crah_full[0]) - len(labels[0])] if labels is crah_short and crah_full else ""
    return Drawing(out, rack_xy, cell_w, total_w, prefix)


def _compose(parts: list[tuple[int, str, str]], width: int) -> Text:
    """Place styled strings at columns on one line (later ones win where they overlap)."""
    chars: list[tuple[str, str]] = [(" ", "")] * width
    for x, text, style in parts:
        for k, ch in enumerate(text):
            if 0 <= x + k < width:
                chars[x + k] = (ch, style)
    t = Text(no_wrap=True)
    run, run_style = "", ""
    for ch, style in chars:  # runs of one style: a few spans per line, not one per character
        if style != run_style and run:
            t.append(run, style=Style.parse(run_style) if run_style else None)
            run = ""
        run, run_style = run + ch, style
    if run:
        t.append(run, style=Style.parse(run_style) if run_style else None)
    t.rstrip()
    return t


def describe(lay: FloorLayout) -> dict[str, Any]:
    """Counts for tests and messages: lanes, slots, aisles by kind."""
    kinds: dict[str, int] = {}
    for ln in lay.lines:
        kinds[ln.kind] = kinds.get(ln.kind, 0) + 1
    return {"slots": len(lay.slots_m), "lines": len(lay.lines), **kinds}
