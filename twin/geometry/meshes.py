"""Triangle meshes of the hall's objects (trimesh): boxes, or GLB meshes fitted into their boxes."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import trimesh

from twin.model.load import Box

__all__ = ["box_mesh", "load_glb", "object_mesh"]


def box_mesh(box: Box) -> trimesh.Trimesh:
    """An axis-aligned box mesh spanning ``box``."""
    lo, hi = np.asarray(box.lo, float), np.asarray(box.hi, float)
    return trimesh.creation.box(bounds=np.stack([lo, hi]))


@lru_cache(maxsize=32)
def load_glb(path: Path) -> trimesh.Trimesh:
    """All geometry of a GLB file merged into one mesh (cached: racks share a mesh)."""
    loaded = trimesh.load(path, force="scene")
    mesh = loaded.to_geometry() if hasattr(loaded, "to_geometry") else loaded.dump(concatenate=True)
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError(f"{path}: no triangle mesh in file")
    return mesh


def object_mesh(box: Box, mesh_path: Path | None = None) -> trimesh.Trimesh:
    """The mesh of an object: its GLB mesh scaled and moved to fill ``box``, or the box itself."""
    if mesh_path is None:
        return box_mesh(box)
    mesh = load_glb(mesh_path).copy()
    lo, hi = mesh.bounds
    size = np.where(hi - lo > 0, hi - lo, 1.0)
    target_lo, target_hi = np.asarray(box.lo, float), np.asarray(box.hi, float)
    scale = (target_hi - target_lo) / size
    matrix = np.diag([*scale, 1.0])
    matrix[:3, 3] = target_lo - lo * scale
    mesh.apply_transform(matrix)
    return mesh
