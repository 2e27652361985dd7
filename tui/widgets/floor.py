"""The floor-map view (key 7): the hall in plan, one cell per rack, and the figures of the rack under
the cursor.

``m`` cycles the colour mode (ASHRAE band, inlet, rise, IT power, feed load), the arrow keys (or a
click) move the cursor over the racks, ``h`` puts it on the hottest rack (where it starts). The map is drawn by
:mod:`tui.floorplan` from the hall view's plan; it uses wider cells and full CRAH names when the
terminal has room, and scrolls when the hall does not fit (a 880-rack hall at 80 × 24).
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.geometry import Region, Spacing
from textual.message import Message
from textual.widgets import Static

from tui import floorplan as F
from tui.model import TwinData
from tui.palette import DIM
from tui.widgets.view import View

__all__ = ["FloorMap", "FloorView"]


class FloorMap(Static, can_focus=True):
    """The map itself: takes the keys, asks its view to move the cursor or change the mode."""

    DEFAULT_CSS = """
    FloorMap {
        width: auto;
        height: auto;
    }
    FloorMap:focus {
        background-tint: $foreground 0%;
    }
    """
    BINDINGS = [
        Binding("left", "move(0, -1)", "Rack left", show=False),
        Binding("right", "move(0, 1)", "Rack right", show=False),
        Binding("up", "move(-1, 0)", "Row up", show=False),
        Binding("down", "move(1, 0)", "Row down", show=False),
        Binding("m", "mode", "Colour mode", show=False),
        Binding("h", "hottest", "Hottest rack", show=False),
    ]

    class Move(Message):
        def __init__(self, lanes: int, slots: int) -> None:
            super().__init__()
            self.lanes, self.slots = lanes, slots

    class Clicked(Message):
        def __init__(self, x: int, y: int) -> None:
            super().__init__()
            self.x, self.y = x, y

    def action_move(self, lanes: int, slots: int) -> None:
        self.post_message(self.Move(lanes, slots))

    def on_click(self, event) -> None:
        """A click on a rack's cell puts the cursor there (x, y within the map)."""
        self.post_message(self.Clicked(event.x, event.y))

    def action_mode(self) -> None:
        view = self.screen.query_one(FloorView)
        view.next_mode()

    def action_hottest(self) -> None:
        self.screen.query_one(FloorView).to_hottest()


