"""The CRAH loops as arrays (twin.control.bank) against the per-object controllers they replace in the loop.

The objects are the reference: the bank must give the same bits for every unit, whatever its options,
through trips, setpoint and mode changes, failed sensors and checkpoints.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from twin.control.bank import CrahBank, SensorBank
from twin.control.crah import CrahFanController, CrahSupplyController
from twin.control.sensors import SensorArray

N_INLETS = (3, 1, 5, 2)


def _units() -> tuple[list[CrahSupplyController], list[CrahFanController]]:
    """Four units whose loops differ in every option the bank keeps per unit."""
    supply = [
        CrahSupplyController("u0.supply"),
        CrahSupplyController("u1.supply", period_s=2.0, phase_s=0.5, kp=0.3, ti_s=60.0, td_s=5.0,
                             setpoint_rate_k_per_s=0.02),
        CrahSupplyController("u2.supply", period_s=1.5, fallback_policy="hold", fallback_valve=0.6),
        CrahSupplyController("u3.supply", kp=0.05, ti_s=300.0, return_after_valid_samples=5),
    ]
    fans = [
        CrahFanController("u0.fan", n_inlets=N_INLETS[0]),
        CrahFanController("u1.fan", n_inlets=N_INLETS[1], control_on="return", period_s=3.0, phase_s=1.0,
                          td_s=10.0, min_speed=0.4),
        CrahFanController("u2.fan", n_inlets=N_INLETS[2], fallback_when="all", fallback_policy="hold",
                          setpoint_rate_k_per_s=0.05),
        CrahFanController("u3.fan", n_inlets=N_INLETS[3], period_s=1.0, kp=0.3, ti_s=30.0,
                          fallback_speed=0.8, min_speed=0.35),
    ]
    # One loop with conditional integration instead of back-calculation (the other anti-windup).
    fans[3].pid.antiwindup = "conditional"
    return supply, fans


class Plant:
    """Inlets, supply and return air that wander (seeded) and answer the actuators a little."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.inlet_c = 24.0 + self.rng.normal(0.0, 1.0, sum(N_INLETS))
        self.supply_c = np.full(len(N_INLETS), 19.0)
        self.return_c = np.full(len(N_INLETS), 31.0)

    def step(self, valve: np.ndarray, fan: np.ndarray) -> None:
        per_unit = np.repeat(fan, N_INLETS)
        self.inlet_c += 0.02 * (30.0 - 10.0 * per_unit - self.inlet_c) + self.rng.normal(0.0, 0.05, self.inlet_c.size)
        self.supply_c += 0.05 * (26.0 - 12.0 * valve - self.supply_c)
        self.return_c += self.rng.normal(0.0, 0.05, self.return_c.size)


def _events(t: float, supply, fans, sensors_of) -> None:
    """The same operator and fault history, applied to either form (objects or bank views)."""
    if t == 40.0:
        supply[0].supply_temp_setpoint_c = 16.0
        fans[2].inlet_temp_setpoint_c = 22.0
    if t == 60.0:
        sensors_of(fans[0]).set_failure("open", at_s=62.0, index=1)
        supply[2].sensor.set_failure("stuck", at_s=60.0)
        fans[2].inlet_sensors.set_failure("noisy", at_s=60.0, index=[0, 3])
    if t == 90.0:
        fans[1].control_on = "inlet"
        fans[3].mode = "manual"
        fans[3].manual_speed = 0.55
        supply[3].mode = "manual"
    if t == 130.0:
        sensors_of(fans[0]).set_failure("ok", at_s=130.0)
        supply[2].sensor.set_failure("ok", at_s=131.0)
        fans[3].mode = "auto"
        fans[2].enabled = 0.0
    if t == 170.0:
        fans[2].enabled = 1.0
        fans[1].return_sensor.set_failure("open", at_s=170.0)


def _running(t: float) -> np.ndarray:
    """Unit 1 trips from 50 to 110 s, unit 3 loses power from 150 to 160 s."""
    run = np.ones(len(N_INLETS), dtype=bool)
    run[1] = not 50.0 <= t < 110.0
    run[3] = not 150.0 <= t < 160.0
    return run


def _run_objects(supply, fans, plant: Plant, t0: int, t1: int, seen: set | None = None) -> list[np.ndarray]:
    rows = []
    for k in range(t0, t1):
        t = float(k)
        _events(t, supply, fans, lambda f: f.inlet_sensors)
        run = _running(t)
        starts = np.cumsum((0, *N_INLETS))
        valve, fan, running = [], [], []
        for u in range(len(supply)):
            s = supply[u].step(t, {"t_supply_c": float(plant.supply_c[u]), "running": bool(run[u])})
            f = fans[u].step(t, {"t_inlet_c": plant.inlet_c[starts[u]:starts[u + 1]],
                                 "t_return_c": float(plant.return_c[u]), "running": bool(run[u])})
            valve.append(s["valve"])
            fan.append(f["fan_speed"])
            running.append(f.get("fan_running", False))  # nothing held before its first sample
        row = np.array([*valve, *fan, *running, *(c.pid.integral for c in [*supply, *fans])])
        rows.append(row)
        if seen is not None:
            seen.update(c.mode for c in [*supply, *fans])
        plant.step(np.array(valve), np.array(fan))
    return rows


