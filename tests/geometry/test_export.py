"""GLB export: one named node per object, inside the room, on the solver's planes, loadable by trimesh, +Y up
under a root node that keeps the hall's coordinates in its extras, valid for the Khronos glTF validator."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from twin.geometry.export import HALL_TO_GLTF_ROTATION_XYZW, PANEL_M, export_glb, hall_scene
from twin.geometry.voxel import voxelize_hall
from twin.model import ASSETS_DIR, HallModel, bundled_hall, parse_hall

REPO = ASSETS_DIR.parent
VALIDATOR = REPO / "tools" / "gltf-validator"
#: glTF (+Y up) back to the hall's coordinates (+Z up): +90° about x, the inverse of the root's rotation.
HALL_FROM_GLTF = trimesh.transformations.rotation_matrix(np.pi / 2, [1.0, 0.0, 0.0])


def _gltf_json(path: Path) -> dict:
    """The JSON chunk of a GLB, read by hand (12-byte header, then the chunk's length and type)."""
    data = path.read_bytes()
    length, kind = struct.unpack_from("<I4s", data, 12)
    assert data[:4] == b"glTF" and kind == b"JSON"
    return json.loads(data[20:20 + length])


def _load(path: Path) -> trimesh.Scene:
    scene = trimesh.load(path, force="scene")
    assert isinstance(scene, trimesh.Scene)
    return scene


def _world_meshes(scene: trimesh.Scene, *, hall_coordinates: bool = True) -> dict[str, trimesh.Trimesh]:
    """Node name → its geometry moved by the node's world transform, then (by default) turned back from
    glTF's +Y up into the hall's coordinates (a scene built by hall_scene is in them already)."""
    out = {}
    back = HALL_FROM_GLTF if hall_coordinates and "hall" in scene.graph.nodes else np.eye(4)
    for node in scene.graph.nodes_geometry:
        transform, geometry = scene.graph[node]
        out[node] = scene.geometry[geometry].copy().apply_transform(back @ transform)
    return out


def _expected_nodes(hall: HallModel) -> set[str]:
    return ({f"rack/{r.name}" for r in hall.racks} | {f"crah/{c.name}" for c in hall.crahs}
            | {f"obstacle/{o.name}" for o in hall.obstacles} | {f"tile/{t.name}" for t in hall.spec.tiles}
            | {f"pdu/{p.name}" for p in hall.pdus} | {"floor"} | ({"plenum"} if hall.plenum_depth_m else set()))


@pytest.fixture(scope="module", params=["tiny", "reference"])
def exported(request, tmp_path_factory) -> tuple[HallModel, Path]:
    hall = bundled_hall(request.param)
    path = export_glb(hall, tmp_path_factory.mktemp("glb") / f"{request.param}.glb")
    return hall, path


def test_export_has_a_named_node_per_object(exported):
    """Every rack, CRAH, obstacle and tile area, the floor and the plenum are nodes named by kind/name."""
    hall, path = exported
    nodes = set(_load(path).graph.nodes_geometry)
    expected = _expected_nodes(hall)
    assert expected <= nodes
    containment = nodes - expected
    assert all(n.startswith("containment/") for n in containment)
    assert len(containment) == 5 * len(hall.spec.containment)  # 2 panels, 2 doors and a roof each


def test_export_lies_inside_the_room(exported):
    """Every node's geometry lies within x 0..size, y 0..size, z -plenum..height (1e-6 m)."""
    hall, path = exported
    lo = np.array([0.0, 0.0, -hall.plenum_depth_m])
    hi = np.array(hall.spec.hall.size_m)
    for name, mesh in _world_meshes(_load(path)).items():
        assert np.all(mesh.bounds[0] >= lo - 1e-6) and np.all(mesh.bounds[1] <= hi + 1e-6), name


def test_export_objects_keep_their_boxes_and_volumes(exported):
    """Racks, CRAHs and square columns fill their boxes; rack volumes add up to the boxes' (box racks)."""
    hall, path = exported
    meshes = _world_meshes(_load(path))
    for obj, prefix in [*((r, "rack") for r in hall.racks), *((c, "crah") for c in hall.crahs),
                        *((p, "pdu") for p in hall.pdus), *((o, "obstacle") for o in hall.obstacles)]:
        mesh = meshes[f"{prefix}/{obj.name}"]
        assert mesh.bounds == pytest.approx(np.array([obj.box.lo, obj.box.hi]), abs=1e-5), obj.name
        assert mesh.is_volume, obj.name
    assert all(r.mesh is None for r in hall.racks)
    box_volume = sum(np.prod(np.subtract(r.box.hi, r.box.lo)) for r in hall.racks)
    mesh_volume = sum(meshes[f"rack/{r.name}"].volume for r in hall.racks)
    assert mesh_volume == pytest.approx(box_volume, rel=0.01)


def test_export_colours():
    """Racks are dark and opaque, CRAHs blue, tiles light, containment translucent and blended."""
    scene = hall_scene(bundled_hall("reference"))

    def rgba(node: str) -> np.ndarray:
        return np.asarray(scene.geometry[node].visual.material.baseColorFactor, float)

    rack, crah, tile = rgba("rack/A01"), rgba("crah/CRAH-01"), rgba("tile/cold-aisle-AB")
    assert rack[:3].max() < 80 and rack[3] == 255
    assert crah[2] > crah[0] + 60
    assert tile[:3].min() > 180
    roof = scene.geometry["containment/cold-aisle-EF/roof"].visual.material
    assert np.asarray(roof.baseColorFactor)[3] < 255 and roof.alphaMode == "BLEND"


def test_containment_on_the_solver_planes():
    """Each containment slab is centred on a grid plane whose faces the solver closes to the leakage."""
    hall = bundled_hall("reference")
    vox = voxelize_hall(hall)
    grid = vox.grid
    meshes = _world_meshes(hall_scene(hall))
    normals = {"roof": 2, "door-y": 1, "door+y": 1, "panel-x": 0, "panel+x": 0}
    for c in hall.spec.containment:
        for part, axis in normals.items():
            lo, hi = meshes[f"containment/{c.name}/{part}"].bounds
            assert hi[axis] - lo[axis] == pytest.approx(PANEL_M)
            k = ((lo[axis] + hi[axis]) / 2 - grid.origin_m[axis]) / grid.cell_m
            assert k == pytest.approx(round(k), abs=1e-9), f"{c.name}/{part} is off the grid planes"
            # The faces of that plane within the slab's extent.
            span = [grid.cell_range(a, lo[a], hi[a]) for a in range(3)]
            span[axis] = round(k)
            faces = vox.open_faces[axis][tuple(span)]
            assert faces.size > 0 and np.all(faces <= c.leakage), f"{c.name}/{part}"


def test_export_of_turned_glb_racks(tmp_path):
    """GLB racks are exported turned to their facing: the recessed door is on the facing side of each box."""
    row = {"count": 2, "rack_size_m": [0.6, 1.2, 2.2], "it_kw": 5.0, "mesh": "rack-42u.glb"}
    hall = parse_hall({
        "hall": {"name": "glb racks", "size_m": [6.0, 6.0, 3.0], "cell_m": 0.1},
        "rows": [{"name": "E", "start_m": [1.0, 1.0], "along": "y", "facing": "+x", **row},
                 {"name": "W", "start_m": [4.0, 1.0], "along": "y", "facing": "-x", **row}],
    })
    meshes = _world_meshes(_load(export_glb(hall, tmp_path / "racks.glb")))
    for rack in hall.racks:
        x = meshes[f"rack/{rack.name}"].vertices[:, 0]
        front = rack.box.hi[0] if rack.facing == "+x" else rack.box.lo[0]
        back = rack.box.lo[0] if rack.facing == "+x" else rack.box.hi[0]
        inward = -1 if rack.facing == "+x" else 1
        assert np.any(np.isclose(x, front + inward * 0.015, atol=1e-6)), rack.name
        assert not np.any(np.isclose(x, back - inward * 0.015, atol=1e-6)), rack.name


def test_export_is_deterministic_and_atomic(tmp_path):
    """Exporting twice writes identical bytes, replaces the file and leaves no temporary files behind."""
    hall = bundled_hall("tiny")
    target = tmp_path / "sub" / "tiny.glb"
    first = export_glb(hall, target).read_bytes()
    second = export_glb(hall, target).read_bytes()
    assert first == second and first[:4] == b"glTF"
    assert [p.name for p in target.parent.iterdir()] == ["tiny.glb"]


def test_cli_export(tmp_path):
    """`twin export HALL --glb OUT` exits 0 and writes a GLB that trimesh loads."""
    out = tmp_path / "tiny.glb"
    proc = subprocess.run(
        [sys.executable, "-m", "twin.cli", "export", str(ASSETS_DIR / "halls" / "tiny.toml"), "--glb", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout
    nodes = set(_load(out).graph.nodes_geometry)
    assert {"rack/A01", "rack/A04", "crah/CRAH-01", "floor"} <= nodes


def test_export_is_y_up_under_a_root_node_with_the_halls_coordinates(exported):
    """One root node 'hall' rotates -90° about x: in the file's world the floor lies in x–z and heights are +y;
    its extras give the rotation and the room in hall coordinates; the rack/CRAH/PDU nodes are its children."""
    hall, path = exported
    doc = _gltf_json(path)
    (root_index,) = doc["scenes"][doc.get("scene", 0)]["nodes"]
    root = doc["nodes"][root_index]
    assert root["name"] == "hall"
    assert root["rotation"] == pytest.approx(list(HALL_TO_GLTF_ROTATION_XYZW))
    assert np.linalg.norm(root["rotation"]) == pytest.approx(1.0)
    extras = root["extras"]
    assert extras["hall_up"] == "+z" and extras["gltf_up"] == "+y" and extras["units"] == "m"
    sx, sy, sz = hall.spec.hall.size_m
    assert extras["room_bounds_m"] == [[0.0, 0.0, -hall.plenum_depth_m], [sx, sy, sz]]
    children = {doc["nodes"][i]["name"] for i in root["children"]}
    assert _expected_nodes(hall) <= children
    # In the file's own world (no turning back): racks stand along +y, from the floor to their height.
    world = _world_meshes(_load(path), hall_coordinates=False)
    rack = hall.racks[0]
    lo, hi = world[f"rack/{rack.name}"].bounds
    assert (lo[1], hi[1]) == pytest.approx((rack.box.lo[2], rack.box.hi[2]), abs=1e-5)  # height is y
    assert (lo[2], hi[2]) == pytest.approx((-rack.box.hi[1], -rack.box.lo[1]), abs=1e-5)  # hall y is -z
    assert (lo[0], hi[0]) == pytest.approx((rack.box.lo[0], rack.box.hi[0]), abs=1e-5)


def test_export_includes_the_pdus():
    """Every PDU of the reference hall is a node 'pdu/<name>' filling its box, with its UPS in the extras."""
    hall = bundled_hall("reference")
    assert len(hall.pdus) == 20
    scene = hall_scene(hall)
    meshes = _world_meshes(scene)
    for pdu in hall.pdus:
        mesh = meshes[f"pdu/{pdu.name}"]
        assert mesh.bounds == pytest.approx(np.array([pdu.box.lo, pdu.box.hi]), abs=1e-6)
        assert scene.geometry[f"pdu/{pdu.name}"].metadata == {"kind": "pdu", "name": pdu.name, "ups": pdu.ups}


def _validate(path: Path) -> dict:
    """The Khronos glTF validator's report on ``path`` (npm's gltf-validator, installed by make test)."""
    node = shutil.which("node")
    if node is None or not (VALIDATOR / "node_modules" / "gltf-validator").is_dir():
        pytest.fail("the Khronos glTF validator is not installed: run `make test` (needs nodejs and npm), or "
                    f"`npm ci --prefix {VALIDATOR.relative_to(REPO)}`")
    proc = subprocess.run([node, str(VALIDATOR / "validate.mjs"), str(path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_khronos_validator_finds_no_issue(exported):
    """The Khronos glTF validator reports no error, warning, info or hint, and counts our objects, triangles
    and materials."""
    hall, path = exported
    report = _validate(path)
    assert report["mimeType"] == "model/gltf-binary"
    issues = report["issues"]
    assert (issues["numErrors"], issues["numWarnings"], issues["numInfos"], issues["numHints"]) == (0, 0, 0, 0), \
        issues["messages"][:5]
    info = report["info"]
    assert info["version"] == "2.0" and info["hasDefaultScene"]
    scene = hall_scene(hall)  # what was exported: one draw call per object, every triangle of it
    assert info["drawCallCount"] == len(scene.graph.nodes_geometry)
    assert info["totalTriangleCount"] == sum(len(g.faces) for g in scene.geometry.values())
    assert info["materialCount"] == len({g.visual.material.name for g in scene.geometry.values()})


def test_khronos_validator_catches_a_broken_glb(exported, tmp_path):
    """The same check fails on a GLB whose root rotation is not a unit quaternion (the test can fail)."""
    _, path = exported
    data = path.read_bytes()
    bad = data.replace(b'"rotation":[-0.7071067811865476', b'"rotation":[-0.9071067811865476', 1)
    assert bad != data
    (tmp_path / "bad.glb").write_bytes(bad)
    codes = {m["code"] for m in _validate(tmp_path / "bad.glb")["issues"]["messages"]}
    assert "ROTATION_NON_UNIT" in codes
