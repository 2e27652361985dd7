"""A scene on a pyvista plotter: one actor per mesh, added once, then only updated.

:class:`Stage` is what the live window and the off-screen renders share. It adds the scene's meshes
as named actors, the HUD and the colour bar; :meth:`Stage.refresh` after :meth:`HallScene.update`
writes texts and visibility. Actors are never re-added: the meshes they draw change in place, which is
what keeps a live window at interactive rates (pyvista's ``examples/02-plot/movie.py`` works the same
way).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyvista as pv
from vtkmodules.vtkRenderingCore import vtkCellPicker, vtkMapper, vtkTextActor

from viewer.cameras import CameraPose
from viewer.hud import hud_text, pick_text, stale_text
from viewer.scene import CRAH_STATE_COLOURS, STATIC_STYLES, HallScene, visible_walls

__all__ = ["KEYS_HELP", "Stage"]

KEYS_HELP = ("o overview · t top · [ and ] aisles · k walk · PgUp/PgDn slice height · h slice · x section · "
             "i isosurface · l airflow · click: figures · q quit")

# Colour-coded equipment keeps most of its colour in shadow: the colour is the message, not the shading.
_EQUIPMENT_LIGHT = {"ambient": 0.45, "diffuse": 0.6, "specular": 0.0}


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
        self._add_actors(keys_help)
        self.refresh()

    # --- building (once) ----------------------------------------------------------------------

    def _add_actors(self, keys_help: bool) -> None:
        p, scene, scale = self.plotter, self.scene, self.scene.scale
        # Surfaces step back a little in depth so that the outlines drawn on them are not lost to
        # z-fighting (a VTK-wide setting; harmless for everything else drawn).
        vtkMapper.SetResolveCoincidentTopologyToPolygonOffset()
        m = scene.meshes
        for name, style in STATIC_STYLES.items():
            if m[name].n_cells:
                self.actors[name] = p.add_mesh(m[name], name=name, pickable=False, reset_camera=False, **style)
        # Racks: coloured by inlet temperature on the ASHRAE scale (NaN: no figure yet, grey).
        if m["racks"].n_cells:
            self.actors["racks"] = p.add_mesh(m["racks"], name="racks", scalars="t_inlet_c", preference="cell",
                                              cmap=scale.lookup_table(), clim=scale.clim_c, show_scalar_bar=False,
                                              reset_camera=False, **_EQUIPMENT_LIGHT)
        if m["crahs"].n_cells:
            self.actors["crahs"] = p.add_mesh(m["crahs"], name="crahs", scalars="rgb", rgb=True, preference="cell",
                                              show_scalar_bar=False, reset_camera=False, **_EQUIPMENT_LIGHT)
        # Slices: solid cells are NaN and drawn transparent, so racks show through the slice.
        for name in ("slice", "vslice"):
            self.actors[name] = p.add_mesh(m[name], name=name, scalars="t_c", preference="cell",
                                           cmap=scale.lookup_table(), clim=scale.clim_c, nan_opacity=0.0,
                                           show_scalar_bar=False, pickable=False, reset_camera=False,
                                           lighting=False)
        iso_colour = scale.rgb((scene.options.iso_c or scale.recommended_c[1]) + 1.0)
        self.actors["iso"] = p.add_mesh(m["iso"], name="iso", color=iso_colour, opacity=0.3, pickable=False,
                                        smooth_shading=True, reset_camera=False)
        self.actors["flow"] = p.add_mesh(m["flow"], name="flow", color="#202020", pickable=False,
                                         reset_camera=False, line_width=1.5)
        self._flow_lut = scale.lookup_table()
        # CRAH labels: 2D text anchored at a world point, drawn over the scene (a 3D billboard would be
        # cut by the translucent isosurface); those behind the camera are hidden in update_walls().
        self.crah_labels: list[vtkTextActor] = []
        for pos in scene.crah_label_positions:
            label = _text_actor("", size=12, colour="#1a1a1a", background="white", background_opacity=0.8)
            label.GetPositionCoordinate().SetCoordinateSystemToWorld()
            label.GetPositionCoordinate().SetValue(*map(float, pos))
            label.GetTextProperty().SetJustificationToCentered()
            label.SetPickable(False)
            p.add_actor(label, name=f"crah_label/{len(self.crah_labels)}", reset_camera=False, pickable=False)
            self.crah_labels.append(label)
        # The colour bar, marked with the ASHRAE band and the class's allowable limit.
        if "racks" in self.actors or "slice" in self.actors:
            mapper = (self.actors.get("racks") or self.actors["slice"]).mapper
            self.scalar_bar = p.add_scalar_bar(title="temperature, °C", mapper=mapper, vertical=True,
                                               position_x=0.90, position_y=0.25, width=0.06, height=0.5,
                                               n_labels=5, fmt="%.0f", title_font_size=13, label_font_size=11,
                                               color="black")
            self.scalar_bar.SetDrawAnnotations(True)
        legend = [[f"CRAH {state}", np.array(rgb) / 255.0] for state, rgb in CRAH_STATE_COLOURS.items()]
        self.legend = p.add_legend(legend, bcolor="white", border=False, loc="lower right", size=(0.16, 0.12),
                                   face="rectangle")
        self.hud = _text_actor("", size=13)
        self.hud.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.hud.SetPosition(0.01, 0.99)
        self.hud.GetTextProperty().SetVerticalJustificationToTop()
        p.add_actor(self.hud, name="hud", reset_camera=False, pickable=False)
        self.banner = _text_actor("", size=28, colour="#c00000", bold=True, background="#fff0f0",
                                  background_opacity=0.9)
        self.banner.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.banner.SetPosition(0.5, 0.97)
        self.banner.GetTextProperty().SetJustificationToCentered()
        self.banner.GetTextProperty().SetVerticalJustificationToTop()
        p.add_actor(self.banner, name="banner", reset_camera=False, pickable=False)
        self.pick_box = _text_actor("", size=13, background="#fffbe6", background_opacity=0.9)
        self.pick_box.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.pick_box.SetPosition(0.01, 0.09 if keys_help else 0.02)
        p.add_actor(self.pick_box, name="pick", reset_camera=False, pickable=False)
        if keys_help:
            help_actor = _text_actor(KEYS_HELP, size=11, colour="#303030", background_opacity=0.6)
            help_actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
            help_actor.SetPosition(0.01, 0.01)
            p.add_actor(help_actor, name="keys", reset_camera=False, pickable=False)
        self.picker = vtkCellPicker()
        self.picker.SetTolerance(0.0005)
        self.picker.PickFromListOn()
        for name in ("racks", "crahs"):
            if name in self.actors:
                self.picker.AddPickList(self.actors[name])

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
        self.actors["iso"].SetVisibility(bool(opts.iso_c is not None and scene.meshes["iso"].n_points))
        # Arrows lie on the horizontal slice and go with it; streamlines stand in the room on their own.
        self.actors["flow"].SetVisibility(bool(opts.flow != "none" and scene.meshes["flow"].n_points
                                               and (opts.flow == "streamlines" or opts.show_slice)))
        self._style_flow()
        self.set_hud(self.status, self.quiet_s)

    def _style_flow(self) -> None:
        """Arrows in one dark colour (over the coloured slice); streamlines in the temperature colours."""
        mapper = self.actors["flow"].GetMapper()
        streamlines = self.scene.options.flow == "streamlines" and "t_c" in self.scene.meshes["flow"].point_data
        if streamlines:
            mapper.SetLookupTable(self._flow_lut)
            mapper.SetScalarModeToUsePointFieldData()
            mapper.SelectColorArray("t_c")
            mapper.SetScalarRange(*self.scene.scale.clim_c)
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

    def set_camera(self, pose: CameraPose) -> None:
        """Move the camera and cut away the walls between it and the room."""
        cam = self.plotter.camera
        cam.position = pose.position
        cam.focal_point = pose.focal_point
        cam.up = pose.view_up
        cam.view_angle = pose.view_angle_deg
        self.plotter.renderer.ResetCameraClippingRange()
        self.update_walls()

    def update_walls(self) -> None:
        """Hide the walls the camera is outside of, and the labels behind it (call after the camera moved)."""
        cam = self.plotter.camera
        position = np.asarray(cam.position, dtype=float)
        for name, show in visible_walls(self.scene.hall, tuple(position)).items():
            if name in self.actors:
                self.actors[name].SetVisibility(bool(show))
        ahead = np.asarray(cam.focal_point, dtype=float) - position
        for label, anchor in zip(self.crah_labels, self.scene.crah_label_positions):
            label.SetVisibility(bool(np.dot(anchor - position, ahead) > 0.0))

    # --- picking ------------------------------------------------------------------------------

    def pick(self, x: int, y: int) -> tuple[str, int] | None:
        """The rack or CRAH under display pixel (x, y) (origin bottom left), or None."""
        if not self.picker.Pick(x, y, 0, self.plotter.renderer):
            return None
        actor, cell = self.picker.GetActor(), self.picker.GetCellId()
        for kind, name, index_name in (("rack", "racks", "rack_index"), ("crah", "crahs", "crah_index")):
            if name in self.actors and actor is self.actors[name] and cell >= 0:
                return kind, int(self.scene.meshes[name].cell_data[index_name][cell])
        return None

    def select(self, picked: tuple[str, int] | None) -> None:
        """Show (or clear) the figures of a picked rack or CRAH."""
        self.picked = picked
        self.set_hud(self.status, self.quiet_s)

    def _pick_text(self, kind: str, index: int) -> str:
        names = self.scene.rack_names if kind == "rack" else self.scene.crah_names
        return pick_text(kind, names[index], self.scene.summary)

    # --- output -------------------------------------------------------------------------------

    def screenshot(self, path=None) -> np.ndarray:
        """Render, then read the frame (render first: an off-screen window has no frame until then)."""
        self.plotter.render()
        return self.plotter.screenshot(path, return_img=True)

