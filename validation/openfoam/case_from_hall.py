"""Write an OpenFOAM (v1912, Debian's ``openfoam``) case for a hall file: an independent CFD reference.

Usage: ``python validation/openfoam/case_from_hall.py HALL.toml OUTDIR [--plenum] [--gravity-scale S]``

The hall file is the single source of truth. The geometry comes from the twin's own code
(:func:`twin.model.load_hall`, :func:`twin.geometry.voxel.voxelize_hall`), so the CFD mesh *is* the
twin's grid: the same uniform cubic cells, the same solid cells (racks, CRAH cabinets, obstacles, PDUs)
and the same mover faces. The mesh is written directly as an OpenFOAM ``constant/polyMesh`` (no
blockMesh/topoSet/subsetMesh round trip, so every boundary face gets its patch from the voxels).

Physics: ``buoyantBoussinesqSimpleFoam`` (steady, incompressible, Boussinesq buoyancy with
β = 1/T_ref [K], gravity −z), standard k-ε with wall functions, air ν = 1.5e-5 m²/s, Pr 0.71, Prt 0.85;
ρ and c_p (1.19, 1006 unless the hall says otherwise) convert the servers' heat into temperature rises.
Walls are adiabatic (zero gradient), as in the twin. ``--gravity-scale S`` (a study, default 1) writes
g = (0 0 −9.81 S); S = 0 is the CFD side of the twin's ``[airflow] buoyancy = false`` (:func:`gravity_text`).

Boundary patches and conditions (each a fixed velocity normal to its face, so every mover's flow is
exact and the room's mass balance closes to round-off; pressure ``fixedFluxPressure`` everywhere,
referenced at one cell). Outflows (rack intakes, CRAH returns) fix only that normal velocity and take the
tangential velocity from their cell (``fixedNormalSlip``, :data:`OUTFLOW_BCS`), so the air leaves with its
own momentum; inflows fix the whole vector:

- ``<rack>_in``  (rack front):  outflow at the rack's server airflow q; T zero gradient.
- ``<rack>_out`` (rack back):   inflow of the same q at T = T_intake,mean + P/(ρ c_p q).
- ``<crah>_ret`` (return face): outflow at the CRAH's flow (rated × fan speed).
- ``<crah>_sup`` (supply face, when it supplies into the room, or into the plenum with ``--plenum``):
  inflow at that flow, T = setpoint.
- ``tiles`` (default), or ``tiles_room`` / ``tiles_plenum`` (``--plenum``): see *Raised floor* below.
- ``walls``: room walls, floor, ceiling, the other faces of solids, and closed containment panels.

Inlet turbulence: intensity 10 %, mixing length 0.1 m. Heat P of a rack is its IT load (halls with a
``[power]`` chain also put PSU and feed losses into racks in the twin; keep validation halls without
one, or P differs). CRAH supply temperature is the setpoint (ideal control, as the twin's steady
solve); the coil must be able to reach it.

**Rack exhaust coupling: an external Picard loop** (see ``run_cfd.py``). v1912's
``outletMappedUniformInlet`` copies a patch average but has no offset (v2006 added one), and coded
boundary conditions need a compiler set-up the Debian package does not ship. So the solver runs a block
of SIMPLE iterations with fixed exhaust temperatures and flows, the driver reads the mean intake
temperature of every rack from the cells in front of it (the twin's definition of a rack's intake),
sets q from the servers' airflow law at that temperature and T_exhaust = T_in + P/(ρ c_p q), rewrites
the exhaust (and intake) conditions and continues from the latest fields, until the intakes stop
changing. This also honours the server fan ramp above 27 °C, which a patch-mapping BC would not.

**Raised floor, default: plenum omitted, tiles as velocity inlets.** The perforated-tile faces of the floor are
one inlet patch carrying the summed flow of all CRAHs that supply into the floor, at uniform face
velocity (flow ÷ tile area) and at the flow-weighted supply setpoint. Why: with a 25 % tile the loss
coefficient (Idelchik, ζ ≈ 30) makes the tile pressure drop much larger than pressure differences in a
small plenum, so the flow per tile is near uniform; resolving the plenum and jets through holes would
add cells and convergence trouble without changing what we validate (the room's air paths). The
jet momentum is that of the face-averaged velocity (no hole-jet acceleration). The floor elsewhere is a
wall. The twin keeps its plenum; the comparison is per rack intake, where both agree on the tiles' total.

**Raised floor with ``--plenum``: the plenum meshed, tiles as a thin porous layer.** The mesh is then
the twin's whole grid, plenum cells (below z = 0) included. A CRAH that supplies the floor is a
velocity inlet ``<crah>_sup`` on the faces between its cabinet and the plenum cells below it (the
twin's outlet cells of that CRAH), normal to the floor (straight down, the twin's jet direction too),
at its flow and setpoint. Closed floor faces between plenum and room cells are walls on both sides.

The tiles carry the loss the twin's momentum model puts on a tile face: the Borda–Carnot loss of the
sudden expansion from the open area σ, Δp = ζ ½ρu² with ζ = (1/σ − 1)² (9 for 25 % tiles) on the face
(approach) velocity u (``twin.thermal.momentum.borda_carnot_loss``, called with the open fraction σ).
Two ways to put it into OpenFOAM v1912 are implemented (``tile_model``):

- ``"porous"`` (default): the tile faces are ordinary internal faces, and the one layer of room cells
  above them (height h) is a cellZone ``tiles`` with ``explicitPorositySource`` (Darcy–Forchheimer,
  d = 0): the momentum sink ½ f |U| U with f_z = ζ / h gives Δp/ρ = ζ ½ u_z² over the cell when the air
  in it moves vertically, and f_x = f_y = 100 f_z makes it do so (a tile passes air up, not sideways;
  without that, sideways air in the layer would raise |U| and the loss). The sink is implicit in the
  momentum equation, so SIMPLE sees the tiles' resistance and converges as the uniform-tile case does.
  Approximation: the loss acts on the cell-centre velocity of the layer, not the face flux (they
  differ by ≈ 10 % where the air turns into the tiles), and the jets leave the tiles 0.15 m higher.
- ``"baffle"``: each tile face is a pair of coincident cyclic patches (``tiles_room``,
  ``tiles_plenum``, written into the mesh directly, no ``createBaffles``) with ``porousBafflePressure``
  on p_rgh, D = 0, length = 1 m, I = ζ: exactly the twin's face loss on exactly its faces. It runs, but
  in v1912 the jump is explicit (taken from the previous iteration's flux, no relaxation keyword until
  later versions), and at ζ = 9 the tile flows flip between two states every SIMPLE iteration
  (±40 % per face at the far end of the aisle, p_rgh residual stuck at 8e-2); iterate averages would
  average a limit cycle, not a steady solution. Kept for newer OpenFOAMs and for comparison.

Study options (validation/README.md, "Which part of the plenum CFD's tile model warms the row ends?"),
none of them a default: ``--tile-lateral-scale S`` sets the porous layer's f_x = f_y = S f_z (1: an
isotropic layer); without ``--plenum``, ``--tile-flows tiles.csv`` gives each tile face of the uniform
inlet its own flow (e.g. the plenum run's split) and ``--tile-turbulence CSV`` its own k and ε (e.g. the
plenum run's values above the tiles, ``validation/tile_layer_study.py tile-turbulence``).

Neither mode resolves the jets through the holes (the room sees the face-averaged velocity, as in the
default mode and in the twin). ζ is one value per case (tiles of different σ would need one zone or
baffle pair each).

**Containment panels, doors and roof: walls (baffles) with discrete leaks.** Each panel plane of a
contained aisle (the same planes as :func:`twin.geometry.voxel.containment_planes`) is a zero-thickness
wall on the grid faces between two fluid cells, except for a share of its faces equal to the leakage
fraction, left fully open and spread evenly over the plane. A gap of area σA lets through
Q ≈ C_d σA √(2Δp/ρ), the same law as a panel with distributed open area σ, so the leak's strength
follows from the hall's ``leakage`` without a tuned loss coefficient. Faces where a panel meets a rack
front are the rack's intake patch.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin.geometry.voxel import containment_planes, voxelize_hall
from twin.model import load_hall
from twin.model.load import facing_axis_sign

__all__ = ["CfdCase", "MoverPatch", "add_floor_arguments", "add_gravity_argument", "build_case", "boundary_text",
           "gravity_text", "write_case"]

NU_M2S = 1.5e-5
PR, PRT = 0.71, 0.85
INLET_INTENSITY = 0.10
INLET_MIXING_LENGTH_M = 0.1
C_MU = 0.09
K_FLOOR = 1.0e-6  # turbulence floor of initial fields and very slow inlets
GRAVITY_M_S2 = 9.81  # standard gravity, acting along −z

_HEADER = """/*--------------------------------*- C++ -*----------------------------------*\\
  Written by validation/openfoam/case_from_hall.py from {hall}
\\*---------------------------------------------------------------------------*/
FoamFile
{{
    version     2.0;
    format      ascii;
    class       {cls};
    location    "{loc}";
    object      {obj};
}}
"""


@dataclass
class MoverPatch:
    """A boundary patch that is an air mover's face: which fluid cells it borders and where air goes."""

    name: str
    kind: str  # rack_in, rack_out, crah_ret, crah_sup, tiles
    owner: str  # rack or CRAH name ("" for tiles)
    cells: np.ndarray  # fluid cell ids (OpenFOAM numbering) next to each face, in face order
    grid_cells: np.ndarray  # the same cells as flat indices on the twin's grid (room + plenum)
    normal_out: np.ndarray  # unit vector pointing out of the fluid domain through the faces
    area_m2: float


