"""validation/cfd_grid_study.py: the readers behind "Is the CFD reference grid-converged at the row ends?"."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from validation.cfd_grid_study import band_flows, coarse_fields, drift_windows, rack_table
from validation.tile_column_probe import budget

RESULTS = Path(__file__).resolve().parents[2] / "validation" / "results"
# The fixed-value references the study was written for (validation/README.md, "The references' outflow condition").
COARSE, TRANSIENT = RESULTS / "fixed-value-outflow" / "aisle-pair", RESULTS / "fixed-value-outflow" / "aisle-pair-transient"


@pytest.mark.parametrize("folder", [COARSE, TRANSIENT])
def test_tile_bands_carry_the_floor_crahs_supply(folder):
    """The plenum's only way out is the tiles: the bands' flows add up to the CRAHs' supply (mass conservation)."""
    with open(folder / "crahs.csv", newline="") as f:
        supply_m3s = sum(float(r["flow_m3s"]) for r in csv.DictReader(f))
    bands = band_flows(folder)
    assert len(bands) == 8  # four 0.6 m bands along the 2.4 m aisle, two halves
    assert sum(bands.values()) == pytest.approx(supply_m3s, rel=2e-3)


def test_a_field_refined_by_injection_averages_back_to_itself(tmp_path):
    """A 0.15 m field copied into 2x2x2 sub-cells (a 0.075 m fields.npz) averages back to the same field, and
    the cold aisle's budget of the average is the 0.15 m field's budget."""
    with np.load(COARSE / "fields.npz") as z:
        f = {k: z[k] for k in z.files}

    def refine(a: np.ndarray) -> np.ndarray:
        return a.repeat(2, axis=0).repeat(2, axis=1).repeat(2, axis=2)

    def fine_centres(x: np.ndarray) -> np.ndarray:
        return np.stack([x - 0.0375, x + 0.0375], axis=1).ravel()

    np.savez(tmp_path / "fields.npz", t_c=refine(f["t_c"]), velocity_m_s=refine(f["velocity_m_s"]), cell_m=0.075,
             x_m=fine_centres(f["x_m"]), y_m=fine_centres(f["y_m"]), z_m=fine_centres(f["z_m"]))
    back = coarse_fields(tmp_path, 0.15)
    fluid = np.isfinite(f["t_c"])
    assert np.array_equal(np.isfinite(back["t_c"]), fluid)
    np.testing.assert_allclose(back["t_c"][fluid], f["t_c"][fluid], rtol=1e-6)
    np.testing.assert_allclose(back["velocity_m_s"][fluid], f["velocity_m_s"][fluid], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(back["z_m"], f["z_m"], atol=1e-9)
    b0, b1 = budget(f), budget(back)
    for k, v in b0.items():
        assert b1[k] == pytest.approx(v, rel=1e-4), k


def test_a_run_against_itself_moved_nowhere(tmp_path):
    """The steady reference compared with a copy of itself: every rack moved 0 K, none beyond its spread, and
    its errors against the transient mean are the reference's own."""
    shutil.copytree(COARSE, tmp_path / "copy", ignore=shutil.ignore_patterns("fields.npz"))
    res = rack_table(COARSE, tmp_path / "copy", TRANSIENT)
    assert all(v["fine_minus_coarse_k"] == 0.0 and not v["moved_beyond_spread"] for v in res["racks"].values())
    assert res["fine_vs_coarse"]["rms_k"] == 0.0
    assert res["fine_vs_transient"] == res["coarse_vs_transient"]
    assert 0.2 < res["coarse_vs_transient"]["rms_k"] < 0.5  # the README's 0.32 K between the two references


def test_drift_windows_cover_the_run_in_order():
    """Windows of 10 blocks tile the 4,000 iterations of the steady reference; their means are the blocks'."""
    windows = drift_windows(COARSE, 10)
    assert [w["iterations"] for w in windows] == ["1-1000", "1001-2000", "2001-3000", "3001-4000"]
    with open(COARSE / "history.csv", newline="") as f:
        a04 = [float(r["in.A04"]) for r in csv.DictReader(f)]
    assert windows[-1]["A04"] == pytest.approx(np.mean(a04[30:40]), abs=1e-3)
    assert windows[-1]["A04_range_k"] == pytest.approx(np.ptp(a04[30:40]), abs=1e-3)


def test_intakes_read_on_the_layer_are_the_runs_own():
    """Reading the 0.15 m run's averaged field over the cells its rack-intake patches border gives its racks.csv
    (which run_cfd computed from the same field in OpenFOAM's numbering): the reader the fine run is put through."""
    from validation.cfd_grid_study import intakes_on_layer
    from validation.compare import read_cfd

    hall = RESULTS.parent / "halls" / "aisle-pair.toml"
    with np.load(COARSE / "fields.npz") as z:
        got = intakes_on_layer(hall, {"t_c": z["t_c"]})
    want, _ = read_cfd(COARSE)
    assert got.keys() == want.keys()
    for rack, t_c in want.items():
        assert got[rack] == pytest.approx(t_c, abs=2e-3), rack  # racks.csv keeps 3 decimals, the field float32
