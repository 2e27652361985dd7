"""Triangle meshes of the hall's objects (trimesh): boxes, or GLB meshes oriented and fitted into their boxes.

Mesh files are authored with z up and their front (a rack's door and air intake) facing -y, at any size:
:func:`object_mesh` turns a mesh about z so that its front faces the object's ``facing`` direction, then
scales and moves its bounds onto the object's box.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from twin.model.load import Box, HallError

if TYPE_CHECKING:
    import trimesh

__all__ = ["FRONT_AUTHORED", "box_mesh", "facing_rotation", "load_glb", "object_mesh"]

#: The direction a mesh file's front faces as authored (see assets/meshes/make_meshes.py).
FRONT_AUTHORED = "-y"

# Quarter turns about z (counter-clockwise seen from above) that take the authored front (-y) to a
# direction: -y → +x is a quarter turn, -y → +y a half turn, -y → -x three quarters.
_QUARTER_TURNS = {"-y": 0, "+x": 1, "+y": 2, "-x": 3}


def facing_rotation(facing: str | None) -> np.ndarray:
    """4×4 rotation about z that turns a mesh's authored front (-y) to ``facing`` (identity for None).

    The entries are exact integers (0, ±1): a quarter turn built from cos/sin would leave 1e-17 residues
    that move vertices off the box planes.
    """
    if facing is None:
        return np.eye(4)
    try:
        turns = _QUARTER_TURNS[facing]
    except KeyError:
        raise ValueError(f"facing must be one of {', '.join(_QUARTER_TURNS)} or None, got {facing!r}") from None
    quarter = np.array([[0.0, -1.0], [1.0, 0.0]])  # (x, y) → (-y, x)
    matrix = np.eye(4)
    matrix[:2, :2] = np.linalg.matrix_power(quarter, turns)
    return matrix


def box_mesh(box: Box) -> trimesh.Trimesh:
    """An axis-aligned box mesh spanning ``box``."""
    # trimesh (with scipy.spatial, networkx) is imported where a mesh is built, not with this module: its import
    # costs ~0.4 s of CPU, a third of a steady run's start-up, and a hall of plain boxes never needs it
    # (twin.geometry.voxel.box_cells).
    import trimesh

    lo, hi = np.asarray(box.lo, float), np.asarray(box.hi, float)
    return trimesh.creation.box(bounds=np.stack([lo, hi]))


@lru_cache(maxsize=32)
def load_glb(path: Path) -> trimesh.Trimesh:
    """All geometry of a GLB file merged into one mesh (cached: racks share a mesh; callers must copy).

    Raises HallError (one line naming the file) when the file is not a readable GLB with triangles.
    """
    import trimesh  # see box_mesh

    try:
        loaded = trimesh.load(path, force="scene")
        if not isinstance(loaded, trimesh.Scene):  # what force="scene" promises
            raise TypeError(f"loaded as {type(loaded).__name__}, not a scene")
        # Scene.to_geometry merges the scene's meshes; trimesh versions without it: dump(concatenate=True).
        mesh: object = loaded.to_geometry() if hasattr(loaded, "to_geometry") else loaded.dump(concatenate=True)
    except Exception as exc:  # trimesh raises many kinds on a corrupt file; all mean "not a usable GLB"
        raise HallError(f"{path}: not a readable GLB mesh ({type(exc).__name__}: {exc})") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise HallError(f"{path}: no triangle mesh in file")
    return mesh


def object_mesh(box: Box, mesh_path: Path | None = None, *, facing: str | None = None) -> trimesh.Trimesh:
    """The mesh of an object: its GLB mesh turned to ``facing`` and fitted to ``box``, or the box itself.

    Args:
        box: the object's axis-aligned box, m.
        mesh_path: a GLB file (front towards -y, z up), or None for a plain box.
        facing: "+x", "-x", "+y" or "-y": the direction the object's front faces. The mesh is turned
            about z so that its authored front faces this way, then its bounds are scaled and moved onto
            ``box``. None (obstacles) leaves the mesh unturned.
    """
    rotation = facing_rotation(facing)  # validates ``facing`` even for box objects
    if mesh_path is None:
        return box_mesh(box)
    mesh = load_glb(mesh_path).copy()
    # Bounds after the turn: a quarter turn about z maps the bounding box onto a bounding box.
    corners = np.array(np.meshgrid(*mesh.bounds.T, indexing="ij")).reshape(3, -1).T
    turned = corners @ rotation[:3, :3].T
    lo, hi = turned.min(axis=0), turned.max(axis=0)
    size = np.where(hi - lo > 0, hi - lo, 1.0)
    target_lo, target_hi = np.asarray(box.lo, float), np.asarray(box.hi, float)
    scale = (target_hi - target_lo) / size
    fit = np.diag([*scale, 1.0])
    fit[:3, 3] = target_lo - lo * scale
    # One transform (turn, then fit): a proper rotation and positive scales keep the winding outward.
    mesh.apply_transform(fit @ rotation)
    return mesh
