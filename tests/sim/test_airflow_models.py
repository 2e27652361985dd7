"""Both airflow models in the coupled twin: conservation, forks, steady solves, the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.halls import hall_from, tiny_dict, two_crah_dict
from tests.sim.runs import twin_cli
from twin.sim.twin import HallTwin, NoSteadyState
from twin.thermal.airflow import face_divergence


def _momentum_hall(**airflow):
    data = tiny_dict()
    data["airflow"] = {"model": "momentum", **airflow}
    return hall_from(data)


def test_momentum_transient_conserves_mass_and_energy():
    """Ten minutes with buoyancy and flow refreshes: every face field is divergence-free to round-off
    (net outflow = the movers' sources) and the energy balance closes to 1e-9."""
    twin = HallTwin(_momentum_hall(refresh_s=15.0))
    state = twin.initial_state()
    fields = []
    for k in range(600):
        twin.step(state)
        if k % 100 == 0:
            fields.append(state.face_flow_m3s)
            src = twin.airflow.sources_m3s(state.flow_movers_m3s)
            div = face_divergence(twin.net, state.face_flow_m3s)
            assert np.max(np.abs(div - src)) < 1e-12 * max(1.0, np.abs(state.face_flow_m3s).max())
    assert twin.flow_solves >= 600 / 15  # refreshed on its cadence (buoyancy moves the air)
    assert not all(np.array_equal(fields[0], f) for f in fields[1:])
    assert abs(twin.energy_balance_error(state)) < 1e-9


@pytest.mark.parametrize("model", ["potential", "momentum"])
def test_a_copied_state_is_a_fork(model):
    """Stepping a copy and the original alike gives the same bits, whichever was stepped first."""
    data = tiny_dict()
    data["airflow"] = {"model": model, "refresh_s": 10.0}
    twin = HallTwin(hall_from(data))
    state = twin.initial_state()
    for _ in range(25):
        twin.step(state)
    fork = state.copy()
    for _ in range(40):  # the original first: its flow refreshes must not leak into the fork
        twin.step(state)
    other = HallTwin(hall_from(data))  # a second twin interleaved with the first: no shared caches
    for _ in range(20):
        twin.step(fork)
        other.step(fork)
    for name in ("t_air_c", "t_rack_c", "face_flow_m3s", "flow_phi"):
        assert np.array_equal(getattr(state, name), getattr(fork, name)), name
    if model == "momentum":
        assert all(np.array_equal(state.momentum[k], fork.momentum[k]) for k in state.momentum)
    assert state.heat_in_j == fork.heat_in_j and state.time_s == fork.time_s


def test_momentum_steady_state_balances_and_differs_from_potential_flow():
    """The coupled steady state (flow, buoyancy, fan law, coils): heat in = heat removed, and its intakes
    are its own, not the potential flow's."""
    pot = HallTwin(hall_from(tiny_dict())).steady()
    twin = HallTwin(_momentum_hall())
    state = twin.steady()
    released = float(state.rack_heat_w.sum() + twin.mover_heat_w(state).sum())
    assert state.crah_heat_removed_w.sum() == pytest.approx(released, rel=1e-6)
    assert np.max(np.abs(state.t_intake_c - pot.t_intake_c)) > 0.1


def test_a_momentum_steady_solve_that_cannot_converge_says_so_with_its_residuals():
    """Three iterations allowed: NoSteadyState (exit 3 on the command line) with the residual history."""
    import dataclasses

    twin = HallTwin(_momentum_hall())
    twin.momentum.settings = dataclasses.replace(twin.momentum.settings, max_iterations=3)
    with pytest.raises(NoSteadyState) as err:
        twin.steady()
    text = str(err.value)
    assert "did not converge" in text and "continuity / momentum, last 3 of 3" in text
    assert "\n" not in text  # one line


def test_airflow_flag_overrides_the_hall_and_is_reported(tmp_path):
    """--airflow momentum on a potential-flow hall: the summary and the bench say which model ran."""
    from tests.halls import TINY

    proc = twin_cli("run", TINY, "--steady", "--airflow", "momentum", "--json", "--out", tmp_path / "s")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["airflow_model"] == "momentum"
    proc = twin_cli("bench", TINY, "--airflow", "momentum", "--duration", "2min", "--json")
    assert proc.returncode == 0, proc.stderr
    flow = json.loads(proc.stdout)["airflow"]
    assert flow["model"] == "momentum" and flow["refreshes"] >= 3 and flow["refresh_ms"] > 0
    proc = twin_cli("run", TINY, "--steady", "--airflow", "stokes")
    assert proc.returncode == 2 and "potential" in proc.stderr