@dataclass
class TileFaces:
    """The perforated-tile faces of the floor when the plenum is meshed (``--plenum``).

    ``model`` "porous": internal faces, the room cells above them a Darcy–Forchheimer zone;
    "baffle": a cyclic pair of coincident patches (face i of ``tiles_room`` and of ``tiles_plenum`` is
    the same grid face, seen from the room cell above and from the plenum cell below).
    """

    model: str
    room_cells: np.ndarray  # OpenFOAM cell ids of the room cells above the tile faces
    plenum_cells: np.ndarray  # ... and of the plenum cells below, in the same face order
    room_grid: np.ndarray  # the same cells as flat indices on the twin's grid
    plenum_grid: np.ndarray
    open_fraction: np.ndarray  # σ of each tile face
    zeta: float  # Borda–Carnot loss coefficient (1/σ − 1)² on the face velocity (one value per case)
    internal_faces: np.ndarray | None = None  # "porous": index of each tile face among the internal faces
    cell_m: float = 0.0
    lateral_scale: float = 100.0  # "porous": f_x = f_y = lateral_scale · f_z (1: an isotropic layer)

    @property
    def forchheimer_f(self) -> float:
        """"porous": f_z (1/m) of the zone, Δp/ρ = ½ f_z |u| u_z · h = ζ ½ u² over one cell height h."""
        return self.zeta / self.cell_m


@dataclass
class TileInlet:
    """Per-face inflow of the ``tiles`` patch (no ``--plenum``): a study device, not the default.

    The uniform-tile mode with a given tile split (``flow_m3s``, e.g. the plenum run's ``tiles.csv``) and
    optionally given inlet turbulence (``k_m2s2``, ``epsilon_m2s3``, e.g. the plenum run's values at the
    tiles) separates what the plenum run's tile split does from what its porous layer and the plenum's
    turbulence do (validation/README.md, "Which part of the plenum CFD's tile model...").
    """

    flow_m3s: np.ndarray  # per face of the ``tiles`` patch, in patch order, summing to the floor CRAHs' supply
    k_m2s2: np.ndarray | None = None
    epsilon_m2s3: np.ndarray | None = None
    source: str = ""


@dataclass
class CfdCase:
    """A hall turned into an OpenFOAM mesh plus the data the driver needs to set and read its patches."""

    hall_path: Path
    hall: object
    vox: object
    nz_plenum: int
    cell_id: np.ndarray  # (nx, ny, nz) on the twin's grid: OpenFOAM cell id, -1 for solids/plenum
    points: np.ndarray
    faces: np.ndarray  # (nf, 4) point indices
    owner: np.ndarray
    neighbour: np.ndarray
    patches: list[tuple[str, str, int, int]]  # name, type, start face, n faces
    movers: dict[str, MoverPatch] = field(default_factory=dict)
    leak_faces: int = 0
    panel_faces: int = 0
    plenum: bool = False  # True: the plenum's cells are meshed and the tiles are porous baffles
    tile_faces: TileFaces | None = None
    tile_inlet: TileInlet | None = None  # no plenum: per-face tile flows (and turbulence) instead of uniform
    outflow_bc: str = "normal-slip"  # rack intakes and CRAH returns: see OUTFLOW_BCS

    @property
    def n_cells(self) -> int:
        return int((self.cell_id >= 0).sum())

    @property
    def rho(self) -> float:
        return self.hall.spec.air.density_kg_m3

    @property
    def cp(self) -> float:
        return self.hall.spec.air.cp_j_kgk


#: Velocity conditions of the outflow patches (rack intakes, CRAH returns). "fixed-value": the whole vector
#: fixed at q/A along the normal, so the tangential velocity on the face is 0: the air leaving carries no
#: tangential momentum out of the cell in the conservative convection term, and the face shears the cell's
#: tangential flow through the calculated ν_t. "normal-slip" (OpenFOAM's fixedNormalSlip): the normal
#: component fixed at q/A, the tangential one the cell's (zero gradient), so the air leaves with its own
#: momentum and no shear, as it does through the twin's volume sinks. A case's 0/ (its first Picard block, written
#: before any flow exists) always has fixed-value outflows: from still air, a CRAH return as fixedNormalSlip
#: diverged within 20 SIMPLE iterations on open-row, and after one block of fixed values it runs stably.
OUTFLOW_BCS = ("fixed-value", "normal-slip")


def _sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _face_quads(axis: int, plane: np.ndarray, a: np.ndarray, b: np.ndarray, pshape: tuple[int, int, int]) -> np.ndarray:
    """Point indices of the faces on ``plane`` (index along ``axis``) at transverse cells (a, b), normal +axis.

    (a, b) are the cell indices along the two other axes in cyclic order (axis+1, axis+2).
    """
    def pid(i, j, k):
        return np.ravel_multi_index((i, j, k), pshape)

    if axis == 0:  # (j, k): (f,j,k) (f,j+1,k) (f,j+1,k+1) (f,j,k+1) → +x
        j, k = a, b
        return np.stack([pid(plane, j, k), pid(plane, j + 1, k), pid(plane, j + 1, k + 1), pid(plane, j, k + 1)], 1)
    if axis == 1:  # (k, i): (i,f,k) (i,f,k+1) (i+1,f,k+1) (i+1,f,k) → +y
        k, i = a, b
        return np.stack([pid(i, plane, k), pid(i, plane, k + 1), pid(i + 1, plane, k + 1), pid(i + 1, plane, k)], 1)
    i, j = a, b  # (i, j): (i,j,f) (i+1,j,f) (i+1,j+1,f) (i,j+1,f) → +z
    return np.stack([pid(i, j, plane), pid(i + 1, j, plane), pid(i + 1, j + 1, plane), pid(i, j + 1, plane)], 1)


