"""The live path: a real TwinServer publishes, the viewer updates its actors in place and its HUD."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

from tests.viewer.conftest import TINY, free_port


@pytest.fixture
def server():
    """A TwinServer on tiny.toml in a thread, paced at 30 simulated seconds per wall second."""
    from twin.bus.server import ServeOptions, TwinServer
    from twin.model.load import load_hall
    from twin.sim.twin import HallTwin

    twin = HallTwin(load_hall(TINY), control="embedded")
    state_ep, commands_ep = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    srv = TwinServer(twin, twin.initial_state(), options=ServeOptions(
        state_endpoint=state_ep, commands_endpoint=commands_ep, speed=30.0, summary_hz=10.0, fields_hz=4.0,
        heartbeat_s=0.2))
    srv.bind()
    stop = threading.Event()
    thread = threading.Thread(target=srv.run, kwargs={"stop": stop.is_set}, daemon=True)
    thread.start()
    srv.stop_event, srv.thread = stop, thread
    yield srv
    stop.set()
    thread.join(timeout=10)
    srv.close()


def _tick_until(app, done, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "the viewer did not see the expected state in time"
        app.tick()
        time.sleep(0.02)


def test_two_states_update_the_scene_in_place(server):
    """States from the bus recolour the racks and rewrite the HUD; no actor is added or replaced."""
    from twin.bus.client import TwinClient
    from viewer.app import LiveViewer
    from viewer.scene import CRAH_STATE_COLOURS
    from viewer.sources import connect

    client = connect(server.opt.state_endpoint, server.opt.commands_endpoint, timeout_s=10.0)
    app = LiveViewer(client, off_screen=True, window_size=(400, 300))
    try:
        actors = dict(app.stage.actors)
        renderer_actors = dict(app.plotter.renderer.actors)
        meshes = {name: app.scene.meshes[name] for name in ("racks", "crahs", "slice", "iso")}
        inlet = app.scene.meshes["racks"].cell_data["t_inlet_c"]
        first_inlet, first_time = np.array(inlet), client.summary["clock"]["time_s"]
        first_hud, first_slice = app.stage.hud.GetInput(), np.array(app.scene.meshes["slice"].cell_data["t_c"])
        frames = app.frames

        # The second state: a later summary with other inlets, and later fields.
        _tick_until(app, lambda: client.summary["clock"]["time_s"] > first_time + 20
                    and not np.allclose(inlet, first_inlet)
                    and not np.allclose(app.scene.meshes["slice"].cell_data["t_c"], first_slice, equal_nan=True))
        assert app.stage.actors == actors and all(app.stage.actors[k] is a for k, a in actors.items())
        assert dict(app.plotter.renderer.actors) == renderer_actors  # same names, same objects
        assert all(app.scene.meshes[k] is m for k, m in meshes.items())
        assert app.frames > frames
        names = client.summary["racks"]["name"]
        now = dict(zip(names, client.summary["racks"]["t_inlet_c"]))
        cells = app.scene.meshes["racks"].cell_data["rack_index"]
        assert np.allclose(inlet, [now[app.scene.rack_names[i]] for i in cells])
        hud = app.stage.hud.GetInput()
        assert hud != first_hud and "[LIVE]" in hud and "speed ×30" in hud
        minutes, seconds = divmod(int(round(client.summary["clock"]["time_s"])), 60)
        assert f"t = 00:{minutes:02d}:{seconds:02d}" in hud

        # An engineer trips the CRAH over the bus: the viewer shows it red, with its label.
        with TwinClient(server.opt.state_endpoint, server.opt.commands_endpoint, role="engineer") as eng:
            assert eng.connect(5.0)
            assert eng.inject({"kind": "crah_trip", "target": "CRAH-01"}).ok
        rgb = app.scene.meshes["crahs"].cell_data["rgb"]
        _tick_until(app, lambda: (rgb == CRAH_STATE_COLOURS["tripped"]).all())
        assert app.stage.crah_labels[0].GetInput() == "CRAH-01 TRIPPED"
        assert app.stage.actors["crahs"] is actors["crahs"]
    finally:
        app.close()
        client.close()


@pytest.mark.serial  # times itself against the wall clock: not beside another worker
def test_stale_when_the_bus_goes_quiet(server):
    """When the server stops publishing, the HUD says STALE (after three heartbeats) without blocking."""
    from viewer.app import LiveViewer
    from viewer.sources import connect

    client = connect(server.opt.state_endpoint, server.opt.commands_endpoint, timeout_s=10.0)
    app = LiveViewer(client, off_screen=True, window_size=(320, 240))
    try:
        app.tick()
        assert not app.stage.banner.GetVisibility()
        server.stop_event.set()
        server.thread.join(timeout=10)
        slowest = 0.0

        def stale() -> bool:
            nonlocal slowest
            t0 = time.perf_counter()
            app.tick()
            slowest = max(slowest, time.perf_counter() - t0)
            return client.status == "stale"

        _tick_until(app, stale, timeout_s=5.0)
        assert app.stage.banner.GetVisibility() and app.stage.banner.GetInput().startswith("STALE")
        assert "[STALE]" in app.stage.hud.GetInput()
        assert slowest < 0.5  # ticks never wait for the bus
        assert math.isfinite(app.stage.quiet_s) and app.stage.quiet_s >= 0.6
    finally:
        app.close()
        client.close()


def test_render_from_a_live_twin(server, tmp_path, capsys):
    """`twin render --connect … --out FILE.png` draws what the live twin publishes."""
    from tests.viewer.test_render import _cli

    out = tmp_path / "live.png"
    assert _cli("render", "--connect", server.opt.state_endpoint, "--commands", server.opt.commands_endpoint,
                "--view", "aisle-1", "--size", "320x240", "--out", str(out)) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}" and out.stat().st_size > 1000


def test_another_hall_rebuilds_the_scene_once(tiny_view):
    """A snapshot of a different hall (a server restarted on another file) is the one rebuild."""
    from twin.bus.offline import OfflineView
    from viewer.app import LiveViewer

    app = LiveViewer(tiny_view, off_screen=True, window_size=(320, 240))
    try:
        other = OfflineView({**tiny_view.hall, "sha256": "another hall"}, tiny_view.summary, tiny_view.fields)
        other.poll = lambda timeout_s: {"snapshot", "summary", "fields"}
        n_actors, first = len(app.plotter.renderer.actors), app.stage.actors["racks"]
        app.source = other
        app.tick()
        rebuilt = app.stage.actors["racks"]
        assert rebuilt is not first and len(app.plotter.renderer.actors) == n_actors
        app.tick()  # the same hall again: updated in place
        # The bars once each (inlets, air, speed), not once more per rebuild.
        assert app.stage.actors["racks"] is rebuilt
        assert sorted(app.plotter.scalar_bars.keys()) == ["air speed, m/s", "air °C", "inlet °C A1"]
    finally:
        app.close()


def test_k_walks_and_the_arrows_step_between_stops(tiny_view):
    """In the window, k starts the guided walk (the camera moves with the clock), k again holds it;
    Right jumps to the next stop (an aisle's start, then the hot racks), Left back to the previous."""
    from viewer.app import LiveViewer

    app = LiveViewer(tiny_view, off_screen=True, window_size=(320, 240))
    try:
        app.toggle_walk()
        assert app.walking and app.tour is not None and app.view_name == "walk"
        first = app.plotter.camera.position
        time.sleep(0.3)
        app.tick()
        assert app.tour_frame > 0 and app.plotter.camera.position != first
        app.toggle_walk()
        held = app.tour_frame
        time.sleep(0.1)
        app.tick()
        assert not app.walking and app.tour_frame == held
        stops = [f for f, _ in app.tour.stops]
        app.step_walk(+1)
        nxt = next(f for f in stops if f > held)
        assert app.tour_frame == nxt
        assert np.allclose(app.plotter.camera.position, app.tour.poses[nxt].position)
        app.step_walk(-1)
        assert app.tour_frame == max((f for f in stops if f < nxt), default=0)
        assert app.stage.minimap.visible  # inside the room: the minimap shows where
        # The walk's section is the frame's: along tiny's one-row aisle, the plane along its open side
        # (normal to y); x off and on again puts the section back across the aisle (normal to x).
        frame = int(app.tour_frame)
        assert app.options.vslice_axis == app.tour.sections[frame][2]
        app.toggle("section")
        app.toggle("section")
        vs = app.scene.meshes["vslice"]
        assert app.options.vslice_axis is None and vs.bounds[1] - vs.bounds[0] < 1e-6 < vs.bounds[3] - vs.bounds[2]
        app.set_view("overview")
        assert not app.stage.minimap.visible and not app.walking
    finally:
        app.close()


def test_the_walk_opens_a_containment_door_in_the_window(contained_tiny_view):
    """In the window, stepping the walk (→) to the hot rack inside a contained aisle slides the leaves
    of the door it came in by wide open (each by half the doorway, away from the middle), the far door
    stays shut, and leaving the walk for the overview shuts the door again."""
    from viewer.app import LiveViewer

    app = LiveViewer(contained_tiny_view, off_screen=True, window_size=(320, 240))
    try:
        doors = app.stage.doors
        assert list(doors) == ["cold-aisle-A/door-x", "cold-aisle-A/door+x"]
        mesh = app.scene.meshes["doors"]
        assert app.stage.actors["doors"].GetMapper().GetInput() is mesh  # what is drawn

        def leaf_bounds(leaf: int) -> np.ndarray:
            pts = np.asarray(mesh.points)[np.asarray(mesh.point_data["leaf"]) == leaf]
            return np.array([pts.min(axis=0), pts.max(axis=0)])

        shut = [leaf_bounds(i) for i in range(4)]
        app.step_walk(+1)
        stops = dict(app.tour.stops)  # frame → what
        for _ in stops:
            if stops.get(int(app.tour_frame), "").startswith("rack"):
                break
            app.step_walk(+1)
        frame = int(app.tour_frame)
        assert stops[frame].startswith("rack A")  # the hottest rack, inside the containment
        assert app.tour.doors[frame] == {"cold-aisle-A/door-x": 1.0}
        half = doors["cold-aisle-A/door-x"].width_m / 2  # the door across x = 1: its leaves slide along y
        assert np.allclose(leaf_bounds(0), shut[0] + [0.0, -half, 0.0])
        assert np.allclose(leaf_bounds(1), shut[1] + [0.0, half, 0.0])
        assert all(np.allclose(leaf_bounds(i), shut[i]) for i in (2, 3))  # the far door: shut
        app.render()
        app.set_view("overview")
        assert all(np.allclose(leaf_bounds(i), shut[i]) for i in range(4))
    finally:
        app.close()
