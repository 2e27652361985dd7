"""validation/cfd_start.py: a CFD's cell-centred field turned into the twin's state (face velocities that carry
the movers' flows, its temperatures), marched and steady-solved from it, and its input errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.halls import TINY
from twin.model import load_hall
from twin.sim.twin import HallTwin
from twin.thermal.momentum import MomentumSettings, MomentumSolver, MoverJets
from validation.cfd_start import (
    cfd_state,
    face_velocity_from_cells,
    load_fields,
    parse_start,
    save_fields,
    start_state,
)
from validation.transient_twin import main, march


def _duct(shape: tuple[int, int, int] = (10, 4, 3), h: float = 0.2) -> tuple[MomentumSolver, np.ndarray]:
    """An open duct: a fan takes the air out of the last cross-section (x = nx − 1) and blows it into the first."""
    solid = np.zeros(shape, bool)
    faces = [np.ones((shape[0] + 1, shape[1], shape[2])), np.ones((shape[0], shape[1] + 1, shape[2])),
             np.ones((shape[0], shape[1], shape[2] + 1))]
    idx = np.arange(np.prod(shape)).reshape(shape)
    movers = MoverJets([idx[-1].ravel()], [idx[0].ravel()], np.array([[1.0, 0.0, 0.0]]), ["fan"])
    return MomentumSolver(solid, faces, h, movers, settings=MomentumSettings(buoyancy=False)), np.array([0.36])


def _write_fields(path: Path, t_c: np.ndarray, u_cell: np.ndarray) -> Path:
    np.savez_compressed(path, t_c=t_c.astype(np.float32), velocity_m_s=u_cell.astype(np.float32))
    return path


def test_a_plug_flow_round_trips_through_cell_centres_exactly(tmp_path):
    """The duct's plug flow U = q/A, seen at cell centres (U/2 in the first and last cross-sections, whose
    outer faces are closed), comes back as the same face velocities: cell means give 3U/4 on the faces next to
    the fan's cells, and only the projection onto the fan's sources restores U there. Its T is the file's."""
    m, q = _duct()
    nx, ny, nz = m.shape
    u_plug = q[0] / (ny * nz * m.h ** 2)
    m.u[0][1:-1] = u_plug
    cells = m.cell_velocity_m_s()
    assert cells[0, ..., 0] == pytest.approx(np.full((ny, nz), u_plug / 2))
    rough = face_velocity_from_cells(cells, m.active)
    assert rough[0][1] == pytest.approx(np.full((ny, nz), 0.75 * u_plug))  # what the projection must repair
    t = 20.0 + np.arange(np.prod(m.shape), dtype=float).reshape(m.shape) / 100.0
    t_air, info = cfd_state(m, _write_fields(tmp_path / "f.npz", t, cells), q)
    assert np.abs(m.u[0][1:-1] - u_plug).max() < 1e-6 * u_plug
    assert np.abs(m.u[1]).max() < 1e-6 * u_plug and np.abs(m.u[2]).max() < 1e-6 * u_plug
    assert m.u[0][0].max() == 0.0 and m.u[0][-1].max() == 0.0  # the duct's closed ends stay closed
    assert info.divergence_after_m3s < 1e-15 and info.divergence_before_m3s > 0.01 * q[0]
    assert np.array_equal(t_air, t.ravel().astype(np.float32).astype(float))
    # No buoyancy, a plug: the pressure the step finds falls along the duct (wall shear), nearly the same across
    # each cross-section (the plug is not the duct's developed profile, whose shape the step starts to push for).
    assert np.all(np.diff(m.p[1:-1, 1, 1]) < 0)
    assert np.ptp(m.p[3]) < 1e-2 * np.ptp(m.p[1:-1, 1, 1])


@pytest.fixture(scope="module")
def tiny_steady() -> tuple[HallTwin, object]:
    twin = HallTwin(load_hall(TINY), airflow="momentum", dt_s=0.5, grid_sequencing=False)
    return twin, twin.steady()


def _own_fields(twin: HallTwin, state, path: Path) -> Path:
    """The twin's own steady answer written as a CFD's fields.npz (cell centres, NaN in solids)."""
    m = twin.momentum
    t = np.full(m.shape, np.nan)
    t.ravel()[m.fluid_flat] = state.t_air_c
    m.u = [state.momentum[k].copy() for k in ("ux", "uy", "uz")]
    u = m.cell_velocity_m_s()
    u[~m.fluid] = np.nan
    return _write_fields(path, t, u)


