"""validation/transient_twin.py: the twin marched in time on a tiny hall (energy, averaging, the steady answer
as a fixed point of the march), its files read back, its comparison and spectra, and its input errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tests.halls import TINY
from twin.geometry.voxel import voxelize_hall
from twin.model import load_hall
from twin.thermal.network import build_network
from validation.numerics_study import hall_variant
from validation.transient_twin import (
    MarchResult,
    compare,
    main,
    march,
    read,
    reference_intake_matrix,
    row_ends,
    spectrum,
    write,
)


@pytest.fixture(scope="module")
def tiny_run() -> MarchResult:
    """Tiny (one row, one CRAH, raised floor) marched 5 s + 5 s at dt 0.5 s from its steady answer."""
    return march(TINY, dt_s=0.5, spin_up_s=5.0, window_s=5.0, sample_s=0.5)


def test_march_conserves_energy_and_averages_every_step_of_the_window(tiny_run):
    """Heat in − heat out − stored change closes to round-off; with a sample every step the window's samples
    average to the reported means; 20 samples over 10 s."""
    r = tiny_run
    assert abs(r.energy_balance_error) < 1e-9
    assert r.steps == 20 and len(r.times_s) == 20 and r.times_s[-1] == pytest.approx(10.0)
    samples = np.array(r.samples_c)
    window = np.array(r.times_s) > r.spin_up_s
    for j, name in enumerate(r.names):
        assert samples[window, j].mean() == pytest.approx(r.mean_c[name], abs=2e-4)
    assert r.names == ["in.A01", "in.A02", "in.A03", "in.A04", "ret.CRAH-01"]
    assert 0.0 < r.courant_max < 5.0


def test_the_steady_answer_of_a_settled_hall_is_a_fixed_point_of_the_time_march(tiny_run):
    """Tiny's steady flow settles (no row-end flapping at 0.5 m cells): marched in time from it, same
    discretization, the intakes stay within 0.05 K of it, and the return air sits above the 18 °C supply
    by the hall's heat over the CRAH's air (the march moves no heat by itself)."""
    r = tiny_run
    for name in r.names:
        assert abs(r.mean_c[name] - r.steady_c[name]) < 0.05, name
    assert r.mean_c["ret.CRAH-01"] > 18.0 + 5.0


def test_a_written_run_reads_back_and_compares_with_itself_to_zero(tiny_run, tmp_path, capsys):
    """samples.csv and summary.json round-trip; a CFD folder made of the run's own numbers compares at zero
    error with equal spectra, and --report prints the table from the files."""
    out = tmp_path / "run"
    write(tiny_run, None, out)
    back = read(out)
    assert back.samples_c == tiny_run.samples_c and back.mean_c == tiny_run.mean_c and back.names == tiny_run.names
    cfd = tmp_path / "cfd"
    cfd.mkdir()
    with open(cfd / "racks.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rack", "t_intake_c"])
        for name, v in tiny_run.mean_c.items():
            if name.startswith("in."):
                w.writerow([name[3:], v])
    (cfd / "samples.csv").write_text((out / "samples.csv").read_text())
    (cfd / "meta.json").write_text(json.dumps({"spin_up_s": tiny_run.spin_up_s}))
    result = compare(tiny_run, cfd)
    assert result["time_mean"]["all"]["max_abs_k"] == 0.0
    assert result["steady"]["all"]["rms_k"] > 0.0
    for rack in result["racks"]:
        assert rack["cfd_spectrum"] == rack["twin_spectrum"]
    assert [r["rack"] for r in result["racks"] if r["row_end"]] == ["A01", "A04"]
    assert main(["--report", str(out), "--cfd", str(cfd)]) == 0
    table = capsys.readouterr().out
    assert "| A01 (end) |" in table and "RMS row ends" in table


def test_spectrum_finds_a_sine_s_period_and_its_share_of_fast_variance():
    """Two sines with whole cycles in 600 s, 30 s (amplitude 2) and 200 s (amplitude 1): sd √2.5, dominant
    period 30 s, and the share of the variance at periods under 60 s is 4/5."""
    t = np.arange(600.0)
    x = 2.0 * np.sin(2 * np.pi * t / 30.0) + np.sin(2 * np.pi * t / 200.0) + 21.0
    s = spectrum(x, 1.0)
    assert s.sd_k == pytest.approx(np.sqrt(2.5), rel=1e-2)
    assert s.dominant_period_s == pytest.approx(30.0)
    assert s.fast_share == pytest.approx(0.8, abs=0.01)


def test_row_ends_are_each_row_s_first_and_last_rack():
    """aisle-pair's two rows of four: A01, A04, B01, B04."""
    hall = Path(__file__).resolve().parents[2] / "validation" / "halls" / "aisle-pair.toml"
    assert row_ends(hall) == ["A01", "A04", "B01", "B04"]


def test_bad_input_is_one_clear_line(tmp_path, capsys):
    """A non-positive step and a hall that is not there: exit codes 2 and 1, one line naming what is wrong."""
    assert main([str(TINY), "--dt", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--dt must be positive" in err
    missing = tmp_path / "no-such-hall.toml"
    assert main([str(missing), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(missing) in err


def test_intakes_on_a_finer_grid_are_read_over_the_hall_s_own_intake_cells(tmp_path, rng):
    """On tiny at half its cell, a field constant on each of the hall's own cells reads, rack by rack, exactly
    what the hall's own grid reads; at the hall's own cell the weights are the twin's intake shares."""
    coarse = build_network(voxelize_hall(load_hall(TINY)))
    own = reference_intake_matrix(coarse, TINY, 1)
    assert abs(own - sp.csr_matrix(coarse.intake[:, :coarse.n_racks].T)).max() < 1e-15
    fine = build_network(voxelize_hall(load_hall(hall_variant(TINY, tmp_path, cell_m=0.25))))
    weights = reference_intake_matrix(fine, TINY, 2)
    t_coarse_grid = rng.uniform(15.0, 35.0, coarse.vox.grid.shape)
    fine_idx = np.unravel_index(fine.fluid_flat, fine.vox.grid.shape)
    t_fine = t_coarse_grid[tuple(i // 2 for i in fine_idx)]
    t_coarse = t_coarse_grid.ravel()[coarse.fluid_flat]
    expected = coarse.intake[:, :coarse.n_racks].T @ t_coarse
    assert np.allclose(weights @ t_fine, expected, atol=1e-12)
    assert np.allclose(np.asarray(weights.sum(axis=1)).ravel(), 1.0)