def _leak_mask(hall, vox, fluid_room: np.ndarray, nzp: int) -> list[np.ndarray]:
    """Per axis, faces of containment panels left open as leaks, on the meshed part of the grid
    (``nzp``: the grid layers below it, the plenum in room-only mode, 0 when the plenum is meshed)."""
    grid = vox.grid
    nx, ny, nzr = fluid_room.shape
    shapes = [(nx + 1, ny, nzr), (nx, ny + 1, nzr), (nx, ny, nzr + 1)]
    leaks = [np.zeros(s, dtype=bool) for s in shapes]
    for c in hall.spec.containment:
        if c.leakage <= 0.0:
            continue
        for p in containment_planes(grid, c):
            lo = list(p.lo)
            hi = list(p.hi)
            lo[2] -= nzp
            hi[2] -= nzp
            sl = [slice(max(lo[a], 0), hi[a]) for a in range(3)]
            idx = p.index - (nzp if p.axis == 2 else 0)
            sl[p.axis] = idx
            # Candidates: faces of this plane between two fluid cells (a panel meeting a rack is not one).
            fl = np.moveaxis(fluid_room, p.axis, 0)
            lo_side = fl[idx - 1] if idx - 1 >= 0 else np.zeros_like(fl[0])
            hi_side = fl[idx] if idx < fl.shape[0] else np.zeros_like(fl[0])
            both = lo_side & hi_side
            trans = [sl[a] for a in range(3) if a != p.axis]
            cand = np.zeros_like(both)
            cand[trans[0], trans[1]] = both[trans[0], trans[1]]
            where = np.argwhere(cand)
            m = int(round(c.leakage * len(where)))
            if m == 0 or len(where) == 0:
                continue
            pick = where[np.round(np.linspace(0, len(where) - 1, m + 2)[1:-1]).astype(int)] if m < len(where) else where
            lk = np.moveaxis(leaks[p.axis], p.axis, 0)
            lk[idx][tuple(pick.T)] = True
    return leaks