def test_the_twins_own_field_gives_a_state_that_carries_the_movers_flows_and_its_heat(tiny_steady, tmp_path):
    """Tiny's steady field, through cell centres and back: every cell's net outflow is its movers' source to
    round-off (mass), the stored heat is the file's (energy), the intakes read at the start are the field's,
    and the face velocities stay close to the original (the cell-face averaging smooths: within 35 % rms)."""
    twin, state = tiny_steady
    path = _own_fields(twin, state, tmp_path / "fields.npz")
    fresh = HallTwin(load_hall(TINY), airflow="momentum", dt_s=0.5, grid_sequencing=False)
    start, info = start_state(fresh, path)
    m = fresh.momentum
    q = fresh.mover_flow_m3s(start)
    assert np.abs(m._divergence_m3s(m.u) - m.sources_m3s(q)).max() < 1e-12 * q.max()
    t32 = state.t_air_c.astype(np.float32).astype(float)
    assert np.array_equal(start.t_air_c, t32)  # the file's temperatures, so the air stores the file's heat
    assert start.t_intake_c == pytest.approx(twin.intake_c(t32)[: twin.n_racks], abs=1e-9)
    original = np.concatenate([state.momentum[k][a] for k, a in (("ux", m.active[0]), ("uy", m.active[1]),
                                                                   ("uz", m.active[2]))])
    now = np.concatenate([m.u[a][m.active[a]] for a in range(3)])
    assert np.sqrt(np.mean((now - original) ** 2)) < 0.35 * np.sqrt(np.mean(original ** 2))
    assert info.t_filled_cells == 0 and start.momentum is not None and np.any(start.momentum["p"])
    # A twin's own field saved with its face velocities comes back as it was (the projection has nothing to do),
    # unless read through its cell centres as a CFD's would be.
    saved = tmp_path / "own.npz"
    save_fields(saved, m, start.t_air_c)
    again = HallTwin(load_hall(TINY), airflow="momentum", dt_s=0.5, grid_sequencing=False)
    back, info_back = start_state(again, saved)
    assert max(np.abs(again.momentum.u[a] - m.u[a]).max() for a in range(3)) < 1e-12
    assert info_back.divergence_before_m3s < 1e-15 and np.array_equal(back.t_air_c, start.t_air_c)
    _, smoothed = start_state(again, saved, from_cells=True)
    assert smoothed.divergence_before_m3s > 1e3 * info_back.divergence_before_m3s


def test_a_march_and_the_steady_loop_from_a_cfd_start_conserve_and_come_back(tiny_steady, tmp_path):
    """Started from its own (smoothed) steady field as if it were a CFD's: the march conserves energy to
    round-off, starts at the field's intakes, and returns to the steady answer within 0.1 K; with the flow
    held the heat alone settles; the steady loop warm-started from it settles on the same answer within
    0.1 K in fewer outer iterations than its cold start."""
    twin, state = tiny_steady
    path = _own_fields(twin, state, tmp_path / "fields.npz")
    r = march(TINY, dt_s=0.5, spin_up_s=20.0, window_s=5.0, sample_s=0.5, start=f"cfd:{path}")
    assert abs(r.energy_balance_error) < 1e-9
    assert r.conversion["divergence_after_m3s"] < 1e-15
    for j, rack in enumerate(twin.racks.names):
        assert r.steady_c[f"in.{rack}"] == pytest.approx(state.t_intake_c[j], abs=0.2)
        assert r.mean_c[f"in.{rack}"] == pytest.approx(state.t_intake_c[j], abs=0.1)
    held = march(TINY, dt_s=0.5, spin_up_s=20.0, window_s=5.0, sample_s=0.5, start=f"cfd:{path}", hold="flow")
    assert abs(held.energy_balance_error) < 1e-9 and held.hold == "flow"
    fresh = HallTwin(load_hall(TINY), airflow="momentum", dt_s=0.5, grid_sequencing=False)
    start, _ = start_state(fresh, path)
    solved = fresh.steady(start)
    assert solved.t_intake_c == pytest.approx(state.t_intake_c, abs=0.1)
    assert solved.extra["steady"]["outer_iterations"] <= state.extra["steady"]["outer_iterations"]


def test_k_epsilon_with_the_flow_held_needs_k_and_epsilon(tiny_steady, tmp_path):
    """A CFD's file has no k and ε: held, the flow would carry the heat with a zero eddy diffusivity, so a k-ε hall
    refuses it with a message saying what is missing."""
    from validation.numerics_study import hall_variant

    twin, state = tiny_steady
    path = _own_fields(twin, state, tmp_path / "fields.npz")
    variant = hall_variant(TINY, tmp_path, turbulence="k-epsilon")
    with pytest.raises(ValueError, match="k-ε with the flow held needs the start's k and ε"):
        march(variant, dt_s=0.5, spin_up_s=1.0, window_s=1.0, start=f"cfd:{path}", hold="flow")


def test_bad_fields_and_starts_are_one_clear_line(tmp_path, capsys):
    """A fields file of another grid or without velocities names the file and what is needed; --start takes
    steady, rest, cfd or cfd:PATH, and a bad one exits 2 with one line."""
    bad = tmp_path / "f.npz"
    np.savez(bad, t_c=np.zeros((3, 3, 3)), velocity_m_s=np.zeros((3, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"f\.npz: t_c has shape \(3, 3, 3\).*\(4, 4, 4\)"):
        load_fields(bad, (4, 4, 4))
    np.savez(bad, t_c=np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="key 'velocity_m_s' missing"):
        load_fields(bad, (3, 3, 3))
    assert parse_start("cfd", "aisle-pair").parts[-2:] == ("aisle-pair-transient", "fields.npz")
    assert parse_start(f"cfd:{tmp_path}", "x") == tmp_path / "fields.npz"
    assert parse_start("steady", "x") is None
    assert main(["aisle-pair", "--start", "cfdx"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--start must be steady, rest, cfd or cfd:PATH" in err[0]
    assert main([str(TINY), "--start", f"cfd:{tmp_path / 'none.npz'}", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.npz: no such CFD fields file" in err[0]
