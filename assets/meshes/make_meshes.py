"""Write the GLB meshes bundled in assets/meshes/ (run: ``.venv/bin/python assets/meshes/make_meshes.py``).

The hall loader fits a mesh into its object's box (scales and moves its bounds onto the box), so only the
shape matters, not the absolute size. Conventions of the meshes written here:

- ``column-round.glb``: a round building column, a 32-sided cylinder of radius 0.5 and height 1 with its
  axis along z, standing on z = 0.
- ``rack-42u.glb``: a 42U rack cabinet, 0.6 m wide (x) × 1.2 m deep (y) × 2.2 m tall (z), with the front
  door panel inset 15 mm from a 40 mm frame; the front (air intake) is the -y face.

Both are single closed, watertight meshes with outward normals, so that point-in-mesh tests and
voxelization give the solid they look like. The output is deterministic: running the script again
rewrites identical files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

__all__ = ["column_round", "rack_42u", "main"]

HERE = Path(__file__).resolve().parent


def column_round(*, sections: int = 32) -> trimesh.Trimesh:
    """A cylinder of radius 0.5 and height 1, axis along z, from z = 0 to z = 1."""
    mesh = trimesh.creation.cylinder(radius=0.5, height=1.0, sections=sections)
    mesh.apply_translation([0.0, 0.0, 0.5])
    return mesh


def rack_42u(
    *,
    width_m: float = 0.6,
    depth_m: float = 1.2,
    height_m: float = 2.2,
    frame_m: float = 0.04,
    inset_m: float = 0.015,
) -> trimesh.Trimesh:
    """A rack body: a box whose front (-y) face carries a door panel recessed by ``inset_m``.

    Built face by face (no boolean engine needed): the outer box without its front face, a front frame
    (the ring between the outer edge and the door), the four walls of the recess and the door itself.
    """
    w, d, h, f, e = width_m, depth_m, height_m, frame_m, inset_m
    v = np.array([
        # outer box corners: 0-3 front (y = 0), 4-7 back (y = d); order: (x0,z0) (x1,z0) (x1,z1) (x0,z1)
        [0, 0, 0], [w, 0, 0], [w, 0, h], [0, 0, h],
        [0, d, 0], [w, d, 0], [w, d, h], [0, d, h],
        # door opening on the front face (8-11) and the recessed door (12-15)
        [f, 0, f], [w - f, 0, f], [w - f, 0, h - f], [f, 0, h - f],
        [f, e, f], [w - f, e, f], [w - f, e, h - f], [f, e, h - f],
    ], dtype=float)

    def quad(a: int, b: int, c: int, dd: int) -> list[list[int]]:
        return [[a, b, c], [a, c, dd]]

    faces = [
        *quad(4, 7, 6, 5),      # back
        *quad(0, 4, 5, 1),      # bottom
        *quad(3, 2, 6, 7),      # top
        *quad(0, 3, 7, 4),      # left (x = 0)
        *quad(1, 5, 6, 2),      # right (x = w)
        # front frame: four trapezoids between the outer edge and the door opening
        *quad(0, 1, 9, 8), *quad(1, 2, 10, 9), *quad(2, 3, 11, 10), *quad(3, 0, 8, 11),
        # walls of the recess, from the opening back to the door
        *quad(8, 9, 13, 12), *quad(9, 10, 14, 13), *quad(10, 11, 15, 14), *quad(11, 8, 12, 15),
        *quad(12, 13, 14, 15),  # the door panel
    ]
    mesh = trimesh.Trimesh(vertices=v, faces=np.array(faces), process=True)
    mesh.fix_normals()  # outward normals whatever the winding above
    return mesh


def _check(name: str, mesh: trimesh.Trimesh) -> None:
    if not (mesh.is_watertight and mesh.is_winding_consistent and mesh.is_volume and mesh.volume > 0):
        raise RuntimeError(f"{name}: mesh is not a closed volume")


def main() -> None:
    """Write the meshes next to this script and print their sizes."""
    for name, mesh in [("column-round.glb", column_round()), ("rack-42u.glb", rack_42u())]:
        _check(name, mesh)
        path = HERE / name
        path.write_bytes(trimesh.exchange.gltf.export_glb(trimesh.Scene(mesh), include_normals=True))
        print(f"{path.name}: {len(mesh.faces)} triangles, volume {mesh.volume:.4f} m³, "
              f"{path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
