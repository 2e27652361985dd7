"""Both airflow models in the coupled twin: conservation, forks, steady solves, the command line."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.halls import hall_from, tiny_dict, two_crah_dict
from tests.sim.runs import twin_main
from twin.sim.twin import AirflowNotConverged, HallTwin, NoSteadyState
from twin.thermal.airflow import face_divergence


def _momentum_hall(**airflow):
    data = tiny_dict()
    data["airflow"] = {"model": "momentum", **airflow}
    return hall_from(data)


def test_the_potential_flow_s_preconditioner_follows_the_model_and_gives_the_same_flow():
    """The potential model re-solves its flow live: pyamg's hierarchy; under the momentum model the potential
    flow is a side solve and takes the grid multigrid (set up in milliseconds). Same hall, same movers: the
    two give the same face flows to their tolerance."""
    from twin.thermal.pressure_mg import PressureMultigrid

    potential = HallTwin(hall_from(tiny_dict()))
    momentum = HallTwin(_momentum_hall())
    assert potential.airflow.method == "amg" and momentum.airflow.method == "gmg"
    assert isinstance(momentum.airflow.multigrid, PressureMultigrid)
    q = potential.mover_flow_m3s(potential.initial_state())
    a, b = potential.airflow.solve(q), momentum.airflow.solve(q)
    assert np.abs(a - b).max() < 1e-8 * np.abs(a).max()


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
    """Embedded control, power chain, a scenario: stepping a copy and the original alike gives the same
    bits (fields, controllers, alarms, the chain's memory), whichever was stepped first and whichever
    twin steps it."""
    from twin.model.scenario import parse_scenario
    from twin.sim.observe import observe
    from twin.sim.scenario import ScenarioPlayer

    data = two_crah_dict()
    data["airflow"] = {"model": model, "refresh_s": 10.0}
    hall = hall_from(data)
    events = [{"at": 30, "kind": "crah_trip", "target": "CRAH-02"}, {"at": 35, "kind": "utility_outage"},
              {"at": 50, "kind": "setpoint", "target": "CRAH-01.supply_temp_setpoint", "value": 20.0},
              {"at": 60, "kind": "sensor_fail", "target": "CRAH-01.return_temp", "mode": "noisy"}]
    scenario = parse_scenario({"scenario": {"name": "fork"}, "events": events}, hall=hall)
    twin = HallTwin(hall, control="embedded")
    player = ScenarioPlayer(twin, scenario)

    def advance(tw, st, n):
        for _ in range(n):
            player.apply_due(st)
            tw.step(st)

    state = twin.initial_state()
    advance(twin, state, 25)
    fork = state.copy()
    advance(twin, state, 60)  # the original first: nothing of it may leak into the fork
    other = HallTwin(hall, control="embedded")  # a second twin, interleaved: no shared caches
    for k in range(60):
        advance(twin if k % 2 else other, fork, 1)
    for name in ("t_air_c", "t_rack_c", "crah_fan_speed", "crah_valve", "ups_soc", "face_flow_m3s", "flow_phi"):
        assert np.array_equal(getattr(state, name), getattr(fork, name)), name
    assert state.controls.state_dict().keys() == fork.controls.state_dict().keys()
    forked = fork.controls.state_dict()
    for key, value in state.controls.state_dict().items():  # bit for bit (NaN ramps included)
        same = value == forked[key] if isinstance(value, (str, type(None))) else \
            np.asarray(value).tobytes() == np.asarray(forked[key]).tobytes()
        assert same, key
    assert state.alarms.summary() == fork.alarms.summary() and state.scenario_log == fork.scenario_log
    assert twin.power.state_dict(state.power).keys() == twin.power.state_dict(fork.power).keys()
    assert observe(twin, state)["power.facility_w"] == observe(twin, fork)["power.facility_w"]
    assert len(state.scenario_log) == len(events) and state.energy_j == fork.energy_j
    # And a fork really is separate: a trip in it leaves the original alone.
    fork.crah_tripped[0] = True
    assert not state.crah_tripped[0]


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
    assert isinstance(err.value, AirflowNotConverged)  # the flow's failure, told apart from the heat balance's
    assert "did not converge" in text and "continuity / momentum, last 3 of 3" in text
    assert "\n" not in text  # one line


def test_airflow_flag_overrides_the_hall_and_is_reported(tmp_path, capsys):
    """--airflow momentum on a potential-flow hall: the summary and the bench say which model ran; the
    bench (without --no-power-check) also times the power solve against pandapower's."""
    from tests.halls import TINY

    proc = twin_main(capsys, "run", TINY, "--steady", "--airflow", "momentum", "--json", "--out", tmp_path / "s")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # The momentum model's turbulence mixes the heat (the hall's default); potential flow has a constant.
    assert out["airflow_model"] == "momentum" and out["heat_mixing"] == "eddy"
    proc = twin_main(capsys, "bench", TINY, "--airflow", "momentum", "--duration", "2min", "--json")
    assert proc.returncode == 0, proc.stderr
    bench = json.loads(proc.stdout)
    flow = bench["airflow"]
    assert flow["model"] == "momentum" and flow["refreshes"] >= 3 and flow["refresh_ms"] > 0
    assert flow["heat_mixing"] == "eddy"
    assert bench["power_solve"]["solve_us"] > 0 and bench["power_solve"]["pandapower"]["runpp_us"] > 0
    # The text an engineer reads says the same: the model, a re-solve's cost and how often it came.
    proc = twin_main(capsys, "bench", TINY, "--airflow", "momentum", "--duration", "2min", "--no-power-check")
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.strip().startswith("airflow "))
    shown = re.search(r"airflow momentum \(chen-xu, upwind convection, buoyancy on, eddy heat mixing\): first "
                      r"solve [\d.]+ s; (\d+) refreshes of ([\d.,]+) ms, one per ([\d.,]+) s simulated", line)
    assert shown, line
    refreshes = int(shown.group(1))
    assert refreshes >= 3 and float(shown.group(3)) == pytest.approx(120.0 / refreshes, abs=0.05)
    proc = twin_main(capsys, "run", TINY, "--steady", "--airflow", "stokes")  # a bad value: in process
    assert proc.returncode == 2 and "potential" in proc.stderr


