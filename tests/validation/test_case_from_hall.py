"""The OpenFOAM case generator (validation/openfoam/case_from_hall.py): checks that need no OpenFOAM."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "validation" / "openfoam"))
from case_from_hall import build_case, nominal_state, patch_values, update_time_dir, write_case  # noqa: E402

HALLS = ROOT / "validation" / "halls"


@pytest.fixture(scope="module", params=["open-row", "open-row-fine", "aisle-pair", "contained", "aisle-pair+porous",
                                        "contained+porous", "aisle-pair+baffle", "contained+baffle"])
def case(request):
    hall, _, tiles = request.param.partition("+")
    return build_case(HALLS / f"{hall}.toml", plenum=bool(tiles), tile_model=tiles or "porous")


@pytest.fixture(scope="module", params=["aisle-pair+porous", "contained+porous", "aisle-pair+baffle",
                                        "contained+baffle"])
def plenum_case(request):
    hall, _, tiles = request.param.partition("+")
    return build_case(HALLS / f"{hall}.toml", plenum=True, tile_model=tiles)


def _face_vectors(case) -> np.ndarray:
    p = case.points[case.faces]
    return 0.5 * np.cross(p[:, 2] - p[:, 0], p[:, 3] - p[:, 1])


def test_every_cell_is_closed(case):
    """Each cell's outward face-area vectors sum to zero (a watertight hexahedron)."""
    sf = _face_vectors(case)
    total = np.zeros((case.n_cells, 3))
    np.add.at(total, case.owner, sf)
    np.add.at(total, case.neighbour, -sf[: len(case.neighbour)])
    assert np.abs(total).max() < 1e-9
    counts = np.bincount(case.owner, minlength=case.n_cells) + np.bincount(case.neighbour, minlength=case.n_cells)
    assert (counts == 6).all()


def test_cells_are_the_twins_fluid_cells_above_the_floor(case):
    """The CFD's cells are the twin's fluid cells of the room (and of the plenum with --plenum)."""
    vox = case.vox
    if case.plenum:
        assert case.n_cells == int((~vox.solid).sum())
        assert np.array_equal(case.cell_id >= 0, ~vox.solid)
        return
    room = ~vox.solid[:, :, vox.plenum_layers:]
    assert case.n_cells == int(room.sum())
    assert np.array_equal(case.cell_id[:, :, vox.plenum_layers:] >= 0, room)


def test_internal_faces_are_upper_triangular(case):
    """OpenFOAM's ordering: owner < neighbour, sorted by owner then neighbour."""
    o, n = case.owner[: len(case.neighbour)], case.neighbour
    assert (o < n).all()
    key = o * (case.n_cells + 1) + n
    assert (np.diff(key) > 0).all()


def test_mover_patches_match_the_twins_mover_cells(case):
    """A rack's intake patch borders exactly the cells the twin's rack draws from."""
    for rack, mover in zip(case.hall.racks, case.vox.racks):
        patch = next(m for m in case.movers.values() if m.owner == rack.name and m.kind == "rack_in")
        assert sorted(patch.grid_cells.tolist()) == sorted(mover.intake.tolist())
        out = next(m for m in case.movers.values() if m.owner == rack.name and m.kind == "rack_out")
        assert sorted(out.grid_cells.tolist()) == sorted(mover.outlet.tolist())


def test_crah_patches_match_the_twins_crah_cells(case):
    """A CRAH's return and supply patches border its intake and outlet cells (supply into the plenum
    with --plenum; without it a floor-supplying CRAH has no supply patch, the tiles carry its air)."""
    for crah, mover in zip(case.hall.crahs, case.vox.crahs):
        ret = next(m for m in case.movers.values() if m.owner == crah.name and m.kind == "crah_ret")
        assert sorted(ret.grid_cells.tolist()) == sorted(mover.intake.tolist())
        sup = [m for m in case.movers.values() if m.owner == crah.name and m.kind == "crah_sup"]
        if crah.supply_to == "floor" and case.nz_plenum and not case.plenum:
            assert not sup
            continue
        assert sorted(sup[0].grid_cells.tolist()) == sorted(mover.outlet.tolist())
        if case.plenum and crah.supply_to == "floor":
            assert (np.unravel_index(sup[0].grid_cells, case.vox.grid.shape)[2] < case.nz_plenum).all()
            assert sup[0].normal_out == pytest.approx([0.0, 0.0, 1.0])  # air enters downwards


