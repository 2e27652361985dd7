"""VTK XML image data (.vti) for cell fields on the solver grid, and the .pvd collection that gives them times.

The format is small enough to write directly: one <ImageData> piece whose cells are the grid's cells,
each array base64-encoded with a UInt64 byte-count header; VTK orders cells with x varying fastest.

A ``.pvd`` (VTK's "Collection" file, read by ParaView and pyvista) lists the snapshots with their
simulated time in seconds, so that ParaView's time axis shows 0, 600, 1200 s instead of steps 0, 1, 2.
Solid cells are blanked the way VTK does it natively: a ``vtkGhostType`` cell array with the HIDDENCELL
bit set, which ParaView's filters and renderers skip (the NaN in ``t_c`` stays for readers that
ignore ghost arrays).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from twin.sim.files import atomic_write

__all__ = ["GHOST_ARRAY", "HIDDENCELL", "ghost_cells", "write_pvd", "write_vti"]

#: VTK's name for its ghost/blanking array and the bit that hides a cell (vtkDataSetAttributes::HIDDENCELL).
GHOST_ARRAY = "vtkGhostType"
HIDDENCELL = 32

_VTK_TYPES = {np.dtype("float32"): "Float32", np.dtype("float64"): "Float64", np.dtype("uint8"): "UInt8",
              np.dtype("int32"): "Int32"}


def _encode(values: np.ndarray) -> str:
    raw = np.ascontiguousarray(values).tobytes()
    return base64.b64encode(np.uint64(len(raw)).tobytes() + raw).decode("ascii")


def write_vti(path: Path, *, origin_m: tuple[float, float, float], spacing_m: float,
              cell_data: dict[str, np.ndarray]) -> Path:
    """Write grid-shaped (nx, ny, nz) or (nx, ny, nz, 3) cell arrays to ``path`` atomically."""
    first = next(iter(cell_data.values()))
    nx, ny, nz = first.shape[:3]
    pieces = []
    for name, arr in cell_data.items():
        arr = np.asarray(arr)
        if arr.dtype not in _VTK_TYPES:
            arr = arr.astype(np.float32)
        comps = arr.shape[3] if arr.ndim == 4 else 1
        # VTK's cell order: x fastest, then y, then z (Fortran order of an (nx, ny, nz) array).
        flat = arr.transpose(2, 1, 0, 3).reshape(-1, comps) if comps > 1 else arr.ravel(order="F")
        pieces.append(
            f'        <DataArray type="{_VTK_TYPES[arr.dtype]}" Name="{name}" NumberOfComponents="{comps}" '
            f'format="binary">\n          {_encode(flat)}\n        </DataArray>\n'
        )
    extent = f"0 {nx} 0 {ny} 0 {nz}"
    ox, oy, oz = origin_m
    text = (
        '<?xml version="1.0"?>\n'
        '<VTKFile type="ImageData" version="1.0" byte_order="LittleEndian" header_type="UInt64">\n'
        f'  <ImageData WholeExtent="{extent}" Origin="{ox} {oy} {oz}" '
        f'Spacing="{spacing_m} {spacing_m} {spacing_m}">\n'
        f'    <Piece Extent="{extent}">\n'
        f'      <CellData Scalars="{next(iter(cell_data))}">\n'
        + "".join(pieces)
        + "      </CellData>\n    </Piece>\n  </ImageData>\n</VTKFile>\n"
    )
    return atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="ascii"))


def ghost_cells(solid: np.ndarray) -> np.ndarray:
    """VTK's ghost array for a solid mask: HIDDENCELL where solid, 0 (an ordinary cell) elsewhere."""
    return np.where(np.asarray(solid, dtype=bool), HIDDENCELL, 0).astype(np.uint8)


def write_pvd(path: Path, snapshots: Sequence[tuple[float, str | Path]]) -> Path:
    """Write a .pvd collection listing ``(time_s, file)`` snapshots, atomically (file paths relative to it).

    Rewritten whole after each snapshot: the renamed file is always a complete collection, so a run
    killed at any moment leaves a .pvd that ParaView opens with every snapshot written so far.
    """
    path = Path(path)
    rows = []
    for time_s, file in sorted(snapshots, key=lambda item: item[0]):
        rel = Path(file).relative_to(path.parent) if Path(file).is_absolute() else Path(file)
        rows.append(f'    <DataSet timestep="{float(time_s)!r}" group="" part="0" file="{rel.as_posix()}"/>\n')
    text = ('<?xml version="1.0"?>\n'
            '<VTKFile type="Collection" version="0.1" byte_order="LittleEndian">\n'
            "  <Collection>\n" + "".join(rows) + "  </Collection>\n</VTKFile>\n")
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