def build_case(hall_path: str | Path, *, plenum: bool = False, tile_model: str = "porous",
               tile_zeta_scale: float = 1.0, tile_lateral_scale: float = 100.0,
               tile_flows_csv: str | Path | None = None, tile_turbulence_csv: str | Path | None = None,
               outflow_bc: str = "normal-slip") -> CfdCase:
    """Mesh and patches of a hall on the twin's grid (see the module docstring).

    ``plenum=False``: the room only, tiles a velocity inlet. ``plenum=True``: the room and the raised
    floor's plenum, CRAH floor supplies as inlets into the plenum, tiles as ``tile_model``: "porous" (a
    Darcy–Forchheimer layer of room cells over internal tile faces) or "baffle" (porousBafflePressure
    cyclic baffles; oscillates in v1912, see the module docstring). ``tile_zeta_scale`` multiplies ζ
    (a sensitivity check only; 1 is the twin's law). ``tile_lateral_scale``: the porous layer's
    sideways resistance f_x = f_y as a multiple of f_z (100 by default; 1 makes the layer isotropic, a
    study of what the layer's lateral blocking does to the room, see validation/README.md).
    ``tile_flows_csv`` (no plenum only): the tiles' per-face flows from a ``tiles.csv`` (x_m, y_m, flow_m3s;
    scaled to the floor CRAHs' supply) instead of a uniform inlet; ``tile_turbulence_csv``: per-face k and ε
    (x_m, y_m, k_m2s2, epsilon_m2s3) instead of the 10 % intensity (:class:`TileInlet`). ``outflow_bc``: the
    velocity condition of the outflow patches (rack intakes, CRAH returns), one of :data:`OUTFLOW_BCS`.
    """
    if tile_model not in ("porous", "baffle"):
        raise ValueError(f"tile_model must be 'porous' or 'baffle', got {tile_model!r}")
    if outflow_bc not in OUTFLOW_BCS:
        raise ValueError(f"outflow_bc must be one of {', '.join(OUTFLOW_BCS)}, got {outflow_bc!r}")
    hall_path = Path(hall_path)
    hall = load_hall(hall_path)
    vox = voxelize_hall(hall)
    grid = vox.grid
    nx, ny, nz = grid.shape
    nzp = vox.plenum_layers
    plenum = bool(plenum and nzp)
    z0 = 0 if plenum else nzp  # first grid layer that is meshed
    nzr = nz - z0
    solid_room = vox.solid[:, :, z0:]
    fluid = ~solid_room
    cid_room = np.full(fluid.shape, -1, dtype=np.int64)
    cid_room[fluid] = np.arange(int(fluid.sum()))
    cell_id = np.full(grid.shape, -1, dtype=np.int64)
    cell_id[:, :, z0:] = cid_room
    pshape = (nx + 1, ny + 1, nzr + 1)
    h = grid.cell_m

    # What stands in each solid cell: ("rack", spec) / ("crah", spec) / ("wall", None).
    kinds = {r.name: ("rack", r) for r in hall.racks}
    kinds.update({c.name: ("crah", c) for c in hall.crahs})
    owner_room = vox.owner[:, :, z0:]
    leaks = _leak_mask(hall, vox, fluid, z0)
    tile_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # lo ijk, hi ijk, quads, σ²

    internal_o, internal_n, internal_q = [], [], []
    bnd: dict[str, list] = {}  # patch name -> list of (owner cell ids, quads, grid flat cells)
    panel_faces = 0
    leak_faces = 0

    def add_boundary(name: str, cells_ijk: np.ndarray, quads: np.ndarray) -> None:
        ids = cid_room[tuple(cells_ijk.T)]
        flat = np.ravel_multi_index((cells_ijk[:, 0], cells_ijk[:, 1], cells_ijk[:, 2] + z0), grid.shape)
        bnd.setdefault(name, []).append((ids, quads, flat))

    for axis in range(3):
        n_axis = fluid.shape[axis]
        others = [(axis + 1) % 3, (axis + 2) % 3]
        openness = vox.open_faces[axis][:, :, z0:]  # meshed part (room only: the floor plane and up)
        for f in range(n_axis + 1):
            def take(arr, i):
                return np.moveaxis(arr, axis, 0)[i]
            lo_f = take(fluid, f - 1) if f >= 1 else None
            hi_f = take(fluid, f) if f < n_axis else None
            op = take(openness, f)
            lk = take(leaks[axis], f)
            # transverse index grids in cyclic order (axis+1, axis+2) of the moved-axis array layout
            t_shape = op.shape  # axes in original order without `axis`
            ia, ib = np.meshgrid(np.arange(t_shape[0]), np.arange(t_shape[1]), indexing="ij")
            # np.moveaxis keeps the other axes in ascending order; map to the cyclic (axis+1, axis+2)
            asc = [a for a in range(3) if a != axis]

            def cyc(u, v):
                d = {asc[0]: u, asc[1]: v}
                return d[others[0]], d[others[1]]

            def ijk(plane_cell, u, v):
                out = np.zeros((u.size, 3), dtype=np.int64)
                out[:, axis] = plane_cell
                out[:, asc[0]] = u
                out[:, asc[1]] = v
                return out

            if lo_f is not None and hi_f is not None:
                both = lo_f & hi_f
                is_open = both & ((op >= 1.0 - 1e-12) | lk)
                closed = both & ~is_open
                if plenum and axis == 2 and f == nzp:  # the raised floor: perforated tiles
                    tile = closed & (op > 0.0)
                    closed = closed & ~tile
                    if tile_model == "porous":  # open faces; the loss sits in the cells above
                        is_open = is_open | tile
                    u, v = ia[tile], ib[tile]
                    if u.size:
                        tile_parts.append((ijk(f - 1, u, v), ijk(f, u, v),
                                           _face_quads(axis, np.full(u.size, f), *cyc(u, v), pshape), op[tile]))
                if not (plenum and axis == 2 and f == nzp):  # closed floor faces are walls, not panels
                    panel_faces += int(closed.sum())
                    leak_faces += int((both & lk & (op < 1.0 - 1e-12)).sum())
                u, v = ia[is_open], ib[is_open]
                if u.size:
                    lo_c = ijk(f - 1, u, v)
                    hi_c = ijk(f, u, v)
                    internal_o.append(cid_room[tuple(lo_c.T)])
                    internal_n.append(cid_room[tuple(hi_c.T)])
                    internal_q.append(_face_quads(axis, np.full(u.size, f), *cyc(u, v), pshape))
                u, v = ia[closed], ib[closed]
                if u.size:  # a baffle: a wall face on each side
                    q = _face_quads(axis, np.full(u.size, f), *cyc(u, v), pshape)
                    add_boundary("walls", ijk(f - 1, u, v), q)
                    add_boundary("walls", ijk(f, u, v), q[:, ::-1])
            # Boundary faces: exactly one side fluid.
            for fluid_side, cell_plane, other_plane, direction in (
                    (lo_f, f - 1, f, +1), (hi_f, f, f - 1, -1)):
                if fluid_side is None:
                    continue
                other = take(fluid, other_plane) if 0 <= other_plane < n_axis else np.zeros_like(fluid_side)
                mask = fluid_side & ~other
                if not mask.any():
                    continue
                u, v = ia[mask], ib[mask]
                q = _face_quads(axis, np.full(u.size, f), *cyc(u, v), pshape)
                if direction < 0:
                    q = q[:, ::-1]
                cells = ijk(cell_plane, u, v)
                names = np.array(["walls"] * u.size, dtype=object)
                if 0 <= other_plane < n_axis:
                    own = take(owner_room, other_plane)[mask]
                    for i_o in np.unique(own):
                        if i_o < 0:
                            continue
                        kind, spec = kinds.get(vox.owners[i_o], ("wall", None))
                        sel = own == i_o
                        # the face's side of the solid, seen from the solid: opposite of `direction`
                        side = (axis, -direction)
                        if kind == "rack":
                            ax, sg = facing_axis_sign(spec.facing)
                            if side == (ax, sg):
                                names[sel] = f"{_sanitize(spec.name)}_in"
                            elif side == (ax, -sg):
                                names[sel] = f"{_sanitize(spec.name)}_out"
                        elif kind == "crah":
                            ax, sg = facing_axis_sign(spec.facing)
                            sides = {"front": (ax, sg), "back": (ax, -sg), "top": (2, 1), "floor": (2, -1)}
                            if side == sides[spec.return_from]:
                                names[sel] = f"{_sanitize(spec.name)}_ret"
                            elif side == sides[spec.supply_to]:
                                names[sel] = f"{_sanitize(spec.name)}_sup"
                elif axis == 2 and other_plane < 0 and nzp and not plenum:
                    names[op[mask] > 0] = "tiles"  # floor plane of a raised floor: tiles are open
                for name in np.unique(names):
                    s = names == name
                    add_boundary(str(name), cells[s], q[s])

    # Internal faces in upper-triangular order.
    own = np.concatenate(internal_o)
    nei = np.concatenate(internal_n)
    quads = np.concatenate(internal_q)
    order = np.lexsort((nei, own))
    own, nei, quads = own[order], nei[order], quads[order]
    n_cells = int(fluid.sum())
    face_key = own * (n_cells + 1) + nei  # increasing

    # Patches: walls first, then movers in hall order.
    names = ["walls"]
    for r in hall.racks:
        names += [f"{_sanitize(r.name)}_in", f"{_sanitize(r.name)}_out"]
    for c in hall.crahs:
        names.append(f"{_sanitize(c.name)}_ret")
        if c.supply_to != "floor" or not nzp or plenum:
            names.append(f"{_sanitize(c.name)}_sup")
    if nzp and not plenum:
        names.append("tiles")
    unknown = set(bnd) - set(names)
    if unknown:
        raise RuntimeError(f"unexpected patches {sorted(unknown)}")
    all_faces = [quads]
    all_owner = [own]
    patches = []
    movers: dict[str, MoverPatch] = {}
    start = len(own)
    for name in names:
        parts = bnd.get(name, [])
        if not parts:
            raise RuntimeError(f"{hall_path}: patch {name} has no faces on the {h} m grid")
        ids = np.concatenate([p[0] for p in parts])
        qs = np.concatenate([p[1] for p in parts])
        flat = np.concatenate([p[2] for p in parts])
        all_faces.append(qs)
        all_owner.append(ids)
        patches.append((name, "wall" if name == "walls" else "patch", start, len(ids)))
        start += len(ids)
        if name != "walls":
            kind = next(k for suffix, k in (("_in", "rack_in"), ("_out", "rack_out"), ("_ret", "crah_ret"),
                                            ("_sup", "crah_sup"), ("tiles", "tiles")) if name.endswith(suffix))
            owner_name = ""
            for spec in [*hall.racks, *hall.crahs]:
                if name.startswith(_sanitize(spec.name) + "_"):
                    owner_name = spec.name
            # outward normal of the first face (all faces of a mover patch share it)
            p = qs[0]
            pts = np.stack(np.unravel_index(p, pshape), 1).astype(float)
            nvec = np.cross(pts[1] - pts[0], pts[3] - pts[0])
            nvec /= np.linalg.norm(nvec)
            movers[name] = MoverPatch(name, kind, owner_name, ids, flat, nvec, len(ids) * h * h)
    tiles = None
    if plenum:
        if not tile_parts:
            raise RuntimeError(f"{hall_path}: the raised floor has no perforated tiles on the {h} m grid")
        lo_c = np.concatenate([t[0] for t in tile_parts])
        hi_c = np.concatenate([t[1] for t in tile_parts])
        qs = np.concatenate([t[2] for t in tile_parts])
        sigma = np.sqrt(np.concatenate([t[3] for t in tile_parts]))  # the voxels store σ²
        zeta = tile_zeta_scale * (1.0 / sigma - 1.0) ** 2
        if np.ptp(zeta) > 1e-9:
            raise RuntimeError(f"{hall_path}: tiles of different open fractions need one baffle pair each "
                               f"(not implemented)")
        room_ids, plen_ids = cid_room[tuple(hi_c.T)], cid_room[tuple(lo_c.T)]
        internal = None
        if tile_model == "porous":  # plenum cell (lower id) owns the face, normal +z
            internal = np.searchsorted(face_key, plen_ids * (n_cells + 1) + room_ids)
        else:
            # Owner side first: the room side (face normal −z, out of the room cell), then the plenum
            # side; a coupled face starts at the same vertex as its twin (checkMesh: "coupled point
            # location").
            for name, ids, q in (("tiles_room", room_ids, qs[:, [0, 3, 2, 1]]), ("tiles_plenum", plen_ids, qs)):
                all_faces.append(q)
                all_owner.append(ids)
                patches.append((name, "cyclic", start, len(ids)))
                start += len(ids)

        def flat_of(c):
            return np.ravel_multi_index((c[:, 0], c[:, 1], c[:, 2] + z0), grid.shape)
        tiles = TileFaces(tile_model, room_ids, plen_ids, flat_of(hi_c), flat_of(lo_c), sigma, float(zeta[0]),
                          internal, h, tile_lateral_scale)
    faces = np.concatenate(all_faces)
    owner = np.concatenate(all_owner)

    used = np.unique(faces)
    remap = np.full(int(np.prod(pshape)), -1, dtype=np.int64)
    remap[used] = np.arange(used.size)
    faces = remap[faces]
    pi, pj, pk = np.unravel_index(used, pshape)
    points = np.stack([grid.origin_m[0] + pi * h, grid.origin_m[1] + pj * h,
                       grid.origin_m[2] + (pk + z0) * h], 1)  # room floor at z = 0
    case = CfdCase(hall_path, hall, vox, nzp, cell_id, points, faces, owner, nei, patches, movers,
                   leak_faces, panel_faces, plenum, tiles, outflow_bc=outflow_bc)
    if tile_flows_csv is not None or tile_turbulence_csv is not None:
        if plenum or "tiles" not in movers:
            raise ValueError(f"{hall_path}: --tile-flows/--tile-turbulence need a raised floor without --plenum")
        case.tile_inlet = read_tile_inlet(case, tile_flows_csv, tile_turbulence_csv)
    return case


