"""open-row-fine.toml, the 0.1 m hall of issue 10's 135k-cell speed target: it is open-row on a finer grid,
and the tools that report it (validation/compare.py's grid pairs, run_cfd.py's CPU time) measure what they say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from twin.geometry.voxel import voxelize_hall
from twin.model import load_hall
from validation.compare import HALLS, SPEED_TARGET_HALL, check_reference, grid_pairs, read_cfd, references

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "validation" / "openfoam"))
from run_cfd import _children_cpu_s, _load_summary  # noqa: E402


def _differences(a, b, path: str = "") -> dict[str, tuple]:
    """Key paths where two nested dict/list values differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: dict[str, tuple] = {}
        for k in sorted(set(a) | set(b)):
            out |= _differences(a.get(k), b.get(k), f"{path}.{k}" if path else k)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = {}
        for i, (x, y) in enumerate(zip(a, b)):
            out |= _differences(x, y, f"{path}[{i}]")
        return out
    return {} if a == b else {path: (a, b)}


def test_fine_hall_is_open_row_on_a_finer_grid():
    """Only the name, cell_m and the CRAH's x (2.55 m, off the 0.1 m grid, moved to the nearest face) differ."""
    coarse = load_hall(HALLS / "open-row.toml").spec.model_dump()
    fine = load_hall(HALLS / f"{SPEED_TARGET_HALL}.toml").spec.model_dump()
    diff = _differences(coarse, fine)
    assert set(diff) == {"hall.name", "hall.cell_m", "crahs[0].position_m"}
    assert diff["hall.cell_m"] == (0.15, 0.1)
    (x_c, y_c), (x_f, y_f) = diff["crahs[0].position_m"]
    assert y_f == y_c and abs(x_f - x_c) == pytest.approx(0.05)  # the nearest multiple of 0.1 m
    assert x_f / 0.1 == pytest.approx(round(x_f / 0.1), abs=1e-9)


def test_fine_hall_has_the_target_size_and_whole_cell_solids():
    """72 × 60 × 30 = 129,600 cells (issue 10's "135k-cell room" class), and every rack and the CRAH fill
    whole cells: their solid cells times a cell's volume equal their boxes' volumes."""
    hall = load_hall(HALLS / f"{SPEED_TARGET_HALL}.toml")
    vox = voxelize_hall(hall)
    assert vox.grid.shape == (72, 60, 30)
    cell_m3 = vox.grid.cell_m**3
    for unit in [*hall.racks, *hall.crahs]:
        volume_m3 = float(np.prod(np.subtract(unit.box.hi, unit.box.lo)))
        cells = int((vox.owner == vox.owners.index(unit.name)).sum())
        assert cells * cell_m3 == pytest.approx(volume_m3, rel=1e-9), unit.name
    assert int((~vox.solid).sum()) == 120_150  # the CFD mesh's cells (run_cfd.py's meta)


def test_grid_pairs_match_every_fine_hall_with_its_coarse_hall():
    """Every validation/halls/*-fine.toml pairs with its coarse hall, and a fine hall alone pairs with nothing."""
    names = sorted(p.stem for p in HALLS.glob("*.toml"))
    pairs = grid_pairs(names)
    assert ("open-row", "open-row-fine") in pairs
    assert all(load_hall(HALLS / f"{f}.toml").spec.hall.cell_m < load_hall(HALLS / f"{c}.toml").spec.hall.cell_m for c, f in pairs)
    assert grid_pairs(["open-row-fine", "contained"]) == []


def test_children_cpu_time_counts_a_finished_child():
    """A child that burns ≈ 0.3 s of CPU adds that much to the CPU time run_cfd.py records, and no more
    than its own wall time (one thread)."""
    before = _children_cpu_s()
    out = subprocess.run([sys.executable, "-c", "import time\nt = time.process_time()\n"
                          "while time.process_time() - t < 0.3: pass\nprint(time.process_time())"],
                         capture_output=True, text=True, check=True)
    spent = _children_cpu_s() - before
    assert float(out.stdout) <= spent + 0.01
    assert 0.3 <= spent < 5.0


def test_load_summary():
    """Min, mean and max of the sampled load averages; nothing when there is no sample."""
    assert _load_summary([2.0, 4.0, 9.0]) == {"min": 2.0, "mean": 5.0, "max": 9.0, "samples": 3}
    assert _load_summary([]) == {}


def test_fine_cfd_results_are_a_settled_reference_of_this_hall():
    """The committed 0.1 m CFD is the twin's fluid cells of this hall, settled within 0.5 K (so the ≤ 1 K
    check uses it), closes its energy balance within 1 %, and its CPU time is one core's: ≤ its wall time."""
    refs = references(SPEED_TARGET_HALL)
    assert list(refs) == ["steady"]
    meta = read_cfd(refs["steady"])[1]
    assert meta["cells"] == int((~voxelize_hall(load_hall(HALLS / f"{SPEED_TARGET_HALL}.toml")).solid).sum())
    assert meta["cell_m"] == 0.1 and meta["cores"] == 1
    kind, reason = check_reference({"steady": meta})
    assert kind == "steady", reason
    assert abs(meta["energy_balance_error"]) < 0.01
    assert 0 < meta["solver_cpu_s"] <= meta["solver_wall_s"] <= meta["wall_s"]
    assert meta["load_average_1min"]["samples"] == meta["picard_blocks"]
