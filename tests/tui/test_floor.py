"""The floor map: its layout against the hall files' plans, its colours against the ASHRAE band, the
cursor driven through the real app (Pilot) on a fake twin serving reference.toml, and its snapshots."""

from __future__ import annotations

import pytest

from tests.tui.data import AUDIT, HOT_RACKS, reference_hall, reference_scene
from tests.tui.fake_twin import FakeTwin
from tests.tui.helpers import console_for, plain, until
from tui import floorplan as F
from tui.widgets.floor import FloorView
from twin.bus.views import hall_plan
from twin.model.load import bundled_hall


def _view_of(name: str) -> tuple[dict, object]:
    """A hall view with the plan of a bundled hall (what the bus sends, without the physics)."""
    h = bundled_hall(name)
    view = {"racks": [r.name for r in h.racks], "crahs": [c.name for c in h.crahs], "plan": hall_plan(h),
            "power": {"pdus": [p.name for p in h.pdus]}}
    return view, h


def test_reference_layout_follows_the_plan():
    """reference.toml: 10 rows of 20 turned to run left to right, west row on top; cold aisles between the
    pairs whose racks face each other, contained where the hall file contains them; CRAHs at the ends."""
    view, h = _view_of("reference")
    lay = F.layout(view)
    assert lay is not None and lay.turned  # rows run along y
    assert F.describe(lay)["slots"] == 20 and len(lay.lanes) == 10
    # Every rack has its own cell; lanes go west to east, slots south to north, as the racks stand.
    assert len(lay.rack_cell) == len(h.racks)
    for i, a in enumerate(h.racks):
        for j, b in enumerate(h.racks):
            (la, sa), (lb, sb) = lay.rack_cell[i], lay.rack_cell[j]
            if a.box.lo[0] < b.box.lo[0] - 0.3:
                assert la < lb, (a.name, b.name)
            if a.row == b.row and a.box.lo[1] < b.box.lo[1]:
                assert sa < sb, (a.name, b.name)
    assert [lay.lines[k].rows for k in lay.lanes] == [[r] for r in "ABCDEFGHIJ"]
    # The aisle between each pair: A|B, C|D open cold aisles, E|F, G|H, I|J contained (the file's
    # [[containment]]); between pairs the backs meet in hot aisles.
    between = [ln.kind for ln in lay.lines if ln.kind != "lane"]
    assert between == ["cold", "hot", "cold", "hot", "contained", "hot", "contained", "hot", "contained"]
    crahs = [(kind, i) for _, items in lay.bands for kind, i, _ in items if kind == "crah"]
    assert sorted(i for _, i in crahs) == list(range(10))
    # South wall CRAHs (y = 0) left of the racks, north ones right of them.
    for col, items in lay.bands:
        for kind, i, _ in items:
            if kind == "crah":
                assert col == (0 if h.crahs[i].box.lo[1] < 10 else 20)
    assert sum(1 for _, items in lay.bands for kind, _, _ in items if kind == "pdu") == len(h.pdus) == 20


def test_tiny_layout_is_drawn_north_up_with_its_crah_beside_the_row():
    """tiny.toml's row runs east–west: not turned; its CRAH stands north of the row, so on the line above."""
    view, h = _view_of("tiny")
    lay = F.layout(view)
    assert not lay.turned and len(lay.lanes) == 1 and F.describe(lay)["slots"] == 4
    crah_line = next(j for j, ln in enumerate(lay.lines) if ln.kind == "equipment")
    assert crah_line < lay.lanes[0]
    d = F.render(lay, view, None, mode="ashrae", cursor=None, width=80)
    assert "CRAH-01" in d.lines[crah_line].plain
    row = d.lines[lay.lanes[0]].plain
    assert row.index("▮") < row.index("A") < row.rindex("▮")  # PDU-A west of the row, PDU-B east


@pytest.mark.parametrize("width, cell, full_names", [(80, 2, False), (120, 3, True), (140, 4, True)])
def test_reference_fits_80_columns_and_uses_wider_terminals(width, cell, full_names):
    """At 80 × 24 the whole hall fits (the view's 16 lines; hot aisles left out); wider cells and full CRAH
    names where there is room."""
    lay = F.layout(reference_hall(), max_lines=16)
    assert len(lay.lines) <= 16 and "hot" not in F.describe(lay)
    d = F.render(lay, reference_hall(), reference_scene(), mode="inlet", cursor=0, width=width)
    assert d.width <= width and max(ln.cell_len for ln in d.lines) <= width
    assert d.cell_width == cell
    assert ("CRAH-01" in "".join(ln.plain for ln in d.lines)) == full_names
    assert d.crah_prefix == ("" if full_names else "CRAH-")