def _per_tile_face(case: CfdCase, path: Path, columns: tuple[str, ...]) -> list[np.ndarray]:
    """Columns of a per-tile CSV (rows keyed by the x_m, y_m of the room cell above the face) in the
    ``tiles`` patch's face order; every face must be there."""
    import csv

    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        need = {"x_m", "y_m", *columns}
        if not need <= set(reader.fieldnames or ()):
            raise ValueError(f"{path}: needs the columns {', '.join(sorted(need))}, has {reader.fieldnames}")
        rows = {(round(float(r["x_m"]), 3), round(float(r["y_m"]), 3)): r for r in reader}
    grid = case.vox.grid
    i, j, _ = np.unravel_index(case.movers["tiles"].grid_cells, grid.shape)
    keys = [(round(float(x), 3), round(float(y), 3)) for x, y in zip(grid.centers(0)[i], grid.centers(1)[j])]
    missing = [k for k in keys if k not in rows]
    if missing or len(rows) != len(keys):
        raise ValueError(f"{path}: its {len(rows)} tile rows do not match the hall's {len(keys)} tile faces "
                         f"(first missing x_m, y_m: {missing[:3]})")
    return [np.array([float(rows[k][c]) for k in keys]) for c in columns]


def read_tile_inlet(case: CfdCase, flows_csv: str | Path | None, turbulence_csv: str | Path | None) -> TileInlet:
    """The :class:`TileInlet` of a uniform-tile case from per-face CSVs (see :func:`build_case`)."""
    n = len(case.movers["tiles"].cells)
    supply = sum(crah_flow_m3s(c) for c in _floor_crahs(case))
    q = np.full(n, supply / n)
    src = []
    if flows_csv is not None:
        (q,) = _per_tile_face(case, Path(flows_csv), ("flow_m3s",))
        q = q * supply / q.sum()  # all patches are fixed velocities: the inflow must equal the outflow exactly
        src.append(f"tile flows from {flows_csv}")
    k = eps = None
    if turbulence_csv is not None:
        k, eps = _per_tile_face(case, Path(turbulence_csv), ("k_m2s2", "epsilon_m2s3"))
        src.append(f"tile k, epsilon from {turbulence_csv}")
    return TileInlet(q, k, eps, "; ".join(src))


# --- writing ------------------------------------------------------------------------------------

def _header(case: CfdCase, cls: str, loc: str, obj: str, note: str | None = None) -> str:
    text = _HEADER.format(hall=case.hall_path.name, cls=cls, loc=loc, obj=obj)
    if note:
        text = text.replace(f"    object      {obj};\n", f"    note        \"{note}\";\n    object      {obj};\n")
    return text + "\n"


def _write_polymesh(case: CfdCase, root: Path) -> None:
    d = root / "constant" / "polyMesh"
    d.mkdir(parents=True, exist_ok=True)
    note = (f"nPoints:{len(case.points)}  nCells:{case.n_cells}  nFaces:{len(case.faces)}  "
            f"nInternalFaces:{len(case.neighbour)}")
    pts = "\n".join(f"({x:.6g} {y:.6g} {z:.6g})" for x, y, z in case.points)
    (d / "points").write_text(_header(case, "vectorField", "constant/polyMesh", "points")
                              + f"{len(case.points)}\n(\n{pts}\n)\n")
    fcs = "\n".join(f"4({a} {b} {c} {e})" for a, b, c, e in case.faces)
    (d / "faces").write_text(_header(case, "faceList", "constant/polyMesh", "faces")
                             + f"{len(case.faces)}\n(\n{fcs}\n)\n")
    for name, arr in (("owner", case.owner), ("neighbour", case.neighbour)):
        body = "\n".join(map(str, arr.tolist()))
        (d / name).write_text(_header(case, "labelList", "constant/polyMesh", name, note)
                              + f"{len(arr)}\n(\n{body}\n)\n")
    def extra(n: str, t: str) -> str:
        if t == "wall":
            return "        inGroups 1(wall);\n"
        if t == "cyclic":  # the tile baffles: two coincident halves, face i of one is face i of the other
            other = "tiles_plenum" if n == "tiles_room" else "tiles_room"
            return (f"        inGroups 1(cyclic);\n        matchTolerance 0.0001;\n        transform coincidentFullMatch;\n"
                    f"        neighbourPatch {other};\n")
        return ""
    entries = "".join(f"    {n}\n    {{\n        type {t};\n{extra(n, t)}"
                      f"        nFaces {nf};\n        startFace {s};\n    }}\n" for n, t, s, nf in case.patches)
    (d / "boundary").write_text(_header(case, "polyBoundaryMesh", "constant/polyMesh", "boundary")
                                + f"{len(case.patches)}\n(\n{entries})\n")


@dataclass
class MoverState:
    """Flows and temperatures the driver sets on the mover patches (one Picard iterate)."""

    rack_flow_m3s: dict[str, float]
    rack_exhaust_c: dict[str, float]


def nominal_state(case: CfdCase, t_intake_c: dict[str, float] | None = None) -> MoverState:
    """Rack flows from the servers' airflow law and exhaust temperatures at given (default: supply) intakes."""
    flows, exhaust = {}, {}
    t_sup = _tile_supply_c(case) if case.hall.crahs else case.hall.spec.hall.initial_temp_c
    for r in case.hall.racks:
        t_in = (t_intake_c or {}).get(r.name, min(c.supply_setpoint_c for c in case.hall.crahs) if case.hall.crahs else t_sup)
        q = rack_flow_m3s(r, t_in)
        flows[r.name] = q
        exhaust[r.name] = t_in + (r.it_w / (case.rho * case.cp * q) if q > 0 else 0.0)
    return MoverState(flows, exhaust)


def rack_flow_m3s(rack, t_intake_c: float) -> float:
    """The servers' airflow law (twin.thermal.compact.server_airflow_m3s), for one rack."""
    factor = 1.0 + rack.fan_ramp_per_k * max(t_intake_c - rack.fan_ramp_start_c, 0.0)
    return rack.airflow_m3s_per_w * rack.it_w * min(factor, rack.fan_max_factor)


def crah_flow_m3s(crah) -> float:
    return crah.rated_flow_m3s * crah.fan_speed


def _floor_crahs(case: CfdCase) -> list:
    return [c for c in case.hall.crahs if c.supply_to == "floor"] if case.nz_plenum else []


