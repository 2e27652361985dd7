"""Grid sequencing of the momentum model's steady solve (HallTwin.steady, twin.thermal.gridseq)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.halls import hall_from, tiny_dict
from twin.sim.twin import HallTwin
from twin.thermal.airflow import face_divergence


def _tiny_at(cell_m: float, **airflow):
    data = tiny_dict()
    data["hall"]["cell_m"] = cell_m
    data["airflow"] = {"model": "momentum", **airflow}
    return hall_from(data)


@pytest.mark.parametrize("turbulence", ["chen-xu", "k-epsilon"])
def test_sequenced_and_plain_steady_solves_agree_and_the_sequenced_one_skips_the_start_up(turbulence, monkeypatch):
    """Tiny at 0.25 m (its own 0.5 m grid is the coarse one): the solve started from the coarse answer stops
    within twice the stopping rule's 0.05 K of the one started from rest, in fewer outer iterations on the fine
    grid and with no start-up solve there, its face flows divergence-free and its energy balanced (k-ε: its
    k and ε carried over too, and positive). Twice: each stops within the rule's reach of the converged answer
    on its own path (k-ε: 0.034 and 0.033 K from it, settled to 1e-3 K in 38 outer iterations; Chen–Xu's still
    swing by 0.002 K per outer iteration after 600), measured 0.051 K (Chen–Xu) and 0.056 K (k-ε) apart; under
    the rule before 2026-12-02, which also waited for the flow's residuals to reach 1e-4, 0.007 and 0.006 K
    apart and 0.004 K from the converged answer (twin.sim.twin._STEADY_SETTLED_RUN). Both unlagged (every
    iteration assembled), the loops these figures were measured on: lagged (the default since the evening of
    2026-12-02) Chen–Xu's two stopped 0.139 K apart, the stopping rule's spread on another path, not the
    sequencing's."""
    import twin.sim.twin as twin_module

    monkeypatch.setattr(twin_module, "_STEADY_REASSEMBLE_EVERY", 1)
    hall = _tiny_at(0.25, turbulence=turbulence)
    plain_twin, seq_twin = HallTwin(hall, grid_sequencing=False), HallTwin(hall)
    assert seq_twin.grid_sequencing  # the default
    iterations = {id(plain_twin): [], id(seq_twin): []}
    for twin in (plain_twin, seq_twin):
        def solve_flow(*args, _twin=twin, _solve=twin.solve_flow, **kwargs):
            info = _solve(*args, **kwargs)
            iterations[id(_twin)].append(info.iterations)
            return info
        twin.solve_flow = solve_flow  # type: ignore[method-assign]  # records each solve's momentum iterations
    plain, seq = plain_twin.steady(), seq_twin.steady()
    assert "grid_sequencing" not in plain.extra["steady"]
    info = seq.extra["steady"]["grid_sequencing"]
    assert info["coarse_cell_m"] == 0.5 and info["coarse_outer_iterations"] >= 2
    assert seq.extra["steady"]["outer_iterations"] < plain.extra["steady"]["outer_iterations"]
    # The fine grid's first flow solve took the outer loop's 10 iterations, not a start-up from rest.
    first_plain, first_seq = iterations[id(plain_twin)][0], iterations[id(seq_twin)][0]
    assert first_seq == 10 and first_plain > 50, (first_plain, first_seq)
    t_plain, t_seq = plain_twin.intake_c(plain.t_air_c), seq_twin.intake_c(seq.t_air_c)
    assert np.max(np.abs(t_seq - t_plain)) < 0.1
    src = seq_twin.airflow.sources_m3s(seq.flow_movers_m3s)
    div = face_divergence(seq_twin.net, seq.face_flow_m3s)
    assert np.max(np.abs(div - src)) < 1e-12 * np.abs(seq.face_flow_m3s).max()
    heat_in = seq.rack_heat_w.sum() + seq_twin.mover_heat_w(seq).sum()
    assert abs(seq.crah_heat_removed_w.sum() - heat_in) < 1e-6 * heat_in
    assert seq.momentum is not None
    assert ({"k", "eps"} <= set(seq.momentum)) == (turbulence == "k-epsilon")
    assert all(np.all(seq.momentum[name] > 0) for name in ("k", "eps") if name in seq.momentum)


def test_a_hall_with_no_coarser_grid_is_solved_from_rest_and_says_why():
    """Tiny's 0.5 m plenum is no whole number of 1 m cells: the steady solve records why it did not sequence
    and gives the very bits of a solve with sequencing off."""
    hall = _tiny_at(0.5)
    seq, plain = HallTwin(hall).steady(), HallTwin(hall, grid_sequencing=False).steady()
    reason = seq.extra["steady"]["grid_sequencing"]["skipped"]
    assert "raised_floor.depth_m" in reason and "1 m" in reason, reason
    assert np.array_equal(seq.t_air_c, plain.t_air_c)


def test_solver_settings_changed_after_a_steady_solve_reach_the_coarse_grid():
    """A twin whose momentum tolerance is changed after a first steady solve gives the bits of a fresh twin
    built with that tolerance: the coarse grid's solve (10x the hall's tolerance) follows the change instead
    of keeping the settings it was built with."""
    hall = _tiny_at(0.25)
    reused, fresh = HallTwin(hall), HallTwin(hall)
    reused.steady()
    for twin in (reused, fresh):
        assert twin.momentum is not None
        twin.momentum.settings = dataclasses.replace(twin.momentum.settings, tol=3e-4)
    again, first = reused.steady(), fresh.steady()
    assert "skipped" not in first.extra["steady"]["grid_sequencing"]
    assert np.array_equal(again.t_air_c, first.t_air_c)


def test_the_hall_file_turns_sequencing_off():
    """[airflow] grid_sequencing = false: the twin starts its steady solve from rest."""
    assert not HallTwin(_tiny_at(0.25, grid_sequencing=False)).grid_sequencing


def test_coarse_hall_is_the_same_hall_on_larger_cells_or_says_why_not():
    """Twice tiny's 0.25 m cells is tiny's own grid; 1 m cells leave 3 along its 3 m height, too few to say
    anything about the flow; the racks and units are the file's, unchanged."""
    from twin.model.load import HallError, bundled_hall, coarse_hall

    hall = _tiny_at(0.25)
    coarse = coarse_hall(hall, 2)
    assert coarse.spec.hall.cell_m == 0.5 and coarse.racks == hall.racks and coarse.crahs == hall.crahs
    data = tiny_dict()
    data.pop("raised_floor")
    data.pop("tiles")
    data["crahs"][0]["supply_to"] = "front"
    with pytest.raises(HallError, match=r"3 m along z is fewer than 4 cells"):
        coarse_hall(hall_from(data), 2)
    with pytest.raises(HallError, match=r"raised_floor\.depth_m: 0\.5 m is not a whole number of cells of 1\.0 m"):
        coarse_hall(bundled_hall("tiny"), 2)