def _run_bank(bank: CrahBank, plant: Plant, t0: int, t1: int) -> list[np.ndarray]:
    rows = []
    for k in range(t0, t1):
        t = float(k)
        _events(t, bank.supply, bank.fan, lambda f: f.inlet_sensors)
        bank.step(t, t_supply_c=plant.supply_c, t_inlet_c=plant.inlet_c, t_return_c=plant.return_c,
                  running=_running(t))
        row = np.array([*bank.valve, *bank.fan_speed, *bank.fan_running, *bank.s.pid.integral, *bank.f.pid.integral])
        rows.append(row)
        plant.step(bank.valve.copy(), bank.fan_speed.copy())
    return rows


def _assert_same_state(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for key in a:
        x, y = np.asarray(a[key]), np.asarray(b[key])
        assert x.shape == y.shape, key
        np.testing.assert_array_equal(x, y, err_msg=key)


def _objects_state(supply, fans) -> dict:
    return {f"{c.name}.{k}": v for c in [*supply, *fans] for k, v in c.state_dict().items()}


def test_the_bank_gives_the_objects_bits_through_trips_setpoints_modes_and_failed_sensors():
    """Four differently configured units, 200 s of a wandering plant with a trip, a power loss, setpoint
    writes, manual/off/auto, a changed controlled variable and open, stuck and noisy sensors: every
    actuator position, run flag and integrator, every step, and the whole saved state are the objects'."""
    supply, fans = _units()
    bank = CrahBank(*_units())
    seen: set[str] = set()
    ref = _run_objects(supply, fans, Plant(7), 0, 200, seen)
    got = _run_bank(bank, Plant(7), 0, 200)
    np.testing.assert_array_equal(np.array(got), np.array(ref))
    _assert_same_state(bank.state_dict(), _objects_state(supply, fans))
    assert [c.mode for c in bank.fan] == [c.mode for c in fans]
    assert [c.mode for c in bank.supply] == [c.mode for c in supply]
    assert seen == {"auto", "fallback", "manual", "off"}  # the history went through every mode


def test_a_state_saved_by_either_form_continues_identically_in_the_other():
    """Checkpoints are interchangeable: the bank's state loaded into objects (and back) goes on with the same bits."""
    supply, fans = _units()
    bank = CrahBank(*_units())
    plant_a, plant_b = Plant(3), Plant(3)
    _run_bank(bank, plant_a, 0, 120)
    _run_objects(supply, fans, plant_b, 0, 120)
    # Cross over: the objects take the bank's state, a new bank takes the objects' state.
    saved_bank, saved_objects = bank.state_dict(), _objects_state(supply, fans)
    for c in [*supply, *fans]:
        c.load_state_dict({k[len(c.name) + 1:]: v for k, v in saved_bank.items() if k.startswith(c.name + ".")})
    bank2 = CrahBank(*_units())
    bank2.load_state_dict(saved_objects)
    ref = _run_objects(supply, fans, copy.deepcopy(plant_a), 120, 200)
    got = _run_bank(bank2, copy.deepcopy(plant_a), 120, 200)
    np.testing.assert_array_equal(np.array(got), np.array(ref))


def test_sensor_bank_reads_only_the_arrays_due_and_draws_each_arrays_own_noise():
    """Reading array 1 alone leaves array 0 untouched; each array's noise is its own seeded stream, read
    n at a time, also across a block of draws taken ahead (here 3 reads per block)."""
    arrays = [SensorArray(2, lo=0.0, hi=60.0, bits=None, noise_sigma=1.0, seed=11, name="a"),
              SensorArray(3, lo=0.0, hi=60.0, bits=None, noise_sigma=1.0, seed=12, name="b")]
    bank = SensorBank(arrays, block_reads=3)
    due_b = np.array([False, True])
    expected = np.random.default_rng(12).standard_normal(3 * 7).reshape(7, 3)
    for k in range(7):
        v, valid = bank.read(float(k), due_b, np.full(3, 30.0))
        np.testing.assert_allclose(v, 30.0 + expected[k], rtol=0, atol=1e-12)
        assert valid.all()
    assert np.isnan(bank.last_value[:2]).all() and np.isnan(bank.last_s[0])
    # The generator's saved state is where 7 reads of 3 normals leave it, not the block drawn ahead.
    g = np.random.default_rng(12)
    g.standard_normal(21)
    reference = SensorArray(3, lo=0.0, hi=60.0, bits=None, noise_sigma=1.0, seed=g, name="b")
    np.testing.assert_array_equal(bank.array_state(1)["rng"], reference.state_dict()["rng"])


@pytest.mark.parametrize("mode", ["open", "stuck", "noisy"])
def test_failed_sensors_read_as_the_sensor_arrays_do(mode):
    """Each failure mode of one sensor in a bank reads what a SensorArray with the same history reads."""
    ref = SensorArray(4, lo=0.0, hi=60.0, noise_sigma=0.05, tau_s=10.0, max_rate_per_s=2.0, frozen_s=30.0,
                      name="inlets")
    bank = SensorBank([SensorArray(4, lo=0.0, hi=60.0, noise_sigma=0.05, tau_s=10.0, max_rate_per_s=2.0,
                                   frozen_s=30.0, name="inlets")])
    ref.set_failure(mode, at_s=20.0, index=2)
    bank.set_failure(0, mode, at_s=20.0, index=2)
    due = np.array([True])
    for k in range(60):
        x = 22.0 + 0.1 * k + np.arange(4)
        want = ref.read(2.0 * k, x)
        got, valid = bank.read(2.0 * k, due, x)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(valid, ref.valid)
    assert bank.failure(0, 100.0) == ref.failure(100.0)
