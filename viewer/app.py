"""The live window: `twin view --connect tcp://…`.

A repeating VTK timer (every ``poll_ms``) calls :meth:`LiveViewer.tick`, which reads whatever the bus
has delivered with ``poll(0)`` (it never waits, so the window stays responsive however the twin
behaves), writes the new state into the scene's meshes in place and renders. Nothing is re-added per
frame: the actors made at start draw the same meshes until the window closes. A second twin with a
different hall file (a server restart on another hall) is the one case that rebuilds the scene.

Keys: o overview, t top, [ and ] previous/next aisle at eye height, k starts/stops the guided walk
(cold aisles, then hot aisles, stopping at the hottest racks) and Left/Right step it to the previous/next stop,
Page Up/Down move the slice, h horizontal slice, x vertical section, i isosurface, l airflow
(none → arrows → streamlines). A click on a rack or CRAH shows its figures; a click elsewhere hides them.
"""

from __future__ import annotations

import math
import time
from collections import deque

from viewer.cameras import named_pose, view_defaults
from viewer.offscreen import make_theme
from viewer.scene import FLOW_MODES, SceneOptions, build_scene
from viewer.sources import hall_from_view
from viewer.stage import Stage
from viewer.tour import Tour, guided_tour

__all__ = ["LiveViewer"]

TOUR_FPS = 30.0  # poses of the guided walk per second of walking (played at the wall clock's pace)
SLICE_STEP_M = 0.25
CLICK_PX = 4  # a press and release closer than this is a click (a pick), not a drag


