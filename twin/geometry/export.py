"""The hall as a GLB file: one named node per object, in the hall's own coordinates.

Nodes and their names:

- ``rack/<name>``, ``crah/<name>``, ``obstacle/<name>``: the meshes the solver voxelizes (:func:`object_mesh`,
  so a hall's GLB meshes appear turned to the object's facing and fitted to its box);
- ``floor``: the raised-floor deck just below z = 0, or the bare floor at z = 0 when there is no raised floor;
  ``plenum``: the underfloor air space, from the plenum floor to the deck;
- ``tile/<name>``: the perforated tile areas, thin slabs on the floor, as given in the hall file;
- ``containment/<name>/{panel,door}{-x,+x,-y,+y}`` and ``containment/<name>/roof``: thin slabs on the grid
  planes where the solver closes faces (see ``twin.geometry.voxel.containment_planes``).

The room's walls are left out so that the hall can be seen from outside. Coordinates are metres with z up,
as in the hall file and in the bundled meshes (glTF itself says y up: a generic viewer shows the hall tipped
over, its floor standing upright; turn it by -90° about x there). Colours are PBR base colours: racks dark
grey, CRAHs blue, tiles light grey, containment translucent.
"""

from __future__ import annotations

import os
import secrets
from contextlib import suppress
from pathlib import Path

import numpy as np
import trimesh
from trimesh.visual import TextureVisuals
from trimesh.visual.material import PBRMaterial

from twin.geometry.meshes import object_mesh
from twin.geometry.voxel import Grid, containment_planes
from twin.model.load import HallModel
from twin.model.schema import Containment

__all__ = ["export_glb", "hall_scene"]

# Thicknesses of the thin parts, m. Containment slabs are centred on their plane (and clipped to the room).
FLOOR_DECK_M = 0.03
TILE_M = 0.005
PANEL_M = 0.02

# Base colours, RGBA 0–255; alpha < 255 is drawn blended.
_COLOURS = {
    "rack": (45, 45, 50, 255),
    "crah": (70, 120, 200, 255),
    "obstacle": (170, 165, 155, 255),
    "floor": (125, 125, 125, 255),
    "plenum": (90, 90, 100, 60),
    "tile": (215, 215, 215, 255),
    "containment": (170, 210, 240, 90),
}


def export_glb(hall: HallModel, path: str | Path) -> Path:
    """Write the hall's geometry (:func:`hall_scene`) to ``path`` as GLB; return the path.

    The file is replaced atomically: readers see the old file or the new one, never a partial one.
    """
    path = Path(path)
    data = trimesh.exchange.gltf.export_glb(hall_scene(hall))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return path


def hall_scene(hall: HallModel) -> trimesh.Scene:
    """A trimesh scene of the hall: one named node per object (see the module docstring)."""
    info = hall.spec.hall
    sx, sy, sz = info.size_m
    depth = hall.plenum_depth_m
    room = (np.array([0.0, 0.0, -depth]), np.array([sx, sy, sz]))
    materials = {kind: _material(kind, rgba) for kind, rgba in _COLOURS.items()}
    scene = trimesh.Scene()
    scene.metadata = {"hall": hall.name, "units": "m", "up": "+z"}
    used: set[str] = set()

    def add(node: str, kind: str, mesh: trimesh.Trimesh | None, **extras: str) -> None:
        if mesh is None:  # a thin part that lies wholly outside the room
            return
        base, n = node, 1
        while node in used:  # names of tiles and containment are not checked unique by the loader
            n += 1
            node = f"{base}#{n}"
        used.add(node)
        mesh.visual = TextureVisuals(material=materials[kind])
        mesh.metadata = {"kind": kind, **extras}  # written as the glTF mesh's extras
        scene.add_geometry(mesh, node_name=node, geom_name=node)

    for rack in hall.racks:
        add(f"rack/{rack.name}", "rack", object_mesh(rack.box, rack.mesh, facing=rack.facing),
            name=rack.name, facing=rack.facing)
    for crah in hall.crahs:
        add(f"crah/{crah.name}", "crah", object_mesh(crah.box, crah.mesh, facing=crah.facing),
            name=crah.name, facing=crah.facing)
    for obstacle in hall.obstacles:
        add(f"obstacle/{obstacle.name}", "obstacle", object_mesh(obstacle.box, obstacle.mesh), name=obstacle.name)

    if depth > 0:
        deck = min(FLOOR_DECK_M, depth / 2)
        add("floor", "floor", _slab((0.0, 0.0, -deck), (sx, sy, 0.0), room))
        add("plenum", "plenum", _slab((0.0, 0.0, -depth), (sx, sy, -deck), room))
    else:
        add("floor", "floor", _floor_rect(sx, sy))
    for tile in hall.spec.tiles:
        add(f"tile/{tile.name}", "tile",
            _slab((tile.x_m[0], tile.y_m[0], 0.0), (tile.x_m[1], tile.y_m[1], TILE_M), room), name=tile.name)

    grid = Grid.for_hall(hall)
    for c in hall.spec.containment:
        for part, lo, hi in _containment_slabs(grid, c):
            add(f"containment/{c.name}/{part}", "containment", _slab(lo, hi, room), name=c.name, part=part)
    return scene


def _containment_slabs(grid: Grid, c: Containment) -> list[tuple[str, tuple, tuple]]:
    """(part, lo, hi) of a contained aisle's panels, doors and roof: thin slabs on the very face planes
    where the solver closes the faces (``containment_planes``)."""
    t = PANEL_M / 2
    out = []
    for p in containment_planes(grid, c):
        lo = [grid.origin_m[a] + p.lo[a] * grid.cell_m for a in range(3)]
        hi = [grid.origin_m[a] + p.hi[a] * grid.cell_m for a in range(3)]
        at = grid.origin_m[p.axis] + p.index * grid.cell_m
        lo[p.axis], hi[p.axis] = at - t, at + t
        out.append((p.part, tuple(lo), tuple(hi)))
    return out


def _slab(lo: tuple[float, float, float], hi: tuple[float, float, float],
          room: tuple[np.ndarray, np.ndarray]) -> trimesh.Trimesh | None:
    """A box from ``lo`` to ``hi`` clipped to the room; None if nothing of it is left."""
    lo_m = np.maximum(np.asarray(lo, float), room[0])
    hi_m = np.minimum(np.asarray(hi, float), room[1])
    if np.any(hi_m - lo_m <= 1e-9):
        return None
    return trimesh.creation.box(bounds=np.stack([lo_m, hi_m]))


def _floor_rect(sx: float, sy: float) -> trimesh.Trimesh:
    """The bare floor at z = 0 (no raised floor): a rectangle facing up."""
    vertices = np.array([[0.0, 0.0, 0.0], [sx, 0.0, 0.0], [sx, sy, 0.0], [0.0, sy, 0.0]])
    return trimesh.Trimesh(vertices, np.array([[0, 1, 2], [0, 2, 3]]), process=False)


def _material(kind: str, rgba: tuple[int, int, int, int]) -> PBRMaterial:
    # glTF's default metallic factor is 1 (polished metal); these are painted and matte surfaces.
    blended = rgba[3] < 255
    return PBRMaterial(
        name=kind,
        baseColorFactor=np.array(rgba, dtype=np.uint8),
        metallicFactor=0.0,
        roughnessFactor=0.8,
        alphaMode="BLEND" if blended else "OPAQUE",
        doubleSided=blended,
    )