def test_mass_balance_and_rack_flows(case):
    """Flows through all mover patches cancel, and each rack moves its servers' airflow at supply intake."""
    state = nominal_state(case)
    vals = patch_values(case, state)
    net = sum(float(vals[n]["U"] @ m.normal_out) * m.area_m2 for n, m in case.movers.items())
    assert abs(net) < 1e-12
    for r in case.hall.racks:
        q_in = next(vals[n]["U"] @ m.normal_out * m.area_m2 for n, m in case.movers.items()
                    if m.owner == r.name and m.kind == "rack_in")
        assert q_in == pytest.approx(r.airflow_m3s_per_w * r.it_w)
        rise = state.rack_exhaust_c[r.name] - 18.0
        assert rise == pytest.approx(r.it_w / (case.rho * case.cp * q_in))


def test_containment_leaks_follow_the_leakage():
    """The open share of a contained aisle's panel faces is its leakage fraction."""
    case = build_case(HALLS / "contained.toml")
    leak = case.hall.spec.containment[0].leakage
    share = case.leak_faces / (case.leak_faces + case.panel_faces)
    assert share == pytest.approx(leak, abs=0.01)


def test_writes_a_case(tmp_path):
    """The case folder has a mesh, initial fields and dictionaries."""
    case = build_case(HALLS / "open-row.toml")
    state = write_case(case, tmp_path)
    for rel in ("constant/polyMesh/faces", "constant/polyMesh/boundary", "0/U", "0/T", "system/controlDict",
                "constant/transportProperties", "constant/g"):
        assert (tmp_path / rel).is_file()
    t_text = (tmp_path / "0" / "T").read_text()
    block = t_text[t_text.index("A03_out"):]
    value_k = float(block[block.index("uniform") + 7:block.index(";", block.index("uniform"))])
    assert value_k == pytest.approx(state.rack_exhaust_c["A03"] + 273.15)


def test_tile_faces_are_the_twins_tile_faces(plenum_case):
    """--plenum: the tile faces are exactly the floor faces the twin leaves partly open (its tiles), one
    plenum cell below and one room cell above each; "porous": internal faces (plenum cell the owner,
    normal up); "baffle": a cyclic pair of coincident faces of opposite normal."""
    case, vox = plenum_case, plenum_case.vox
    nzp = vox.plenum_layers
    floor = vox.open_faces[2][:, :, nzp]
    ii, jj = np.nonzero(floor > 0)
    want = set(zip(np.ravel_multi_index((ii, jj, np.full(ii.size, nzp - 1)), vox.grid.shape).tolist(),
                   np.ravel_multi_index((ii, jj, np.full(ii.size, nzp)), vox.grid.shape).tolist()))
    tf = case.tile_faces
    assert set(zip(tf.plenum_grid.tolist(), tf.room_grid.tolist())) == want
    assert np.array_equal(case.cell_id.ravel()[tf.room_grid], tf.room_cells)
    assert np.array_equal(case.cell_id.ravel()[tf.plenum_grid], tf.plenum_cells)
    sigma = np.array([t.open_fraction for t in case.hall.spec.tiles])
    assert tf.open_fraction == pytest.approx(sigma[0])
    assert tf.zeta == pytest.approx((1.0 / sigma[0] - 1.0) ** 2)  # 9 for 25 % tiles
    sf = _face_vectors(case)
    if tf.model == "porous":
        assert not [n for n, t, _, _ in case.patches if t == "cyclic"]
        f = tf.internal_faces
        assert np.array_equal(case.owner[f], tf.plenum_cells) and np.array_equal(case.neighbour[f], tf.room_cells)
        assert np.allclose(sf[f], [0, 0, vox.grid.cell_m**2])
        assert np.allclose(case.points[case.faces[f]].mean(1)[:, 2], 0.0)  # on the floor plane
        assert tf.forchheimer_f * vox.grid.cell_m == pytest.approx(tf.zeta)
        return
    (n_room, s_room), (n_plen, s_plen) = [(nf, st) for n, t, st, nf in case.patches if t == "cyclic"]
    assert n_room == n_plen == len(want)
    a, b = case.faces[s_room:s_room + n_room], case.faces[s_plen:s_plen + n_plen]
    assert np.array_equal(a[:, 0], b[:, 0])  # a coupled face starts at its twin's first vertex
    assert np.allclose(case.points[a].mean(1), case.points[b].mean(1))
    assert np.allclose(case.points[a].mean(1)[:, 2], 0.0)  # on the floor plane
    assert np.allclose(sf[s_room:s_room + n_room], [0, 0, -vox.grid.cell_m**2])
    assert np.allclose(sf[s_plen:s_plen + n_plen], [0, 0, vox.grid.cell_m**2])
    assert np.array_equal(case.owner[s_room:s_room + n_room], tf.room_cells)
    assert np.array_equal(case.owner[s_plen:s_plen + n_plen], tf.plenum_cells)


