"""VTK XML image data (.vti) for cell fields on the solver grid, readable by ParaView and pyvista.

The format is small enough to write directly: one <ImageData> piece whose cells are the grid's cells,
each array base64-encoded with a UInt64 byte-count header; VTK orders cells with x varying fastest.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from twin.sim.files import atomic_write

__all__ = ["write_vti"]

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
