"""The hall as a GLB file: one named node per object, in the hall's own coordinates.

Nodes and their names:

- ``rack/<name>``, ``crah/<name>``, ``obstacle/<name>``: the meshes the solver voxelizes (:func:`object_mesh`,
  so a hall's GLB meshes appear turned to the object's facing and fitted to its box);
- ``floor``: the raised-floor deck just below z = 0, or the bare floor at z = 0 when there is no raised floor;
  ``plenum``: the underfloor air space, from the plenum floor to the deck;
- ``tile/<name>``: the perforated tile areas, thin slabs on the floor, as given in the hall file;
- ``containment/<name>/{panel,door}{-x,+x,-y,+y}`` and ``containment/<name>/roof``: thin slabs on the grid
  planes where the solver closes faces (see ``twin.geometry.voxel.containment_planes``).

- ``pdu/<name>``: the PDU cabinets of the power chain, as the boxes the solver voxelizes.

The room's walls are left out so that the hall can be seen from outside. :func:`hall_scene` is in the hall's
own coordinates (metres, x along the room, y across, z up, as in the hall file; the viewer draws it so).
The GLB follows glTF 2.0, whose up axis is +Y: :func:`export_glb` puts every node under one root node
``hall`` whose rotation (-90° about x) turns the hall's z up into glTF's y up, so that any viewer shows
the floor on the ground; that node's ``extras`` say so and give the room's bounds in hall coordinates
(glTF (x, y, z) = hall (x, z, -y); apply the inverse rotation to get the hall file's coordinates back).
Colours are PBR base colours: racks dark grey, CRAHs blue, PDUs brown, tiles light grey, containment
translucent.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import struct
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

__all__ = ["HALL_TO_GLTF_ROTATION_XYZW", "export_glb", "gltf_root_extras", "hall_scene"]

#: The root node's rotation, a unit quaternion (x, y, z, w) as glTF writes it: -90° about x, so that the
#: hall's +z (up) becomes glTF's +y (up) and the hall's +y becomes glTF's -z.
HALL_TO_GLTF_ROTATION_XYZW = (-math.sqrt(0.5), 0.0, 0.0, math.sqrt(0.5))

# Thicknesses of the thin parts, m. Containment slabs are centred on their plane (and clipped to the room).
FLOOR_DECK_M = 0.03
TILE_M = 0.005
PANEL_M = 0.02

# Base colours, RGBA 0–255; alpha < 255 is drawn blended.
_COLOURS = {
    "rack": (45, 45, 50, 255),
    "crah": (70, 120, 200, 255),
    "pdu": (140, 120, 83, 255),
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
    data = _under_y_up_root(trimesh.exchange.gltf.export_glb(hall_scene(hall)), gltf_root_extras(hall))
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
    for pdu in hall.pdus:
        add(f"pdu/{pdu.name}", "pdu", object_mesh(pdu.box, pdu.mesh), name=pdu.name, ups=pdu.ups)
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


def gltf_root_extras(hall: HallModel) -> dict:
    """The ``extras`` of the GLB's root node: what the rotation does and the room in hall coordinates."""
    sx, sy, sz = hall.spec.hall.size_m
    return {
        "hall": hall.name,
        "units": "m",
        "hall_axes": "x along the room, y across, z up (the hall file's coordinates)",
        "hall_up": "+z",
        "gltf_up": "+y",
        "rotation_xyzw": list(HALL_TO_GLTF_ROTATION_XYZW),
        "gltf_from_hall": "(x, y, z)_gltf = (x, z, -y)_hall",
        "room_bounds_m": [[0.0, 0.0, -hall.plenum_depth_m], [sx, sy, sz]],
    }


def _under_y_up_root(glb: bytes, extras: dict) -> bytes:
    """The GLB ``glb`` with its scene's nodes moved under one root node ``hall`` rotated to glTF's +Y up.

    A GLB is a 12-byte header, a JSON chunk (padded with spaces to 4 bytes) and a binary chunk; only the
    JSON changes here, the binary chunk is carried over byte for byte.
    """
    magic, version, _ = struct.unpack_from("<4sII", glb, 0)
    json_len, json_type = struct.unpack_from("<I4s", glb, 12)
    if magic != b"glTF" or version != 2 or json_type != b"JSON":
        raise ValueError("not a glTF 2.0 binary with its JSON chunk first")
    doc = json.loads(glb[20:20 + json_len])
    rest = glb[20 + json_len:]
    scene = doc["scenes"][doc.get("scene", 0)]
    doc.setdefault("nodes", []).append({"name": "hall", "rotation": list(HALL_TO_GLTF_ROTATION_XYZW),
                                        "children": scene.get("nodes", []), "extras": extras})
    scene["nodes"] = [len(doc["nodes"]) - 1]
    scene["extras"] = {**scene.get("extras", {}), "up": "+y"}  # the file's up, after the root's rotation
    _set_buffer_view_targets(doc)
    text = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 4)
    head = struct.pack("<4sII", b"glTF", 2, 12 + 8 + len(text) + len(rest))
    return head + struct.pack("<I4s", len(text), b"JSON") + text + rest


def _set_buffer_view_targets(doc: dict) -> None:
    """Mark the buffer views of vertex attributes and of indices as such (glTF's ``bufferView.target``),
    as the spec recommends so that a loader can upload them to the GPU without guessing; trimesh leaves it out."""
    wanted: dict[int, int] = {}
    accessors = doc.get("accessors", [])
    for mesh in doc.get("meshes", []):
        for prim in mesh.get("primitives", []):
            uses = [(a, 34962) for a in prim.get("attributes", {}).values()]  # ARRAY_BUFFER
            if "indices" in prim:
                uses.append((prim["indices"], 34963))  # ELEMENT_ARRAY_BUFFER
            for accessor, target in uses:
                view = accessors[accessor].get("bufferView")
                if view is not None:
                    wanted[view] = target if wanted.get(view, target) == target else -1
    for view, target in wanted.items():
        if target > 0:  # a view used both ways (never by trimesh) is left without a target
            doc["bufferViews"][view]["target"] = target


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
