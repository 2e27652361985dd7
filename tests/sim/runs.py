"""Helpers for the CLI and output tests: run `twin` as a real subprocess or in this process, make bad hall
files, read .vti."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.halls import TINY, bad_hall

__all__ = ["CONTRACT_KEYS", "REPO", "TINY", "bad_hall", "read_pvd", "read_vti", "twin_cli", "twin_command", "twin_main", "twin_main_captured"]

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


def _main(args: tuple[object, ...], cwd: Path | None) -> int:
    """``twin.cli.main(ARGS)`` run in ``cwd``: its exit code (argparse's SystemExit included)."""
    from twin.cli import main

    before = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        try:
            return main([str(a) for a in args])
        except SystemExit as exc:  # argparse refuses an option's value by exiting
            # sys.exit() and sys.exit(None) mean success; a message (str) means failure, as in a process.
            return 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(before)


def twin_main(capsys, *args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``twin ARGS`` in this process: ``twin.cli.main(argv)``, its exit code and what it printed
    (through pytest's ``capsys``), in the shape :func:`twin_cli` returns. The entry point is the same
    as the console script's; only interpreter start-up and imports are saved. Use it for the many
    bad-input cases; a few tests keep real subprocesses to check the process's own exit code."""
    capsys.readouterr()  # drop anything printed before
    code = _main(args, cwd)
    out = capsys.readouterr()
    return subprocess.CompletedProcess([str(a) for a in args], code, out.out, out.err)


def twin_main_captured(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """:func:`twin_main` for fixtures wider than a test, which cannot take ``capsys``: what the command
    prints to sys.stdout and sys.stderr is caught in memory instead."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = _main(args, cwd)
    return subprocess.CompletedProcess([str(a) for a in args], code, out.getvalue(), err.getvalue())


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