def _tile_supply_c(case: CfdCase) -> float:
    fl = _floor_crahs(case) or list(case.hall.crahs)
    w = np.array([crah_flow_m3s(c) for c in fl])
    t = np.array([c.supply_setpoint_c for c in fl])
    return float((w * t).sum() / w.sum()) if w.sum() > 0 else float(t.mean())


def _turbulence_inlet(speed: float) -> tuple[float, float]:
    k = max(1.5 * (INLET_INTENSITY * speed) ** 2, K_FLOOR)
    eps = C_MU**0.75 * k**1.5 / INLET_MIXING_LENGTH_M
    return k, eps


def patch_values(case: CfdCase, state: MoverState) -> dict[str, dict]:
    """Per mover patch: velocity vector (m/s), inflow temperature (K, None for outflow), k, epsilon."""
    out = {}
    crahs = {c.name: c for c in case.hall.crahs}
    tiles_q = sum(crah_flow_m3s(c) for c in _floor_crahs(case))
    for name, m in case.movers.items():
        if m.kind in ("rack_in", "rack_out"):
            q = state.rack_flow_m3s[m.owner]
        elif m.kind in ("crah_ret", "crah_sup"):
            q = crah_flow_m3s(crahs[m.owner])
        else:
            q = tiles_q
        speed = q / m.area_m2
        inflow = m.kind in ("rack_out", "crah_sup", "tiles")
        ti = case.tile_inlet if m.kind == "tiles" else None
        if ti is not None:  # per face: speed (n,), velocity (n, 3)
            speed = ti.flow_m3s / (m.area_m2 / len(m.cells))
        u = (-speed if inflow else speed)[..., None] * m.normal_out if ti is not None else \
            (-speed if inflow else speed) * m.normal_out
        t_k = None
        if m.kind == "rack_out":
            t_k = state.rack_exhaust_c[m.owner] + 273.15
        elif m.kind == "crah_sup":
            t_k = crahs[m.owner].supply_setpoint_c + 273.15
        elif m.kind == "tiles":
            t_k = _tile_supply_c(case) + 273.15
        if ti is not None:
            k = np.array([_turbulence_inlet(float(v))[0] for v in speed]) if ti.k_m2s2 is None else ti.k_m2s2
            eps = (np.array([_turbulence_inlet(float(v))[1] for v in speed]) if ti.epsilon_m2s3 is None
                   else ti.epsilon_m2s3)
        else:
            k, eps = _turbulence_inlet(speed)
        out[name] = {"U": u, "T": t_k, "k": k, "epsilon": eps, "inflow": inflow, "flow_m3s": q}
    return out


def _vec(u: np.ndarray) -> str:
    return f"({u[0]:.9g} {u[1]:.9g} {u[2]:.9g})"


def _value(v) -> str:  # type: ignore[no-untyped-def]
    """A boundary ``value`` entry: uniform for one scalar or vector, a nonuniform list per face otherwise."""
    a = np.asarray(v, dtype=float)
    if a.ndim == 0:
        return f"uniform {float(a):.9g}"
    if a.ndim == 1 and a.size == 3:
        return f"uniform {_vec(a)}"
    if a.ndim == 2:
        return f"nonuniform List<vector> {len(a)}\n(\n" + "\n".join(_vec(r) for r in a) + "\n)\n"
    return f"nonuniform List<scalar> {a.size}\n(\n" + "\n".join(f"{x:.9g}" for x in a) + "\n)\n"


def boundary_text(case: CfdCase, field_name: str, state: MoverState, *, start: bool = False) -> str:
    """The ``boundaryField`` block of one field for the given mover state (``start``: the 0/ directory's,
    whose outflows are fixed-value whatever ``case.outflow_bc`` is, see :data:`OUTFLOW_BCS`)."""
    vals = patch_values(case, state)
    lines = ["boundaryField\n{\n"]

    def entry(name: str, body: str) -> None:
        lines.append(f"    {name}\n    {{\n{body}    }}\n")

    for name, ptype, _, _ in case.patches:
        v = vals.get(name)
        if ptype == "cyclic":  # tile baffles (plenum mode)
            if field_name == "p_rgh":
                # Δp/ρ = I·length·½|u|u (D = 0: no Darcy term), so I·length = ζ on the face velocity.
                body = ("        type porousBafflePressure;\n        patchType cyclic;\n        D 0;\n"
                        f"        I {case.tile_faces.zeta:.9g};\n        length 1;\n"
                        "        jump uniform 0;\n        value uniform 0;\n")
            else:
                body = "        type cyclic;\n"
            entry(name, body)
            continue
        if field_name == "U":
            if v is None:
                body = "        type noSlip;\n"
            elif not v["inflow"] and case.outflow_bc == "normal-slip" and not start:
                body = (f"        type fixedNormalSlip;\n        fixedValue {_value(v['U'])};\n"
                        f"        value {_value(v['U'])};\n")
            else:
                body = f"        type fixedValue;\n        value {_value(v['U'])};\n"
        elif field_name == "p_rgh":
            body = "        type fixedFluxPressure;\n        value uniform 0;\n"
        elif field_name == "p":
            body = "        type calculated;\n        value uniform 0;\n"
        elif field_name == "T":
            body = ("        type zeroGradient;\n" if v is None or not v["inflow"] else
                    f"        type fixedValue;\n        value uniform {v['T']:.9g};\n")
        elif field_name in ("k", "epsilon"):
            if v is None:
                wf = "kqRWallFunction" if field_name == "k" else "epsilonWallFunction"
                body = f"        type {wf};\n        value uniform {K_FLOOR if field_name == 'k' else 1e-6:.6g};\n"
            elif v["inflow"]:
                body = f"        type fixedValue;\n        value {_value(v[field_name])};\n"
            else:
                body = "        type zeroGradient;\n"
        elif field_name == "nut":
            body = ("        type nutkWallFunction;\n        value uniform 0;\n" if v is None else
                    "        type calculated;\n        value uniform 0;\n")
        elif field_name == "alphat":
            # Walls are adiabatic (zero-gradient T), so no thermal wall function is needed.
            body = "        type calculated;\n        value uniform 0;\n"
        else:
            raise KeyError(field_name)
        entry(name, body)
    lines.append("}\n")
    return "".join(lines)


_FIELDS = {  # class, dimensions
    "U": ("volVectorField", "[0 1 -1 0 0 0 0]"),
    "p_rgh": ("volScalarField", "[0 2 -2 0 0 0 0]"),
    "p": ("volScalarField", "[0 2 -2 0 0 0 0]"),
    "T": ("volScalarField", "[0 0 0 1 0 0 0]"),
    "k": ("volScalarField", "[0 2 -2 0 0 0 0]"),
    "epsilon": ("volScalarField", "[0 2 -3 0 0 0 0]"),
    "nut": ("volScalarField", "[0 2 -1 0 0 0 0]"),
    "alphat": ("volScalarField", "[0 2 -1 0 0 0 0]"),
}


#: Solution controls of the steady solver (SIMPLE with under-relaxation).
STEADY_SOLUTION = """}

SIMPLE
{
    momentumPredictor yes;
    nNonOrthogonalCorrectors 0;
    pRefCell        0;
    pRefValue       0;
}

relaxationFactors
{
    fields      { p_rgh 0.7; }
    equations   { U 0.3; T 0.5; "(k|epsilon)" 0.5; }
}
"""

