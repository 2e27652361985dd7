"""The grid/scheme study's plumbing: hall variants that load, and a fine field brought onto the CFD's grid."""

from __future__ import annotations

import numpy as np

from twin.geometry.voxel import voxelize_hall
from twin.model import load_hall
from validation.compare import HALLS
from validation.numerics_study import coarsen_to, hall_variant, main


def test_a_finer_variant_of_aisle_pair_has_the_same_racks_on_a_nested_grid(tmp_path):
    """cell_m 0.075 halves every cell of the 0.15 m hall: same plenum depth, each coarse intake cell is
    2 × 2 fine cells across the rack's face, and the file keeps everything else (it loads and validates)."""
    coarse = voxelize_hall(load_hall(HALLS / "aisle-pair.toml"))
    fine = voxelize_hall(load_hall(hall_variant(HALLS / "aisle-pair.toml", tmp_path, cell_m=0.075,
                                                turbulence="k-epsilon")))
    assert fine.grid.shape == tuple(2 * n for n in coarse.grid.shape)
    assert load_hall(tmp_path / "aisle-pair.toml").spec.airflow.turbulence == "k-epsilon"
    for a, b in zip(coarse.racks, fine.racks, strict=True):
        assert a.name == b.name and b.intake.size == 4 * a.intake.size


def test_coarsening_averages_the_fluid_cells_of_each_block(rng):
    """A linear field's block mean over its fluid sub-cells is the field at their mean centre; a block with
    no fluid is NaN."""
    shape = (8, 6, 4)
    centres = np.stack(np.meshgrid(*[np.arange(n) + 0.5 for n in shape], indexing="ij"), axis=-1)
    field = centres @ np.array([1.0, -2.0, 0.5]) + 3.0
    fluid = rng.random(shape) > 0.3
    fluid[:2, :2, :2] = False
    coarse = coarsen_to(field, fluid, 2)
    assert coarse.shape == (4, 3, 2) and np.isnan(coarse[0, 0, 0])
    for i, j, k in [(1, 1, 1), (3, 2, 0), (2, 0, 1)]:
        sub = (slice(2 * i, 2 * i + 2), slice(2 * j, 2 * j + 2), slice(2 * k, 2 * k + 2))
        if fluid[sub].any():
            mean_centre = centres[sub][fluid[sub]].mean(axis=0)
            assert np.isclose(coarse[i, j, k], mean_centre @ np.array([1.0, -2.0, 0.5]) + 3.0)


def test_options_the_study_cannot_honour_are_refused_in_one_line_naming_the_option(capsys):
    """A blend with upwind convection would be ignored and one outside 0–1 is no scheme; a cell size the hall
    cannot take is reported against the hall and the option, not the temporary copy the study writes."""
    for argv, words in ((["aisle-pair", "--blend", "0.5"], ["--blend 0.5", "upwind", "--convection"]),
                        (["aisle-pair", "--convection", "tvd", "--blend", "2"], ["--blend 2.0", "0", "1"]),
                        (["aisle-pair", "--cell-m", "0.1"], [str(HALLS / "aisle-pair.toml"), "--cell-m 0.1",
                                                             "raised_floor.depth_m"])):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("numerics_study: error: "), err
        assert all(w in err for w in words), err
        assert "numerics-" not in err  # no temporary path


def test_a_grid_sequenced_hall_records_its_own_grids_outer_iterations_only():
    """open-row is solved first on its 0.3 m grid (grid sequencing), whose temperature solves go through the
    same loop: the study records the hall's own grid's solves only (one per outer iteration and the final
    one), ending on the intakes it reports, instead of failing on the coarse grid's field."""
    from validation.numerics_study import run_variant

    result = run_variant("open-row")
    assert result["settled"], result.get("error")
    outer = result["intake_history_c"]["outer"]
    assert len(outer) == result["outer_iterations"] + 1
    assert outer[-1] == [result["racks"][name]["twin_c"] for name in result["intake_history_c"]["racks"]]
    assert result["rms_k"] < 1.0  # issue 10's target, met by the default solve (validation/README.md)