class FloorView(View):
    """The floor map, its legend and the cursor's rack."""

    TITLE = "FLOOR"
    DEFAULT_CSS = """
    FloorView > #floor-scroll {
        height: 1fr;
        scrollbar-size: 1 1;
    }
    FloorView > #floor-legend {
        height: 1;
        padding: 0 1 0 0;
    }
    FloorView > #floor-detail {
        height: 2;
        background: $surface;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.mode = "ashrae"
        self.cursor: int | None = None  # rack index
        self._layout: F.FloorLayout | None = None
        self._layout_key: tuple | None = None
        self.drawing: F.Drawing | None = None

    def compose(self):
        yield self.title_widget()
        with ScrollableContainer(id="floor-scroll"):
            yield FloorMap("", id="floor-map")
        yield Static("", id="floor-legend")
        yield Static("", id="floor-detail")

    def on_mount(self) -> None:
        self._title()

    def focus_main(self) -> None:
        self.query_one(FloorMap).focus()

    def on_resize(self) -> None:
        self._redraw()

    # --- data ---------------------------------------------------------------------------------

    def show(self, data: TwinData) -> None:
        super().show(data)
        self._redraw()

    def layout_now(self) -> F.FloorLayout | None:
        """The map's layout for the present hall and height (recomputed only when either changes)."""
        hall = self.data.hall
        lines = max(self.query_one("#floor-scroll").size.height, 1)
        key = (id(hall), (hall or {}).get("sha256"), lines)
        if key != self._layout_key:
            self._layout = F.layout(hall, max_lines=lines)
            self._layout_key = key
        return self._layout

    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        lay = self.layout_now()
        board = self.query_one(FloorMap)
        legend = self.query_one("#floor-legend", Static)
        detail = self.query_one("#floor-detail", Static)
        if lay is None:
            why = ("waiting for the twin" if self.data.hall is None else
                   "this twin sends no floor plan (protocol 1.1 or a hall without racks)")
            board.update(Text(why, style=DIM))
            legend.update("")
            detail.update("")
            self.drawing = None
            self._title()
            return
        if self.cursor is None or self.cursor not in lay.rack_cell:
            self.cursor = self._hottest(lay)
        width = max(self.query_one("#floor-scroll").size.width - 1, 20)
        summary = self.data.summary
        self.drawing = F.render(lay, self.data.hall, summary, mode=self.mode, cursor=self.cursor, width=width)
        board.update(Group(*self.drawing.lines))
        # The map's own size, so that a hall wider or longer than the terminal scrolls instead of being cut.
        board.styles.width = self.drawing.width
        board.styles.height = len(self.drawing.lines)
        legend.update(F.legend(self.mode, self.data.hall, summary, lay, crah_prefix=self.drawing.crah_prefix))
        detail.update(F.rack_details(self.data.hall, summary, self.cursor) if self.cursor is not None else "")
        self._title()
        self._keep_cursor_in_view()

    def _keep_cursor_in_view(self) -> None:
        if self.drawing is None or self.cursor not in self.drawing.rack_xy:
            return
        x, y = self.drawing.rack_xy[self.cursor]
        # With some room around the cursor, so that the row labels and the next racks stay in sight.
        self.query_one("#floor-scroll", ScrollableContainer).scroll_to_region(
            Region(x, y, self.drawing.cell_width, 1), spacing=Spacing(1, 6, 1, 12), animate=False, immediate=True)

    def _hottest(self, lay: F.FloorLayout) -> int | None:
        """The rack with the highest inlet (the summary names it), else the first on the map."""
        names = (self.data.hall or {}).get("racks") or []
        hot = ((self.data.summary or {}).get("hall") or {}).get("max_inlet_rack")
        if hot in names and names.index(hot) in lay.rack_cell:
            return names.index(hot)
        return min(lay.rack_cell, key=lambda i: lay.rack_cell[i]) if lay.rack_cell else None

    def _title(self) -> None:
        title = dict((k, t) for k, t, _ in F.MODES)[self.mode]
        self.set_title(f"colour {title} (m)", "←↑↓→ rack · h hottest")

    # --- actions ------------------------------------------------------------------------------

    @property
    def rack_name(self) -> str | None:
        """The name of the rack under the cursor."""
        names = (self.data.hall or {}).get("racks") or []
        return names[self.cursor] if self.cursor is not None and self.cursor < len(names) else None

    def next_mode(self) -> None:
        keys = [k for k, _, _ in F.MODES]
        self.mode = keys[(keys.index(self.mode) + 1) % len(keys)]
        self._redraw()

    def to_hottest(self) -> None:
        lay = self.layout_now()
        if lay is not None:
            self.cursor = self._hottest(lay)
            self._redraw()

    def on_floor_map_clicked(self, message: FloorMap.Clicked) -> None:
        if self.drawing is None:
            return
        w = self.drawing.cell_width
        hit = next((i for i, (x, y) in self.drawing.rack_xy.items() if y == message.y and x <= message.x < x + w), None)
        if hit is not None:
            self.cursor = hit
            self._redraw()

    def on_floor_map_move(self, message: FloorMap.Move) -> None:
        lay = self.layout_now()
        if lay is None or self.cursor is None:
            return
        line, slot = lay.rack_cell[self.cursor]
        if message.slots:
            # Along the lane: the next rack in that direction (slots without a rack are skipped).
            taken = sorted(lay.lines[line].slots)
            ahead = [s for s in taken if (s - slot) * message.slots > 0]
            if ahead:
                s = min(ahead, key=lambda s: abs(s - slot))
                self.cursor = lay.lines[line].slots[s]
        else:
            # Across: the next lane up or down, at the nearest slot that has a rack.
            lanes = lay.lanes
            k = lanes.index(line) + message.lanes
            if 0 <= k < len(lanes):
                target = lay.lines[lanes[k]].slots
                s = min(target, key=lambda s: (abs(s - slot), s))
                self.cursor = target[s]
        self._redraw()
