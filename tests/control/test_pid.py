"""PID: step response, anti-windup, setpoint ramp, bumpless transfers, saved state."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.control.pid import PID


def first_order(y: float, u: float, *, gain: float, tau_s: float, h: float, offset: float = 0.0) -> float:
    """Exact step of dy/dt = (offset + gain·u − y)/tau over h with u held (zero-order hold)."""
    return y + (-math.expm1(-h / tau_s)) * (offset + gain * u - y)


def run_loop(pid: PID, setpoints, *, gain=2.0, tau_s=50.0, h=1.0, y0=0.0, offset=0.0):
    y, ys, us = y0, [], []
    for k, r in enumerate(setpoints):
        u = pid.update(k * h, r, y)
        ys.append(y)
        us.append(u)
        y = first_order(y, u, gain=gain, tau_s=tau_s, h=h, offset=offset)
    return np.array(ys), np.array(us)


def test_step_response_settles_without_overshoot_and_zero_error():
    """A PI with Ti = plant time constant settles a first-order plant with < 1 % overshoot, no offset."""
    pid = PID(kp=1.0, ti_s=50.0, period_s=1.0, action="reverse", out_min=0.0, out_max=1.0)
    ys, us = run_loop(pid, [1.0] * 1000)
    assert ys.max() <= 1.0 + 0.01
    assert abs(ys[-1] - 1.0) < 1e-6
    assert abs(us[-1] - 0.5) < 1e-6  # plant gain 2
    # closed loop ≈ first order with time constant Ti/(kp·K) = 25 s: 95 % within ~3τ (+ a sample)
    assert np.argmax(ys >= 0.95) <= 80


def test_direct_action_cools():
    """Direct action raises the output when the measurement is above the setpoint (cooling plant)."""
    pid = PID(kp=1.0, ti_s=50.0, period_s=1.0, action="direct")
    # y = 30 − 10·u at steady state; setpoint 24 needs u = 0.6
    ys, us = run_loop(pid, [24.0] * 1500, gain=-10.0, offset=30.0, y0=30.0)
    assert us[1] > 0
    assert abs(ys[-1] - 24.0) < 1e-6
    assert abs(us[-1] - 0.6) < 1e-6


def test_derivative_on_measurement_no_setpoint_kick():
    """A setpoint step gives no derivative kick: the D term sees only the measurement."""
    pid = PID(kp=1.0, ti_s=math.inf, td_s=20.0, period_s=1.0, action="reverse", out_min=-100, out_max=100)
    pid.update(0.0, 0.0, 0.0)
    u = pid.update(1.0, 1.0, 0.0)
    assert u == pytest.approx(1.0)  # P only
    u2 = pid.update(2.0, 1.0, 0.5)  # measurement rises 0.5 in 1 s → D opposes
    d = (2.0 * 0.0 - 1.0 * 20.0 * 0.5) / (2.0 + 1.0)  # Tf = Td/N = 2 s, kd = 20
    assert u2 == pytest.approx(0.5 + d)


def naive_pi(kp, ki, h, out_min, out_max):
    """A PI whose integrator keeps integrating while the output is clipped (winds up)."""
    state = {"i": 0.0}

    def update(r, y):
        e = r - y
        u = min(max(kp * e + state["i"], out_min), out_max)
        state["i"] += ki * h * e
        return u
    return update


@pytest.mark.parametrize("antiwindup", ["back_calculation", "conditional"])
def test_antiwindup_leaves_the_limit_quickly(antiwindup):
    """After 600 s saturated on an unreachable setpoint, the output leaves the limit within 10 s
    of a reachable setpoint; a naive integrator stays stuck for minutes."""
    def leave_time(update):
        y, k_change, left = 0.0, 600, None
        for k in range(3000):
            r = 3.0 if k < k_change else 1.0  # y can reach at most 2 (u ≤ 1, gain 2)
            u = update(k, r, y)
            if k >= k_change and left is None and u < 1.0:
                left = k - k_change
            y = first_order(y, u, gain=2.0, tau_s=50.0, h=1.0)
        return left

    pid = PID(kp=1.0, ti_s=50.0, period_s=1.0, action="reverse", antiwindup=antiwindup)
    naive = naive_pi(1.0, 1.0 / 50.0, 1.0, 0.0, 1.0)
    ours = leave_time(lambda k, r, y: pid.update(float(k), r, y))
    theirs = leave_time(lambda k, r, y: naive(r, y))
    assert ours is not None and ours <= 10
    assert theirs is not None and theirs > 100


def test_setpoint_rate_limit_in_simulated_time():
    """The setpoint the law uses moves exactly rate × elapsed simulated time, at any sample spacing."""
    pid = PID(kp=1.0, ti_s=100.0, period_s=2.5, setpoint_rate_per_s=0.01)
    pid.update(0.0, 20.0, 20.0)
    assert pid.setpoint_used == 20.0
    times = [2.5, 5.0, 6.0, 10.0, 17.5, 100.0, 1000.0]
    for t in times:
        pid.update(t, 21.0, 20.0)
        assert pid.setpoint_used == pytest.approx(min(20.0 + 0.01 * t, 21.0), abs=1e-12)
    pid.update(1010.0, 20.5, 20.0)  # downwards too
    assert pid.setpoint_used == pytest.approx(20.9)


def test_bumpless_manual_to_auto():
    """Manual → auto continues from the manual output; the integrator tracked it."""
    pid = PID(kp=2.0, ti_s=30.0, period_s=1.0, action="reverse")
    pid.set_mode("manual", manual_output=0.7)
    for k in range(10):
        assert pid.update(float(k), 5.0, 4.0) == 0.7  # error 1: auto would give far more
    pid.set_mode("auto")
    u = pid.update(10.0, 5.0, 4.0)
    assert u == pytest.approx(0.7, abs=1e-12)  # same error: no bump at the switch
    u2 = pid.update(11.0, 5.0, 4.0)
    assert u2 == pytest.approx(0.7 + 2.0 / 30.0 * 1.0)  # then integrates normally


def test_tracking_and_initialize_are_bumpless():
    """While tracking, output = tracked value; back in auto it continues from there."""
    pid = PID(kp=0.5, ti_s=60.0, period_s=1.0, action="direct", out_min=0.3, out_max=1.0)
    for k in range(20):
        assert pid.update(float(k), 24.0, 25.0, track=1.0) == 1.0
    u = pid.update(20.0, 24.0, 25.0)
    assert u == pytest.approx(1.0)
    pid.initialize(0.55, time_s=21.0, setpoint=30.0, measurement=31.0)
    assert pid.update(22.0, 30.0, 31.0) == pytest.approx(0.55)


def test_set_tuning_is_bumpless():
    """Changing kp between samples does not move the output at the same error."""
    pid = PID(kp=0.5, ti_s=60.0, period_s=1.0, action="reverse", out_min=-10, out_max=10)
    for k in range(5):
        u = pid.update(float(k), 1.0, 0.0)
    i_before = pid.integral
    pid.set_tuning(kp=2.0, ti_s=60.0)
    u_next = pid.update(5.0, 1.0, 0.0)
    assert u_next == pytest.approx(u + 0.5 / 60.0)  # only the integration of one more sample
    assert pid.integral != i_before


def test_state_round_trip_gives_identical_future():
    """A PID restored from its state dict produces exactly the same outputs."""
    a = PID(kp=1.0, ti_s=40.0, td_s=5.0, period_s=1.0, action="reverse", setpoint_rate_per_s=0.05)
    ys, _ = run_loop(a, [1.0] * 30)
    saved = a.state_dict()
    b = PID(kp=1.0, ti_s=40.0, td_s=5.0, period_s=1.0, action="reverse", setpoint_rate_per_s=0.05)
    b.load_state_dict(saved)
    y = ys[-1]
    for k in range(30, 80):
        ua, ub = a.update(float(k), 2.0, y), b.update(float(k), 2.0, y)
        assert ua == ub
        y = first_order(y, ua, gain=2.0, tau_s=50.0, h=1.0)