def test_a_hot_rack_shows_as_abnormal_and_normal_racks_stay_grey():
    """ASHRAE mode: H08 (33.4 °C, above A1's allowable 32) red, H09 and G11 (above the recommended 27) amber,
    every other rack grey with no background (ISA-101)."""
    hall, s = reference_hall(), reference_scene()
    lay = F.layout(hall)
    cells = F.rack_cells(lay, hall, s, "ashrae", 2)
    names = hall["racks"]
    hot = dict(HOT_RACKS)
    for i, cell in cells.items():
        name = names[i]
        if name == "H08":
            assert cell.abnormal and cell.style == F.ashrae_style(33.4, hall)[1] and " on #c0392b" in cell.style
        elif name in hot:
            assert cell.abnormal and " on #e5a50a" in cell.style
        else:
            assert not cell.abnormal and " on " not in cell.style, name
        assert cell.text.strip() == f"{s['racks']['t_inlet_c'][i]:.0f}"
    # Colour only where abnormal: the figure modes colour every rack, the ASHRAE mode only three.
    assert sum(" on " in c.style for c in cells.values()) == len(HOT_RACKS)
    assert all(" on " in c.style for c in F.rack_cells(lay, hall, s, "inlet", 2).values())


def test_figure_modes_show_the_summary_figures():
    """Rise = exhaust − inlet, IT power in kW, feed load = the busier of the rack's two PDUs."""
    hall, s = reference_hall(), reference_scene()
    racks = s["racks"]
    i = hall["racks"].index("C05")
    rack = {k: racks[k][i] for k in racks}
    assert F.cell_value("rise", rack) == pytest.approx(racks["t_exhaust_c"][i] - racks["t_inlet_c"][i])
    assert F.cell_value("power", rack) == pytest.approx(racks["it_power_w"][i] / 1e3)
    a, b = hall["power"]["rack_pdus"][i]
    loads = dict(zip(s["pdus"]["name"], s["pdus"]["load_fraction"]))
    lay = F.layout(hall)
    feed = F.rack_cells(lay, hall, s, "feed", 4)[i]
    assert float(feed.text) == pytest.approx(100 * max(loads[a], loads[b]), abs=0.05)
    with pytest.raises(ValueError, match="mode"):
        F.cell_value("pressure", rack)


def test_no_plan_no_map():
    """A 1.1 server sends no plan: no layout (the view says so instead of drawing nonsense)."""
    hall = reference_hall()
    del hall["plan"]
    assert F.layout(hall) is None and F.layout(None) is None


# --- the real app --------------------------------------------------------------------------------

@pytest.fixture
def reference_twin():
    with FakeTwin(reference_hall(), reference_scene(), audit=AUDIT) as fake:
        yield fake


async def test_cursor_starts_on_the_hottest_rack_and_moves_over_the_racks(reference_twin):
    """Key 7 opens the map on H08, the hottest; the arrows move along the row and across to the next rows,
    ``m`` changes the colour mode, ``h`` goes back to the hottest."""
    app = console_for(reference_twin)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.twin.summary is not None, "the fake's state")
        await pilot.press("7")
        view = app.query_one(FloorView)
        await until(pilot, lambda: view.drawing is not None, "the map")
        assert view.rack_name == "H08"
        detail = plain(app.query_one("#floor-detail"))
        assert "H08" in detail and "33.4 °C" in detail and "above allowable" in detail
        moves = {"right": "H09", "left": "H08", "up": "G08", "down": "H08"}
        for key, name in moves.items():
            await pilot.press(key)
            assert view.rack_name == name, key
        await pilot.press("down")  # row I, across the hot aisle, same position
        assert view.rack_name == "I08"
        for _ in range(25):  # the row ends: the cursor stays on its last rack
            await pilot.press("right")
        assert view.rack_name == "I20"
        await pilot.press("m")
        assert view.mode == "inlet" and "colour inlet" in plain(view.query_one(".view--title"))
        await pilot.press("h")
        assert view.rack_name == "H08"
        # A click on a cell: that rack (C05's cell, wherever the map put it).
        x, y = view.drawing.rack_xy[app.twin.hall["racks"].index("C05")]
        await pilot.click("#floor-map", offset=(x + 1, y))
        assert view.rack_name == "C05"
        assert "C05" in plain(app.query_one("#floor-detail"))


