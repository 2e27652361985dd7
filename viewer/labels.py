"""Which labels the camera can see: a label floats at a world point and shows only when the line from
the camera to that point passes through no cabinet, unit or column.

Text drawn as a 2D overlay is never hidden by the depth buffer, so the test is geometric: one
ray per label against a cell locator of the solids (VTK's ``vtkCellLocator``), done when the camera moves,
not per frame. A label's own cabinet does not hide it (its anchor sits just above it, and a ray
from low down may graze the cabinet's top edge).
"""

from __future__ import annotations

import numpy as np
import pyvista as pv
from vtkmodules.vtkCommonCore import vtkIdList, vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellLocator

__all__ = ["NO_OWNER", "Occluder"]

NO_OWNER = -1


class Occluder:
    """Solids to test lines of sight against.

    Args:
        solids: (mesh, owner ids per cell) pairs; the owner id names the object a cell belongs to
            (a label anchored over that object ignores it), any int, NO_OWNER for none.
    """

    def __init__(self, solids: list[tuple[pv.PolyData, np.ndarray]]) -> None:
        parts, owners = [], []
        for mesh, owner in solids:
            if mesh.n_cells:
                parts.append(pv.PolyData(mesh.points, mesh.faces))
                owners.append(np.asarray(owner, np.int64))
        self.mesh = pv.merge(parts, merge_points=False) if parts else pv.PolyData()
        self.owner = np.concatenate(owners) if owners else np.zeros(0, np.int64)
        self.tree = None
        if self.mesh.n_cells:
            self.tree = vtkCellLocator()
            self.tree.SetDataSet(self.mesh)
            self.tree.BuildLocator()

    def visible(self, eye_m, anchors_m: np.ndarray, owners: np.ndarray | None = None,
                ahead=None) -> np.ndarray:
        """Whether each anchor is in sight from ``eye_m`` (and in front of the camera when ``ahead``,
        the view direction, is given)."""
        anchors_m = np.asarray(anchors_m, float).reshape(-1, 3)
        eye = np.asarray(eye_m, float)
        owners = np.full(len(anchors_m), NO_OWNER) if owners is None else np.asarray(owners)
        out = np.ones(len(anchors_m), bool)
        if ahead is not None:
            out &= (anchors_m - eye) @ np.asarray(ahead, float) > 0.0
        if self.tree is None:
            return out
        pts, ids = vtkPoints(), vtkIdList()
        for n, (anchor, own) in enumerate(zip(anchors_m, owners)):
            if not out[n]:
                continue
            pts.Reset()
            ids.Reset()
            self.tree.IntersectWithLine(tuple(eye), tuple(anchor), 0.0, pts, ids)
            hits = [ids.GetId(m) for m in range(ids.GetNumberOfIds())]
            out[n] = all(own != NO_OWNER and self.owner[c] == own for c in hits)
        return out