def test_closed_floor_faces_are_walls(plenum_case):
    """--plenum: every other floor face between a plenum and a room cell is a wall on both sides; only
    tile faces ("porous") or none ("baffle") are internal faces across the floor; the containment counts
    see no floor faces."""
    case, vox = plenum_case, plenum_case.vox
    nzp = vox.plenum_layers
    fluid = ~vox.solid
    both = fluid[:, :, nzp - 1] & fluid[:, :, nzp]
    closed = both & (vox.open_faces[2][:, :, nzp] <= 0)
    z_cell = np.unravel_index(np.nonzero(case.cell_id.ravel() >= 0)[0], vox.grid.shape)[2]
    zo, zn = z_cell[case.owner[: len(case.neighbour)]], z_cell[case.neighbour]
    crossing = np.nonzero((zo == nzp - 1) & (zn == nzp))[0]
    tf = case.tile_faces
    assert np.array_equal(crossing, np.sort(tf.internal_faces) if tf.model == "porous" else [])
    start, n = next((st, nf) for name, _, st, nf in case.patches if name == "walls")
    fc = case.points[case.faces[start:start + n]].mean(1)
    on_floor = np.abs(fc[:, 2]) < 1e-9
    # plus, once, the plenum side of floor faces under solids (racks' bottoms), except CRAH supplies
    under_solid = fluid[:, :, nzp - 1] & vox.solid[:, :, nzp]
    supplies = sum(m.cells.size for m in case.movers.values() if m.kind == "crah_sup")
    assert int(on_floor.sum()) == 2 * int(closed.sum()) + int(under_solid.sum()) - supplies
    if not case.hall.spec.containment:
        assert case.panel_faces == case.leak_faces == 0


def test_plenum_case_is_written_with_a_porous_tile_layer(tmp_path):
    """--plenum (porous tiles): the cellZone holds the room cells above the tiles, fvOptions gives them
    f_z = ζ/h vertically and 100 f_z sideways, and no patch is left for the tiles."""
    case = build_case(HALLS / "aisle-pair.toml", plenum=True)
    write_case(case, tmp_path)
    zones = (tmp_path / "constant" / "polyMesh" / "cellZones").read_text()
    body = zones[zones.index("List<label>"):]
    ids = np.array(body[body.index("(") + 1:body.index(")")].split(), dtype=int)
    assert sorted(ids.tolist()) == sorted(case.tile_faces.room_cells.tolist())
    fv = (tmp_path / "constant" / "fvOptions").read_text()
    assert "explicitPorositySource" in fv and "cellZone        tiles;" in fv
    assert "f   (6000 6000 60);" in fv  # ζ = 9, h = 0.15 m
    assert "tiles" not in (tmp_path / "constant" / "polyMesh" / "boundary").read_text()
    assert "cyclic" not in (tmp_path / "0" / "p_rgh").read_text()