#: Solution controls of the transient solver: PISO (one outer corrector, two pressure correctors) at a
#: Courant number below 1 needs no under-relaxation; the "Final" solvers are those of the last corrector.
TRANSIENT_SOLUTION = """    p_rghFinal
    {
        $p_rgh;
        relTol          0;
        tolerance       1e-7;
    }
    "(U|T|k|epsilon)Final"
    {
        solver          smoothSolver;
        smoother        symGaussSeidel;
        tolerance       1e-8;
        relTol          0;
    }
}

PIMPLE
{
    momentumPredictor yes;
    nOuterCorrectors 1;
    nCorrectors     2;
    nNonOrthogonalCorrectors 0;
    pRefCell        0;
    pRefValue       0;
}

relaxationFactors
{
    equations   { ".*" 1; }
}
"""


def t_ref_k(case: CfdCase) -> float:
    return case.hall.spec.hall.initial_temp_c + 273.15


def write_field(case: CfdCase, time_dir: Path, name: str, state: MoverState, internal: str | None = None, *,
                start: bool = False) -> None:
    """Write one field; ``internal`` keeps an existing ``internalField`` entry (text) when given; ``start``: the
    field of a still-air start, whose outflows are fixed-value (:func:`boundary_text`)."""
    cls, dims = _FIELDS[name]
    if internal is None:
        init = {"U": "uniform (0 0 0)", "T": f"uniform {t_ref_k(case):.6g}", "k": f"uniform {1e-4:g}",
                "epsilon": f"uniform {1e-5:g}"}.get(name, "uniform 0")
        internal = f"internalField   {init};\n"
    text = (_header(case, cls, time_dir.name, name) + f"dimensions      {dims};\n\n" + internal + "\n"
            + boundary_text(case, name, state, start=start))
    (time_dir / name).write_text(text)


def update_time_dir(case: CfdCase, time_dir: Path, state: MoverState, names=("U", "T", "k", "epsilon")) -> None:
    """Replace the boundary conditions of fields written by the solver, keeping their internal values."""
    for name in names:
        path = time_dir / name
        text = path.read_text()
        i0 = text.index("internalField")
        i1 = text.index("boundaryField")
        write_field(case, time_dir, name, state, internal=text[i0:i1])


def gravity_text(gravity_scale: float) -> str:
    """The value of ``constant/g``: (0 0 −9.81 S) m/s², with S = ``gravity_scale`` ≥ 0.

    S = 0 is a valid Boussinesq case: v1912's solvers form gh = g·C − ghRef with ghRef = −|g| hRef
    (``readhRef.H``; hRef is absent here, so 0), hence gh = ghf = 0, p = p_rgh and the buoyancy flux
    −ghf ∂ρ_k/∂n |S_f| vanishes, while T is still transported on the flow (a flow blind to temperature).
    """
    if not np.isfinite(gravity_scale) or gravity_scale < 0.0:
        raise ValueError(f"gravity scale must be a finite number >= 0 (1 = standard gravity, 0 = no buoyancy), "
                         f"got {gravity_scale!r}")
    g_z = -GRAVITY_M_S2 * gravity_scale + 0.0  # + 0.0: write 0, not -0, for S = 0
    return f"(0 0 {g_z:.9g})"


