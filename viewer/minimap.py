"""A small plan of the hall in a corner of the window, with the camera on it: where am I, which way am I
looking. Drawn as a 2D overlay (``vtkActor2D`` in normalized viewport coordinates), so it costs two
small draw calls and never moves with the 3D camera.
"""

from __future__ import annotations

import numpy as np
import pyvista as pv
from vtkmodules.vtkRenderingCore import vtkActor2D, vtkCoordinate, vtkPolyDataMapper2D

__all__ = ["Minimap"]

MAP_HEIGHT = 0.2  # of the window's height
MARGIN = 0.01
RACK_GREY = (120, 120, 120)
CRAH_BLUE = (43, 140, 190)
CAMERA_RED = (200, 0, 0)


def _quad(lo, hi) -> list[tuple[float, float]]:
    return [(lo[0], lo[1]), (hi[0], lo[1]), (hi[0], hi[1]), (lo[0], hi[1])]


def _actor(poly: pv.PolyData, opacity: float = 1.0) -> vtkActor2D:
    coord = vtkCoordinate()
    coord.SetCoordinateSystemToNormalizedViewport()
    mapper = vtkPolyDataMapper2D()
    mapper.SetInputData(poly)
    mapper.SetTransformCoordinate(coord)
    mapper.SetScalarModeToUseCellData()
    mapper.SetColorModeToDirectScalars()
    actor = vtkActor2D()
    actor.SetMapper(mapper)
    actor.GetProperty().SetOpacity(opacity)
    actor.SetPickable(False)
    return actor


class Minimap:
    """The plan (room, racks, CRAHs) top right, and the camera as a red wedge; hidden until
    :meth:`show_camera` puts the camera inside the room (from outside the whole hall is in view)."""

    def __init__(self, scene, plotter: pv.Plotter, *, aspect: float) -> None:
        hall = scene.hall
        sx, sy, _ = hall.spec.hall.size_m
        self.ceiling_m = float(hall.spec.hall.size_m[2])
        h = MAP_HEIGHT
        w = h * (sx / sy) / aspect
        if w > 0.3:  # a long hall: limit the width, shrink the height
            h, w = h * 0.3 / w, 0.3
        self.origin = np.array([1.0 - MARGIN - w, 1.0 - MARGIN - h])
        self.scale = np.array([w / sx, h / sy])
        self.size_m = (sx, sy)
        pad = 0.02 * max(sx, sy)  # a dark frame round the room: the map stands out from a white ceiling
        quads, colours = [_quad((-pad, -pad), (sx + pad, sy + pad)), _quad((0, 0), (sx, sy))], \
            [(60, 60, 60), (235, 235, 230)]
        for r in hall.racks:
            quads.append(_quad(r.box.lo, r.box.hi))
            colours.append(RACK_GREY)
        for c in hall.crahs:
            quads.append(_quad(c.box.lo, c.box.hi))
            colours.append(CRAH_BLUE)
        pts = np.array([self._to_map(p) for q in quads for p in q])
        faces = np.column_stack([np.full(len(quads), 4), np.arange(len(quads) * 4).reshape(-1, 4)]).ravel()
        plan = pv.PolyData(np.column_stack([pts, np.zeros(len(pts))]), faces)
        plan.cell_data["rgb"] = np.array(colours, np.uint8)
        self.plan = _actor(plan, opacity=0.9)
        self.camera = pv.PolyData(np.zeros((3, 3)), np.array([3, 0, 1, 2]))
        self.camera.cell_data["rgb"] = np.array([CAMERA_RED], np.uint8)
        self.camera_actor = _actor(self.camera)
        self.route = pv.PolyData()
        self.route_actor = _actor(self.route)
        self.route_actor.GetProperty().SetLineWidth(1.5)
        plotter.add_actor(self.plan, name="minimap", reset_camera=False, pickable=False)
        plotter.add_actor(self.route_actor, name="minimap/route", reset_camera=False, pickable=False)
        plotter.add_actor(self.camera_actor, name="minimap/camera", reset_camera=False, pickable=False)
        self.set_visible(False)

    def _to_map(self, xy) -> np.ndarray:
        return self.origin + np.asarray(xy[:2], float) * self.scale

    def set_visible(self, on: bool) -> None:
        self.plan.SetVisibility(on)
        self.camera_actor.SetVisibility(on)
        self.route_actor.SetVisibility(on and self.route.n_points > 0)

    def show_route(self, path_xy: np.ndarray | None) -> None:
        """Draw the guided walk's path on the map (None or empty: no path)."""
        if path_xy is None or len(path_xy) < 2:
            self.route.copy_from(pv.PolyData(), deep=True)
            return
        pts = np.array([[*self._to_map(p), 0.0] for p in path_xy])
        line = pv.PolyData(pts, lines=np.concatenate([[len(pts)], np.arange(len(pts))]))
        line.cell_data["rgb"] = np.array([(230, 120, 0)], np.uint8)
        self.route.copy_from(line, deep=True)

    @property
    def visible(self) -> bool:
        return bool(self.plan.GetVisibility())

    def show_camera(self, position, focal_point) -> None:
        """Put the wedge at the camera, pointing where it looks; shown only when the camera is in the room."""
        x, y, z = (float(v) for v in position)
        inside = 0 <= x <= self.size_m[0] and 0 <= y <= self.size_m[1] and z < self.ceiling_m
        self.set_visible(inside)
        if not inside:
            return
        d = np.asarray(focal_point[:2], float) - (x, y)
        n = float(np.linalg.norm(d))
        d = d / n if n > 1e-9 else np.array([1.0, 0.0])
        side = np.array([-d[1], d[0]])
        size = 0.045 * max(self.size_m)  # the wedge: about 4.5 % of the hall's longer side
        tip, left, right = (x, y) + d * size, (x, y) - d * 0.4 * size + side * 0.5 * size, \
            (x, y) - d * 0.4 * size - side * 0.5 * size
        self.camera.points = np.array([[*self._to_map(p), 0.0] for p in (tip, left, right)])
        self.camera.Modified()