def test_plenum_case_is_written_with_porous_baffles(tmp_path):
    """--plenum (baffle tiles): the boundary file declares the cyclic pair, p_rgh carries the tile loss,
    and the other fields are cyclic on it; mass balances with the CRAHs blowing into the plenum."""
    case = build_case(HALLS / "aisle-pair.toml", plenum=True, tile_model="baffle")
    write_case(case, tmp_path)
    boundary = (tmp_path / "constant" / "polyMesh" / "boundary").read_text()
    assert "neighbourPatch tiles_plenum;" in boundary and "neighbourPatch tiles_room;" in boundary
    p_rgh = (tmp_path / "0" / "p_rgh").read_text()
    block = p_rgh[p_rgh.index("tiles_room"):]
    assert "porousBafflePressure" in block[:300] and "I 9;" in block[:300] and "D 0;" in block[:300]
    for name in ("U", "T", "k", "epsilon", "nut", "alphat", "p"):
        text = (tmp_path / "0" / name).read_text()
        for patch in ("tiles_room", "tiles_plenum"):
            assert text[text.index(patch):].split("}")[0].split("type")[1].strip().startswith("cyclic")
    vals = patch_values(case, nominal_state(case))
    into_plenum = sum(-float(vals[n]["U"] @ m.normal_out) * m.area_m2 for n, m in case.movers.items()
                      if m.kind == "crah_sup")
    assert into_plenum == pytest.approx(sum(c.rated_flow_m3s * c.fan_speed for c in case.hall.crahs))
    assert "tiles" not in case.movers


def test_isotropic_tile_layer_option(tmp_path):
    """--tile-lateral-scale 1 (the tile-layer study): the porous layer resists sideways as vertically."""
    case = build_case(HALLS / "aisle-pair.toml", plenum=True, tile_lateral_scale=1.0)
    write_case(case, tmp_path)
    assert "f   (60 60 60);" in (tmp_path / "constant" / "fvOptions").read_text()  # ζ = 9, h = 0.15 m


def _patch_block(text: str, patch: str) -> str:
    i = text.index(f"\n    {patch}\n")
    return text[i:text.index("\n    }", i)]


def _list_values(block: str) -> np.ndarray:
    body = block[block.index("(", block.index("List<")) + 1:block.rindex(")")]
    return np.array(body.replace("(", " ").replace(")", " ").split(), dtype=float)


