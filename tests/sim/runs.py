"""Helpers for the CLI and output tests: run `twin` as a real subprocess, make bad hall files, read .vti."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.halls import TINY, bad_hall

__all__ = ["CONTRACT_KEYS", "REPO", "TINY", "bad_hall", "read_pvd", "read_vti", "twin_cli", "twin_command"]

REPO = Path(__file__).resolve().parents[2]

#: Summary keys that README ("Summary keys") promises to scripts.
CONTRACT_KEYS = ("max_inlet_c", "mean_inlet_c", "racks", "racks_outside_recommended", "energy_balance_error",
                 "cells", "steps", "sim_s", "wall_s", "rtf", "outputs",
                 "peak_inlet_c", "peak_inlet_rack", "peak_inlet_time_s", "peak_return_c", "peak_return_crah",
                 "peak_return_time_s", "peak_ups_load_fraction", "peak_ups_load_ups", "peak_ups_load_time_s")


def twin_command(*args: object) -> list[str]:
    """The argv of ``python -m twin.cli ARGS`` with this interpreter."""
    return [sys.executable, "-m", "twin.cli", *map(str, args)]


def twin_cli(*args: object, cwd: Path = REPO, timeout_s: float = 120.0) -> subprocess.CompletedProcess:
    """Run ``twin ARGS`` to completion in a subprocess; stdout and stderr captured as text."""
    return subprocess.run(twin_command(*args), cwd=cwd, capture_output=True, text=True, timeout=timeout_s)




def read_vti(path: Path) -> tuple[object, dict[str, np.ndarray]]:
    """A .vti read with VTK's own XML reader: the vtkImageData and its cell arrays as numpy arrays."""
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkIOXML import vtkXMLImageDataReader

    reader = vtkXMLImageDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    image = reader.GetOutput()
    cell_data = image.GetCellData()
    arrays = {cell_data.GetArrayName(i): vtk_to_numpy(cell_data.GetArray(i))
              for i in range(cell_data.GetNumberOfArrays())}
    return image, arrays


def read_pvd(path: Path) -> list[tuple[float, Path]]:
    """A .pvd collection parsed as XML (ParaView's own vtkPVDReader is not in VTK): (time_s, file) in order."""
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    assert root.tag == "VTKFile" and root.get("type") == "Collection"
    return [(float(d.get("timestep")), Path(path).parent / d.get("file")) for d in root.iter("DataSet")]