def write_case(case: CfdCase, root: str | Path, *, state: MoverState | None = None,
               transient: bool = False, gravity_scale: float = 1.0) -> MoverState:
    """Write the whole case (mesh, 0/, constant/, system/) under ``root``; returns the mover state used.

    ``transient``: schemes and solution controls for ``buoyantBoussinesqPimpleFoam`` (implicit Euler in
    time, PISO-type pressure correction: one outer corrector, two pressure correctors, no relaxation),
    for a time-averaged reference of a flow that does not settle (:func:`run_cfd.run_transient`).
    ``gravity_scale``: multiplies g (:func:`gravity_text`; 0 = a flow without buoyancy, a study of
    validation/README.md, "Does the gap need buoyancy?"). Checked before anything is written.
    """
    g_value = gravity_text(gravity_scale)
    root = Path(root)
    for sub in ("0", "constant", "system"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    _write_polymesh(case, root)
    if case.plenum and case.tile_faces.model == "porous":
        _write_tile_zone(case, root)
    state = state or nominal_state(case)
    for name in _FIELDS:
        write_field(case, root / "0", name, state, start=True)
    t_ref = t_ref_k(case)
    (root / "constant" / "transportProperties").write_text(
        _header(case, "dictionary", "constant", "transportProperties")
        + f"transportModel  Newtonian;\nnu              {NU_M2S:g};\n"
          f"beta            {1.0 / t_ref:.6g};  // 1/T_ref, T_ref = the hall's initial temperature [K]\n"
          f"TRef            {t_ref:.6g};\nPr              {PR:g};\nPrt             {PRT:g};\n")
    (root / "constant" / "g").write_text(
        _header(case, "uniformDimensionedVectorField", "constant", "g")
        + f"dimensions      [0 1 -2 0 0 0 0];\nvalue           {g_value};\n")
    (root / "constant" / "turbulenceProperties").write_text(
        _header(case, "dictionary", "constant", "turbulenceProperties")
        + "simulationType  RAS;\n\nRAS\n{\n    RASModel        kEpsilon;\n    turbulence      on;\n"
          "    printCoeffs     on;\n}\n")
    if transient:
        write_transient_control(case, root, end_time_s=1.0, write_interval_s=1.0)
    else:
        write_control(case, root, end_iteration=100, write_interval=100)
    ddt = "Euler" if transient else "steadyState"
    (root / "system" / "fvSchemes").write_text(
        _header(case, "dictionary", "system", "fvSchemes") + """ddtSchemes      { default {ddt}; }
gradSchemes     { default Gauss linear; limited cellLimited Gauss linear 1; grad(U) $limited; grad(T) $limited; }
divSchemes
{
    default         none;
    div(phi,U)      bounded Gauss linearUpwind grad(U);
    div(phi,T)      bounded Gauss linearUpwind grad(T);
    div(phi,k)      bounded Gauss upwind;
    div(phi,epsilon) bounded Gauss upwind;
    div((nuEff*dev2(T(grad(U))))) Gauss linear;
}
laplacianSchemes { default Gauss linear corrected; }
interpolationSchemes { default linear; }
snGradSchemes   { default corrected; }
""".replace("{ddt}", ddt))
    (root / "system" / "fvSolution").write_text(
        _header(case, "dictionary", "system", "fvSolution") + """solvers
{
    p_rgh
    {
        solver          GAMG;
        smoother        GaussSeidel;
        tolerance       1e-8;
        relTol          0.05;
    }
    "(U|T|k|epsilon)"
    {
        solver          smoothSolver;
        smoother        symGaussSeidel;
        tolerance       1e-9;
        relTol          0.1;
    }
""" + (TRANSIENT_SOLUTION if transient else STEADY_SOLUTION))
    meta = {
        "hall": str(case.hall_path),
        "cells": case.n_cells,
        "faces": int(len(case.faces)),
        "internal_faces": int(len(case.neighbour)),
        "patches": {n: nf for n, _, _, nf in case.patches},
        "containment_panel_faces": case.panel_faces,
        "containment_leak_faces": case.leak_faces,
        "raised_floor": raised_floor_text(case),
        "gravity_m_s2": [0.0, 0.0, -GRAVITY_M_S2 * gravity_scale + 0.0],
        "outflow_bc": case.outflow_bc,
    }
    (root / "case.json").write_text(json.dumps(meta, indent=1))
    return state


def raised_floor_text(case: CfdCase) -> str:
    if not case.nz_plenum:
        return "none"
    if not case.plenum:
        if case.tile_inlet is not None:
            return f"plenum omitted, tiles a velocity inlet per face ({case.tile_inlet.source})"
        return "plenum omitted, tiles a uniform velocity inlet"
    tf = case.tile_faces
    if tf.model == "baffle":
        return (f"plenum meshed, tiles porous cyclic baffles (porousBafflePressure, zeta {tf.zeta:.6g} on the "
                f"face velocity)")
    return (f"plenum meshed, tiles open faces under a one-cell Darcy-Forchheimer layer (explicitPorositySource, "
            f"f_z {tf.forchheimer_f:.6g} 1/m = zeta {tf.zeta:.6g} / h, f_xy {tf.lateral_scale:g} f_z)")


def _write_tile_zone(case: CfdCase, root: Path) -> None:
    """"porous" tiles: the cellZone of room cells above the tiles and the fvOptions that make it porous."""
    tf = case.tile_faces
    ids = "\n".join(map(str, np.sort(tf.room_cells).tolist()))
    (root / "constant" / "polyMesh" / "cellZones").write_text(
        _header(case, "regIOobject", "constant/polyMesh", "cellZones")
        + f"1\n(\ntiles\n{{\n    type cellZone;\ncellLabels List<label> {len(tf.room_cells)}\n(\n{ids}\n)\n;\n}}\n)\n")
    fz = tf.forchheimer_f
    (root / "constant" / "fvOptions").write_text(
        _header(case, "dictionary", "constant", "fvOptions") + f"""// Perforated tiles: Borda-Carnot zeta = (1/sigma - 1)^2 = {tf.zeta:.6g} on the face velocity, spread over
// the one cell of height h = {tf.cell_m:g} m above each tile face: dp/rho = 0.5 f_z |U| U_z h = zeta 0.5 U_z^2 when
// the cell's air moves vertically, which f_xy = {tf.lateral_scale:g} f_z enforces (a tile passes air up, not sideways;
// 100 by default, 1 = an isotropic layer in the lateral-scale study).
tiles
{{
    type            explicitPorositySource;
    active          yes;
    explicitPorositySourceCoeffs
    {{
        selectionMode   cellZone;
        cellZone        tiles;
        type            DarcyForchheimer;
        DarcyForchheimerCoeffs
        {{
            d   (0 0 0);
            f   ({tf.lateral_scale * fz:.9g} {tf.lateral_scale * fz:.9g} {fz:.9g});
            coordinateSystem
            {{
                origin  (0 0 0);
                e1      (1 0 0);
                e2      (0 1 0);
            }}
        }}
    }}
}}
""")


def write_control(case: CfdCase, root: Path, *, end_iteration: int, write_interval: int) -> None:
    (Path(root) / "system" / "controlDict").write_text(
        _header(case, "dictionary", "system", "controlDict")
        + f"""application     buoyantBoussinesqSimpleFoam;
startFrom       latestTime;
startTime       0;
stopAt          endTime;
endTime         {end_iteration};
deltaT          1;
writeControl    timeStep;
writeInterval   {write_interval};
purgeWrite      1;
writeFormat     ascii;
writePrecision  9;
writeCompression off;
timeFormat      general;
timePrecision   8;
runTimeModifiable false;
""")



def write_transient_control(case: CfdCase, root: Path, *, end_time_s: float, write_interval_s: float,
                            delta_t_s: float = 0.05, max_courant: float = 0.9) -> None:
    """controlDict of the transient solver: adjustable time step at Courant ≤ ``max_courant``, fields
    written every ``write_interval_s`` of simulated time (the driver samples them for the time average)."""
    (Path(root) / "system" / "controlDict").write_text(
        _header(case, "dictionary", "system", "controlDict")
        + f"""application     buoyantBoussinesqPimpleFoam;
startFrom       latestTime;
startTime       0;
stopAt          endTime;
endTime         {end_time_s:g};
deltaT          {delta_t_s:g};
adjustTimeStep  yes;
maxCo           {max_courant:g};
maxDeltaT       1;
writeControl    adjustableRunTime;
writeInterval   {write_interval_s:g};
purgeWrite      0;
writeFormat     ascii;
writePrecision  9;
writeCompression off;
timeFormat      general;
timePrecision   8;
runTimeModifiable false;
""")

def add_floor_arguments(p: argparse.ArgumentParser) -> None:
    """The raised-floor options of a case (--plenum, --tile-model, --tile-zeta-scale), for every command."""
    p.add_argument("--plenum", action="store_true",
                   help="mesh the raised floor's plenum, tiles a porous layer (default: tiles a uniform inlet)")
    p.add_argument("--tile-model", choices=("porous", "baffle"), default="porous",
                   help="with --plenum: Darcy-Forchheimer layer (default) or porousBafflePressure baffles")
    p.add_argument("--tile-zeta-scale", type=float, default=1.0,
                   help="multiply the tiles' ζ (a sensitivity check; 1 = the twin's Borda–Carnot law)")
    p.add_argument("--tile-lateral-scale", type=float, default=100.0,
                   help="with --plenum --tile-model porous: sideways resistance f_x = f_y of the tile layer "
                        "as a multiple of f_z (default 100; 1 = isotropic, a study)")
    p.add_argument("--tile-flows", type=Path, default=None,
                   help="without --plenum: per-face tile flows from a tiles.csv (a study; default uniform)")
    p.add_argument("--tile-turbulence", type=Path, default=None,
                   help="without --plenum: per-face tile k, epsilon from a CSV (x_m, y_m, k_m2s2, epsilon_m2s3; "
                        "default 10 %% intensity)")
    p.add_argument("--outflow-bc", choices=OUTFLOW_BCS, default="normal-slip",
                   help="velocity condition of rack intakes and CRAH returns: normal-slip (the references: "
                        "fixedNormalSlip, the air leaves with its own momentum) or fixed-value (the references "
                        "before 2026-12-01: tangential velocity 0 on the face, which pushes the air along it)")


def add_gravity_argument(p: argparse.ArgumentParser) -> None:
    """``--gravity-scale S``: g = (0 0 −9.81 S) m/s² (0 switches buoyancy off in the flow; T is still solved)."""
    p.add_argument("--gravity-scale", type=float, default=1.0, metavar="S",
                   help="multiply gravity by S >= 0 (default 1; 0 = no buoyancy in the flow, a study)")


def check_gravity_scale(p: argparse.ArgumentParser, gravity_scale: float) -> None:
    """Exit with one line and status 2 (no usage text, as for the floor options' files) for a gravity
    scale that is negative or not finite."""
    try:
        gravity_text(gravity_scale)
    except ValueError as exc:
        p.exit(2, f"{p.prog}: error: --gravity-scale: {exc}\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("hall", type=Path)
    p.add_argument("outdir", type=Path)
    add_floor_arguments(p)
    add_gravity_argument(p)
    args = p.parse_args(argv)
    check_gravity_scale(p, args.gravity_scale)
    try:
        case = build_case(args.hall, plenum=args.plenum, tile_model=args.tile_model,
                          tile_zeta_scale=args.tile_zeta_scale, tile_lateral_scale=args.tile_lateral_scale,
                          tile_flows_csv=args.tile_flows, tile_turbulence_csv=args.tile_turbulence,
                          outflow_bc=args.outflow_bc)
    except (ValueError, KeyError, OSError) as exc:  # the study CSVs: one line naming the file
        p.exit(2, f"{p.prog}: error: {exc}\n")
    write_case(case, args.outdir, gravity_scale=args.gravity_scale)
    print(f"{args.outdir}: {case.n_cells} cells, {len(case.faces)} faces, "
          f"{len(case.patches)} patches, {case.leak_faces} leak faces of {case.leak_faces + case.panel_faces} "
          f"panel faces", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