def test_the_eddy_diffusivity_travels_with_the_flow_field_it_belongs_to():
    """With the momentum model the transport mixes at the eddy diffusivity of the field in force: it is
    renewed at each flow refresh (and only then), is the one the saved momentum fields give, and energy
    still closes to 1e-9; heat_mixing = "constant" and the potential flow keep the hall's constant (None)."""
    twin = HallTwin(_momentum_hall(refresh_s=10.0))
    state = twin.initial_state()
    seen = []
    for _ in range(40):
        twin.step(state)
        if not seen or seen[-1][0] is not state.face_flow_m3s:
            seen.append((state.face_flow_m3s, state.face_diffusivity_m2s))
    assert len(seen) >= 4 and all(a is not None for _, a in seen)
    assert not np.array_equal(seen[0][1], seen[-1][1])  # the buoyant flow moved, its mixing with it
    m = twin.momentum
    m.u = [state.momentum[k] for k in ("ux", "uy", "uz")]
    assert np.array_equal(m.face_diffusivity_m2s(), state.face_diffusivity_m2s)
    assert abs(twin.energy_balance_error(state)) < 1e-9
    for hall, airflow in ((_momentum_hall(heat_mixing="constant"), None), (hall_from(tiny_dict()), "potential")):
        other = HallTwin(hall, airflow=airflow)
        st = other.initial_state()
        other.step(st)
        assert other.heat_mixing == "constant" and st.face_diffusivity_m2s is None


def test_the_hall_chooses_the_convection_scheme_and_a_wrong_one_is_named(tmp_path, capsys):
    """[airflow] convection reaches the solver and the bench report; "upwind" is the default; an unknown
    scheme is one line naming the file, the key and the allowed schemes."""
    from tests.halls import bad_hall, hall_error_line

    assert _momentum_hall().spec.airflow.convection == "upwind"
    path = bad_hall(tmp_path, append='\n[airflow]\nmodel = "momentum"\nconvection = "tvd"\n')
    proc = twin_main(capsys, "bench", path, "--duration", "1min", "--no-power-check", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["airflow"]["convection"] == "tvd"
    message = hall_error_line(bad_hall(tmp_path, append='\n[airflow]\nmodel = "momentum"\nconvection = "quick"\n'))
    assert "airflow.convection" in message and "'upwind'" in message and "'tvd'" in message, message


def test_crah_fan_moves_and_a_trip_are_re_solved_by_superposition_to_the_same_temperatures():
    """Under embedded control the CRAHs' fans move and one trips; only CRAH flows change, so every re-solve
    after the first starts from the basis potentials and needs no CG iteration. The run's temperatures are
    those of a twin that solves every re-solve by CG (no basis), to 1e-8 K, and energy closes on both."""
    hall = hall_from(two_crah_dict())
    runs = {}
    for basis in (True, False):
        twin = HallTwin(hall, control="embedded")
        if not basis:
            twin.airflow.basis_movers = frozenset()
        state = twin.initial_state()
        iterations = []
        solve = twin.airflow.solve

        def counted(q, _solve=solve, _twin=twin, _out=iterations):
            faces = _solve(q)
            _out.append(_twin.airflow.iterations)
            return faces

        twin.airflow.solve = counted
        for k in range(600):
            if k == 200:
                state.crah_tripped = np.array([True, False])
            twin.step(state)
        assert abs(twin.energy_balance_error(state)) < 1e-12
        runs[basis] = (state, iterations)
    (with_basis, its_basis), (by_cg, its_cg) = runs[True], runs[False]
    assert len(its_basis) == len(its_cg) > 5  # the fans moved the flow several times, the trip once more
    assert its_basis[0] > 0 and not any(its_basis[1:])
    assert all(its_cg)
    assert np.abs(with_basis.t_air_c - by_cg.t_air_c).max() < 1e-8
    assert np.abs(with_basis.t_intake_c - by_cg.t_intake_c).max() < 1e-8