async def test_load_step_dialog_starts_on_the_rack_under_the_cursor(reference_twin):
    """An engineer on the map presses i, picks the load step: the dialog names the cursor's rack and its
    load now and in the hall file; a load outside 0–100 kW is refused in the dialog with the reason."""
    from textual.widgets import Input, OptionList

    from tui.dialogs.inject import InjectDialog
    from tui.dialogs.load import LoadStepDialog

    app = console_for(reference_twin, role="engineer")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.twin.summary is not None, "the fake's state")
        await pilot.press("7", "right", "i")
        await until(pilot, lambda: isinstance(app.screen, InjectDialog), "the inject dialog")
        options = app.screen.query_one(OptionList)
        options.highlighted = next(k for k, (lbl, _) in enumerate(app.screen.events) if lbl.startswith("Step"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, LoadStepDialog), "the load step dialog")
        dialog = app.screen
        assert dialog.query_one("#load-rack", Input).value == "H09"
        assert "H09: now 13.5 kW, hall file 13.5 kW" in plain(dialog.query_one("#load-status"))
        await pilot.press("1", "2", "0", "enter")
        assert "from 0 to 100" in plain(dialog.query_one("#load-status")) and app.screen is dialog
        assert reference_twin.received == []


async def test_a_hall_larger_than_the_terminal_scrolls_to_keep_the_cursor_in_sight():
    """large.toml (44 rows of 20 in two blocks, 880 racks) at 80 × 24: the map is wider and longer than the
    view; wherever the arrows take the cursor, its cell is on screen."""
    view, h = _view_of("large")
    names = view["racks"]
    s = reference_scene()
    s["racks"] = {"name": names, "t_inlet_c": [20.0 + (i % 17) * 0.5 for i in range(len(names))],
                  "t_exhaust_c": [33.0] * len(names), "it_power_w": [r.it_w for r in h.racks]}
    s["hall"]["max_inlet_rack"] = names[-1]
    s.pop("pdus")
    with FakeTwin(view, s) as fake:
        app = console_for(fake)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.twin.summary is not None, "the fake's state")
            await pilot.press("7")
            floor = app.query_one(FloorView)
            await until(pilot, lambda: floor.drawing is not None, "the map")
            box = app.query_one("#floor-scroll")
            assert floor.drawing.width > box.size.width and len(floor.drawing.lines) > box.size.height

            def cursor_in_sight() -> bool:
                x, y = floor.drawing.rack_xy[floor.cursor]
                dx, dy = x - box.scroll_offset.x, y - box.scroll_offset.y
                return 0 <= dx <= box.size.width - floor.drawing.cell_width and 0 <= dy < box.size.height

            assert floor.rack_name == names[-1]  # the hottest, at the far corner
            await until(pilot, cursor_in_sight, "the far corner in sight")
            for key, times in (("left", 45), ("up", 30), ("right", 25), ("down", 12)):
                for _ in range(times):
                    await pilot.press(key)
                await until(pilot, cursor_in_sight, f"the cursor in sight after {key}")
            assert floor.rack_name != names[-1]


# --- snapshots -------------------------------------------------------------------------------------

def _on_map(app, *keys: str):
    async def run_before(pilot) -> None:
        await until(pilot, lambda: app.twin.status == "live" and app.twin.summary is not None, "the fake's state")
        await pilot.press("7", *keys)
        view = app.query_one(FloorView)
        await until(pilot, lambda: view.drawing is not None, "the map")
    return run_before


def test_floor_map_80x24(snap_compare, reference_twin):
    """reference.toml in the ASHRAE mode at 80 × 24: grey, but H08 red and H09, G11 amber; cursor on H08."""
    app = console_for(reference_twin)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_on_map(app))


def test_floor_map_inlet_120x36(snap_compare, reference_twin):
    """The inlet mode on a larger terminal: hot aisles drawn, full CRAH names, wider cells."""
    app = console_for(reference_twin)
    assert snap_compare(app, terminal_size=(120, 36), run_before=_on_map(app, "m"))