class LiveViewer:
    """A window (or an off-screen plotter, for tests and benchmarks) on a twin.

    Args:
        source: a :class:`~twin.bus.client.TwinClient` holding its first snapshot, or an offline view
            (then nothing is polled and the picture stays).
        options: what to show; ``explicit`` names the options the user set (view presets keep them).
        view: the first camera preset (overview, top, aisle-N).
        off_screen: no window (tests, benchmarks): call :meth:`tick` yourself.
    """

    def __init__(self, source, *, options: SceneOptions | None = None, view: str = "overview",
                 off_screen: bool = False, window_size: tuple[int, int] = (1280, 960), poll_ms: int = 50,
                 explicit: frozenset[str] | set[str] = frozenset()) -> None:
        import pyvista as pv

        self.source = source
        self.explicit = set(explicit)
        self.options = options or SceneOptions()
        self.poll_ms = poll_ms
        self.off_screen = off_screen
        self.plotter = pv.Plotter(off_screen=off_screen, theme=make_theme(), window_size=list(window_size),
                                  title="twin view")
        self.hall = hall_from_view(source)
        self._hall_sha = (source.hall or {}).get("sha256")
        self.scene = build_scene(self.hall, source, self.options)
        self.stage = Stage(self.scene, self.plotter, keys_help=not off_screen)
        self.view_name = view
        self._iso_c = self.options.iso_c if self.options.iso_c is not None else 27.0  # what "i" brings back
        self.set_view(view)
        self.tour: Tour | None = None  # the guided walk, made at the first ``k``
        self.walking = False  # playing (k) or held at a frame (k again, or the arrows)
        self.tour_frame = 0.0
        self._walk_clock = 0.0
        self._press: tuple[int, int] | None = None
        self._last_banner_s = -math.inf
        # Figures for the benchmark: frames rendered, and how long after publication a state was drawn.
        self.frames = 0
        self.render_s: deque[float] = deque(maxlen=500)
        self.summary_to_frame_s: deque[float] = deque(maxlen=500)
        self._update_status()
        if off_screen:
            # pyvista renders nothing before the first show(); off screen that is a single frame.
            self.plotter.show(auto_close=False, interactive=False)

    # --- the loop -----------------------------------------------------------------------------

    def tick(self) -> set[str]:
        """One timer tick: take what arrived (without waiting), update the meshes in place, render."""
        t_tick = time.perf_counter()
        changed: set[str] = set()
        poll = getattr(self.source, "poll", None)
        if poll is not None:
            changed = poll(0.0)
        if "snapshot" in changed and (self.source.hall or {}).get("sha256") != self._hall_sha:
            self._rebuild()  # another hall: the only rebuild
            changed |= {"summary", "fields"}
        updated = self.scene.update(self.source, changed) if changed & {"summary", "fields", "snapshot"} else set()
        banner_due = self._update_status()
        walking = self._walk_step()
        if updated or walking or banner_due or "status" in changed:
            self.stage.refresh()
            self.render()
            if "summary" in changed:
                lat = getattr(self.source, "latency_s", None)
                if lat:
                    # Publication → receipt (measured by the client, during the poll above) + the
                    # poll, the update and the render of this frame.
                    self.summary_to_frame_s.append(lat[-1] + (time.perf_counter() - t_tick))
        return changed

    def render(self) -> None:
        t0 = time.perf_counter()
        self.plotter.render()
        self.render_s.append(time.perf_counter() - t0)
        self.frames += 1

    def _update_status(self) -> bool:
        """Set the HUD's status; True when the STALE banner's age should be redrawn (once a second)."""
        status = getattr(self.source, "status", "offline")
        last = getattr(self.source, "last_message_s", None)
        quiet = time.monotonic() - last if isinstance(last, float) and math.isfinite(last) else None
        self.stage.status, self.stage.quiet_s = status, quiet
        now = time.monotonic()
        if status in ("stale", "connecting") and now - self._last_banner_s >= 1.0:
            self._last_banner_s = now
            return True
        return False

    def _rebuild(self) -> None:
        self.plotter.clear()  # actors, scalar bar and legend: the new hall draws its own
        self.hall = hall_from_view(self.source)
        self._hall_sha = (self.source.hall or {}).get("sha256")
        self.scene = build_scene(self.hall, self.source, self.options)
        self.stage = Stage(self.scene, self.plotter, keys_help=not self.off_screen)
        self.set_view(self.view_name if self.view_name in ("overview", "top") else "overview")

    # --- camera -------------------------------------------------------------------------------

    def set_view(self, name: str) -> None:
        """Jump to a preset (and show what that preset shows, except the options the user set)."""
        self.walking = False
        pose = named_pose(name, self.hall, self.scene.aisles, aspect=self._aspect())
        self.view_name = name
        view_defaults(name, self.scene.aisles, self.options, explicit=self.explicit)
        self.scene.refresh_fields()
        self.stage.view_name = name
        self.stage.refresh()
        self.stage.set_doors(None)  # a walk left in a doorway: its doors shut behind it
        self.stage.set_camera(pose)

    def _aspect(self) -> float:
        w, h = self.plotter.window_size
        return w / h if h else 4 / 3

    def next_aisle(self, step: int) -> None:
        names = [a.name for a in self.scene.aisles]
        if not names:
            return
        i = names.index(self.view_name) + step if self.view_name in names else (0 if step > 0 else len(names) - 1)
        self.set_view(names[i % len(names)])

    def toggle_walk(self) -> None:
        """Start the guided walk (or resume it where it was held); pressed while walking, hold it there."""
        if self.walking:
            self.walking = False
            return
        if self.tour is None or self.tour_frame >= len(self.tour) - 1:
            self.tour = guided_tour(self.hall, self.scene.aisles, self.scene.hot, fps=TOUR_FPS)
            self.tour_frame = 0.0
            self.stage.minimap.show_route(self.tour.path_xy)
        if not len(self.tour):
            self.tour = None
            return
        self._enter_walk()
        self.walking = True
        self._walk_clock = time.monotonic()

    def _enter_walk(self) -> None:
        if self.view_name != "walk":
            self.view_name = "walk"
            self.stage.view_name = "walk"
            view_defaults("walk", self.scene.aisles, self.options, explicit=self.explicit, hall=self.hall)
            self.scene.refresh_fields()
            self.stage.refresh()

    def step_walk(self, step: int) -> None:
        """Hold the walk and jump to its previous (−1) or next (+1) stop: an aisle's start or a hot rack."""
        if self.tour is None:
            self.tour = guided_tour(self.hall, self.scene.aisles, self.scene.hot, fps=TOUR_FPS)
            self.stage.minimap.show_route(self.tour.path_xy)
            if not len(self.tour):
                self.tour = None
                return
            self.tour_frame = -1.0 if step > 0 else 0.0
        self._enter_walk()
        self.walking = False
        self.tour_frame = float(self.tour.next_stop(int(self.tour_frame), step))
        self._show_tour_frame()
        self.render()

    def _walk_step(self) -> bool:
        if not self.walking or self.tour is None:
            return False
        now = time.monotonic()
        self.tour_frame += (now - self._walk_clock) * self.tour.fps
        self._walk_clock = now
        if self.tour_frame >= len(self.tour) - 1:
            self.tour_frame = float(len(self.tour) - 1)
            self.walking = False
        self._show_tour_frame()
        return True

    def _show_tour_frame(self) -> None:
        self.stage.show_tour_frame(self.tour, int(self.tour_frame))

    # --- toggles ------------------------------------------------------------------------------

    def toggle(self, what: str) -> None:
        o = self.options
        self.explicit.add({"slice": "show_slice", "section": "vslice_aisle", "iso": "iso_c", "flow": "flow"}[what])
        if what == "slice":
            o.show_slice = not o.show_slice
        elif what == "section":
            names = [a.name for a in self.scene.aisles]
            here = names.index(self.view_name) if self.view_name in names else len(names) // 2
            o.vslice_aisle = None if o.vslice_aisle is not None or not names else here
            o.vslice_axis = None  # across that aisle (the walk may have left one across a cross aisle)
        elif what == "iso":
            o.iso_c = None if o.iso_c is not None else self._iso_c
        elif what == "flow":
            o.flow = FLOW_MODES[(FLOW_MODES.index(o.flow) + 1) % len(FLOW_MODES)]
        self.scene.refresh_fields()
        self.stage.refresh()
        self.render()

    def move_slice(self, dz_m: float) -> None:
        self.explicit.add("slice_height_m")  # the user's height: views no longer reset it
        self.options.show_slice = True
        self.scene.set_slice_height(self.options.slice_height_m + dz_m)
        if self.options.flow != "none":
            self.scene.refresh_fields()  # the arrows / seeds sit on the slice
        self.stage.refresh()
        self.render()

    # --- picking ------------------------------------------------------------------------------

    def click(self, x: int, y: int) -> tuple[str, int] | None:
        """Show the figures of the rack or CRAH at display pixel (x, y); a miss hides them."""
        picked = self.stage.pick(x, y)
        self.stage.select(picked)
        self.render()
        return picked

    # --- the window ---------------------------------------------------------------------------

    def run(self) -> None:
        """Open the window and serve it until it is closed."""
        p = self.plotter
        iren = p.iren
        keys = {
            "o": lambda: self.set_view("overview"), "t": lambda: self.set_view("top"),
            "bracketleft": lambda: self.next_aisle(-1), "bracketright": lambda: self.next_aisle(+1),
            "k": self.toggle_walk, "Left": lambda: self.step_walk(-1), "Right": lambda: self.step_walk(+1),
            "Prior": lambda: self.move_slice(+SLICE_STEP_M),
            "Next": lambda: self.move_slice(-SLICE_STEP_M), "h": lambda: self.toggle("slice"),
            "x": lambda: self.toggle("section"), "i": lambda: self.toggle("iso"), "l": lambda: self.toggle("flow"),
        }
        for key, fn in keys.items():
            p.add_key_event(key, fn)

        # The event's position comes from the interactor itself: pyvista routes some button events
        # through its interactor style, which has no event position.
        def on_press(*_) -> None:
            self._press = iren.interactor.GetEventPosition()

        def on_release(*_) -> None:
            x, y = iren.interactor.GetEventPosition()
            if self._press is not None and abs(x - self._press[0]) + abs(y - self._press[1]) <= CLICK_PX:
                self.click(x, y)
            self._press = None

        iren.add_observer("LeftButtonPressEvent", on_press)
        iren.add_observer("LeftButtonReleaseEvent", on_release)
        # The walls cut away follow the camera as the user turns it.
        iren.add_observer("InteractionEvent", lambda *_: self.stage.update_walls())

        iren.add_observer("TimerEvent", lambda *_: self.tick())
        iren.initialize()
        iren.create_timer(self.poll_ms, repeating=True)
        p.show(title=f"twin view — {self.hall.name}", auto_close=True)

    def close(self) -> None:
        self.plotter.close()
