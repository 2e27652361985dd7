"""A scene on a pyvista plotter: one actor per mesh, added once, then only updated.

:class:`Stage` is what the live window and the off-screen renders share. It adds the scene's meshes
as named actors, the HUD and the colour bar; :meth:`Stage.refresh` after :meth:`HallScene.update`
writes texts and visibility. Actors are never re-added: the meshes they draw change in place, which is
what keeps a live window at interactive rates (pyvista's ``examples/02-plot/movie.py`` works the same
way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyvista as pv
from vtkmodules.vtkRenderingCore import vtkCellPicker, vtkCoordinate, vtkMapper, vtkTextActor

from viewer.cameras import CameraPose
from viewer.doors import hall_doors
from viewer.hud import caption_text, hud_text, pick_text, stale_text
from viewer.labels import NO_OWNER, Occluder
from viewer.minimap import Minimap
from viewer.scene import CRAH_STATE_COLOURS, STATIC_STYLES, HallScene, visible_walls

__all__ = ["KEYS_HELP", "Stage"]

KEYS_HELP = ("o overview · t top · [ and ] aisles · k guided walk, ← → its stops · PgUp/PgDn slice height · "
             "h slice · x section · "
             "i isosurface · l airflow · click: figures · q quit")

# Colour-coded equipment keeps most of its colour in shadow: the colour is the message, not the shading.
_EQUIPMENT_LIGHT = {"ambient": 0.55, "diffuse": 0.55, "specular": 0.0}
SECTION_OPACITY = 0.45  # aisle sections: the racks behind stay visible through the air
CRAH_OWNER = 100_000  # owner ids of CRAH cells for the label occluder (racks own 0 … n_racks − 1)
CABINETS = ("racks", "crahs", "pdus", "obstacles")  # drawn after the faces laid over them
BACKDROP = ("floor", "tiles", "floor_grid", "walls/-x", "walls/+x", "walls/-y", "walls/+y")  # drawn last
TILE_CLIM_M_S = (0.0, 1.5)  # tile face velocity: 0 … 1.5 m/s (≈ 0.54 m³/s through a 600 mm tile)
SPEED_CLIM_M_S = (0.0, 3.0)  # the air's speed in a hall: still air … a CRAH's jet


@dataclass
class _Label:
    actor: vtkTextActor
    anchor: np.ndarray  # world point, m
    owner: int  # the object whose own surface does not hide it
    kind: str  # row, aisle, crah, hot


def _tile_lut() -> pv.LookupTable:
    """Tiles: pale (little air) to deep blue (much): the colour of cool air, one hue."""
    lut = pv.LookupTable()
    ramp = [pv.Color(c).float_rgb for c in ("#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b")]
    n = 64
    xs = np.linspace(0, 1, n)
    idx = np.linspace(0, 1, len(ramp))
    rgb = np.column_stack([np.interp(xs, idx, [c[k] for c in ramp]) for k in range(3)])
    lut.values = np.column_stack([np.round(255 * rgb), np.full(n, 255)]).astype(np.uint8)
    lut.scalar_range = TILE_CLIM_M_S
    return lut


def _speed_lut() -> pv.LookupTable:
    """Air speed: light grey (still) to black (fast), over any coloured slice or section."""
    lut = pv.LookupTable()
    n = 64
    grey = np.linspace(0.8, 0.0, n)
    lut.values = np.column_stack([np.round(255 * np.repeat(grey[:, None], 3, axis=1)),
                                  np.full(n, 255)]).astype(np.uint8)
    lut.scalar_range = SPEED_CLIM_M_S
    return lut


def _text_actor(text: str, *, size: int, colour: str = "black", bold: bool = False,
                background: str | None = "white", background_opacity: float = 0.75) -> vtkTextActor:
    actor = vtkTextActor()
    actor.SetInput(text)
    prop = actor.GetTextProperty()
    prop.SetFontFamilyToArial()
    prop.SetFontSize(size)
    prop.SetColor(pv.Color(colour).float_rgb)
    prop.SetBold(bold)
    if background is not None:
        prop.SetBackgroundColor(pv.Color(background).float_rgb)
        prop.SetBackgroundOpacity(background_opacity)
    prop.SetFrame(False)
    return actor


class Stage:
    """The actors of one scene on one plotter.

    Args:
        scene: the meshes (from :func:`viewer.scene.build_scene`).
        plotter: a pyvista Plotter (on or off screen) made with :func:`viewer.offscreen.make_theme`.
        hall_name: shown in the HUD.
        keys_help: show the key bindings (the live window) at the bottom.
    """

    def __init__(self, scene: HallScene, plotter: pv.Plotter, *, hall_name: str | None = None,
                 keys_help: bool = False) -> None:
        self.scene = scene
        self.plotter = plotter
        self.hall_name = hall_name or scene.hall.name
        self.actors: dict[str, Any] = {}
        self.status = "offline"
        self.quiet_s: float | None = None
        self.picked: tuple[str, int] | None = None
        self.picked_height_m: float | None = None  # where on a rack face the click landed
        self.view_name = "overview"  # named in the caption; callers set it with the camera
        # Text is sized in pixels: scaled with the window so a 1080p video reads like a 960 px window.
        self.font_scale = max(0.6, plotter.window_size[1] / 800)
        self._add_actors(keys_help)
        self._tune_renderer()
        self.refresh()

    # --- building (once) ----------------------------------------------------------------------

    def _add_actors(self, keys_help: bool) -> None:
        p, scene, scale, air = self.plotter, self.scene, self.scene.scale, self.scene.air or self.scene.scale
        fs = self.font_scale
        # Surfaces step back a little in depth so that the outlines drawn on them are not lost to
        # z-fighting (a VTK-wide setting; harmless for everything else drawn).
        vtkMapper.SetResolveCoincidentTopologyToPolygonOffset()
        m = scene.meshes
        for name, style in STATIC_STYLES.items():
            if m[name].n_cells:
                self.actors[name] = p.add_mesh(m[name], name=name, pickable=False, reset_camera=False, **style)
        # The doors of contained aisles (in ``doors``, drawn with the static meshes): their leaves' shut
        # places, which set_doors moves them from.
        self.doors = {d.key: d for d in hall_doors(scene.hall)}
        self.door_openings: dict[str, float] = {}
        self._door_points = np.array(m["doors"].points, float) if m["doors"].n_points else np.zeros((0, 3))
        rack_lut, air_lut = scale.lookup_table(), air.lookup_table()
        # Racks: coloured by their mean inlet temperature on the ASHRAE scale (NaN: no figure yet, grey).
        if m["racks"].n_cells:
            self.actors["racks"] = p.add_mesh(m["racks"], name="racks", scalars="t_inlet_c", preference="cell",
                                              cmap=rack_lut, clim=scale.clim_c, show_scalar_bar=False,
                                              reset_camera=False, **_EQUIPMENT_LIGHT)
        # Their intake faces carry the air in front of them, banded by height, on the same (ASHRAE) scale:
        # what the servers breathe. Their exhaust faces carry what they blow out, on the air's scale.
        for name, lut, sc in (("rack_fronts", rack_lut, scale), ("rack_backs", air_lut, air)):
            self.actors[name] = p.add_mesh(m[name], name=name, scalars="t_c", preference="cell", cmap=lut,
                                           clim=sc.clim_c, show_scalar_bar=False, reset_camera=False,
                                           **_EQUIPMENT_LIGHT)
        if m["crahs"].n_cells:
            self.actors["crahs"] = p.add_mesh(m["crahs"], name="crahs", scalars="rgb", rgb=True, preference="cell",
                                              show_scalar_bar=False, reset_camera=False, **_EQUIPMENT_LIGHT)
        # Their return and supply faces carry those air temperatures, on the air's scale.
        self.actors["crah_faces"] = p.add_mesh(m["crah_faces"], name="crah_faces", scalars="t_c", preference="cell",
                                               cmap=air_lut, clim=air.clim_c, show_scalar_bar=False,
                                               pickable=False, reset_camera=False, **_EQUIPMENT_LIGHT)
        self.actors["tile_flow"] = p.add_mesh(m["tile_flow"], name="tile_flow", scalars="w_m_s", preference="cell",
                                              cmap=_tile_lut(), clim=TILE_CLIM_M_S, show_scalar_bar=False,
                                              pickable=False, reset_camera=False, lighting=False)
        self.actors["hot_marks"] = p.add_mesh(m["hot_marks"], name="hot_marks", scalars="t_inlet_c",
                                              preference="cell", cmap=rack_lut, clim=scale.clim_c,
                                              show_scalar_bar=False, pickable=False, reset_camera=False,
                                              ambient=0.6, diffuse=0.5)
        # Slices and sections: solid cells are NaN and drawn transparent, so racks show through.
        for name in ("slice", "vslice", "asections"):
            self.actors[name] = p.add_mesh(m[name], name=name, scalars="t_c", preference="cell", cmap=air_lut,
                                           clim=air.clim_c, nan_opacity=0.0, show_scalar_bar=False,
                                           pickable=False, reset_camera=False, lighting=False,
                                           opacity=SECTION_OPACITY if name == "asections" else 1.0)
        iso_colour = air.rgb((scene.options.iso_c or scale.recommended_c[1]) + 1.0)
        self.actors["iso"] = p.add_mesh(m["iso"], name="iso", color=iso_colour, opacity=0.3, pickable=False,
                                        smooth_shading=True, reset_camera=False)
        self.actors["flow"] = p.add_mesh(m["flow"], name="flow", color="#202020", pickable=False,
                                         reset_camera=False, line_width=1.5)
        self._speed_lut = _speed_lut()
        # The flow's colours are the speed LUT from the start: the speed bar below is made from this mapper.
        flow_mapper = self.actors["flow"].GetMapper()
        flow_mapper.SetLookupTable(self._speed_lut)
        flow_mapper.SetScalarRange(*SPEED_CLIM_M_S)
        # Labels: 2D text anchored at world points, drawn over the scene (a 3D billboard would be cut by
        # the translucent isosurface); those out of sight are hidden in update_walls().
        self.labels: list[_Label] = []
        for text, pos in scene.row_labels:
            self._add_label(text, pos, self._owner_at(pos), size=13, bold=True, colour="#1a1a1a",
                            background="#f2f2f2", kind="row")
        for text, pos in scene.aisle_labels:
            self._add_label(text, pos, NO_OWNER, size=12, colour="#1a1a1a", background="#ffffff", kind="aisle")
        self.crah_labels: list[vtkTextActor] = []
        for i, pos in enumerate(scene.crah_label_positions):
            label = self._add_label("", pos, CRAH_OWNER + i, size=12, colour="#1a1a1a", background="white",
                                    kind="crah")
            self.crah_labels.append(label.actor)
        self.hot_labels = [self._add_label("", (0.0, 0.0, 0.0), NO_OWNER, size=14, bold=True, colour="#000000",
                                           background="#fff3c4", kind="hot", rank=n)
                           for n in range(scene.options.hot_racks)]
        self.occluder = Occluder(self._solids())
        # The colour bars: inlets (ASHRAE band and the class's allowable limit marked) and the air.
        self.scalar_bar = p.add_scalar_bar(
            title=f"inlet °C {scale.ashrae_class}" if air is not scale else "temperature, °C",
            mapper=self.actors["rack_fronts"].mapper, vertical=True, position_x=0.925, position_y=0.25,
            width=0.05, height=0.45, n_labels=5, fmt="%.0f", title_font_size=int(13 * fs),
            label_font_size=int(11 * fs), color="black")
        self.scalar_bar.SetDrawAnnotations(True)
        self.air_bar = None
        if air is not scale:
            self.air_bar = p.add_scalar_bar(title="air °C", mapper=self.actors["slice"].mapper, vertical=True,
                                            position_x=0.845, position_y=0.25, width=0.05, height=0.45,
                                            n_labels=5, fmt="%.0f", title_font_size=int(13 * fs),
                                            label_font_size=int(11 * fs), color="black")
        # The speed bar: arrows and streamlines are coloured by the air's speed.
        self.speed_bar = p.add_scalar_bar(title="air speed, m/s", mapper=self.actors["flow"].mapper,
                                          vertical=False, position_x=0.35, position_y=0.075, width=0.3,
                                          height=0.06, n_labels=5, fmt="%.1f", title_font_size=int(12 * fs),
                                          label_font_size=int(11 * fs), color="black")
        legend = [[f"CRAH {state}", np.array(rgb) / 255.0] for state, rgb in CRAH_STATE_COLOURS.items()]
        legend.append(["PDU", np.array(pv.Color(STATIC_STYLES["pdus"]["color"]).float_rgb)])
        if scene.options.hot_racks:
            legend.append([f"cone: {scene.options.hot_racks} hottest inlets", np.array(pv.Color("#b8860b").float_rgb)])
        legend.append(["perforated tile: airflow", np.array(pv.Color("#4292c6").float_rgb)])
        self.legend = p.add_legend(legend, bcolor="white", border=False, loc="lower right",
                                   size=(0.13, 0.021 * len(legend)), face="rectangle")
        self.hud = _text_actor("", size=int(13 * fs))
        self.hud.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.hud.SetPosition(0.01, 0.99)
        self.hud.GetTextProperty().SetVerticalJustificationToTop()
        p.add_actor(self.hud, name="hud", reset_camera=False, pickable=False)
        self.caption = _text_actor("", size=int(12 * fs), colour="#202020", background_opacity=0.8)
        self.caption.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.caption.SetPosition(0.5, 0.005 if not keys_help else 0.04)
        self.caption.GetTextProperty().SetJustificationToCentered()
        p.add_actor(self.caption, name="caption", reset_camera=False, pickable=False)
        self.banner = _text_actor("", size=int(28 * fs), colour="#c00000", bold=True, background="#fff0f0",
                                  background_opacity=0.9)
        self.banner.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.banner.SetPosition(0.5, 0.97)
        self.banner.GetTextProperty().SetJustificationToCentered()
        self.banner.GetTextProperty().SetVerticalJustificationToTop()
        p.add_actor(self.banner, name="banner", reset_camera=False, pickable=False)
        self.pick_box = _text_actor("", size=int(13 * fs), background="#fffbe6", background_opacity=0.9)
        self.pick_box.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.pick_box.SetPosition(0.01, 0.09 if keys_help else 0.02)
        p.add_actor(self.pick_box, name="pick", reset_camera=False, pickable=False)
        if keys_help:
            help_actor = _text_actor(KEYS_HELP, size=11, colour="#303030", background_opacity=0.6)
            help_actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
            help_actor.SetPosition(0.01, 0.01)
            p.add_actor(help_actor, name="keys", reset_camera=False, pickable=False)
        self.minimap = Minimap(scene, p, aspect=self._aspect())
        # The title card of a video: the hall and the time, over its first frame.
        self.title = _text_actor("", size=int(30 * fs), colour="#101010", bold=True, background="white",
                                 background_opacity=0.92)
        self.title.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.title.SetPosition(0.5, 0.55)
        self.title.GetTextProperty().SetJustificationToCentered()
        self.title.GetTextProperty().SetVerticalJustificationToCentered()
        self.title.GetTextProperty().SetLineSpacing(1.3)
        self.title.SetVisibility(False)
        p.add_actor(self.title, name="title", reset_camera=False, pickable=False)
        self.picker = vtkCellPicker()
        self.picker.SetTolerance(0.0005)
        self.picker.PickFromListOn()
        for name in ("racks", "rack_fronts", "rack_backs", "crahs"):
            if name in self.actors:
                self.picker.AddPickList(self.actors[name])

    def _tune_renderer(self) -> None:
        """What a frame costs in a software renderer (Mesa llvmpipe), where nearly all of it is shading
        pixels: 1280 x 960 of them, several layers deep.

        - Two lights instead of pyvista's five-light kit: every lit pixel pays for every light. The
          kit's key light stays (the shape of the cabinets) and the headlight takes the fill and back
          lights' share, so faces turned to the viewer keep their brightness.
        - No order-independent translucency: its extra full-window buffers and compositing pass cost
          more than the translucent layers themselves (the isosurface, containment, the slice's
          transparent solid cells); each is one sheet seen from one side, so plain blending draws the same.
        - Back faces of the cabinets culled, and their hidden faces (a rack's sides against its
          neighbours) already left out of the scene (:func:`viewer.scene.hidden_faces`).
        - Drawn front to back as far as a fixed order can: the faces laid over the cabinets (rack
          fronts and backs, CRAH faces) first, then the cabinets, then the room's big surfaces (floor,
          tiles, walls). A pixel already covered fails the depth test before it is shaded, so a
          cabinet's face under its temperature overlay, or the floor behind a row, costs almost nothing.
        """
        renderer = self.plotter.renderer
        lights = list(renderer.GetLights())
        if len(lights) == 5:  # the light kit: headlight, key, fill, two back lights
            spare = lights[2].GetIntensity()  # the fill light; the back lights only rim the far sides
            lights[0].SetIntensity(lights[0].GetIntensity() + spare)
            for light in lights[2:]:
                renderer.RemoveLight(light)
        renderer.SetUseOIT(False)
        # Cabinets are closed boxes with outward faces (tests/viewer/test_scene.py checks it): their
        # far sides are never seen, so they are not rasterized at all.
        for name in CABINETS[:3]:
            if name in self.actors:
                self.actors[name].GetProperty().BackfaceCullingOn()
        for name in (*CABINETS, *BACKDROP):
            if name in self.actors:
                renderer.RemoveActor(self.actors[name])
                renderer.AddActor(self.actors[name])

    def _aspect(self) -> float:
        w, h = self.plotter.window_size
        return w / h if h else 4 / 3

    def _add_label(self, text: str, pos, owner: int, *, size: int, colour: str, background: str, kind: str,
                   bold: bool = False, rank: int | None = None) -> _Label:
        actor = _text_actor(text, size=int(size * self.font_scale), colour=colour, bold=bold,
                            background=background, background_opacity=0.85)
        if rank is None:
            actor.GetPositionCoordinate().SetCoordinateSystemToWorld()
            actor.GetPositionCoordinate().SetValue(*map(float, pos))
        else:
            # Ranked labels stack upward in pixels from their world anchor: the hottest racks are often
            # neighbours, and their labels must not cover each other at any distance.
            ref = vtkCoordinate()
            ref.SetCoordinateSystemToWorld()
            ref.SetValue(*map(float, pos))
            actor.GetPositionCoordinate().SetCoordinateSystemToDisplay()
            actor.GetPositionCoordinate().SetReferenceCoordinate(ref)
            actor.GetPositionCoordinate().SetValue(0.0, rank * (size + 14) * self.font_scale)
        actor.GetTextProperty().SetJustificationToCentered()
        actor.SetPickable(False)
        self.plotter.add_actor(actor, name=f"label/{len(self.labels)}", reset_camera=False, pickable=False)
        label = _Label(actor, np.asarray(pos, float), owner, kind)
        self.labels.append(label)
        return label

    def _solids(self) -> list:
        """What hides a label: cabinets (owned by their rack or unit), PDUs and columns."""
        m = self.scene.meshes
        out = []
        if m["racks"].n_cells:
            out.append((m["racks"], np.asarray(m["racks"].cell_data["rack_index"])))
        if m["crahs"].n_cells:
            out.append((m["crahs"], CRAH_OWNER + np.asarray(m["crahs"].cell_data["crah_index"])))
        for name in ("pdus", "obstacles"):
            if m[name].n_cells:
                out.append((m[name], np.full(m[name].n_cells, NO_OWNER)))
        return out

    def _owner_at(self, pos) -> int:
        """The rack under a point (a row label's own cabinet), or NO_OWNER."""
        for i, r in enumerate(self.scene.hall.racks):
            if all(r.box.lo[a] - 1e-6 <= pos[a] <= r.box.hi[a] + 1e-6 for a in (0, 1)):
                return i
        return NO_OWNER

    # --- updating (every frame) -----------------------------------------------------------------

    def refresh(self) -> None:
        """Texts, labels and visibilities from the scene's current state and options (no re-adding)."""
        scene, opts = self.scene, self.scene.options
        for label, text in zip(self.crah_labels, scene.crah_labels):
            if label.GetInput() != text:
                label.SetInput(text)
        self.actors["slice"].SetVisibility(bool(opts.show_slice and scene.t_c is not None))
        self.actors["vslice"].SetVisibility(bool(opts.vslice_aisle is not None and scene.t_c is not None
                                                 and scene.aisles))
        self.actors["asections"].SetVisibility(bool(opts.aisle_sections and scene.t_c is not None
                                                    and scene.aisles))
        self.actors["iso"].SetVisibility(bool(opts.iso_c is not None and scene.meshes["iso"].n_points))
        has_fields = scene.t_c is not None
        for name in ("rack_fronts", "rack_backs"):
            self.actors[name].SetVisibility(has_fields)
        self.actors["tile_flow"].SetVisibility(bool(scene.meshes["tile_flow"].n_cells > 1))
        self.actors["hot_marks"].SetVisibility(bool(scene.hot))
        for label, text, pos in zip(self.hot_labels, scene.hot_labels + [""] * len(self.hot_labels),
                                    list(scene.hot_label_positions) + [None] * len(self.hot_labels)):
            label.actor.SetInput(text or " ")
            if pos is not None:
                label.anchor = np.asarray(pos, float)
                label.actor.GetPositionCoordinate().GetReferenceCoordinate().SetValue(*map(float, pos))
            label.owner = scene.hot[self.hot_labels.index(label)][0] if text else NO_OWNER
        # Arrows lie on the horizontal slice and go with it; streamlines stand in the room on their own.
        self.actors["flow"].SetVisibility(bool(opts.flow != "none" and scene.meshes["flow"].n_points
                                               and (opts.flow == "streamlines" or opts.show_slice)))
        self._style_flow()
        self.speed_bar.SetVisibility(bool(self.actors["flow"].GetVisibility()))
        self.caption.SetInput(caption_text(self.view_name, opts, scene.aisles, air_scale=opts.air_scale))
        self.update_walls()
        self.set_hud(self.status, self.quiet_s)

    def _style_flow(self) -> None:
        """Arrows and streamlines coloured by the air's speed (the speed bar says how fast)."""
        mapper = self.actors["flow"].GetMapper()
        if "speed_m_s" in self.scene.meshes["flow"].point_data:
            mapper.SetLookupTable(self._speed_lut)
            mapper.SetScalarModeToUsePointFieldData()
            mapper.SelectColorArray("speed_m_s")
            mapper.SetScalarRange(*SPEED_CLIM_M_S)
            mapper.ScalarVisibilityOn()
        else:
            mapper.ScalarVisibilityOff()

    def set_hud(self, status: str, quiet_s: float | None = None) -> None:
        self.status, self.quiet_s = status, quiet_s
        text = hud_text(self.scene.summary, hall_name=self.hall_name, status=status)
        if self.hud.GetInput() != text:
            self.hud.SetInput(text)
        banner = stale_text(status, quiet_s)
        self.banner.SetInput(banner or " ")
        self.banner.SetVisibility(bool(banner))
        if self.picked is not None:
            self.pick_box.SetInput(self._pick_text(*self.picked))
        self.pick_box.SetVisibility(self.picked is not None)

    def show_title(self, text: str | None) -> None:
        """Show a title card over the picture (None hides it)."""
        self.title.SetInput(text or " ")
        self.title.SetVisibility(bool(text))

    def set_camera(self, pose: CameraPose) -> None:
        """Move the camera and cut away the walls between it and the room."""
        cam = self.plotter.camera
        cam.position = pose.position
        cam.focal_point = pose.focal_point
        cam.up = pose.view_up
        cam.view_angle = pose.view_angle_deg
        self.plotter.renderer.ResetCameraClippingRange()
        self.update_walls()
        self.minimap.show_camera(pose.position, pose.focal_point)

    def set_doors(self, openings: dict[str, float] | None) -> None:
        """Open the doors named in ``openings`` (key → 0 … 1 of the way) and shut all others: their
        leaves' points move in place (a few dozen points; the actor stays)."""
        openings = {k: v for k, v in (openings or {}).items() if k in self.doors and v > 0.0}
        if openings == self.door_openings:
            return
        offsets = np.array([off for door in self.doors.values()
                            for off in door.leaf_offsets(openings.get(door.key, 0.0))], float).reshape(-1, 3)
        mesh = self.scene.meshes["doors"]
        mesh.points = self._door_points + offsets[np.asarray(mesh.point_data["leaf"])]
        self.door_openings = openings

    def show_tour_frame(self, tour, frame: int) -> None:
        """Frame ``frame`` of a guided walk (:class:`viewer.tour.Tour`): its section of air, its doors
        and its camera."""
        if self.scene.set_section(tour.sections[frame]):
            self.refresh()
        self.set_doors(tour.doors[frame] if frame < len(tour.doors) else None)
        self.set_camera(tour.poses[frame])

    def update_walls(self) -> None:
        """Hide the walls the camera is outside of, and the labels it cannot see: behind it, or behind a
        cabinet, unit or column (call after the camera moved)."""
        cam = self.plotter.camera
        position = np.asarray(cam.position, dtype=float)
        for name, show in visible_walls(self.scene.hall, tuple(position)).items():
            if name in self.actors:
                self.actors[name].SetVisibility(bool(show))
        ahead = np.asarray(cam.focal_point, dtype=float) - position
        wanted = [lb for lb in self.labels
                  if (lb.kind == "hot" and lb.owner != NO_OWNER) or (lb.kind != "hot" and self.scene.options.labels)]
        for lb in self.labels:
            lb.actor.SetVisibility(False)
        if not wanted:
            return
        seen = self.occluder.visible(position, np.array([lb.anchor for lb in wanted]),
                                     np.array([lb.owner for lb in wanted]), ahead=ahead)
        for lb, show in zip(wanted, seen):
            lb.actor.SetVisibility(bool(show))

    # --- picking ------------------------------------------------------------------------------

    def pick(self, x: int, y: int) -> tuple[str, int] | None:
        """The rack or CRAH under display pixel (x, y) (origin bottom left), or None."""
        if not self.picker.Pick(x, y, 0, self.plotter.renderer):
            return None
        actor, cell = self.picker.GetActor(), self.picker.GetCellId()
        self.picked_height_m = None
        for kind, name, index_name in (("rack", "racks", "rack_index"), ("rack", "rack_fronts", "rack_index"),
                                       ("rack", "rack_backs", "rack_index"), ("crah", "crahs", "crah_index")):
            if name in self.actors and actor is self.actors[name] and cell >= 0:
                index = int(self.scene.meshes[name].cell_data[index_name][cell])
                if index < 0:
                    return None
                if name == "rack_fronts":
                    self.picked_height_m = float(self.picker.GetPickPosition()[2])
                return kind, index
        return None

    def select(self, picked: tuple[str, int] | None) -> None:
        """Show (or clear) the figures of a picked rack or CRAH."""
        self.picked = picked
        self.set_hud(self.status, self.quiet_s)

    def _pick_text(self, kind: str, index: int) -> str:
        names = self.scene.rack_names if kind == "rack" else self.scene.crah_names
        text = pick_text(kind, names[index], self.scene.summary)
        if kind == "rack":
            profile = self.scene.face_profile(index, "front")
            if profile.size and np.isfinite(profile).any():
                # The mean is the rack's inlet (the HUD's figure); the profile says where it is warm.
                text += f"\nin front, bottom → top: {' '.join(f'{t:.1f}' for t in profile)} °C"
        return text

    # --- output -------------------------------------------------------------------------------

    def screenshot(self, path=None) -> np.ndarray:
        """Render, then read the frame (render first: an off-screen window has no frame until then)."""
        self.plotter.render()
        return self.plotter.screenshot(path, return_img=True)