def test_tile_inlet_per_face_flows_and_turbulence(tmp_path):
    """--tile-flows/--tile-turbulence (no plenum): each tile face gets the flow and k, ε of the CSV row at its
    own centre (read back from the mesh's face centres), the flows scaled to the floor CRAHs' supply so the
    case's mass balance closes; a CSV that misses a tile or a column is refused naming the file."""
    plain = build_case(HALLS / "aisle-pair.toml")
    tiles = plain.movers["tiles"]
    start, n = next((s, nf) for name, _, s, nf in plain.patches if name == "tiles")
    centres = plain.points[plain.faces[start:start + n]].mean(axis=1)
    flows, turb = tmp_path / "tiles.csv", tmp_path / "turb.csv"
    with open(flows, "w") as f, open(turb, "w") as g:
        f.write("x_m,y_m,flow_m3s,flow_spread_m3s\n")
        g.write("x_m,y_m,k_m2s2,epsilon_m2s3\n")
        for x, y, _ in centres[::-1]:  # another order than the patch's
            f.write(f"{x:.3f},{y:.3f},{0.01 + 0.004 * x + 0.001 * y:.6f},0\n")
            g.write(f"{x:.3f},{y:.3f},{0.01 * x:.6g},{0.001 * y:.6g}\n")
    case = build_case(HALLS / "aisle-pair.toml", tile_flows_csv=flows, tile_turbulence_csv=turb)
    write_case(case, tmp_path / "case")
    supply = sum(c.rated_flow_m3s * c.fan_speed for c in case.hall.crahs)
    want = 0.01 + 0.004 * centres[:, 0] + 0.001 * centres[:, 1]
    want *= supply / want.sum()
    u = _list_values(_patch_block((tmp_path / "case" / "0" / "U").read_text(), "tiles")).reshape(-1, 3)
    assert np.allclose(u[:, :2], 0.0)
    assert np.allclose(u[:, 2] * tiles.area_m2 / n, want, rtol=1e-8)
    vals = patch_values(case, nominal_state(case))
    net = sum(float(np.sum(vals[k]["U"] @ m.normal_out) * m.area_m2 / (len(m.cells) if k == "tiles" else 1))
              for k, m in case.movers.items())
    assert abs(net) < 1e-12
    k = _list_values(_patch_block((tmp_path / "case" / "0" / "k").read_text(), "tiles"))
    eps = _list_values(_patch_block((tmp_path / "case" / "0" / "epsilon").read_text(), "tiles"))
    assert np.allclose(k, 0.01 * centres[:, 0], rtol=1e-5) and np.allclose(eps, 0.001 * centres[:, 1], rtol=1e-5)
    short = tmp_path / "short.csv"
    short.write_text("".join(flows.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(ValueError, match="short.csv"):
        build_case(HALLS / "aisle-pair.toml", tile_flows_csv=short)
    with pytest.raises(ValueError, match="tiles.csv: needs the columns"):
        build_case(HALLS / "aisle-pair.toml", tile_turbulence_csv=flows)


def _g_vector(root) -> np.ndarray:
    text = (root / "constant" / "g").read_text()
    value = text[text.index("value"):]
    return np.array(value[value.index("(") + 1:value.index(")")].split(), dtype=float)


def test_gravity_scale_changes_g_and_nothing_else(tmp_path):
    """--gravity-scale S writes g = (0 0 −9.81 S) and leaves every other file of the case as it is at S = 1;
    at S = 0 the value is a plain 0 and no hRef is written, so v1912's gh = g·C − (−|g| hRef) is 0 and
    p_rgh is p: a Boussinesq case whose flow is blind to T (which it still transports)."""
    case = build_case(HALLS / "aisle-pair.toml", plenum=True)
    for s in (1.0, 0.5, 0.0):
        write_case(case, tmp_path / str(s), gravity_scale=s)
        assert np.array_equal(_g_vector(tmp_path / str(s)), [0.0, 0.0, -9.81 * s])
    assert "(0 0 0);" in (tmp_path / "0.0" / "constant" / "g").read_text()
    assert not (tmp_path / "0.0" / "constant" / "hRef").exists()
    std, g0 = tmp_path / "1.0", tmp_path / "0.0"
    files = sorted(p.relative_to(std) for p in std.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(g0) for p in g0.rglob("*") if p.is_file())
    differ = [str(f) for f in files if (std / f).read_bytes() != (g0 / f).read_bytes()]
    assert differ == ["case.json", "constant/g"]
    assert "fixedFluxPressure" in (g0 / "0" / "p_rgh").read_text()


@pytest.mark.parametrize("scale", [-1.0, float("nan"), float("inf")])
def test_gravity_scale_must_be_finite_and_not_negative(tmp_path, scale):
    """A negative or non-finite gravity scale is refused before anything is written."""
    case = build_case(HALLS / "open-row.toml")
    with pytest.raises(ValueError, match=">= 0"):
        write_case(case, tmp_path / "case", gravity_scale=scale)
    assert not (tmp_path / "case").exists()


def test_run_cfd_refuses_a_negative_gravity_scale_in_one_line(tmp_path, capsys):
    """run_cfd.py --gravity-scale -1 exits 2 with one line naming the option and what is allowed, before it
    writes a case or starts a solver."""
    from run_cfd import main as run_cfd_main

    with pytest.raises(SystemExit) as exc:
        run_cfd_main([str(HALLS / "aisle-pair.toml"), "--plenum", "--gravity-scale", "-1",
                      "--case", str(tmp_path / "case"), "--results", str(tmp_path / "results")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--gravity-scale" in err[0] and ">= 0" in err[0] and "-1" in err[0]
    assert not (tmp_path / "case").exists() and not (tmp_path / "results").exists()


def test_run_cfd_meta_names_the_gravity():
    """meta.json's buoyancy entry says when a run had no buoyancy or a scaled g."""
    from run_cfd import _buoyancy_text

    assert _buoyancy_text(1.0) == "Boussinesq, beta = 1/T_ref"
    assert _buoyancy_text(0.0).startswith("none: g = 0")
    assert "4.905 m/s^2" in _buoyancy_text(0.5)


def _patch_block(text: str, name: str) -> str:
    start = text.index(f"    {name}\n    {{\n")
    return text[start:text.index("    }\n", start)]


@pytest.mark.parametrize("hall,plenum", [("aisle-pair", True), ("open-row", False)])
def test_normal_slip_outflows_keep_the_flow_and_free_the_tangential_velocity(tmp_path, hall, plenum):
    """--outflow-bc normal-slip: the case starts (0/) with fixed-value outflows like the references, and from
    the first Picard update on every rack intake and CRAH return is fixedNormalSlip with the same normal
    velocity q/A (so the same flow leaves); every inflow patch and every other file stays as it was, and
    case.json names the choice."""
    roots, cases = {}, {}
    for bc in ("fixed-value", "normal-slip"):
        cases[bc] = build_case(HALLS / f"{hall}.toml", plenum=plenum, outflow_bc=bc)
        write_case(cases[bc], tmp_path / bc)
        roots[bc] = tmp_path / bc
    a, b = roots["fixed-value"], roots["normal-slip"]
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert [str(f) for f in files if (a / f).read_bytes() != (b / f).read_bytes()] == ["case.json"]
    assert json.loads((b / "case.json").read_text())["outflow_bc"] == "normal-slip"
    case = cases["normal-slip"]
    state = nominal_state(case)
    for bc in roots:
        update_time_dir(cases[bc], roots[bc] / "0", state)  # as run_cfd does after each block
    vals = patch_values(case, state)
    outflows = [n for n, v in vals.items() if not v["inflow"]]
    assert any(n.endswith("_in") for n in outflows) and any(n.endswith("_ret") for n in outflows)
    fixed, slip = ((roots[bc] / "0" / "U").read_text() for bc in roots)
    for name, v in vals.items():
        pa, pb = _patch_block(fixed, name), _patch_block(slip, name)
        if v["inflow"]:
            assert pa == pb and "type fixedValue;" in pb
            continue
        assert "type fixedValue;" in pa and "type fixedNormalSlip;" in pb
        value = pa[pa.index("value") + len("value"):].strip().rstrip(";")
        assert f"fixedValue {value};" in pb  # the fixed vector is the normal q/A, as before
        assert np.isclose(np.linalg.norm(v["U"]), v["flow_m3s"] / case.movers[name].area_m2)
        # fixedNormalSlip keeps only n (n · fixedValue): the vector must lie along the face's outward normal
        assert np.allclose(v["U"] / np.linalg.norm(v["U"]), case.movers[name].normal_out)
    for field in ("T", "k", "epsilon"):
        assert (a / "0" / field).read_bytes() == (b / "0" / field).read_bytes()
    # run_cfd's meta.json reads the first block's condition back from 0/U
    from run_cfd import _first_block_outflow

    assert _first_block_outflow(a) == "fixed-value" and _first_block_outflow(b) == "normal-slip"
    write_case(case, tmp_path / "fresh")
    assert _first_block_outflow(tmp_path / "fresh") == "fixed-value"
    assert _first_block_outflow(tmp_path / "nothing") is None


def test_the_committed_references_use_normal_slip_outflows():
    """Every hall's current CFD reference (steady and transient) was made with outflows that let the air leave
    with its own momentum; the fixed-value runs live only under results/fixed-value-outflow/."""
    from validation.compare import RESULTS, hall_names, references

    halls = hall_names(RESULTS)
    assert {"aisle-pair", "contained", "open-row", "open-row-fine"} <= set(halls)
    for hall in halls:
        for kind, folder in references(hall, RESULTS).items():
            meta = json.loads((folder / "meta.json").read_text())
            assert meta.get("outflow_bc") == "normal-slip", (hall, kind)
    assert build_case(HALLS / "open-row.toml").outflow_bc == "normal-slip"  # what a plain run_cfd.py makes


def test_unknown_outflow_bc_is_refused():
    with pytest.raises(ValueError, match="outflow_bc must be one of fixed-value, normal-slip"):
        build_case(HALLS / "open-row.toml", outflow_bc="slip")


def test_run_cfd_without_openfoam_says_so_in_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    """With no OpenFOAM solver on PATH (CI machines, a fresh checkout), run_cfd.py exits 2 with one line naming
    the solver and how to install it, before any case or results folder is written."""
    from run_cfd import main as run_cfd_main

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for extra, solver in (([], "buoyantBoussinesqSimpleFoam"), (["--transient"], "buoyantBoussinesqPimpleFoam")):
        with pytest.raises(SystemExit) as exc:
            run_cfd_main([str(HALLS / "open-row.toml"), *extra, "--case", str(tmp_path / "case"),
                          "--results", str(tmp_path / "results")])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and solver in err[0] and "install.sh" in err[0], err
        assert not (tmp_path / "case").exists() and not (tmp_path / "results").exists()
